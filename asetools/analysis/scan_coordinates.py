"""Internal coordinates one can scan: a bond length, a bond angle or a dihedral angle.

A coordinate is set by moving the part of the molecule on one side of it rigidly (found
from the covalent bonds of a reference structure), so that the rest of the geometry stays
as it was: turning a dihedral ``i-j-k-l`` rotates everything bonded to ``k`` beyond the
``j-k`` bond, stretching ``i-j`` shifts everything on ``j``'s side. Lengths are in Å,
angles in degrees; dihedrals are reported in ``(-180, 180]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .geometry import Topology

__all__ = ["InternalCoordinate", "set_internal_coordinates"]

_ATOMS_PER_KIND = {"bond": 2, "angle": 3, "dihedral": 4}


@dataclass(frozen=True)
class InternalCoordinate:
    """A bond length (2 atoms), bond angle (3, the middle one at the vertex) or dihedral (4).

    Args:
        kind: ``"bond"``, ``"angle"`` or ``"dihedral"``.
        indices: the atoms, 0-based, in the order that defines the coordinate.
    """

    kind: str
    indices: tuple[int, ...]

    def __post_init__(self):
        if self.kind not in _ATOMS_PER_KIND:
            raise ValueError(f"unknown internal coordinate {self.kind!r}: use one of {', '.join(_ATOMS_PER_KIND)}")
        indices = tuple(int(i) for i in self.indices)
        expected = _ATOMS_PER_KIND[self.kind]
        if len(indices) != expected:
            raise ValueError(f"a {self.kind} needs {expected} atom indices, got {len(indices)}: {indices}")
        if len(set(indices)) != len(indices) or min(indices) < 0:
            raise ValueError(f"a {self.kind} needs {expected} different non-negative atom indices, got {indices}")
        object.__setattr__(self, "indices", indices)

    @classmethod
    def parse(cls, text: str) -> InternalCoordinate:
        """``"dihedral:3,2,1,0"``, ``"angle 0 1 2"`` or ``"bond:0-1"`` (kind, then the atom indices)."""
        parts = [p for p in re.split(r"[\s:,\-]+", text.strip()) if p]
        if not parts or not all(p.isdigit() for p in parts[1:]):
            raise ValueError(f"cannot read the internal coordinate {text!r}: write e.g. 'bond:0,1' or 'dihedral:0,1,2,3'")
        return cls(parts[0].lower(), tuple(int(p) for p in parts[1:]))

    @property
    def unit(self) -> str:
        return "Å" if self.kind == "bond" else "°"

    @property
    def label(self) -> str:
        """E.g. ``"dihedral 0-1-2-3 (°)"``, for tables and plot axes."""
        return f"{self.kind} {'-'.join(map(str, self.indices))} ({self.unit})"

    @property
    def is_periodic(self) -> bool:
        """Dihedrals repeat every 360°."""
        return self.kind == "dihedral"

    def check(self, atoms: Atoms) -> None:
        """Raise a ValueError if an index does not exist in ``atoms``."""
        if max(self.indices) >= len(atoms):
            raise ValueError(f"{self.label}: atom index {max(self.indices)} is out of range for {len(atoms)} atoms")

    def measure(self, atoms: Atoms) -> float:
        """The value of this coordinate in ``atoms`` (Å or degrees; minimum image when periodic)."""
        self.check(atoms)
        mic = bool(atoms.pbc.any())
        if self.kind == "bond":
            return float(atoms.get_distance(*self.indices, mic=mic))
        if self.kind == "angle":
            return float(atoms.get_angle(*self.indices, mic=mic))
        return float(wrap_degrees(atoms.get_dihedral(*self.indices, mic=mic)))

    def difference(self, value: float, target: float) -> float:
        """``value - target``; for dihedrals the shortest way round the circle."""
        if self.is_periodic:
            return float(wrap_degrees(value - target))
        return float(value - target)

    def moving_atoms(self, atoms: Atoms, bond_scale: float = 1.2) -> np.ndarray:
        """The atoms that move when this coordinate is set, from the covalent bonds of ``atoms``.

        Bond ``i-j`` moves ``j``'s side of the ``i-j`` bond, angle ``i-j-k`` turns ``k``'s side
        of ``j-k`` about ``j``, dihedral ``i-j-k-l`` turns ``k``'s side of ``j-k`` about that
        bond. Where a ring joins the two sides (so a rigid move would break the ring), or
        ``l`` is not on ``k``'s side, a dihedral falls back to ``l``'s side of ``k-l``, and in
        the end only the last atom moves.
        """
        self.check(atoms)
        bonds = Topology.from_atoms(atoms, scale=bond_scale).bonds
        i, j, *rest = self.indices
        if self.kind == "bond":
            fixed, pivots = (i,), [(i, j)]
        elif self.kind == "angle":
            fixed, pivots = (i, j), [(j, rest[0])]
        else:
            fixed, pivots = (i, j), [(j, rest[0]), (rest[0], rest[1])]
        for anchor, mover in pivots:
            side = _side_of(bonds, len(atoms), anchor, mover)
            if side is not None and self.indices[-1] in side and not np.isin(fixed, side).any():
                return side
        return np.array([self.indices[-1]])

    def set(self, atoms: Atoms, value: float, moving: np.ndarray) -> None:
        """Move the atoms ``moving`` (from :meth:`moving_atoms`) rigidly so that this coordinate equals ``value``."""
        indices = [int(m) for m in moving]
        if self.kind == "bond":
            if value <= 0:
                raise ValueError(f"{self.label}: a bond length must be positive, got {value}")
            atoms.set_distance(*self.indices, value, fix=0, mic=bool(atoms.pbc.any()), indices=indices)
        elif self.kind == "angle":
            if not 0 < value < 180:
                raise ValueError(f"{self.label}: scan angles strictly between 0 and 180 degrees, got {value}")
            atoms.set_angle(*self.indices, value, indices=indices)
        else:
            atoms.set_dihedral(*self.indices, value, indices=indices)


def wrap_degrees(angle, low: float = -180.0):
    """``angle`` (degrees, any shape) moved by whole turns into ``(low, low + 360]``."""
    return low + 360.0 - np.mod(low + 360.0 - np.asarray(angle, dtype=float), 360.0)


def _side_of(bonds: np.ndarray, n_atoms: int, anchor: int, mover: int) -> np.ndarray | None:
    """The atoms still connected to ``mover`` once the bond ``anchor-mover`` is cut; None if ``anchor`` is one."""
    keep = ~(((bonds[:, 0] == anchor) & (bonds[:, 1] == mover)) | ((bonds[:, 0] == mover) & (bonds[:, 1] == anchor)))
    kept = bonds[keep]
    graph = coo_matrix((np.ones(len(kept)), (kept[:, 0], kept[:, 1])), shape=(n_atoms, n_atoms))
    _, component = connected_components(graph, directed=False)
    if component[anchor] == component[mover]:
        return None
    return np.flatnonzero(component == component[mover])


def set_internal_coordinates(
    atoms: Atoms,
    coordinates: list[InternalCoordinate],
    values,
    moving: list[np.ndarray],
    tolerance: float = 1e-6,
    max_sweeps: int = 50,
) -> None:
    """Set several coordinates of ``atoms`` at once (in place).

    Setting one coordinate can disturb another that shares atoms with it, so the
    coordinates are set in turn until all agree with ``values`` to within ``tolerance``
    (Å or degrees). Raises a ValueError naming them when they cannot be satisfied together.
    """
    for _ in range(max_sweeps):
        for coordinate, value, movers in zip(coordinates, values, moving):
            coordinate.set(atoms, float(value), movers)
        errors = [abs(c.difference(c.measure(atoms), v)) for c, v in zip(coordinates, values)]
        if max(errors) <= tolerance:
            return
    names = " and ".join(c.label for c in coordinates)
    raise ValueError(
        f"cannot set {names} to {tuple(float(v) for v in values)} together (off by up to {max(errors):.3g}): "
        "the coordinates move the same atoms; scan coordinates that do not share a moving fragment"
    )
