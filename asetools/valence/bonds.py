"""Covalent bonds of a structure and the angles and proper dihedrals they make.

A :class:`BondGraph` holds every bond in both directions with its periodic image shift;
bonds, angles and dihedrals are read off it in one order, so that the valence topology
(:class:`~asetools.valence.ValenceTopology`) and the trajectory analysis
(:class:`asetools.analysis.Topology`) find the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs

from ..graph import neighbour_pairs

__all__ = ["DEFAULT_BOND_SCALE", "BondGraph"]

#: Scale of ASE's covalent radii below which two atoms are bonded (ethanol's longest
#: bond, C–C at 1.53 Å, is 1.0 × the sum of the radii; the nearest non-bonded pair,
#: geminal H–H near 1.75 Å, is 1.4 ×).
DEFAULT_BOND_SCALE = 1.2


@dataclass(frozen=True)
class BondGraph:
    """The covalent bonds of one structure as directed pairs, every bond in both directions.

    Attributes:
        n_atoms: atoms in the structure.
        first: ``[2B]`` the atom each directed bond leaves.
        second: ``[2B]`` the atom it reaches.
        shifts: ``[2B, 3]`` integer cell shifts: the bond vector is ``x_second + shift·cell − x_first``.
    """

    n_atoms: int
    first: np.ndarray
    second: np.ndarray
    shifts: np.ndarray

    @classmethod
    def from_atoms(cls, atoms: Atoms, bond_scale: float = DEFAULT_BOND_SCALE) -> BondGraph:
        """Bonds between atoms closer than ``bond_scale`` × the sum of their covalent radii
        (ASE's :func:`~ase.neighborlist.natural_cutoffs`, Å), periodic images included."""
        radii = np.array(natural_cutoffs(atoms, mult=bond_scale))
        first, second, shifts, distances = neighbour_pairs(
            atoms.positions, atoms.cell.array, atoms.pbc, 2 * float(radii.max(initial=0.0))
        )
        bonded = distances < radii[first] + radii[second]
        return cls(len(atoms), first[bonded], second[bonded], shifts[bonded])

    @classmethod
    def of_bonds(cls, bonds: np.ndarray, n_atoms: int, shifts: np.ndarray | None = None) -> BondGraph:
        """The graph of the bonds ``[B, 2]`` (with cell ``shifts`` ``[B, 3]``, zero if not given),
        each taken in both directions, ordered by (first, second)."""
        bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        shifts = np.zeros((len(bonds), 3), dtype=np.int64) if shifts is None else np.asarray(shifts).reshape(-1, 3)
        first = np.concatenate([bonds[:, 0], bonds[:, 1]])
        second = np.concatenate([bonds[:, 1], bonds[:, 0]])
        order = np.lexsort((second, first))
        return cls(n_atoms, first[order], second[order], np.concatenate([shifts, -shifts])[order])

    @cached_property
    def once(self) -> np.ndarray:
        """``[2B]`` mask of one direction of every bond: ``first < second``, or for a bond of an
        atom to its own image the direction with the lexicographically positive shift."""
        return (self.first < self.second) | ((self.first == self.second) & _positive(self.shifts))

    @cached_property
    def bonds_of(self) -> list[np.ndarray]:
        """The directed bonds leaving each atom (indices into :attr:`first`), in their order."""
        # found once for all atoms: a search per atom grows as N²
        by_atom = np.argsort(self.first, kind="stable")
        return np.split(by_atom, np.cumsum(np.bincount(self.first, minlength=self.n_atoms))[:-1])

    def bonds(self) -> tuple[np.ndarray, np.ndarray]:
        """``[B, 2]`` atom indices ``(i, j)`` of every bond once (:attr:`once`) and ``[B, 3]`` their shifts."""
        bonds = np.stack([self.first[self.once], self.second[self.once]], axis=1)
        return bonds.reshape(-1, 2), self.shifts[self.once].reshape(-1, 3)

    def angles(self) -> tuple[np.ndarray, np.ndarray]:
        """``[A, 3]`` atom indices ``(i, j, k)`` of every pair of bonds that share an atom ``j``
        (the vertex), and ``[A, 2, 3]`` the cell shifts of ``i`` and ``k`` relative to ``j``."""
        second, shifts = self.second, self.shifts
        angles, angle_shifts = [], []
        for vertex, arms in enumerate(self.bonds_of):
            for a in range(len(arms)):
                for b in range(a + 1, len(arms)):
                    angles.append((second[arms[a]], vertex, second[arms[b]]))
                    angle_shifts.append((shifts[arms[a]], shifts[arms[b]]))
        return np.array(angles, dtype=int).reshape(-1, 3), np.array(angle_shifts, dtype=int).reshape(-1, 2, 3)

    def dihedrals(self) -> tuple[np.ndarray, np.ndarray]:
        """``[D, 4]`` atom indices ``(i, j, k, l)`` of the bonded chains about every central bond
        ``j-k`` (once), the end atoms different from the chain's other atoms (images apart
        count as different), and ``[D, 3, 3]`` the cell shifts of ``i``, ``k`` and ``l`` relative to ``j``."""
        first, second, shifts = self.first, self.second, self.shifts
        dihedrals, dihedral_shifts = [], []
        for centre in np.flatnonzero(self.once):  # the central bond j-k, once
            j, k, to_k = first[centre], second[centre], shifts[centre]
            for arm_i in self.bonds_of[j]:
                i, to_i = second[arm_i], shifts[arm_i]
                if i == k and np.array_equal(to_i, to_k):
                    continue
                for arm_l in self.bonds_of[k]:
                    l, to_l = second[arm_l], to_k + shifts[arm_l]
                    if (l == j and not to_l.any()) or (l == i and np.array_equal(to_l, to_i)):
                        continue
                    dihedrals.append((i, j, k, l))
                    dihedral_shifts.append((to_i, to_k, to_l))
        return np.array(dihedrals, dtype=int).reshape(-1, 4), np.array(dihedral_shifts, dtype=int).reshape(-1, 3, 3)


def _positive(shifts: np.ndarray) -> np.ndarray:
    """Whether each shift is lexicographically positive (one of a bond's two images to its own image)."""
    first_nonzero = np.argmax(shifts != 0, axis=1)
    return shifts[np.arange(len(shifts)), first_nonzero] > 0
