"""Ziegler–Biersack–Littmark (ZBL) screened nuclear repulsion, a fixed prior for learned models.

A learned potential knows nothing about geometries its data never visited. When MD
pushes two atoms closer than any training frame did, its energy there is an
extrapolation and can fall instead of rise: two hydrogens of ethanol, which never
come within 1.48 Å of each other in the rMD17 data, then merge. The universal ZBL
repulsion (Ziegler, Biersack and Littmark, *The Stopping and Range of Ions in
Solids*, 1985) is the standard cure (nequip's ``ZBL``, LAMMPS's ``pair_style zbl``):

    E(r) = k_e Z_i Z_j / r · φ(r / a),   a = 0.46850 Å / (Z_i^0.23 + Z_j^0.23),
    φ(x) = 0.18175 e^(−3.19980 x) + 0.50986 e^(−0.94229 x)
         + 0.28022 e^(−0.40290 x) + 0.02817 e^(−0.20162 x),

with k_e = e²/(4πε₀) = 14.399645 eV·Å. The model learns on top of it. Here it is
multiplied by the model's polynomial cutoff envelope so that it vanishes smoothly at
``r_max`` with the rest of the model and the model stays strictly local.
"""

from __future__ import annotations

import torch
from ase.data import atomic_numbers

from .radial import PolynomialCutoff

__all__ = ["COULOMB_EV_ANGSTROM", "ZBLRepulsion", "zbl_pair_energy"]

#: e²/(4πε₀) in eV·Å.
COULOMB_EV_ANGSTROM = 14.399645
_SCREENING_LENGTH = 0.46850  # Å
_COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)
_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)


def zbl_pair_energy(r: torch.Tensor, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
    """ZBL energy in eV of pairs at distances ``r`` (Å) with atomic numbers ``z_i``, ``z_j`` (same shape)."""
    z_i = z_i.to(r.dtype)
    z_j = z_j.to(r.dtype)
    x = r * (z_i.pow(0.23) + z_j.pow(0.23)) / _SCREENING_LENGTH
    screening = sum(c * torch.exp(-e * x) for c, e in zip(_COEFFICIENTS, _EXPONENTS))
    return COULOMB_EV_ANGSTROM * z_i * z_j / r * screening


class ZBLRepulsion(torch.nn.Module):
    """Per-edge ZBL energies, smoothly cut off at ``r_max``; no trainable parameters.

    ``forward(lengths, centre_species, neighbour_species)`` maps edge lengths (Å, any
    shape) and the species indices of both ends (same shape) to edge energies in eV:
    half the pair energy times the cutoff envelope, so that summing the edges of a
    full (both-direction) neighbour list onto their centre atoms counts each pair once.
    Edges at or beyond ``r_max`` (e.g. padding) contribute exactly zero.
    """

    def __init__(self, species: list[str], r_max: float, polynomial_cutoff_p: int = 6):
        super().__init__()
        unknown = [symbol for symbol in species if symbol not in atomic_numbers]
        if unknown:
            raise ValueError(f"ZBL repulsion: unknown element(s) {unknown}")
        self.register_buffer(
            "atomic_number", torch.tensor([atomic_numbers[symbol] for symbol in species]), persistent=False
        )
        self.envelope = PolynomialCutoff(r_max, polynomial_cutoff_p)
        self.r_max = float(r_max)

    def forward(
        self, lengths: torch.Tensor, centre_species: torch.Tensor, neighbour_species: torch.Tensor
    ) -> torch.Tensor:
        inside = lengths < self.r_max
        # Keep the padded and outside edges finite before masking (no 1/r at r = 0 in the graph).
        safe = torch.where(inside, lengths, torch.full_like(lengths, self.r_max))
        z_i = self.atomic_number[centre_species]
        z_j = self.atomic_number[neighbour_species]
        energy = 0.5 * zbl_pair_energy(safe, z_i, z_j) * self.envelope(safe)
        return energy * inside
