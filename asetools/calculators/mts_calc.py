"""MTSCalc: a fast and a slow ASE calculator seen as one, with each part on request."""

from __future__ import annotations

import os

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.outputs import Properties, all_outputs

from ..checkpoint import load_checkpoint
from ..models import MTSPair
from ._state import QuickStateCheck
from .potential_calc import PotentialCalc

__all__ = ["MTSCalc"]

#: Results of one part, named ``fast_<name>`` and ``slow_<name>``.
_PART_PROPERTIES = ("energy", "forces", "stress", "energies")
#: Results of the whole (fast + slow).
_TOTAL_PROPERTIES = ("energy", "free_energy", "forces", "stress", "energies")


def _check_calculator(calc, role: str) -> None:
    if calc is None:
        raise ValueError(
            f"MTSCalc needs a {role} calculator, got None; for one model alone use that model's "
            "calculator with ase.md.VelocityVerlet or Langevin instead of the MTS integrators"
        )
    if not hasattr(calc, "get_property"):
        raise TypeError(f"the {role} part of MTSCalc must be an ASE calculator, got {type(calc).__name__}")


class MTSCalc(QuickStateCheck, Calculator):
    """The sum of a fast and a slow ASE calculator, for multiple-time-step MD.

    ``energy``, ``free_energy``, ``forces``, ``stress`` and per-atom ``energies`` are
    those of the sum (eV, eV/Å, eV/Å³ in ASE's Voigt order). Each part is also
    available on its own as ``fast_energy``/``slow_energy`` (eV),
    ``fast_forces``/``slow_forces`` (eV/Å, shape ``[N, 3]``), ``fast_stress``/
    ``slow_stress`` and ``fast_energies``/``slow_energies``, and a part is only
    evaluated when a result needs it: asking for ``fast_forces`` never runs the slow
    calculator. Results of both parts at the current positions are kept, so the sum
    after an outer RESPA step costs nothing more. Stress and per-atom energies are
    computed only when asked for, and only if both parts provide them.

    The parts may be any ASE calculators: two co-trained asetools models, or e.g.
    ASE's EMT as the fast part of a test. :meth:`from_total` builds the split the
    other way round, from a fast model and a model of the whole energy.

    Args:
        fast: calculator of the stiff, cheap part, evaluated at every inner step.
        slow: calculator of the smooth remainder, evaluated once per outer step.
    """

    implemented_properties = list(_TOTAL_PROPERTIES) + [
        f"{part}_{name}" for part in ("fast", "slow") for name in _PART_PROPERTIES
    ]

    def __init__(self, fast: Calculator, slow: Calculator, **kwargs):
        super().__init__(**kwargs)
        _check_calculator(fast, "fast")
        _check_calculator(slow, "slow")
        if fast is slow:
            raise ValueError("MTSCalc needs two different calculators for the fast and the slow part")
        self.fast = fast
        self.slow = slow
        self._slow_is_total = False

    @classmethod
    def from_total(cls, fast: Calculator, total: Calculator, **kwargs) -> MTSCalc:
        """Split a whole-energy calculator as ``total = fast + (total - fast)``.

        The slow part is the difference between ``total`` and ``fast`` (as in
        i-PI's and Tinker-HP's distilled MTS), so the sum is exactly ``total``. The
        outer step then evaluates both models; use it when the fast model was
        trained on its own rather than jointly with a residual model.
        """
        calc = cls(fast, total, **kwargs)
        calc._slow_is_total = True
        return calc

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs) -> MTSCalc:
        """The two parts of a co-trained pair checkpoint, each as a :class:`PotentialCalc`.

        ``kwargs`` (``device``, ``dtype``, ``min_distance``, ...) go to both parts'
        calculators. Each part builds its own neighbour list with its own cutoff.
        """
        model = load_checkpoint(path)
        if not isinstance(model, MTSPair):
            raise ValueError(
                f"{os.fspath(path)!r} holds one {model.kind} model, not a fast/slow pair; train a pair with an "
                "'mts:' section in the training configuration, or combine two calculators as MTSCalc(fast, slow)"
            )
        return cls(PotentialCalc(model.fast, **kwargs), PotentialCalc(model.slow, **kwargs))

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        properties = list(properties or ["energy"])
        super().calculate(atoms, properties, system_changes)
        for prop in properties:
            part, _, name = prop.partition("_")
            if part in ("fast", "slow") and name in _PART_PROPERTIES:
                self.results[prop] = self._part(part, name)
            else:
                self._total("energy" if prop == "free_energy" else prop)
        # A force calculator computes the energy with the forces: keep whatever both
        # parts already hold, so that readers like ASE's trajectory writer find it.
        for name in ("energy", "forces"):
            if name not in self.results:
                self._total(name, allow_calculation=False)

    def export_properties(self) -> Properties:
        """ASE's standard results only (``Atoms.get_properties`` rejects the per-part names)."""
        return Properties({name: value for name, value in self.results.items() if name in all_outputs})

    def _total(self, name: str, allow_calculation: bool = True) -> None:
        """Put ``name`` and its two parts in the results (if both are available)."""
        fast = self._part("fast", name, allow_calculation)
        slow = self._part("slow", name, allow_calculation)
        if fast is None or slow is None:
            return
        self.results.update({name: fast + slow, f"fast_{name}": fast, f"slow_{name}": slow})
        if name == "energy":
            self.results["free_energy"] = fast + slow

    def _part(self, part: str, name: str, allow_calculation: bool = True):
        """Result ``name`` of one part at ``self.atoms`` (``None`` if not computed and not allowed).

        The parts' calculators keep their own results, so asking again at the same
        positions costs nothing.
        """
        if part == "slow" and self._slow_is_total:
            total = self._get(self.slow, "total", name, allow_calculation)
            fast = self._get(self.fast, "fast", name, allow_calculation)
            return None if total is None or fast is None else total - fast
        return self._get(self.fast if part == "fast" else self.slow, part, name, allow_calculation)

    def _get(self, calc: Calculator, role: str, name: str, allow_calculation: bool):
        try:
            return calc.get_property(name, self.atoms, allow_calculation=allow_calculation)
        except PropertyNotImplementedError as error:
            if not allow_calculation:
                return None
            raise PropertyNotImplementedError(
                f"the {role} calculator of MTSCalc ({type(calc).__name__}) does not provide {name!r}: {error}"
            ) from None
