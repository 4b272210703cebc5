"""ValenceCalc: an ASE calculator for a fitted valence force field (bonds and angles)."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ..valence import BoundValenceForceField, ValenceForceField, ValenceTopology
from ._state import QuickStateCheck

__all__ = ["ValenceCalc"]


class ValenceCalc(QuickStateCheck, Calculator):
    """Energy (eV) and forces (eV/Å) of a :class:`~asetools.valence.ValenceForceField`.

    The bonds are found from the first structure the calculator sees (or given as
    ``topology``) and then kept: during MD they must not change, and a structure with
    other atoms (a different number or order of species) gets a new topology. Call
    :meth:`reset_topology` to find the bonds again, e.g. after a reaction.

    Made to be the fast part of multiple-time-step MD for molecules, with the full model
    as the whole energy: ``MTSCalc.from_total(ValenceCalc(field), full_model_calc)``.

    Args:
        force_field: the fitted parameters (:func:`~asetools.valence.fit_valence_force_field`).
        topology: bonds and angles to use instead of those found from the first structure.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, force_field: ValenceForceField, topology: ValenceTopology | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(force_field, ValenceForceField):
            raise TypeError(f"ValenceCalc needs a ValenceForceField, got {type(force_field).__name__}")
        self.force_field = force_field
        self._bound: BoundValenceForceField | None = None
        if topology is not None:
            self._bound = force_field.bind(topology)

    @property
    def topology(self) -> ValenceTopology | None:
        """The bonds and angles in use (``None`` before the first calculation)."""
        return None if self._bound is None else self._bound.topology

    def reset_topology(self) -> None:
        """Find the bonds again at the next calculation."""
        self._bound = None
        self.reset()

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties or ["energy"], system_changes)
        if self._bound is None or (
            "numbers" in system_changes and self._bound.topology.symbols != tuple(self.atoms.get_chemical_symbols())
        ):
            self._bound = self.force_field.bind(self.force_field.topology(self.atoms))
        positions = self.atoms.positions
        if not np.all(np.isfinite(positions)):
            raise ValueError("ValenceCalc: the structure has non-finite positions (did the MD blow up?)")
        energy, forces = self._bound.energy_and_forces(positions, self.atoms.cell.array)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
