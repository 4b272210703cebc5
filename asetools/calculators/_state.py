"""A faster ASE ``check_state`` for calculators that are asked many times per MD step."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import all_changes


class QuickStateCheck:
    """Mixin for ASE calculators: ASE's system-change check with exact equality.

    During multiple-time-step MD a calculator is asked for several results at the same
    positions (a part's forces, then the energy and forces of the sum for the log).
    ASE's ``compare_atoms`` runs ``allclose`` with an absolute tolerance of 1e-15 on every
    array, about 0.14 ms per call at 576 atoms; comparing bit for bit names the same
    changes (a difference below 1e-15 only costs one needless recalculation) in about a
    tenth of the time.
    """

    def check_state(self, atoms, tol=1e-15):
        if self.atoms is None:
            return list(all_changes)
        return system_changes(self.atoms, atoms, set(self.ignored_changes))


def system_changes(old, new, ignored: set[str] = frozenset()) -> list[str]:
    """Which of ASE's ``all_changes`` differ between two Atoms (exactly), ``ignored`` left out."""
    changes = []
    for name in all_changes:
        if name in ignored:
            continue
        if name == "cell":
            same = np.array_equal(old.cell.array, new.cell.array)
        elif name == "pbc":
            same = np.array_equal(old.pbc, new.pbc)
        else:
            first, second = old.arrays.get(name), new.arrays.get(name)
            same = (first is None) == (second is None) and (first is None or np.array_equal(first, second))
        if not same:
            changes.append(name)
    return changes
