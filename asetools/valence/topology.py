"""The bond topology of the valence force field: which terms a structure has and what type each is.

A :class:`ValenceTopology` holds the bonds, angles and dihedrals of one structure (found
once, by covalent radii: :class:`~asetools.valence.bonds.BondGraph`), the name of every
atom in the term types (:data:`ATOM_TYPINGS`, :func:`term_type`), and the shared terms
of atoms that hop between two partners, with the bonds and bends that follow the hop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ase import Atoms

from ..graph import neighbour_pairs
from .bonds import DEFAULT_BOND_SCALE, BondGraph
from .kinds import SHARED_KINDS

__all__ = ["ATOM_TYPINGS", "SHARED_PARTNER_RADIUS", "ValenceTopology", "term_type"]

#: How far (Å) a hopping atom looks for its two partners (:meth:`ValenceTopology.sharing`):
#: past the hydrogen bond of acetylacetone's enol (H···O near 1.6 Å) with room for its
#: vibration, short of the next molecule's oxygens.
SHARED_PARTNER_RADIUS = 2.5


def term_type(*names: str) -> str:
    """Label of a bond, angle or dihedral type from its atoms' names, read in the direction that
    sorts first: ``"C-H"``, ``"H-C-O"``, ``"H-C-C-O"`` (for an angle, the outer names sorted)."""
    return "-".join(min(names, names[::-1]))


#: How atoms are named in the term types: by species alone (``"C"``), or by species and
#: the sorted species of its bonded neighbours (``"C(CHHH)"``: a methyl carbon; its C–H
#: bonds then differ from a CH2 group's).
ATOM_TYPINGS = {"species": "chemical symbol", "neighbours": "symbol and bonded neighbours' symbols"}


def _neighbours_name(symbol: str, neighbours: Sequence[str]) -> str:
    """An atom's name under the ``"neighbours"`` typing: ``"C(CHHH)"``."""
    return f"{symbol}({''.join(sorted(neighbours))})"


