"""Virtual orbital centres: extra sites between atoms that carry their own basis functions.

Rule (the one of Fu et al. for molecules): one site at the midpoint of every bond, where atoms
``i`` and ``j`` are bonded when their distance is below ``bond_factor · (r_i + r_j)`` with ``r``
the covalent radii of ASE (Cordero et al.). Periodic structures use the minimum-image bond vector,
so a bond across the cell boundary gets one site, wrapped into the cell. Sites are appended to a
copy of the structure as atoms of element ``X`` (atomic number 0).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

__all__ = ["VIRTUAL_SYMBOL", "VirtualSiteConfig", "bond_midpoints", "with_virtual_sites"]

#: Element symbol of virtual sites in structures and in a model's kind list.
VIRTUAL_SYMBOL = "X"


@dataclasses.dataclass
class VirtualSiteConfig:
    """Where virtual sites go.

    Attributes:
        rule: ``"bond_midpoints"`` or ``"none"``.
        bond_factor: atoms are bonded below ``bond_factor`` times the sum of their covalent radii.
    """

    rule: str = "bond_midpoints"
    bond_factor: float = 1.15

    def __post_init__(self) -> None:
        if self.rule not in ("bond_midpoints", "none"):
            raise ValueError(f"virtual site rule must be 'bond_midpoints' or 'none', got {self.rule!r}")
        if not self.bond_factor > 0:
            raise ValueError(f"virtual site bond_factor must be positive, got {self.bond_factor}")


def bond_midpoints(atoms: Atoms, bond_factor: float = 1.15) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints of the bonds of ``atoms``: positions [B, 3] (Å) and the bonded pairs [B, 2] (i < j)."""
    if len(atoms) < 2:
        return np.zeros((0, 3)), np.zeros((0, 2), dtype=np.int64)
    if np.any(atoms.numbers == 0):
        raise ValueError("the structure already holds virtual sites (element X); pass the atoms alone")
    radii = bond_factor * covalent_radii[atoms.numbers]
    i, j, vectors = neighbor_list("ijD", atoms, radii)
    first = i < j
    midpoints = atoms.positions[i[first]] + 0.5 * vectors[first]
    if atoms.pbc.any():
        fractional = atoms.cell.scaled_positions(midpoints) if abs(atoms.cell.volume) > 1e-9 else None
        if fractional is not None:
            wrapped = fractional[:, atoms.pbc] % 1.0
            fractional[:, atoms.pbc] = np.where(wrapped >= 1.0, 0.0, wrapped)  # -1e-17 % 1 rounds to 1
            midpoints = fractional @ atoms.cell.array
    return midpoints, np.stack([i[first], j[first]], axis=1)


def with_virtual_sites(atoms: Atoms, config: VirtualSiteConfig | None = None) -> Atoms:
    """A copy of ``atoms`` with the virtual sites of ``config`` appended as element ``X``."""
    config = config or VirtualSiteConfig()
    result = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    if config.rule == "none":
        return result
    midpoints, _ = bond_midpoints(atoms, config.bond_factor)
    if len(midpoints):
        result += Atoms(numbers=np.zeros(len(midpoints), dtype=int), positions=midpoints, cell=atoms.cell, pbc=atoms.pbc)
    return result
