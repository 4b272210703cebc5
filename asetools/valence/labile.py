"""Labile atoms: those that change bonded partners between snapshots of one system.

:func:`labile_atom_types` finds them (a proton that hops between two oxygens, and the
oxygens), :func:`hopping_and_labile_types` tells the hopping atoms apart, and
:func:`without_labile` takes their terms out of a :class:`~asetools.valence.ValenceTopology`,
giving a hopping atom a shared term with its two partners instead.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from .topology import ValenceTopology

__all__ = ["hopping_and_labile_types", "labile_atom_types", "without_labile"]


def without_labile(
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
    return hopping_and_labile_types(topologies)[1]


def hopping_and_labile_types(topologies: Sequence[ValenceTopology]) -> tuple[tuple[str, ...], tuple[str, ...]]:
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

