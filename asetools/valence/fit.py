"""Fitting the valence force field: one linear least-squares solve on reference forces (and energies).

Every coefficient of :class:`~asetools.valence.ValenceForceField` enters its energy
linearly, so :func:`fit_valence_force_field` builds one matrix, a row per force component
(eV/Å) and, optionally, per frame's energy (eV), and solves it once. The reference values
of the coordinates are the means of each type over the frames. Atoms that change bonded
partners between the frames are found first and their terms left out, or given shared
terms (:mod:`asetools.valence.labile`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from .bonds import DEFAULT_BOND_SCALE
from .coordinates import AngleGeometry, CrossCentres, coordinates_of
from .kinds import COORDINATE_KINDS, CROSS_KINDS, SHARED_KINDS, check_kinds
from .labile import hopping_and_labile_types, without_labile
from .terms import ValenceForceField
from .topology import ValenceTopology

__all__ = ["DEFAULT_ORDERS", "fit_valence_force_field"]

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
    check_kinds(orders, "fit_valence_force_field")
    if orders.get("bond", 0) < 2 or orders.get("angle", 0) < 2:
        raise ValueError(f"the bond and angle orders must be at least 2 (a restoring force), got {orders}")
    topologies = [ValenceTopology.from_atoms(atoms, bond_scale, atom_typing) for atoms in frames]
    hopping_types, detected = hopping_and_labile_types(topologies)
    labile_types = tuple(sorted(set(detected if labile_types is None else labile_types)))
    hopping_types = tuple(name for name in hopping_types if name in labile_types) if shared else ()
    kept = [
        without_labile(topology, atoms, labile_types, hopping_types, atom_typing)
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
        (AngleGeometry.at(topology, atoms.positions, atoms.cell.array),
         AngleGeometry.at(topology, atoms.positions, atoms.cell.array, shared=True))
        for topology, atoms in zip(topologies, frames)
    ]  # fmt: skip
    species = sorted({symbol for topology in topologies for symbol in topology.symbols})
    reference, first_column, columns = {}, {}, len(species)
    for kind in kinds:  # in COORDINATE_KINDS order: the cross kinds use the bond and angle references
        for topology, atoms, value, (geometry, shared_geometry) in zip(topologies, frames, values, geometries):
            centres = CrossCentres.of(topology, reference) if kind in CROSS_KINDS else None
            value[kind] = coordinates_of(topology, kind, atoms.positions, atoms.cell.array, centres, geometry, shared_geometry)
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


def _frame_forces(atoms: Atoms, index: int) -> np.ndarray:
    try:
        return atoms.get_forces()
    except Exception as error:  # no calculator, or one without forces
        raise ValueError(
            f"frame {index} has no reference forces ({error}); give frames read from an extxyz file with "
            "forces, or pass forces= explicitly"
        ) from None
