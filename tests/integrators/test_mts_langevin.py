"""MTSLangevin: BAOAB-RESPA samples the canonical distribution."""

import numpy as np
import pytest
from analytic_potentials import HarmonicTether, diatomic_fluid
from ase import Atoms, units
from ase.constraints import FixAtoms

from asetools.calculators import MTSCalc
from asetools.integrators import MTSLangevin, MTSVelocityVerlet


def test_without_friction_it_is_mts_velocity_verlet():
    atoms, calc = diatomic_fluid(seed=5)
    reference, reference_calc = diatomic_fluid(seed=5)
    MTSLangevin(atoms, calc, 4 * units.fs, temperature_K=300, friction=0.0, n_inner=4, rng=1).run(100)
    MTSVelocityVerlet(reference, reference_calc, 4 * units.fs, n_inner=4).run(100)
    np.testing.assert_allclose(atoms.positions, reference.positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(atoms.get_momenta(), reference.get_momenta(), rtol=0, atol=1e-9)


def test_samples_the_temperature_and_the_harmonic_distribution():
    """Independent 3D oscillators (fast k = 8, slow k = 2 eV/Å²): x ~ N(0, k_B·T / 10) exactly."""
    n_atoms, temperature_K = 64, 500.0
    atoms = Atoms(f"Ne{n_atoms}", positions=np.zeros((n_atoms, 3)))
    anchors = np.zeros((n_atoms, 3))
    calc = MTSCalc(HarmonicTether(anchors, k=8.0), HarmonicTether(anchors, k=2.0))
    friction = 0.02 / units.fs
    dyn = MTSLangevin(atoms, calc, 4 * units.fs, temperature_K=temperature_K, friction=friction, n_inner=2, rng=7)
    dyn.run(250)  # equilibrate: 1 ps, 20 relaxation times of the friction
    positions, temperatures = [], []

    def sample():
        positions.append(atoms.get_positions().ravel().copy())
        temperatures.append(atoms.get_temperature())

    dyn.attach(sample, interval=5)
    dyn.run(3000)
    x = np.concatenate(positions)
    variance = units.kB * temperature_K / 10.0
    # ~600 correlated samples of 192 coordinates: a relative error of ~1% in the variance
    assert np.mean(x) == pytest.approx(0.0, abs=0.02 * np.sqrt(variance))
    assert np.var(x) == pytest.approx(variance, rel=0.04)
    excess_kurtosis = np.mean(x**4) / np.var(x) ** 2 - 3.0
    assert abs(excess_kurtosis) < 0.1
    assert np.mean(temperatures) == pytest.approx(temperature_K, rel=0.03)


def test_midstep_temperature_is_free_of_the_end_of_step_bias():
    """Stiff oscillators at ω·δt = 0.78: end-of-step momenta are cold by (ω·δt)²/4, mid-step ones are not."""
    n_atoms, temperature_K = 64, 500.0
    atoms = Atoms(f"Ne{n_atoms}", positions=np.zeros((n_atoms, 3)))
    anchors = np.zeros((n_atoms, 3))
    calc = MTSCalc(HarmonicTether(anchors, k=80.0), HarmonicTether(anchors, k=2.0))
    dyn = MTSLangevin(atoms, calc, 8 * units.fs, temperature_K=temperature_K, friction=0.02 / units.fs, n_inner=2, rng=3)
    with pytest.raises(RuntimeError, match="no step"):
        dyn.get_midstep_temperature()
    dyn.run(200)
    end, middle = [], []

    def sample():
        end.append(atoms.get_temperature())
        middle.append(dyn.get_midstep_temperature())

    dyn.attach(sample, interval=4)
    dyn.run(3000)
    omega_dt = np.sqrt(80.0 / atoms.get_masses()[0]) * 4 * units.fs
    assert np.mean(end) == pytest.approx(temperature_K * (1 - omega_dt**2 / 4), rel=0.03)
    assert np.mean(middle) == pytest.approx(temperature_K, rel=0.03)


def test_same_seed_same_trajectory_and_fixed_atoms_stay():
    runs = []
    for _ in range(2):
        atoms, calc = diatomic_fluid(seed=6)
        atoms.set_constraint(FixAtoms(indices=[3]))
        start = atoms.get_positions()
        dyn = MTSLangevin(atoms, calc, 4 * units.fs, temperature_K=300, friction=0.05 / units.fs, n_inner=4, rng=3)
        dyn.run(30)
        np.testing.assert_array_equal(atoms.positions[3], start[3])
        np.testing.assert_array_equal(atoms.get_momenta()[3], 0.0)
        runs.append(atoms.get_positions())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert dyn.todict()["temperature_K"] == pytest.approx(300)


def test_bad_thermostat_arguments_are_refused():
    atoms, calc = diatomic_fluid()
    with pytest.raises(ValueError, match="temperature_K must be"):
        MTSLangevin(atoms, calc, units.fs, temperature_K=-5, friction=0.01, n_inner=2)
    with pytest.raises(ValueError, match="friction must be"):
        MTSLangevin(atoms, calc, units.fs, temperature_K=300, friction=None, n_inner=2)
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        MTSLangevin(atoms, calc, units.fs, temperature_K=300, friction=0.01, n_inner=2, rng="seed")
