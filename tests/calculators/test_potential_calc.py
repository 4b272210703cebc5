"""PotentialCalc with ASE's optimisers, MD and cell filters; bad input; dtype/device."""

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.lj import LennardJones as AseLennardJones
from ase.filters import FrechetCellFilter
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from asetools.calculators import PotentialCalc
from asetools.models import LennardJones
from tests.conftest import ARGON, argon_cluster, rattled_argon


def lj_calc(**kwargs):
    return PotentialCalc(LennardJones(species=["Ar"], **ARGON, **kwargs), dtype="float64")


def ase_lj(**kwargs):
    return AseLennardJones(sigma=ARGON["sigma"], epsilon=ARGON["epsilon"], rc=ARGON["cutoff"], **kwargs)


def test_bfgs_relaxes_a_cluster_to_the_same_minimum_as_ase():
    results = []
    for calc in (lj_calc(), ase_lj()):
        atoms = argon_cluster(seed=7)
        atoms.calc = calc
        assert BFGS(atoms, logfile=None).run(fmax=1e-4, steps=500)
        results.append((atoms.get_potential_energy(), atoms.positions.copy()))
    (ours, ours_pos), (theirs, theirs_pos) = results
    assert ours == pytest.approx(theirs, abs=1e-8)
    np.testing.assert_allclose(ours_pos, theirs_pos, atol=1e-4)
    assert ours < -55 * 0.0104 * 3  # a bound cluster: a few eps of binding per atom


def test_velocity_verlet_follows_ase_trajectory_and_conserves_energy():
    trajectories = []
    for calc in (lj_calc(smooth=True), ase_lj(smooth=True)):
        atoms = rattled_argon(seed=1)
        thermalize_momenta(atoms, temperature_K=60, rng=np.random.default_rng(0))
        atoms.calc = calc
        dyn = VelocityVerlet(atoms, timestep=5 * units.fs)
        start = atoms.get_total_energy()
        energies = []
        dyn.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
        dyn.run(200)
        trajectories.append(atoms.positions.copy())
        drift = max(abs(e - start) for e in energies) / len(atoms)
        assert drift < 2e-5  # eV/atom over 1 ps with a 5 fs step
    np.testing.assert_allclose(trajectories[0], trajectories[1], atol=1e-7)


def test_frechet_cell_filter_finds_ase_lattice_constant():
    volumes = []
    for calc in (lj_calc(smooth=True), ase_lj(smooth=True)):
        atoms = bulk("Ar", "fcc", a=5.0, cubic=True)
        atoms.rattle(0.01, seed=0)
        atoms.calc = calc
        assert BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5, steps=300)
        assert np.abs(atoms.get_stress()).max() < 1e-5
        volumes.append(atoms.get_volume())
    assert volumes[0] == pytest.approx(volumes[1], rel=1e-5)
    lattice = volumes[0] ** (1 / 3)
    # the LJ fcc minimum (full lattice sum) sits at a = 1.5422 sigma = 5.24 Å; the cutoff shifts it slightly
    assert lattice == pytest.approx(1.5422 * ARGON["sigma"], rel=0.01)


def test_no_stress_without_a_three_dimensional_cell():
    atoms = argon_cluster()
    atoms.calc = lj_calc()
    atoms.get_forces()
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


def test_all_properties_have_ase_shapes_and_types():
    atoms = rattled_argon()
    atoms.calc = lj_calc()
    assert isinstance(atoms.get_potential_energy(), float)
    assert atoms.get_potential_energy() == atoms.get_potential_energy(force_consistent=True)
    assert atoms.get_forces().shape == (len(atoms), 3)
    assert atoms.get_stress().shape == (6,)
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), rel=1e-12)


def test_calculator_does_not_change_the_callers_model():
    model = LennardJones(species=["Ar"], **ARGON)
    PotentialCalc(model, dtype="float64")
    assert model.sigma.dtype.is_floating_point
    calc = PotentialCalc(model, dtype="float32")
    assert calc.model is not model and calc.model.sigma.dtype.itemsize == 4


@pytest.mark.parametrize(
    "atoms, error, message",
    [
        (Atoms("ArXe", positions=[[0, 0, 0], [3.5, 0, 0]]), ValueError, r"Xe not in the model's species \['Ar'\]"),
        (Atoms("Ar2", positions=[[0, 0, 0], [np.nan, 0, 0]]), ValueError, "NaN or inf"),
        (Atoms("Ar2", positions=[[0, 0, 0], [3.5, 0, 0]], pbc=True), ValueError, "zero volume"),
        (Atoms("Ar2", positions=[[0, 0, 0], [0.01, 0, 0]]), ValueError, "closer than 0.1 Å"),
    ],
)
def test_bad_input_raises_a_clear_error(atoms, error, message):
    atoms.calc = lj_calc()
    with pytest.raises(error, match=message):
        atoms.get_potential_energy()


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        PotentialCalc(LennardJones(species=["Ar"]), dtype="float16")
    with pytest.raises(TypeError, match="needs a model"):
        PotentialCalc(42)


def test_recomputes_only_when_atoms_change():
    atoms = rattled_argon()
    calc = lj_calc()
    atoms.calc = calc
    first = atoms.get_potential_energy()
    atoms.positions[0, 0] += 0.05
    assert atoms.get_potential_energy() != first


def test_small_blocks_give_the_same_results():
    atoms = rattled_argon((3, 3, 3), seed=4)
    model = LennardJones(species=["Ar"], **ARGON)
    default = PotentialCalc(model, dtype="float64")
    small = PotentialCalc(model, dtype="float64", edges_per_block=25)
    assert small.potential.edges_per_block == 25
    for name in ("energy", "energies", "forces", "stress"):
        got = small.get_property(name, atoms.copy())
        want = default.get_property(name, atoms.copy())
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10, err_msg=name)
