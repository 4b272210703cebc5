"""Recording the fast and slow forces along MD."""

import numpy as np
import pytest

from asetools.analysis.force_changes import force_changes
from asetools.integrators.force_sampling import sample_split_forces
from analytic_potentials import diatomic_fluid


def test_records_both_parts_every_step_without_extra_evaluations():
    atoms, calc = diatomic_fluid(seed=3)
    start = atoms.get_positions().copy()
    fast, slow = sample_split_forces(atoms, calc, steps=40, timestep_fs=0.5, equilibration_steps=10, rng=1)
    assert fast.shape == slow.shape == (41, len(atoms), 3)
    np.testing.assert_array_equal(atoms.get_positions(), start)  # the caller's atoms are left alone
    # Each MD step evaluates each part once (plus the initial evaluation): the records cost nothing.
    assert calc.fast.evaluations == calc.slow.evaluations == 1 + 10 + 40
    # The last record is the force of the last positions, evaluated afresh by the parts.
    final = calc.atoms.copy()
    np.testing.assert_allclose(fast[-1], calc.fast.get_property("forces", final), atol=1e-12)
    np.testing.assert_allclose(slow[-1], calc.slow.get_property("forces", final), atol=1e-12)


def test_the_stiff_bond_force_changes_faster_than_the_soft_tail():
    atoms, calc = diatomic_fluid(seed=4, temperature_K=300.0)
    fast, slow = sample_split_forces(atoms, calc, steps=200, timestep_fs=0.5, temperature_K=300.0, rng=2)
    fast_changes, slow_changes = force_changes(fast, 0.5), force_changes(slow, 0.5)
    # The bond's period is about 24 fs: over 4 fs its force changes by a large part of its size.
    assert fast_changes.relative_change[-1] > 0.5
    assert np.all(slow_changes.relative_change < 0.5 * fast_changes.relative_change)


def test_bad_arguments():
    atoms, calc = diatomic_fluid()
    with pytest.raises(ValueError, match="steps"):
        sample_split_forces(atoms, calc, steps=0)
    with pytest.raises(ValueError, match="equilibration_steps"):
        sample_split_forces(atoms, calc, equilibration_steps=-1)
