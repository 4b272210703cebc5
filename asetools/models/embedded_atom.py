"""A learned embedded-atom model: radial pair energies plus a nonlinear function of atom densities.

The energy of atom ``i`` (species ``a``, neighbours ``j`` of species ``b`` within ``r_max``)::

    e_i = 1/2 sum_j phi_ab(r_ij) + F_a(rho_i),   rho_i^c = (1 / n_avg) sum_j f^c_ab(r_ij)

with every radial function (``phi`` and the ``num_densities`` density functions ``f^c``)
a learned combination of Bessel functions times the smooth polynomial cutoff, and
``F_a`` a small bias-free MLP per species (so ``F_a(0) = 0`` and a lone atom has
exactly its species' shift). The atom energy in eV is ``scale_a * e_i + shift_a``.

This is the functional form of the embedded-atom method (Daw & Baskes 1984) with
learned functions, as in neural-network EAM fits. It sees distances only (no angles),
so it is invariant by construction, strictly local, and costs little more than a
pair potential: the fast part of an MTS pair (stiff, short-ranged forces at a
fraction of an equivariant model's cost), or a baseline for metals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .config_checks import check_hidden_widths, check_normalisation, check_species
from .local import LocalEnergyModel, LocalEnvironments
from .radial import BesselBasis, PolynomialCutoff
from .scale_shift import PerSpeciesScaleShift

__all__ = ["EmbeddedAtom", "EmbeddedAtomConfig"]


@dataclass
class EmbeddedAtomConfig:
    """Hyperparameters of :class:`EmbeddedAtom` (stored in every checkpoint).

    Attributes:
        species: element symbols, in the order of species indices.
        r_max: cutoff radius in Å.
        num_bessels: radial Bessel functions each learned radial function is made of.
        polynomial_cutoff_p: exponent ``p`` of the cutoff envelope.
        trainable_bessel: learn the Bessel frequencies.
        num_densities: density channels per atom (the inputs of the embedding
            function); 0 leaves a pure pair potential.
        embedding_mlp_hidden: hidden widths of the per-species embedding MLP
            (empty: the embedding is linear in the densities).
        avg_num_neighbors: average number of neighbours within ``r_max`` in the
            training data; the densities are divided by it.
        per_species_energy_scales: eV, one per species (e.g. the force RMS of the data).
        per_species_energy_shifts: eV, one per species (e.g. isolated-atom energies).
    """

    species: list[str]
    r_max: float = 3.5
    num_bessels: int = 8
    polynomial_cutoff_p: int = 6
    trainable_bessel: bool = True
    num_densities: int = 8
    embedding_mlp_hidden: list[int] = field(default_factory=lambda: [16])
    avg_num_neighbors: float = 1.0
    per_species_energy_scales: list[float] | None = None
    per_species_energy_shifts: list[float] | None = None

    def __post_init__(self):
        self.species = check_species(self.species)
        check_hidden_widths(self, "embedding_mlp_hidden")
        if not self.r_max > 0:
            raise ValueError(f"r_max: must be positive, got {self.r_max}")
        if self.num_bessels < 1:
            raise ValueError(f"num_bessels: must be at least 1, got {self.num_bessels}")
        if self.num_densities < 0:
            raise ValueError(f"num_densities: must not be negative, got {self.num_densities}")
        if self.polynomial_cutoff_p < 2:
            raise ValueError(f"polynomial_cutoff_p: must be at least 2, got {self.polynomial_cutoff_p}")
        check_normalisation(self)

    @property
    def cutoff(self) -> float:
        return float(self.r_max)


class EmbeddedAtom(LocalEnergyModel):
    """Learned embedded-atom model, ``forward(graph) -> per-atom energies [N]`` in eV.

    Build it with ``EmbeddedAtom(EmbeddedAtomConfig(species=["Cu"], r_max=3.5))``; train
    it with ``model: {kind: embedded_atom}``. Its latent features (for single-model uncertainty)
    are the atom densities ``rho_i``, ``[N, num_densities]``.
    """

    kind = "embedded_atom"
    config_class = EmbeddedAtomConfig

    def __init__(self, config: EmbeddedAtomConfig):
        super().__init__(config)
        num_species = len(config.species)
        channels = 1 + config.num_densities  # the pair energy, then the densities
        self.bessel = BesselBasis(config.r_max, config.num_bessels, trainable=config.trainable_bessel)
        self.envelope = PolynomialCutoff(config.r_max, config.polynomial_cutoff_p)
        # One [num_bessels -> channels] map per ordered species pair: [B, S, S, channels], flattened.
        self.radial_weights = torch.nn.Parameter(
            torch.randn(config.num_bessels, num_species * num_species * channels) * config.num_bessels**-0.5
        )
        widths = [config.num_densities, *config.embedding_mlp_hidden, 1] if config.num_densities else []
        self.embedding_weights = torch.nn.ParameterList(
            torch.nn.Parameter(torch.randn(num_species, fan_in, fan_out) * fan_in**-0.5)
            for fan_in, fan_out in zip(widths[:-1], widths[1:])
        )
        self.scale_shift = PerSpeciesScaleShift(config.per_species_energy_scales, config.per_species_energy_shifts)
        self.density_normalisation = 1.0 / float(config.avg_num_neighbors)

    @property
    def num_latent_features(self) -> int:
        return self.config.num_densities

    def local_energies(self, environments: LocalEnvironments) -> torch.Tensor:
        return self.local_energies_and_features(environments)[0]

    def local_energies_and_features(self, environments: LocalEnvironments) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies ``[n]`` in eV and densities ``[n, num_densities]`` of the centre atoms."""
        num_species = len(self.config.species)
        centre_species = environments.centre_species
        edge_centre = environments.edge_centre
        lengths = environments.edge_vectors.norm(dim=-1)
        radial = self.bessel(lengths) * self.envelope(lengths).unsqueeze(-1)
        if num_species > 1:
            # The basis of each edge placed in its pair type's slot ([E, S*S*num_bessels]), so that
            # one dense product applies every edge's own weights: no gather and no scatter.
            pair_type = centre_species[edge_centre] * num_species + environments.neighbour_species
            slot = torch.nn.functional.one_hot(pair_type, num_species * num_species).to(radial.dtype)
            radial = (slot.unsqueeze(-1) * radial.unsqueeze(1)).flatten(1)
        values = radial @ self._edge_weights()
        per_atom = values.new_zeros(environments.num_centres, values.shape[1]).index_add(0, edge_centre, values)
        densities = per_atom[:, 1:]
        energy = per_atom[:, 0] + self._embedding(densities, centre_species)
        return self.scale_shift(energy, centre_species), densities

    def _edge_weights(self) -> torch.Tensor:
        """``[S*S*num_bessels, channels]``: each pair type's map from the basis to an edge's share of
        its centre's pair energy (half of ``phi``, symmetric in the two species) and densities (``f / n_avg``)."""
        num_species = len(self.config.species)
        weights = self.radial_weights.view(-1, num_species, num_species, 1 + self.config.num_densities)
        pair = 0.25 * (weights[..., :1] + weights[..., :1].transpose(1, 2))
        density = weights[..., 1:] * self.density_normalisation
        return torch.cat([pair, density], dim=-1).permute(1, 2, 0, 3).reshape(-1, weights.shape[-1])

    def _embedding(self, densities: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """``F_a(rho)``: ``[n]`` from ``[n, num_densities]``, with each atom's species' MLP (bias-free, SiLU).

        Every species' MLP runs on every atom (``[S, n, width]``) and each atom keeps its
        own: for the few species of a potential that is cheaper than gathering weights.
        """
        if self.config.num_densities == 0:
            return densities.new_zeros(densities.shape[0])
        hidden = densities.unsqueeze(0)
        last = len(self.embedding_weights) - 1
        for index, weights in enumerate(self.embedding_weights):
            hidden = torch.matmul(hidden, weights)
            if index < last:
                hidden = torch.nn.functional.silu(hidden)
        if hidden.shape[0] == 1:
            return hidden[0, :, 0]
        return hidden[..., 0].gather(0, species.unsqueeze(0)).squeeze(0)
