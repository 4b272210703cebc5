"""MTSVelocityVerlet against velocity Verlet, time reversal and energy conservation."""

import numpy as np
import pytest
from analytic_potentials import HarmonicBonds, diatomic_fluid
from ase import units
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.io import read
from ase.md.verlet import VelocityVerlet

from asetools.calculators import MTSCalc
from asetools.integrators import MTSLangevin, MTSVelocityVerlet


def energy_error(n_inner: int, steps: int = 500) -> float:
    """Largest |E(t) − E(0)| in eV over an NVE run with 4 fs outer steps."""
    atoms, calc = diatomic_fluid(seed=0)
    dyn = MTSVelocityVerlet(atoms, calc, 4 * units.fs, n_inner)
    energies = []
    dyn.attach(lambda: energies.append(atoms.get_total_energy()))
    dyn.run(steps)
    return float(np.max(np.abs(np.array(energies) - energies[0])))


def test_one_inner_step_is_velocity_verlet():
    atoms, calc = diatomic_fluid(seed=1)
    reference, reference.calc = diatomic_fluid(seed=1)
    MTSVelocityVerlet(atoms, calc, 2 * units.fs, n_inner=1).run(200)
    VelocityVerlet(reference, 2 * units.fs).run(200)
    np.testing.assert_allclose(atoms.positions, reference.positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(atoms.get_momenta(), reference.get_momenta(), rtol=0, atol=1e-10)


def test_time_reversible():
    atoms, calc = diatomic_fluid(seed=2)
    start = atoms.get_positions()
    dyn = MTSVelocityVerlet(atoms, calc, 4 * units.fs, n_inner=4)
    dyn.run(100)
    assert np.abs(atoms.positions - start).max() > 0.1
    atoms.set_momenta(-atoms.get_momenta())
    dyn.run(100)
    np.testing.assert_allclose(atoms.positions, start, rtol=0, atol=1e-8)


def test_energy_error_shrinks_with_the_inner_step():
    errors = [energy_error(n) for n in (1, 2, 4, 8)]
    assert all(finer < coarser for coarser, finer in zip(errors, errors[1:])), errors
    # The fast bond dominates at one inner step; at eight, the slow force's own error remains.
    assert errors[-1] < errors[0] / 10, errors


def test_each_outer_step_costs_n_inner_fast_and_one_slow_evaluation(tmp_path):
    atoms, calc = diatomic_fluid(seed=3)
    seen = []
    dyn = MTSVelocityVerlet(
        atoms,
        calc,
        3 * units.fs,
        n_inner=3,
        trajectory=str(tmp_path / "md.traj"),
        logfile=str(tmp_path / "md.log"),
        loginterval=2,
    )
    dyn.attach(lambda: seen.append((atoms.get_potential_energy(), atoms.get_forces().copy())))
    dyn.run(10)
    # one evaluation of each part at the start, then n_inner fast and one slow per outer step
    assert calc.fast.evaluations == 1 + 10 * 3
    assert calc.slow.evaluations == 1 + 10
    frames = read(tmp_path / "md.traj", ":")
    assert len(frames) == 6  # steps 0, 2, ..., 10
    assert frames[-1].get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(frames[-1].get_forces(), atoms.get_forces(), atol=1e-12)
    log_lines = (tmp_path / "md.log").read_text().splitlines()
    assert len(log_lines) == 1 + 6
    assert float(log_lines[-1].split()[0]) == pytest.approx(10 * 3 * units.fs / (1000 * units.fs))
    assert len(seen) == 11
    assert dyn.todict()["n_inner"] == 3


def test_fixed_atoms_stay_fixed():
    atoms, calc = diatomic_fluid(seed=4)
    atoms.set_constraint(FixAtoms(indices=[0, 8]))
    start = atoms.get_positions()
    MTSVelocityVerlet(atoms, calc, 4 * units.fs, n_inner=4).run(50)
    np.testing.assert_array_equal(atoms.positions[[0, 8]], start[[0, 8]])
    assert np.abs(atoms.positions[1:8] - start[1:8]).max() > 0.05
    np.testing.assert_array_equal(atoms.get_momenta()[[0, 8]], 0.0)


def test_bad_arguments_are_refused():
    atoms, calc = diatomic_fluid()
    for integrator in (MTSVelocityVerlet, MTSLangevin):
        extra = {"temperature_K": 300, "friction": 0.01} if integrator is MTSLangevin else {}
        with pytest.raises(ValueError, match="n_inner must be at least 1"):
            integrator(atoms, calc, units.fs, n_inner=0, **extra)
        with pytest.raises(TypeError, match="n_inner must be a whole number"):
            integrator(atoms, calc, units.fs, n_inner=2.5, **extra)
        with pytest.raises(TypeError, match="splits the forces into fast and slow"):
            integrator(atoms, EMT(), units.fs, n_inner=2, **extra)
        with pytest.raises(ValueError, match="timestep must be a positive"):
            integrator(atoms, calc, -1.0, n_inner=2, **extra)
    bare = atoms.copy()
    with pytest.raises(ValueError, match="needs a calculator"):
        MTSVelocityVerlet(bare, None, units.fs, n_inner=2)
    with pytest.raises(ValueError, match="slow calculator, got None"):
        MTSCalc(HarmonicBonds([[0, 8]], k=1.0, r0=1.0), None)
