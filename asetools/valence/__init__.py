"""The valence force field: polynomial bond, angle and shared-proton terms on a fixed bond topology, fitted to reference forces.

The fast part of multiple-time-step MD for molecules
(``MTSCalc.from_total(ValenceCalc(field), full_model_calc)``, with
:class:`asetools.calculators.ValenceCalc`). One concept per module:

- :mod:`.bonds`: :class:`BondGraph`, the covalent bonds of a structure (ASE's covalent
  radii × ``bond_scale``, periodic images included) and the angles and proper dihedrals
  they make; :mod:`asetools.analysis` finds its bonds and dihedrals with it too;
- :mod:`.kinds`: the kinds of internal coordinate (:data:`COORDINATE_KINDS`,
  :data:`SHARED_KINDS`) and which cross kinds need which;
- :mod:`.topology`: :class:`ValenceTopology`, the terms of one structure and their type
  names (:data:`ATOM_TYPINGS`, :func:`term_type`), with the shared terms of hopping atoms;
- :mod:`.labile`: the atoms that change bonded partners between frames
  (:func:`labile_atom_types`) and the topology without their terms;
- :mod:`.coordinates`: internal coordinates (Å, cosines) and their gradients
  (:func:`coordinates_of`);
- :mod:`.terms`: the parameters, :class:`ValenceForceField`, and their evaluation on one
  topology, :class:`BoundValenceForceField` (energy in eV, forces in eV/Å);
- :mod:`.fit`: :func:`fit_valence_force_field`, one linear least-squares solve;
- :mod:`.io`: the field's plain form and its JSON file, written atomically
  (:meth:`ValenceForceField.save`, :meth:`ValenceForceField.load`).

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

from .bonds import DEFAULT_BOND_SCALE, BondGraph
from .coordinates import coordinates_of
from .fit import DEFAULT_ORDERS, fit_valence_force_field
from .kinds import COORDINATE_KINDS, SHARED_KINDS
from .labile import labile_atom_types
from .terms import BoundValenceForceField, ValenceForceField
from .topology import ATOM_TYPINGS, ValenceTopology, term_type

__all__ = [
    "ATOM_TYPINGS",
    "COORDINATE_KINDS",
    "DEFAULT_BOND_SCALE",
    "DEFAULT_ORDERS",
    "SHARED_KINDS",
    "BondGraph",
    "BoundValenceForceField",
    "ValenceForceField",
    "ValenceTopology",
    "coordinates_of",
    "fit_valence_force_field",
    "labile_atom_types",
    "term_type",
]
