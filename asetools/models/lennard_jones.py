"""Lennard-Jones pair potential as a torch energy model.

Follows ``ase.calculators.lj.LennardJones`` exactly for one species:

- ``smooth=False``: each pair energy ``4 eps ((s/r)^12 - (s/r)^6)`` is shifted by its
  value at the cutoff, so it is zero there (forces jump to zero at the cutoff);
- ``smooth=True``: the unshifted pair energy is multiplied by ASE's (JAX-MD's)
  switching function, which goes from 1 at ``onset`` to 0 at ``cutoff``.

Per-atom energies take half of each pair energy. Several species get a
parameter per pair; unspecified cross pairs follow the Lorentz-Berthelot rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .local import LocalEnergyModel, LocalEnvironments

__all__ = ["LennardJones", "LennardJonesConfig"]

PairValue = float | Sequence[float] | Sequence[Sequence[float]] | Mapping


@dataclass
class LennardJonesConfig:
    """Parameters of :class:`LennardJones`.

    Attributes:
        species: element symbols.
        sigma: ``[S][S]`` symmetric matrix of zero-crossing distances in Å.
        epsilon: ``[S][S]`` symmetric matrix of well depths in eV.
        cutoff: pair cutoff in Å.
        smooth: multiply by a switching function instead of shifting (ASE's ``smooth``).
        onset: where the switching function starts, Å (ASE's ``ro``; default 0.66 cutoff).
    """

    species: list[str]
    sigma: list[list[float]]
    epsilon: list[list[float]]
    cutoff: float
    smooth: bool = False
    onset: float | None = None

    def __post_init__(self):
        n = len(self.species)
        if n == 0:
            raise ValueError("species: give at least one element")
        for name in ("sigma", "epsilon"):
            matrix = np.asarray(getattr(self, name), dtype=float)
            if matrix.shape != (n, n):
                raise ValueError(f"{name}: expected a {n}x{n} matrix for species {self.species}, got shape {matrix.shape}")
            if not np.allclose(matrix, matrix.T):
                raise ValueError(f"{name}: the pair matrix must be symmetric, got {matrix.tolist()}")
        if np.any(np.asarray(self.sigma) <= 0):
            raise ValueError("sigma: every pair needs sigma > 0")
        if not self.cutoff > 0:
            raise ValueError(f"cutoff: must be positive, got {self.cutoff}")
        if self.onset is not None and not 0 <= self.onset < self.cutoff:
            raise ValueError(f"onset: must lie in [0, cutoff={self.cutoff}), got {self.onset}")


class LennardJones(LocalEnergyModel):
    """Lennard-Jones pair model, ``forward(graph) -> per-atom energies [N]`` in eV.

    Build it from keywords, ``LennardJones(species=["Ar"], sigma=3.4, epsilon=0.0104,
    cutoff=8.5)``, or from a :class:`LennardJonesConfig`.

    ``sigma`` (Å) and ``epsilon`` (eV) each accept a number (all pairs), a list with one
    value per species, a full symmetric matrix, or a mapping with element keys
    (``{"Ar": 3.4}``) and/or pair keys (``{"Ar-Kr": 3.5}``). Cross pairs not given
    explicitly use Lorentz-Berthelot mixing: arithmetic mean of sigma, geometric mean
    of epsilon. ``cutoff`` defaults to ``3 * max(sigma)``, as in ASE.
    """

    kind = "lennard_jones"
    config_class = LennardJonesConfig

    def __init__(
        self,
        config: LennardJonesConfig | None = None,
        *,
        species: Sequence[str] | None = None,
        sigma: PairValue = 1.0,
        epsilon: PairValue = 1.0,
        cutoff: float | None = None,
        smooth: bool = False,
        onset: float | None = None,
    ):
        if config is None:
            if species is None:
                raise TypeError("LennardJones needs species=[...] (or a LennardJonesConfig)")
            species = list(species)
            sigma_matrix = _pair_matrix(sigma, species, "sigma", _arithmetic_mean)
            epsilon_matrix = _pair_matrix(epsilon, species, "epsilon", _geometric_mean)
            if cutoff is None:
                cutoff = 3.0 * float(np.max(sigma_matrix))
            config = LennardJonesConfig(
                species=species,
                sigma=sigma_matrix.tolist(),
                epsilon=epsilon_matrix.tolist(),
                cutoff=float(cutoff),
                smooth=smooth,
                onset=onset,
            )
        super().__init__(config)
        self.register_buffer("sigma", torch.tensor(config.sigma, dtype=torch.float64))
        self.register_buffer("epsilon", torch.tensor(config.epsilon, dtype=torch.float64))

    @property
    def onset(self) -> float:
        """Start of the switching function in Å (used when ``smooth``)."""
        return 0.66 * self.cutoff if self.config.onset is None else float(self.config.onset)

    def local_energies(self, environments: LocalEnvironments) -> torch.Tensor:
        """Half of every pair energy on its centre atom: ``[n]`` in eV."""
        centre = environments.edge_centre
        vectors = environments.edge_vectors
        r2 = (vectors * vectors).sum(dim=-1)
        pair = (environments.centre_species[centre], environments.neighbour_species)
        sigma = self.sigma[pair].to(r2.dtype)
        epsilon = self.epsilon[pair].to(r2.dtype)
        rc2 = self.cutoff**2
        inside = r2 <= rc2
        c6 = torch.where(inside, (sigma * sigma / r2) ** 3, torch.zeros_like(r2))
        energy = 4.0 * epsilon * (c6 * c6 - c6)
        if self.config.smooth:
            energy = energy * _switch(r2, rc2, self.onset**2)
        else:
            ratio6 = (sigma * sigma / rc2) ** 3
            energy = energy - inside * (4.0 * epsilon * (ratio6 * ratio6 - ratio6))
        atom_energies = torch.zeros(environments.num_centres, dtype=r2.dtype, device=r2.device)
        return atom_energies.index_add(0, centre, 0.5 * energy)


def _switch(r2: torch.Tensor, rc2: float, ro2: float) -> torch.Tensor:
    """ASE's switching function of the squared distance: 1 below ro, 0 above rc, C¹."""
    middle = (rc2 - r2) ** 2 * (rc2 + 2.0 * r2 - 3.0 * ro2) / (rc2 - ro2) ** 3
    return torch.where(r2 < ro2, torch.ones_like(r2), torch.where(r2 < rc2, middle, torch.zeros_like(r2)))


def _arithmetic_mean(a: float, b: float) -> float:
    return 0.5 * (a + b)


def _geometric_mean(a: float, b: float) -> float:
    return float(np.sqrt(a * b))


def _pair_matrix(value: PairValue, species: list[str], name: str, mix) -> np.ndarray:
    """Turn any accepted form of a pair parameter into a symmetric ``[S, S]`` matrix."""
    n = len(species)
    if isinstance(value, (int, float)):
        return np.full((n, n), float(value))
    if isinstance(value, Mapping):
        per_species: dict[str, float] = {}
        pairs: dict[tuple[int, int], float] = {}
        for key, number in value.items():
            parts = tuple(key) if isinstance(key, tuple) else tuple(str(key).split("-"))
            unknown = [p for p in parts if p not in species]
            if unknown or len(parts) not in (1, 2):
                raise ValueError(
                    f"{name}: key {key!r} must be an element or an 'A-B' pair of the species {species}"
                )
            if len(parts) == 1:
                per_species[parts[0]] = float(number)
            else:
                a, b = species.index(parts[0]), species.index(parts[1])
                pairs[(a, b)] = pairs[(b, a)] = float(number)
        matrix = np.full((n, n), np.nan)
        for a in range(n):
            for b in range(n):
                if (a, b) in pairs:
                    matrix[a, b] = pairs[(a, b)]
                elif species[a] in per_species and species[b] in per_species:
                    matrix[a, b] = mix(per_species[species[a]], per_species[species[b]])
        if np.isnan(matrix).any():
            a, b = np.argwhere(np.isnan(matrix))[0]
            raise ValueError(f"{name}: no value for the pair {species[a]}-{species[b]}; give it or both elements")
        return matrix
    array = np.asarray(value, dtype=float)
    if array.shape == (n,):
        return np.array([[mix(array[a], array[b]) for b in range(n)] for a in range(n)])
    if array.shape == (n, n):
        return array
    raise ValueError(f"{name}: expected a number, {n} per-species values or a {n}x{n} matrix, got shape {array.shape}")
