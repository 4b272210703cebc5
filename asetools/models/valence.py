"""A fitted valence force field: polynomial bond and angle terms on a fixed bond topology.

This is the classical fast part of multiple-time-step MD for molecules (bonded terms in
the inner loop, as in RESPA with CHARMM or AMBER force fields): bond stretches and angle
bends are the fastest motions of an organic molecule, and a handful of polynomial
terms per bond and angle type costs far less than any message-passing model. Used as
the fast part with :meth:`asetools.calculators.MTSCalc.from_total`, the slow part is the
full model minus these terms, so the dynamics is that of the full model exactly.

Energy (eV) of a structure::

    E = Σ_s n_s·e_s + Σ_kinds Σ_terms Σ_p c_{kind,type,p} (q − q0_{kind,type})^p,    p = 0..order[kind]

over the kinds of internal coordinate ``q`` in :data:`COORDINATE_KINDS`: ``bond`` (the
bond length, Å), ``angle`` (cos θ of two bonds that share an atom; no singularity at
linear angles), ``urey_bradley`` (the distance between the outer atoms of an angle, Å,
as in CHARMM), the cross terms ``stretch_stretch`` and ``stretch_bend`` of an angle's
two arms, and ``one_four`` (the distance between the end atoms of a dihedral, Å). One
set of coefficients per type: a bond's type is its two atom names, sorted (``"C-H"``);
an angle's is the outer names, sorted, around the vertex (``"H-C-O"``); a dihedral's
is read in the direction that sorts first. Atoms are named by species or, by default in
the fit, by species and bonded neighbours (:data:`ATOM_TYPINGS`). ``e_s`` are
per-species energies; the constants ``c_0`` (a term's energy increment) let frames with
different bonds, such as different molecules, share one energy zero. The reference
values ``q0`` are the mean of each type in the fitting frames, so the coefficients are
a Taylor expansion about the typical geometry. Every coefficient enters linearly, so
:func:`fit_valence_force_field` is one linear least-squares solve on reference forces
(and, optionally, energies).

Bonds are found once, by ASE's covalent radii (:func:`ase.neighborlist.natural_cutoffs`
scaled by ``bond_scale``), and stay fixed: the force field cannot break or make bonds.
Atoms that do change partners in the fitting frames (a proton shared by two oxygens, as
in acetylacetone's enol) are *labile*: the fit finds them, records their type names, and
leaves out every term that contains an atom of a labile type, in the fit and in use. In
a split (:meth:`~asetools.calculators.MTSCalc.from_total`) their motion then stays with
the full model instead of being pulled back to the bond they started with. An atom that
hops between two partners of one species (the proton) gets a *shared* term instead, a
polynomial in the sum and the squared difference of its two distances and in the angle
they make (:data:`SHARED_KINDS`): it is the same whichever partner holds the atom, so it
survives a hop and keeps the fastest stretch of the molecule in the fast part. Its two
partners then keep their own terms, under a name that a hop does not change (``"O(C)[H]"``),
and the bonds next to them get a term that moves their rest length with the hop (the C–O
and C–C bond orders of the enol swap when the proton does). The hopping atom also bends
at whichever partner holds it: the angles it makes with each partner's bonds, coupled to
which partner is nearer, are the same set whichever that is.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs

from .._files import atomic_path
from ..graph import neighbour_pairs

__all__ = [
    "ATOM_TYPINGS",
    "COORDINATE_KINDS",
    "BoundValenceForceField",
    "ValenceForceField",
    "ValenceTopology",
    "fit_valence_force_field",
    "labile_atom_types",
]

#: Scale of ASE's covalent radii below which two atoms are bonded (ethanol's longest
#: bond, C–C at 1.53 Å, is 1.0 × the sum of the radii; the nearest non-bonded pair,
#: geminal H–H near 1.75 Å, is 1.4 ×).
DEFAULT_BOND_SCALE = 1.2

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
        radii = np.array(natural_cutoffs(atoms, mult=bond_scale))
        first, second, shifts, distances = neighbour_pairs(
            atoms.positions, atoms.cell.array, atoms.pbc, 2 * float(radii.max(initial=0.0))
        )
        bonded = distances < radii[first] + radii[second]
        first, second, shifts = first[bonded], second[bonded], shifts[bonded]
        once = (first < second) | ((first == second) & _positive(shifts))
        bonds = np.stack([first[once], second[once]], axis=1)
        # the directed bonds leaving each atom, found once (a search per atom grows as N²)
        by_atom = np.argsort(first, kind="stable")
        bonds_of = np.split(by_atom, np.cumsum(np.bincount(first, minlength=len(atoms)))[:-1])
        angles, angle_shifts = [], []
        for vertex, arms in enumerate(bonds_of):
            for a in range(len(arms)):
                for b in range(a + 1, len(arms)):
                    angles.append((second[arms[a]], vertex, second[arms[b]]))
                    angle_shifts.append((shifts[arms[a]], shifts[arms[b]]))
        dihedrals, dihedral_shifts = [], []
        for centre in np.flatnonzero(once):  # the central bond j-k, once
            j, k, to_k = first[centre], second[centre], shifts[centre]
            for arm_i in bonds_of[j]:
                i, to_i = second[arm_i], shifts[arm_i]
                if i == k and np.array_equal(to_i, to_k):
                    continue
                for arm_l in bonds_of[k]:
                    l, to_l = second[arm_l], to_k + shifts[arm_l]
                    if (l == j and not to_l.any()) or (l == i and np.array_equal(to_l, to_i)):
                        continue
                    dihedrals.append((i, j, k, l))
                    dihedral_shifts.append((to_i, to_k, to_l))
        symbols = atoms.get_chemical_symbols()
        atom_types = symbols
        if atom_typing == "neighbours":
            atom_types = [_neighbours_name(symbol, [symbols[n] for n in second[arms]]) for symbol, arms in zip(symbols, bonds_of)]
        return cls(
            symbols=tuple(symbols),
            atom_types=tuple(atom_types),
            bonds=bonds.reshape(-1, 2),
            bond_shifts=shifts[once].reshape(-1, 3),
            angles=np.array(angles, dtype=int).reshape(-1, 3),
            angle_shifts=np.array(angle_shifts, dtype=int).reshape(-1, 2, 3),
            dihedrals=np.array(dihedrals, dtype=int).reshape(-1, 4),
            dihedral_shifts=np.array(dihedral_shifts, dtype=int).reshape(-1, 3, 3),
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
        """``[T, m]`` atoms each term of ``kind`` depends on (the order of :func:`_coordinates`' gradients)."""
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


def _positive(shifts: np.ndarray) -> np.ndarray:
    """Whether each shift is lexicographically positive (one of a bond's two images to its own image)."""
    first_nonzero = np.argmax(shifts != 0, axis=1)
    return shifts[np.arange(len(shifts)), first_nonzero] > 0


#: The kinds of a shared term ``(a, h, b)`` (a hopping atom ``h`` between partners ``a``
#: and ``b``; see :meth:`ValenceTopology.sharing`), in its two distances r_a and r_b:
#: ``shared_sum`` (r_a + r_b, Å), ``shared_difference`` ((r_a − r_b)², Å², zero when
#: ``h`` sits midway), ``shared_angle`` (cos of the angle a–h–b) and ``shared_cross``
#: ((s − s0)(q − q0) of the first two). Every one is symmetric in ``a`` and ``b``, so the
#: term is the same whichever partner holds ``h``: a proton can hop under it. With them,
#: ``shared_bond`` ((r − r0)(r_near − r_far) of a bond near one partner,
#: :meth:`ValenceTopology.with_shared_bonds`) lets that bond's rest length follow the hop;
#: the two partners' bonds together are again symmetric.
#: ``shared_bend`` (cos of the angle c–p–h that the hopping atom makes at a partner ``p``
#: with each of its bonded neighbours ``c``) and ``shared_bend_cross`` ((cos − c0)(r_p −
#: r_other)) bend the hopping atom at whichever partner holds it.
SHARED_KINDS = (
    "shared_sum", "shared_difference", "shared_angle", "shared_cross", "shared_bond", "shared_bend", "shared_bend_cross"
)
#: Internal coordinates the force field expands in, in the order of the fit's columns.
#: The cross terms ``stretch_stretch`` ((r_a − r0_a)(r_b − r0_b) of an angle's two arms)
#: and ``stretch_bend`` ((r_a − r0_a + r_b − r0_b)(cos θ − c0)) use the bond and angle
#: references, so they need the ``bond`` and ``angle`` kinds; ``shared_cross`` needs
#: ``shared_sum`` and ``shared_difference``, ``shared_bond`` the ``bond`` kind and a
#: shared term, and ``shared_bend_cross`` the ``shared_bend`` kind.
COORDINATE_KINDS = ("bond", "angle", "urey_bradley", "stretch_stretch", "stretch_bend", "one_four", *SHARED_KINDS)
#: The kinds that are products of two deviations from other kinds' references, and those they need.
CROSS_KINDS = {
    "stretch_stretch": ("bond", "angle"),
    "stretch_bend": ("bond", "angle"),
    "shared_cross": ("shared_sum", "shared_difference"),
    "shared_bond": ("bond", "shared_sum"),
    "shared_bend_cross": ("shared_bend",),
}
#: The kinds computed from the angles' arms (:class:`_AngleGeometry`).
_ANGLE_KINDS = frozenset(("angle", "urey_bradley", "stretch_stretch", "stretch_bend"))


@dataclass(frozen=True)
class _CrossCentres:
    """The references the cross kinds expand about, per term of a topology.

    ``arm_a``/``arm_b``/``cosine``: ``[A]`` per angle, its arms' bond references (Å) and its
    own (a cosine); ``shared_sum``/``shared_difference``: ``[S]`` per shared term, the
    references of r_a + r_b (Å) and (r_a − r_b)² (Å²); ``shared_bond``: ``[K]`` the bond
    reference of each shared bond (Å); ``shared_bend``: ``[M]`` the cosine reference of each
    shared bend. Empty where the kinds are not fitted.
    """

    arm_a: np.ndarray
    arm_b: np.ndarray
    cosine: np.ndarray
    shared_sum: np.ndarray
    shared_difference: np.ndarray
    shared_bond: np.ndarray
    shared_bend: np.ndarray

    @classmethod
    def of(cls, topology: ValenceTopology, reference: dict[str, dict[str, float]]) -> _CrossCentres:
        def per_term(kind: str, names: list[str]) -> np.ndarray:
            return np.array([reference[kind][name] for name in names] if kind in reference else [], dtype=float)

        first, second = topology.arm_types
        return cls(
            per_term("bond", first),
            per_term("bond", second),
            per_term("angle", topology.angle_types),
            per_term("shared_sum", topology.shared_types),
            per_term("shared_difference", topology.shared_types),
            per_term("bond", topology.shared_bond_types),
            per_term("shared_bend", topology.shared_bend_types),
        )


@dataclass(frozen=True)
class _AngleGeometry:
    """Every angle of a topology at one set of positions: what the angle-based kinds share.

    ``arm_a``/``arm_b``: ``[A, 3]`` vectors from the vertex to the first and last atom (Å);
    ``norm_a``/``norm_b``: ``[A, 1]`` their lengths; ``unit_a``/``unit_b``: their directions;
    ``cosine``: ``[A]`` cos θ; ``grad_a``/``grad_b``: ``[A, 3]`` dcos θ/d(first), d(last).
    """

    arm_a: np.ndarray
    arm_b: np.ndarray
    norm_a: np.ndarray
    norm_b: np.ndarray
    unit_a: np.ndarray
    unit_b: np.ndarray
    cosine: np.ndarray
    grad_a: np.ndarray
    grad_b: np.ndarray

    @property
    def cosine_gradient(self) -> np.ndarray:
        """``[A, 3, 3]`` dcos θ with respect to (first, vertex, last)."""
        return np.stack([self.grad_a, -self.grad_a - self.grad_b, self.grad_b], axis=1)

    @classmethod
    def at(cls, topology: ValenceTopology, positions: np.ndarray, cell: np.ndarray, shared: bool = False) -> _AngleGeometry:
        """The angles of ``topology`` or, with ``shared``, its shared terms (``a``–``h``–``b``)."""
        triples, shifts = (topology.shared, topology.shared_shifts) if shared else (topology.angles, topology.angle_shifts)
        first, vertex, last = triples.T
        arm_a = positions[first] + shifts[:, 0] @ cell - positions[vertex]
        arm_b = positions[last] + shifts[:, 1] @ cell - positions[vertex]
        return cls.of_arms(arm_a, arm_b)

    @classmethod
    def of_arms(cls, arm_a: np.ndarray, arm_b: np.ndarray) -> _AngleGeometry:
        """The angles between the vectors ``arm_a`` and ``arm_b`` (``[A, 3]``, Å) from their vertices."""
        norm_a = np.linalg.norm(arm_a, axis=1, keepdims=True)
        norm_b = np.linalg.norm(arm_b, axis=1, keepdims=True)
        unit_a, unit_b = arm_a / norm_a, arm_b / norm_b
        cosine = np.sum(unit_a * unit_b, axis=1)
        grad_a = (unit_b - cosine[:, None] * unit_a) / norm_a
        grad_b = (unit_a - cosine[:, None] * unit_b) / norm_b
        return cls(arm_a, arm_b, norm_a, norm_b, unit_a, unit_b, cosine, grad_a, grad_b)


def _distance(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths ``[T]`` of ``vectors`` ``[T, 3]`` (from atom 1 to atom 2) and their gradients ``[T, 2, 3]``."""
    lengths = np.linalg.norm(vectors, axis=1)
    unit = vectors / lengths[:, None]
    return lengths, np.stack([-unit, unit], axis=1)


def _coordinates(
    topology: ValenceTopology,
    kind: str,
    positions: np.ndarray,
    cell: np.ndarray,
    centres: _CrossCentres | None = None,
    geometry: _AngleGeometry | None = None,
    shared_geometry: _AngleGeometry | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Values ``[T]`` of one kind of internal coordinate and their gradients ``[T, m, 3]``.

    The gradients are with respect to the positions of ``topology.atoms_of(kind)``;
    the cross kinds need ``centres``. The angle-based kinds use ``geometry`` and the
    shared kinds ``shared_geometry`` when given (computed here otherwise), so that several
    kinds at the same positions share it.
    """
    if kind in SHARED_KINDS:
        g = shared_geometry if shared_geometry is not None else _AngleGeometry.at(topology, positions, cell, shared=True)
        if kind == "shared_bond":
            return _shared_bond_coordinates(topology, positions, cell, g, centres)
        if kind in ("shared_bend", "shared_bend_cross"):
            return _shared_bend_coordinates(kind, topology, positions, cell, g, centres)
        return _shared_coordinates(kind, g, centres)
    if kind == "bond":
        i, j = topology.bonds.T
        return _distance(positions[j] + topology.bond_shifts @ cell - positions[i])
    if kind == "one_four":
        i, _, _, j = topology.dihedrals.T
        shifts = topology.dihedral_shifts
        return _distance(positions[j] + (shifts[:, 2] - shifts[:, 0]) @ cell - positions[i])
    if kind not in COORDINATE_KINDS:
        raise ValueError(f"unknown internal coordinate {kind!r}; choose from {COORDINATE_KINDS}")
    g = geometry if geometry is not None else _AngleGeometry.at(topology, positions, cell)
    if kind == "urey_bradley":
        return _distance(g.arm_b - g.arm_a)
    if kind == "angle":
        return g.cosine, g.cosine_gradient
    unit_a, unit_b, grad_a, grad_b = g.unit_a, g.unit_b, g.grad_a, g.grad_b
    stretch_a = g.norm_a[:, 0] - centres.arm_a
    stretch_b = g.norm_b[:, 0] - centres.arm_b
    if kind == "stretch_stretch":
        d_first = stretch_b[:, None] * unit_a
        d_last = stretch_a[:, None] * unit_b
        return stretch_a * stretch_b, np.stack([d_first, -d_first - d_last, d_last], axis=1)
    bend = (g.cosine - centres.cosine)[:, None]
    stretch = (stretch_a + stretch_b)[:, None]
    d_first = bend * unit_a + stretch * grad_a
    d_last = bend * unit_b + stretch * grad_b
    return stretch[:, 0] * bend[:, 0], np.stack([d_first, -d_first - d_last, d_last], axis=1)


def _arm_difference(g: _AngleGeometry) -> tuple[np.ndarray, np.ndarray]:
    """r_a − r_b ``[S]`` (Å) of the shared terms' geometry ``g`` and its gradient ``[S, 3, 3]``
    with respect to ``(a, h, b)``."""
    gradient = np.stack([g.unit_a, g.unit_b - g.unit_a, -g.unit_b], axis=1)
    return g.norm_a[:, 0] - g.norm_b[:, 0], gradient


def _partner_difference(g: _AngleGeometry, triple: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """r_near − r_far ``[K]`` (Å) of the shared terms ``triple`` ``[K]``, where the near
    partner is ``a`` for ``side`` 0 and ``b`` for 1, and its gradient ``[K, 3, 3]`` with
    respect to ``(a, h, b)``."""
    sign = np.where(side == 0, 1.0, -1.0)
    difference, d_difference = _arm_difference(g)
    return sign * difference[triple], sign[:, None, None] * d_difference[triple]


def _shared_coordinates(kind: str, g: _AngleGeometry, centres: _CrossCentres | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_coordinates` for the :data:`SHARED_KINDS` from the shared terms' geometry ``g``,
    gradients with respect to ``(a, h, b)``."""
    if kind == "shared_angle":
        return g.cosine, g.cosine_gradient
    total = g.norm_a[:, 0] + g.norm_b[:, 0]
    d_total = np.stack([g.unit_a, -g.unit_a - g.unit_b, g.unit_b], axis=1)
    difference, d_difference = _arm_difference(g)
    squared = difference**2
    d_squared = 2 * difference[:, None, None] * d_difference
    if kind == "shared_sum":
        return total, d_total
    if kind == "shared_difference":
        return squared, d_squared
    total, squared = total - centres.shared_sum, squared - centres.shared_difference
    return total * squared, squared[:, None, None] * d_total + total[:, None, None] * d_squared


def _shared_bond_coordinates(
    topology: ValenceTopology, positions: np.ndarray, cell: np.ndarray, g: _AngleGeometry, centres: _CrossCentres
) -> tuple[np.ndarray, np.ndarray]:
    """``shared_bond`` values (r − r0)·(r_near − r_far) (Å²) and gradients with respect to
    ``(i, j, a, h, b)``, the bond's atoms and its shared term's."""
    bond, triple, side = topology.shared_bonds.T
    i, j = topology.bonds[bond].T
    length, d_length = _distance(positions[j] + topology.bond_shifts[bond] @ cell - positions[i])
    difference, d_difference = _partner_difference(g, triple, side)
    stretch = length - centres.shared_bond
    gradients = np.concatenate(
        [difference[:, None, None] * d_length, stretch[:, None, None] * d_difference], axis=1
    )
    return stretch * difference, gradients


def _shared_bend_coordinates(
    kind: str, topology: ValenceTopology, positions: np.ndarray, cell: np.ndarray, g: _AngleGeometry, centres: _CrossCentres | None
) -> tuple[np.ndarray, np.ndarray]:
    """``shared_bend`` values cos θ of the angles c–p–h (:attr:`ValenceTopology.shared_bends`)
    with gradients with respect to ``(c, p, h)``; ``shared_bend_cross`` values
    (cos θ − c0)(r_p − r_other) (Å), gradients with respect to ``(c, p, h, a, h, b)``."""
    _, partner, _, row = topology.shared_bends.T
    bond, triple, side = topology.shared_bonds[row].T
    i, j = topology.bonds[bond].T
    along_bond = positions[j] + topology.bond_shifts[bond] @ cell - positions[i]
    to_neighbour = np.where((partner == i)[:, None], along_bond, -along_bond)
    to_hopping = -np.where((side == 0)[:, None], g.arm_a[triple], g.arm_b[triple])
    bend = _AngleGeometry.of_arms(to_neighbour, to_hopping)
    d_cosine = bend.cosine_gradient
    if kind == "shared_bend":
        return bend.cosine, d_cosine
    difference, d_difference = _partner_difference(g, triple, side)
    deviation = bend.cosine - centres.shared_bend
    gradients = np.concatenate([difference[:, None, None] * d_cosine, deviation[:, None, None] * d_difference], axis=1)
    return deviation * difference, gradients


@dataclass(frozen=True)
class ValenceForceField:
    """Fitted parameters of the valence force field (see the module docstring).

    Attributes:
        species_energies: species -> e_s (eV).
        reference: kind -> type -> q0 (Å for distances, a cosine for angles).
        coefficients: kind -> type -> ``[order + 1]`` c_p (eV per unit of q^p), p = 0, 1, ...
            A kind left out has no terms.
        bond_scale: the covalent-radius scale that defines bonds.
        atom_typing: how atoms are named in the term types (:data:`ATOM_TYPINGS`).
        labile_types: names of atom types that changed bonded partners in the fitting
            frames (see :func:`labile_atom_types`); no term other than a shared one
            contains an atom of these types, except the partners of a hopping atom.
        hopping_types: those of the labile types whose atoms hopped between partners;
            each such atom gets a shared term with its two nearest partners of the other
            labile types (:meth:`ValenceTopology.sharing`), when the fit has its parameters;
            the partners keep their terms (:meth:`ValenceTopology.naming_partners`).
    """

    species_energies: dict[str, float]
    reference: dict[str, dict[str, float]]
    coefficients: dict[str, dict[str, np.ndarray]]
    bond_scale: float = DEFAULT_BOND_SCALE
    atom_typing: str = "species"
    labile_types: tuple[str, ...] = ()
    hopping_types: tuple[str, ...] = ()

    def __post_init__(self):
        _check_kinds(self.coefficients, "ValenceForceField")

    def topology(self, atoms: Atoms) -> ValenceTopology:
        """The bonds and angles of ``atoms`` without the labile atoms' terms, and the
        shared terms of its hopping atoms, checked to have parameters."""
        topology = ValenceTopology.from_atoms(atoms, self.bond_scale, self.atom_typing)
        topology = _without_labile(topology, atoms, self.labile_types, self.hopping_types, self.atom_typing)
        missing = [("species", sorted(set(topology.symbols) - set(self.species_energies)))]
        missing += [(kind, sorted(set(topology.types(kind)) - set(table))) for kind, table in self.coefficients.items()]
        missing = [(what, names) for what, names in missing if names]
        if missing:
            raise ValueError(
                "the valence force field has no parameters for "
                + "; ".join(f"{what} {', '.join(names)}" for what, names in missing)
                + ": fit it on frames that contain them (fit_valence_force_field)"
            )
        return topology

    def bind(self, topology: ValenceTopology) -> BoundValenceForceField:
        """The parameters of every term of ``topology``, gathered once for repeated evaluation."""
        constant = sum(self.species_energies[symbol] for symbol in topology.symbols)
        terms = {}
        for kind, table in self.coefficients.items():
            names = topology.types(kind)
            if not names:
                continue
            order = max((len(values) for values in table.values()), default=0)
            gathered = np.zeros((len(names), order))
            for row, name in enumerate(names):
                gathered[row, : len(table[name])] = table[name]
            terms[kind] = (np.array([self.reference[kind][name] for name in names]), gathered)
        centres = _CrossCentres.of(topology, self.reference) if set(CROSS_KINDS) & set(terms) else None
        atom_index = np.concatenate([topology.atoms_of(kind).reshape(-1) for kind in terms] or [np.zeros(0, int)])
        return BoundValenceForceField(topology, float(constant), terms, atom_index, centres)

    def to_dict(self) -> dict:
        """Plain-Python form (for YAML/JSON); :meth:`from_dict` reads it back."""
        return {
            "species_energies": dict(self.species_energies),
            "reference": {kind: dict(table) for kind, table in self.reference.items()},
            "coefficients": {
                kind: {name: [float(v) for v in values] for name, values in table.items()}
                for kind, table in self.coefficients.items()
            },
            "bond_scale": self.bond_scale,
            "atom_typing": self.atom_typing,
            "labile_types": list(self.labile_types),
            "hopping_types": list(self.hopping_types),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the force field as JSON to ``path`` (atomically: a failed write leaves the old file)."""
        with atomic_path(path) as temporary:
            temporary.write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> ValenceForceField:
        """Read a force field written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text())
            return cls.from_dict(data)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{os.fspath(path)!r} is not a valence force field written by ValenceForceField.save: {error}") from None

    @classmethod
    def from_dict(cls, data: dict) -> ValenceForceField:
        coefficients = {
            kind: {name: np.asarray(values, dtype=float) for name, values in table.items()}
            for kind, table in data["coefficients"].items()
        }
        return cls(
            species_energies=dict(data["species_energies"]),
            reference={kind: dict(table) for kind, table in data["reference"].items()},
            coefficients=coefficients,
            bond_scale=float(data.get("bond_scale", DEFAULT_BOND_SCALE)),
            atom_typing=str(data.get("atom_typing", "species")),
            labile_types=tuple(str(name) for name in data.get("labile_types", ())),
            hopping_types=tuple(str(name) for name in data.get("hopping_types", ())),
        )


@dataclass(frozen=True)
class BoundValenceForceField:
    """A :class:`ValenceForceField`'s parameters laid out per term of one topology.

    Attributes:
        topology: the structure's bonds and angles.
        constant: Σ_s n_s·e_s (eV).
        terms: kind -> (``[T]`` q0 of each term, ``[T, P + 1]`` its coefficients).
        atom_index: the atoms of every term, kind after kind in the order of ``terms``
            (``topology.atoms_of(kind)`` flattened): where each gradient row goes.
        centres: the bond and angle references per angle (for the cross kinds).
    """

    topology: ValenceTopology
    constant: float
    terms: dict[str, tuple[np.ndarray, np.ndarray]]
    atom_index: np.ndarray
    centres: _CrossCentres | None = None

    def energy_and_forces(self, positions: np.ndarray, cell: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy (eV) and forces (eV/Å, ``[N, 3]``) at ``positions`` (Å, ``[N, 3]``)."""
        energy = self.constant
        geometry = _AngleGeometry.at(self.topology, positions, cell) if _ANGLE_KINDS & set(self.terms) else None
        shared = None
        if set(SHARED_KINDS) & set(self.terms):
            shared = _AngleGeometry.at(self.topology, positions, cell, shared=True)
        contributions = []
        for kind, (reference, coefficients) in self.terms.items():
            values, gradients = _coordinates(self.topology, kind, positions, cell, self.centres, geometry, shared)
            value, slope = _polynomial(values - reference, coefficients)
            energy += float(value.sum())
            contributions.append((-slope[:, None, None] * gradients).reshape(-1, 3))
        # forces = -dE/dx, summed per atom over every term it takes part in
        parts = np.concatenate(contributions)
        forces = np.stack(
            [np.bincount(self.atom_index, weights=parts[:, axis], minlength=len(positions)) for axis in range(3)], axis=1
        )
        return energy, forces


def _polynomial(x: np.ndarray, coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ_p c_p x^p (p = 0..P) and its derivative, per element of ``x`` ``[T]``; ``coefficients`` ``[T, P + 1]``."""
    value = coefficients[:, 0].copy()
    slope = np.zeros_like(x)
    power = np.ones_like(x)
    for p, c in enumerate(coefficients[:, 1:].T, start=1):
        slope += p * c * power
        power = power * x
        value += c * power
    return value, slope


#: Default polynomial order of each coordinate kind in :func:`fit_valence_force_field`.
#: The shared kinds apply only where an atom hops between two partners.
DEFAULT_ORDERS = {
    "bond": 4,
    "angle": 3,
    "urey_bradley": 2,
    "stretch_stretch": 1,
    "stretch_bend": 1,
    "shared_sum": 3,
    "shared_difference": 4,
    "shared_angle": 2,
    "shared_cross": 1,
    "shared_bond": 1,
    "shared_bend": 2,
    "shared_bend_cross": 1,
}


def fit_valence_force_field(
    frames: Sequence[Atoms],
    orders: dict[str, int] | None = None,
    energy_weight: float = 0.0,
    bond_scale: float = DEFAULT_BOND_SCALE,
    atom_typing: str = "neighbours",
    forces: Sequence[np.ndarray] | None = None,
    energies: Sequence[float] | None = None,
    labile_types: Sequence[str] | None = None,
    shared: bool = True,
) -> ValenceForceField:
    """Fit a :class:`ValenceForceField` to reference forces (and energies) by linear least squares.

    Args:
        frames: structures with reference results (``atoms.get_forces()``, and
            ``atoms.get_potential_energy()`` when ``energy_weight > 0``), unless given below.
        orders: highest power per coordinate kind (default :data:`DEFAULT_ORDERS`); a
            kind left out, or given 0, has no terms. Bonds and angles need at least 2
            (a restoring force).
        energy_weight: weight of one frame's energy error (eV) against one force
            component's (eV/Å) in the squared residual; 0 fits forces only, and the
            species energies and the constants ``c_0`` are then 0.
        bond_scale: covalent-radius scale that defines bonds (see :class:`ValenceTopology`).
        atom_typing: how atoms are named in the term types (:data:`ATOM_TYPINGS`).
        forces: ``[N, 3]`` reference forces per frame (eV/Å), instead of the frames' own.
        energies: reference energies per frame (eV), instead of the frames' own.
        labile_types: atom type names whose terms are left out; by default those that
            change bonded partners between the frames (:func:`labile_atom_types`); ``()``
            keeps every term.
        shared: give each atom of a labile type that hops between partners a shared term
            with its two partners (the :data:`SHARED_KINDS`, at the orders given), which
            does not change when it hops, and keep the partners' own terms; ``False``
            leaves the motion of every labile atom out altogether.

    Raises:
        ValueError: no frames, an unknown kind, bond or angle order below 2, a frame
            without forces, or a frame without bonds.
    """
    orders = {kind: order for kind, order in (DEFAULT_ORDERS if orders is None else orders).items() if order}
    if len(frames) == 0:
        raise ValueError("fit_valence_force_field needs at least one frame")
    _check_kinds(orders, "fit_valence_force_field")
    if orders.get("bond", 0) < 2 or orders.get("angle", 0) < 2:
        raise ValueError(f"the bond and angle orders must be at least 2 (a restoring force), got {orders}")
    topologies = [ValenceTopology.from_atoms(atoms, bond_scale, atom_typing) for atoms in frames]
    hopping_types, detected = _labile_atoms(topologies)
    labile_types = tuple(sorted(set(detected if labile_types is None else labile_types)))
    hopping_types = tuple(name for name in hopping_types if name in labile_types) if shared else ()
    kept = [
        _without_labile(topology, atoms, labile_types, hopping_types, atom_typing)
        for topology, atoms in zip(topologies, frames)
    ]
    for index, (topology, whole) in enumerate(zip(kept, topologies)):
        if len(topology.bonds) == 0 and len(whole.bonds) > 0:
            raise ValueError(
                f"frame {index}: every bond has a labile atom ({', '.join(labile_types)}), which change bonded "
                "partners between the frames; fit one molecule's snapshots, or keep them with labile_types=()"
            )
        if len(topology.bonds) == 0:
            raise ValueError(f"frame {index} has no bonds at bond_scale {bond_scale}; is it a molecule, and are its units Å?")
    topologies = kept
    if forces is None:
        forces = [_frame_forces(atoms, index) for index, atoms in enumerate(frames)]
    kinds = [kind for kind in COORDINATE_KINDS if kind in orders]
    values = [{} for _ in frames]
    geometries = [
        (_AngleGeometry.at(topology, atoms.positions, atoms.cell.array),
         _AngleGeometry.at(topology, atoms.positions, atoms.cell.array, shared=True))
        for topology, atoms in zip(topologies, frames)
    ]  # fmt: skip
    species = sorted({symbol for topology in topologies for symbol in topology.symbols})
    reference, first_column, columns = {}, {}, len(species)
    for kind in kinds:  # in COORDINATE_KINDS order: the cross kinds use the bond and angle references
        for topology, atoms, value, (geometry, shared_geometry) in zip(topologies, frames, values, geometries):
            centres = _CrossCentres.of(topology, reference) if kind in CROSS_KINDS else None
            value[kind] = _coordinates(topology, kind, atoms.positions, atoms.cell.array, centres, geometry, shared_geometry)
        names = sorted({name for topology in topologies for name in topology.types(kind)})
        if not names and kind in SHARED_KINDS:  # no atom hops between partners in these frames
            continue
        reference[kind] = {
            name: float(np.mean(np.concatenate([
                value[kind][0][np.array(topology.types(kind)) == name] for topology, value in zip(topologies, values)
            ])))
            for name in names
        }  # fmt: skip
        first_column[kind] = {name: columns + (orders[kind] + 1) * n for n, name in enumerate(names)}
        columns += (orders[kind] + 1) * len(names)
    kinds = [kind for kind in kinds if kind in first_column]
    rows, targets = [], []
    for index, (topology, value, atoms) in enumerate(zip(topologies, values, frames)):
        force_rows = np.zeros((len(atoms), columns, 3))
        energy_row = np.zeros(columns)
        for s, symbol in enumerate(species):
            energy_row[s] = topology.symbols.count(symbol)
        for kind in kinds:
            names = topology.types(kind)
            starts = np.array([first_column[kind][name] for name in names], dtype=int)
            delta = value[kind][0] - np.array([reference[kind][name] for name in names])
            involved = topology.atoms_of(kind)
            np.add.at(energy_row, starts, 1.0)
            for p in range(1, orders[kind] + 1):
                np.add.at(energy_row, starts + p, delta**p)
                gradients = (p * delta ** (p - 1))[:, None, None] * value[kind][1]
                for slot in range(involved.shape[1]):
                    np.add.at(force_rows, (involved[:, slot], starts + p), -gradients[:, slot])
        rows.append(force_rows.transpose(0, 2, 1).reshape(-1, columns))
        targets.append(np.asarray(forces[index], dtype=float).reshape(-1))
        if energy_weight > 0:
            energy = atoms.get_potential_energy() if energies is None else energies[index]
            rows.append(energy_weight * energy_row[None])
            targets.append(np.array([energy_weight * energy]))
    matrix, target = np.concatenate(rows), np.concatenate(targets)
    # Columns span many orders of magnitude (powers of small displacements): solve for
    # unit-norm columns, which conditions the problem, then undo the scaling. Columns
    # that no row constrains (the energy zero in a forces-only fit) stay 0.
    norms = np.linalg.norm(matrix, axis=0)
    used = norms > 0
    solution = np.zeros(columns)
    solution[used] = np.linalg.lstsq(matrix[:, used] / norms[used], target, rcond=None)[0] / norms[used]
    return ValenceForceField(
        species_energies={symbol: float(solution[s]) for s, symbol in enumerate(species)},
        reference=reference,
        coefficients={
            kind: {name: solution[start : start + orders[kind] + 1] for name, start in first_column[kind].items()}
            for kind in kinds
        },
        bond_scale=bond_scale,
        atom_typing=atom_typing,
        labile_types=labile_types,
        hopping_types=hopping_types,
    )


def _without_labile(
    topology: ValenceTopology,
    atoms: Atoms,
    labile_types: Sequence[str],
    hopping_types: Sequence[str],
    atom_typing: str,
) -> ValenceTopology:
    """``topology`` without the terms of labile atoms, except that a hopping atom's two
    partners (among the other labile atoms) keep theirs under names that do not change
    when it hops, and the hopping atom gets a shared term with them and their bonds."""
    labile = topology.of_types(labile_types)
    if not hopping_types:
        return topology.excluding(labile)
    hopping = topology.of_types(hopping_types)
    found = topology.sharing(atoms, hopping, labile & ~hopping)
    partners = np.zeros(len(labile), dtype=bool)
    partners[found.shared[:, [0, 2]].reshape(-1)] = True
    # the triples are atom indices, which leaving terms out does not change
    kept = dataclasses.replace(
        topology.excluding(labile & ~partners), shared=found.shared, shared_shifts=found.shared_shifts
    )
    return kept.naming_partners(atom_typing).with_shared_bonds()


def labile_atom_types(topologies: Sequence[ValenceTopology]) -> tuple[str, ...]:
    """Type names of the atoms that change bonded partners between structures of one system.

    Structures with the same chemical symbols in the same order are taken as snapshots of
    one system (frames of an MD run, say). An atom hops if it has two partners that are
    bonded to it together in fewer than half of the snapshots in which the rarer of the
    two is (a proton on one oxygen here and on the other there: together almost never).
    A bond stretched past the cutoff in a hot frame only drops a partner for a while and
    does not count. The atoms bonded to a hopping atom in any snapshot are labile too
    (both oxygens: which one carries the proton changes their bonds to carbon). Every
    name these atoms' types have in the snapshots is returned, sorted (``"H(O)"``, and
    ``"H(OO)"`` if the proton sat between). Types are shared: with ``atom_typing="species"``
    the whole species is labile, and a proton that moves onto carbon takes every ``"H(C)"``.
    """
    return _labile_atoms(topologies)[1]


def _labile_atoms(topologies: Sequence[ValenceTopology]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The type names of the hopping atoms, and of all labile atoms (:func:`labile_atom_types`)."""
    systems: dict[tuple[str, ...], list[ValenceTopology]] = {}
    for topology in topologies:
        systems.setdefault(topology.symbols, []).append(topology)
    labile, hopped = set(), set()
    for snapshots in systems.values():
        partners = [topology.bonded_neighbours() for topology in snapshots]
        hopping = set()
        for atom in range(len(snapshots[0].symbols)):
            seen = Counter(frame[atom] for frame in partners)
            alone, together = Counter(), Counter()
            for bonded, count in seen.items():
                for p in bonded:
                    alone[p] += count
                    for q in bonded:
                        together[p, q] += count
            if any(together[p, q] < 0.5 * min(alone[p], alone[q]) for p in alone for q in alone if p < q):
                hopping.add(atom)
        involved = set(hopping)
        for frame in partners:
            for atom in hopping:
                involved.update(frame[atom])
        labile.update(topology.atom_types[atom] for topology in snapshots for atom in involved)
        hopped.update(topology.atom_types[atom] for topology in snapshots for atom in hopping)
    return tuple(sorted(hopped)), tuple(sorted(labile))


def _check_kinds(kinds, where: str) -> None:
    unknown = sorted(set(kinds) - set(COORDINATE_KINDS))
    if unknown:
        raise ValueError(f"{where}: unknown coordinate kinds {unknown}; choose from {COORDINATE_KINDS}")
    for cross, needed in CROSS_KINDS.items():
        if cross in kinds and not set(needed) <= set(kinds):
            raise ValueError(f"{where}: the cross term {cross} needs the {' and '.join(needed)} terms as well")


def _frame_forces(atoms: Atoms, index: int) -> np.ndarray:
    try:
        return atoms.get_forces()
    except Exception as error:  # no calculator, or one without forces
        raise ValueError(
            f"frame {index} has no reference forces ({error}); give frames read from an extxyz file with "
            "forces, or pass forces= explicitly"
        ) from None
