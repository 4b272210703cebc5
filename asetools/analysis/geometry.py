"""Covalent topology and internal coordinates: bond lengths and dihedral angles along a trajectory.

The topology (bonds from covalent radii, proper dihedrals, molecules) comes from one
reference structure and stays fixed; the coordinates are then evaluated for every
frame at once. Coordinates of the same kind are grouped under a label made of the
element symbols, e.g. ``"C-H"`` or ``"C-C-O-H"``, so that their distributions can be
compared between runs (see :func:`internal_coordinates`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import find_mic
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..valence import BondGraph, term_type

__all__ = ["Topology", "bond_lengths", "dihedral_angles", "internal_coordinates"]


@dataclass(frozen=True)
class Topology:
    """Bonds, proper dihedrals and molecules of a structure (indices into its atoms).

    Attributes:
        symbols: ``[n_atoms]`` chemical symbols.
        bonds: ``[n_bonds, 2]`` bonded pairs, ``i < j``.
        dihedrals: ``[n_dihedrals, 4]`` proper dihedrals ``i-j-k-l`` (``i-j``, ``j-k`` and
            ``k-l`` bonded, four different atoms), each listed once.
        molecule: ``[n_atoms]`` index of the molecule (connected component) of each atom.
    """

    symbols: tuple[str, ...]
    bonds: np.ndarray
    dihedrals: np.ndarray
    molecule: np.ndarray

    @classmethod
    def from_atoms(cls, atoms: Atoms, scale: float = 1.2) -> Topology:
        """Atoms closer than ``scale`` times the sum of their covalent radii (ASE's) are bonded.

        The bonds are those of the valence force field (:class:`asetools.valence.BondGraph`),
        each pair once and periodic images not told apart: a bond of an atom to its own image
        is left out, and the dihedrals are found from the pairs alone.
        """
        if len(atoms) == 0:
            raise ValueError("cannot find the topology of an empty structure")
        found = BondGraph.from_atoms(atoms, scale)
        keep = found.first < found.second
        bonds = np.stack([found.first[keep], found.second[keep]], axis=1).astype(np.int64)
        order = np.lexsort((bonds[:, 1], bonds[:, 0]))
        bonds = bonds[order]
        graph = coo_matrix((np.ones(len(bonds)), (bonds[:, 0], bonds[:, 1])), shape=(len(atoms), len(atoms)))
        _, molecule = connected_components(graph, directed=False)
        # without shifts, the chains are those of distinct atoms: i != k, l not in (i, j)
        dihedrals, _ = BondGraph.of_bonds(bonds, len(atoms)).dihedrals()
        return cls(tuple(atoms.get_chemical_symbols()), bonds, dihedrals.astype(np.int64), molecule)

    def label(self, indices) -> str:
        """Element symbols of ``indices`` joined by ``-``, read in the direction that sorts first."""
        return term_type(*(self.symbols[i] for i in indices))

    def groups(self, kind: str) -> dict[str, np.ndarray]:
        """``kind`` ("bonds" or "dihedrals"): label -> the rows of that kind with this label."""
        if kind not in ("bonds", "dihedrals"):
            raise ValueError(f"kind must be 'bonds' or 'dihedrals', got {kind!r}")
        rows = getattr(self, kind)
        labels = [self.label(row) for row in rows]
        return {label: rows[[i for i, other in enumerate(labels) if other == label]] for label in sorted(set(labels))}

    @property
    def n_molecules(self) -> int:
        return int(self.molecule.max()) + 1

    def repeat(self, copies: int) -> Topology:
        """The topology of ``copies`` copies of this structure, one after the other in the atom order."""
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        n_atoms = len(self.symbols)
        offsets = n_atoms * np.arange(copies)
        return Topology(
            self.symbols * copies,
            (self.bonds[None] + offsets[:, None, None]).reshape(-1, 2),
            (self.dihedrals[None] + offsets[:, None, None]).reshape(-1, 4),
            (self.molecule[None] + self.n_molecules * np.arange(copies)[:, None]).reshape(-1),
        )


def _vectors(positions: np.ndarray, start: np.ndarray, end: np.ndarray, cell, pbc) -> np.ndarray:
    """``positions[..., end, :] - positions[..., start, :]``, minimum-image when ``cell`` is given."""
    vectors = positions[..., end, :] - positions[..., start, :]
    if cell is None:
        return vectors
    mic, _ = find_mic(vectors.reshape(-1, 3), cell, pbc if pbc is not None else True)
    return mic.reshape(vectors.shape)


def bond_lengths(positions: np.ndarray, bonds: np.ndarray, cell=None, pbc=None) -> np.ndarray:
    """Lengths (Å) of ``bonds`` ``[n, 2]`` in ``positions`` ``[..., n_atoms, 3]``: ``[..., n]``.

    With ``cell`` (and ``pbc``) the minimum-image convention is applied.
    """
    positions = np.asarray(positions, dtype=float)
    return np.linalg.norm(_vectors(positions, bonds[:, 0], bonds[:, 1], cell, pbc), axis=-1)


def dihedral_angles(positions: np.ndarray, dihedrals: np.ndarray, cell=None, pbc=None) -> np.ndarray:
    """Dihedral angles (degrees, in [-180, 180)) of ``dihedrals`` ``[n, 4]``: ``[..., n]``.

    The IUPAC sign convention: looking along ``j -> k``, positive when ``i`` has to turn
    clockwise to eclipse ``l``. Undefined (collinear) dihedrals give NaN.
    """
    positions = np.asarray(positions, dtype=float)
    b0 = _vectors(positions, dihedrals[:, 0], dihedrals[:, 1], cell, pbc)
    b1 = _vectors(positions, dihedrals[:, 1], dihedrals[:, 2], cell, pbc)
    b2 = _vectors(positions, dihedrals[:, 2], dihedrals[:, 3], cell, pbc)
    n1, n2 = np.cross(b0, b1), np.cross(b1, b2)
    axis = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    x = np.sum(n1 * n2, axis=-1)
    y = np.sum(np.cross(n1, n2) * axis, axis=-1)
    with np.errstate(invalid="ignore"):
        angles = np.degrees(np.arctan2(y, x))
    angles[(np.linalg.norm(n1, axis=-1) < 1e-12) | (np.linalg.norm(n2, axis=-1) < 1e-12)] = np.nan
    return (angles + 180.0) % 360.0 - 180.0


def internal_coordinates(
    positions: np.ndarray, topology: Topology, cell=None, pbc=None
) -> dict[str, np.ndarray]:
    """Every bond length (Å) and dihedral angle (degrees) of ``positions`` ``[frames, n_atoms, 3]``.

    Returns label -> ``[frames, n]`` for each bond label (e.g. ``"C-H"``) and each
    dihedral label (e.g. ``"C-C-O-H"``) of ``topology``.
    """
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 3 or positions.shape[1:] != (len(topology.symbols), 3):
        raise ValueError(
            f"positions must be [frames, {len(topology.symbols)}, 3] to match the topology, got {positions.shape}"
        )
    values = {label: bond_lengths(positions, rows, cell, pbc) for label, rows in topology.groups("bonds").items()}
    for label, rows in topology.groups("dihedrals").items():
        values[label] = dihedral_angles(positions, rows, cell, pbc)
    return values