@dataclass(frozen=True)
class ValenceTopology:
    """Bonds, angles and dihedrals of one structure, with periodic image shifts.

    Attributes:
        symbols: chemical symbols, ``[N]``.
        atom_types: each atom's name in the term types, ``[N]`` (see :data:`ATOM_TYPINGS`).
        bonds: ``[B, 2]`` atom indices ``(i, j)``, each bond once.
        bond_shifts: ``[B, 3]`` integer cell shifts: the bond vector is
            ``x_j + shift·cell − x_i``.
        angles: ``[A, 3]`` atom indices ``(i, j, k)`` with ``j`` the vertex.
        angle_shifts: ``[A, 2, 3]`` cell shifts of ``i`` and ``k`` relative to ``j``.
        dihedrals: ``[D, 4]`` atom indices ``(i, j, k, l)`` of bonded chains, ``j-k`` the central bond.
        dihedral_shifts: ``[D, 3, 3]`` cell shifts of ``i``, ``k`` and ``l`` relative to ``j``.
        shared: ``[S, 3]`` atom indices ``(a, h, b)`` of an atom ``h`` that hops between
            two partners ``a`` and ``b`` of one species (acetylacetone's enol proton and its
            two oxygens), whichever of them it is bonded to; see :meth:`sharing`.
        shared_shifts: ``[S, 2, 3]`` cell shifts of ``a`` and ``b`` relative to ``h``.
        shared_bonds: ``[K, 3]`` the bonds whose length follows which partner holds a
            hopping atom (see :meth:`with_shared_bonds`): rows ``(bond, shared term, side)``,
            indices into ``bonds`` and ``shared``, with ``side`` 0 if the bond is nearer
            partner ``a`` and 1 if nearer ``b``.
    """

    symbols: tuple[str, ...]
    atom_types: tuple[str, ...]
    bonds: np.ndarray
    bond_shifts: np.ndarray
    angles: np.ndarray
    angle_shifts: np.ndarray
    dihedrals: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 4), dtype=int))
    dihedral_shifts: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3, 3), dtype=int))
    shared: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3), dtype=int))
    shared_shifts: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2, 3), dtype=int))
    shared_bonds: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3), dtype=int))

    @classmethod
    def from_atoms(
        cls, atoms: Atoms, bond_scale: float = DEFAULT_BOND_SCALE, atom_typing: str = "species"
    ) -> ValenceTopology:
        """Bonds between atoms closer than ``bond_scale`` × the sum of their covalent radii; angles from bond pairs.

        ``atom_typing`` (see :data:`ATOM_TYPINGS`) names the atoms in the term types.
        """
        if atom_typing not in ATOM_TYPINGS:
            raise ValueError(f"ValenceTopology: unknown atom_typing {atom_typing!r}; choose from {sorted(ATOM_TYPINGS)}")
        if not np.all(np.isfinite(atoms.positions)):
            raise ValueError("ValenceTopology: the structure has non-finite positions; fix the input geometry")
        if bond_scale <= 0:
            raise ValueError(f"ValenceTopology: bond_scale must be positive, got {bond_scale}")
        graph = BondGraph.from_atoms(atoms, bond_scale)
        bonds, bond_shifts = graph.bonds()
        angles, angle_shifts = graph.angles()
        dihedrals, dihedral_shifts = graph.dihedrals()
        symbols = atoms.get_chemical_symbols()
        atom_types = symbols
        if atom_typing == "neighbours":
            atom_types = [
                _neighbours_name(symbol, [symbols[n] for n in graph.second[arms]])
                for symbol, arms in zip(symbols, graph.bonds_of)
            ]
        return cls(
            symbols=tuple(symbols),
            atom_types=tuple(atom_types),
            bonds=bonds,
            bond_shifts=bond_shifts,
            angles=angles,
            angle_shifts=angle_shifts,
            dihedrals=dihedrals,
            dihedral_shifts=dihedral_shifts,
        )

    @cached_property
    def bond_types(self) -> list[str]:
        return [term_type(*(self.atom_types[n] for n in bond)) for bond in self.bonds]

    @cached_property
    def angle_types(self) -> list[str]:
        return [term_type(*(self.atom_types[n] for n in angle)) for angle in self.angles]

    @cached_property
    def arm_types(self) -> tuple[list[str], list[str]]:
        """Bond types of the two arms of every angle: ``(first-vertex, vertex-last)``."""
        s = self.atom_types
        return [term_type(s[i], s[j]) for i, j, _ in self.angles], [term_type(s[j], s[k]) for _, j, k in self.angles]

    @cached_property
    def dihedral_types(self) -> list[str]:
        return [term_type(*(self.atom_types[n] for n in dihedral)) for dihedral in self.dihedrals]

    @cached_property
    def shared_bond_types(self) -> list[str]:
        """Labels of the :attr:`shared_bonds`: their bonds' types."""
        return [self.bond_types[bond] for bond in self.shared_bonds[:, 0]]

    @cached_property
    def shared_bends(self) -> np.ndarray:
        """``[M, 4]`` the angles ``c``–``p``–``h`` that a hopping atom ``h`` makes at each of
        its partners ``p`` with the partner's bonded neighbours ``c``: rows ``(c, p, h, row)``,
        ``row`` indexing :attr:`shared_bonds` (the bond ``p``–``c``, whose side says which
        partner ``p`` is). Empty until :meth:`with_shared_bonds`."""
        rows = []
        for row, (bond, triple, side) in enumerate(self.shared_bonds):
            a, h, b = self.shared[triple]
            partner = b if side else a
            i, j = self.bonds[bond]
            if partner in (i, j):
                rows.append((j if partner == i else i, partner, h, row))
        return np.array(rows, dtype=int).reshape(-1, 4)

    @cached_property
    def shared_bend_types(self) -> list[str]:
        """Labels of the :attr:`shared_bends`, ``"C(CCO)-O(C)[H]-H"``: the hopping atom by
        species (its type changes when it hops), the others by type (their names do not)."""
        return [term_type(self.atom_types[c], self.atom_types[p], self.symbols[h]) for c, p, h, _ in self.shared_bends]

    @cached_property
    def shared_types(self) -> list[str]:
        """Labels of the shared terms, from species alone (``"O-H-O"``): the atom types of a
        hopping atom and its partners change when it hops, and the term must not."""
        return [term_type(*(self.symbols[n] for n in triple)) for triple in self.shared]

    def sharing(
        self, atoms: Atoms, hopping: np.ndarray, partners: np.ndarray, radius: float = SHARED_PARTNER_RADIUS
    ) -> ValenceTopology:
        """This topology with a shared term for every atom in ``hopping`` (an ``[N]`` mask).

        A hopping atom's partners are the two atoms in ``partners`` (an ``[N]`` mask)
        nearest to it within ``radius`` (Å) in ``atoms``: the oxygen that holds acetylacetone's
        enol proton and the one it is hydrogen-bonded to. The term needs two partners of
        one species (it is symmetric in them); a hopping atom without such a pair gets none.
        """
        first, second, shifts, distances = neighbour_pairs(atoms.positions, atoms.cell.array, atoms.pbc, radius)
        candidate = hopping[first] & partners[second]
        first, second, shifts, distances = first[candidate], second[candidate], shifts[candidate], distances[candidate]
        triples, triple_shifts = [], []
        for atom in np.flatnonzero(hopping):
            rows = np.flatnonzero(first == atom)
            if len(rows) < 2:
                continue
            a, b = rows[np.argsort(distances[rows], kind="stable")[:2]]
            if self.symbols[second[a]] == self.symbols[second[b]]:
                triples.append((second[a], atom, second[b]))
                triple_shifts.append((shifts[a], shifts[b]))
        return dataclasses.replace(
            self,
            shared=np.array(triples, dtype=int).reshape(-1, 3),
            shared_shifts=np.array(triple_shifts, dtype=int).reshape(-1, 2, 3),
            shared_bonds=np.zeros((0, 3), dtype=int),
        )

    def naming_partners(self, atom_typing: str) -> ValenceTopology:
        """This topology with the partners of its shared terms renamed so that a hop does not
        rename them: by their bonds in this topology (which has none to the hopping atoms)
        and the hopping atom's species in brackets, ``"O(C)[H]"`` for both of
        acetylacetone's oxygens, whichever holds the proton (``"O[H]"`` with species typing)."""
        neighbours = [[] for _ in self.symbols]
        for i, j in self.bonds:
            neighbours[i].append(self.symbols[j])
            neighbours[j].append(self.symbols[i])
        types = list(self.atom_types)
        for a, h, b in self.shared:
            for partner in (a, b):
                name = self.symbols[partner]
                if atom_typing == "neighbours":
                    name = _neighbours_name(name, neighbours[partner])
                types[partner] = f"{name}[{self.symbols[h]}]"
        return dataclasses.replace(self, atom_types=tuple(types))

    def with_shared_bonds(self) -> ValenceTopology:
        """This topology with its :attr:`shared_bonds`: for every shared term ``(a, h, b)``,
        the bonds that contain a partner or one of its bonded neighbours, each paired with
        the partner it is nearer (in bonds; a bond as near to both is left out).

        Which partner holds ``h`` decides the bond orders around it: in acetylacetone's
        enol the C–O bond of the oxygen with the proton is single and the other double,
        and the C–C bonds of the chain alternate with them. A term in the bond's stretch
        times ``r_a − r_b`` (:data:`SHARED_KINDS`) moves the bond's rest length with the
        proton, from either side alike.
        """
        neighbours = self.bonded_neighbours()
        bonds_of = [[] for _ in self.symbols]
        for bond, (i, j) in enumerate(self.bonds):
            bonds_of[i].append(bond)
            bonds_of[j].append(bond)
        rows = []
        for triple, (a, _, b) in enumerate(self.shared):
            near = {int(a), int(b)} | neighbours[a] | neighbours[b]
            for bond in sorted({bond for atom in near for bond in bonds_of[atom]}):
                ends = set(self.bonds[bond].tolist())
                # bonds away from each partner: 0 if the bond contains it, 1 if a neighbour of it, else 2
                distance = [0 if partner in ends else 1 if ends & neighbours[partner] else 2 for partner in (a, b)]
                if distance[0] != distance[1]:
                    rows.append((bond, triple, int(distance[1] < distance[0])))
        return dataclasses.replace(self, shared_bonds=np.array(rows, dtype=int).reshape(-1, 3))

    def excluding(self, atoms: np.ndarray) -> ValenceTopology:
        """This topology without the bonds, angles and dihedrals that contain any of ``atoms``
        (indices, or a ``[N]`` boolean mask). The atom types keep the names they had from
        the full bonding, so a carbon bonded to a left-out oxygen is still ``"C(CCO)"``."""
        left_out = np.zeros(len(self.symbols), dtype=bool)
        left_out[atoms] = True
        bonds = ~left_out[self.bonds].any(axis=1)
        angles = ~left_out[self.angles].any(axis=1)
        dihedrals = ~left_out[self.dihedrals].any(axis=1)
        shared = ~left_out[self.shared].any(axis=1)
        kept = bonds[self.shared_bonds[:, 0]] & shared[self.shared_bonds[:, 1]]
        renumbered = self.shared_bonds[kept].copy()
        renumbered[:, 0] = (np.cumsum(bonds) - 1)[renumbered[:, 0]]
        renumbered[:, 1] = (np.cumsum(shared) - 1)[renumbered[:, 1]]
        return dataclasses.replace(
            self,
            bonds=self.bonds[bonds],
            bond_shifts=self.bond_shifts[bonds],
            angles=self.angles[angles],
            angle_shifts=self.angle_shifts[angles],
            dihedrals=self.dihedrals[dihedrals],
            dihedral_shifts=self.dihedral_shifts[dihedrals],
            shared=self.shared[shared],
            shared_shifts=self.shared_shifts[shared],
            shared_bonds=renumbered,
        )

    def of_types(self, names: Sequence[str]) -> np.ndarray:
        """``[N]`` mask of the atoms whose type name is one of ``names``."""
        return np.isin(np.array(self.atom_types, dtype=object), list(names))

    def bonded_neighbours(self) -> list[frozenset[int]]:
        """The indices of each atom's bonded neighbours (periodic images not told apart)."""
        neighbours = [set() for _ in self.symbols]
        for i, j in self.bonds:
            neighbours[i].add(int(j))
            neighbours[j].add(int(i))
        return [frozenset(partners) for partners in neighbours]

    def types(self, kind: str) -> list[str]:
        """Type label of every term of one coordinate kind (see :data:`COORDINATE_KINDS`)."""
        if kind == "bond":
            return self.bond_types
        if kind == "shared_bond":
            return self.shared_bond_types
        if kind in ("shared_bend", "shared_bend_cross"):
            return self.shared_bend_types
        if kind in SHARED_KINDS:
            return self.shared_types
        return self.dihedral_types if kind == "one_four" else self.angle_types

    def atoms_of(self, kind: str) -> np.ndarray:
        """``[T, m]`` atoms each term of ``kind`` depends on (the order of the gradients of
        :func:`~asetools.valence.coordinates.coordinates_of`)."""
        if kind == "bond":
            return self.bonds
        if kind == "urey_bradley":
            return self.angles[:, [0, 2]]
        if kind == "one_four":
            return self.dihedrals[:, [0, 3]]
        if kind == "shared_bond":
            bond, triple, _ = self.shared_bonds.T
            return np.concatenate([self.bonds[bond], self.shared[triple]], axis=1)
        if kind == "shared_bend":
            return self.shared_bends[:, :3]
        if kind == "shared_bend_cross":
            triple = self.shared_bonds[self.shared_bends[:, 3], 1]
            return np.concatenate([self.shared_bends[:, :3], self.shared[triple]], axis=1)
        return self.shared if kind in SHARED_KINDS else self.angles
