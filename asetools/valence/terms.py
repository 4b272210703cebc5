"""The valence force field's parameters and its evaluation: energy (eV) and forces (eV/Å).

This is the classical fast part of multiple-time-step MD for molecules (bonded terms in
the inner loop, as in RESPA with CHARMM or AMBER force fields): bond stretches and angle
bends are the fastest motions of an organic molecule, and a handful of polynomial
terms per bond and angle type costs far less than any message-passing model. Used as
the fast part with :meth:`asetools.calculators.MTSCalc.from_total`, the slow part is the
full model minus these terms, so the dynamics is that of the full model exactly.

Energy (eV) of a structure::

    E = Σ_s n_s·e_s + Σ_kinds Σ_terms Σ_p c_{kind,type,p} (q − q0_{kind,type})^p,    p = 0..order[kind]

over the kinds of internal coordinate ``q`` in :data:`~asetools.valence.kinds.COORDINATE_KINDS`:
``bond`` (the bond length, Å), ``angle`` (cos θ of two bonds that share an atom; no
singularity at linear angles), ``urey_bradley`` (the distance between the outer atoms of
an angle, Å, as in CHARMM), the cross terms ``stretch_stretch`` and ``stretch_bend`` of an
angle's two arms, ``one_four`` (the distance between the end atoms of a dihedral, Å) and
the shared kinds of a hopping atom. One set of coefficients per type: a bond's type is
its two atom names, sorted (``"C-H"``); an angle's is the outer names, sorted, around the
vertex (``"H-C-O"``); a dihedral's is read in the direction that sorts first. Atoms are
named by species or, by default in the fit, by species and bonded neighbours
(:data:`~asetools.valence.ATOM_TYPINGS`). ``e_s`` are per-species energies; the
constants ``c_0`` (a term's energy increment) let frames with different bonds, such as
different molecules, share one energy zero. The reference values ``q0`` are the mean of
each type in the fitting frames, so the coefficients are a Taylor expansion about the
typical geometry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .bonds import DEFAULT_BOND_SCALE
from .coordinates import AngleGeometry, CrossCentres, coordinates_of
from .io import field_arguments, field_to_dict, read_field, write_field
from .kinds import ANGLE_KINDS, CROSS_KINDS, SHARED_KINDS, check_kinds
from .labile import without_labile
from .topology import ValenceTopology

__all__ = ["BoundValenceForceField", "ValenceForceField"]


@dataclass(frozen=True)
class ValenceForceField:
    """Fitted parameters of the valence force field (see :mod:`asetools.valence.terms`).

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
        check_kinds(self.coefficients, "ValenceForceField")

    def topology(self, atoms: Atoms) -> ValenceTopology:
        """The bonds and angles of ``atoms`` without the labile atoms' terms, and the
        shared terms of its hopping atoms, checked to have parameters."""
        topology = ValenceTopology.from_atoms(atoms, self.bond_scale, self.atom_typing)
        topology = without_labile(topology, atoms, self.labile_types, self.hopping_types, self.atom_typing)
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
        centres = CrossCentres.of(topology, self.reference) if set(CROSS_KINDS) & set(terms) else None
        atom_index = np.concatenate([topology.atoms_of(kind).reshape(-1) for kind in terms] or [np.zeros(0, int)])
        return BoundValenceForceField(topology, float(constant), terms, atom_index, centres)

    def to_dict(self) -> dict:
        """Plain-Python form (for YAML/JSON); :meth:`from_dict` reads it back."""
        return field_to_dict(self)

    def save(self, path: str | os.PathLike) -> None:
        """Write the force field as JSON to ``path`` (atomically: a failed write leaves the old file)."""
        write_field(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> ValenceForceField:
        """Read a force field written by :meth:`save`."""
        return read_field(path, cls.from_dict)

    @classmethod
    def from_dict(cls, data: dict) -> ValenceForceField:
        return cls(**field_arguments(data))


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
    centres: CrossCentres | None = None

    def energy_and_forces(self, positions: np.ndarray, cell: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy (eV) and forces (eV/Å, ``[N, 3]``) at ``positions`` (Å, ``[N, 3]``)."""
        energy = self.constant
        geometry = AngleGeometry.at(self.topology, positions, cell) if ANGLE_KINDS & set(self.terms) else None
        shared = None
        if set(SHARED_KINDS) & set(self.terms):
            shared = AngleGeometry.at(self.topology, positions, cell, shared=True)
        contributions = []
        for kind, (reference, coefficients) in self.terms.items():
            values, gradients = coordinates_of(self.topology, kind, positions, cell, self.centres, geometry, shared)
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

