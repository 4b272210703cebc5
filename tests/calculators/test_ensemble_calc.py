"""EnsembleCalc: members' mean and spread, against the members' own calculators."""

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError

from asetools.calculators import AllegroCalc, EnsembleCalc, ensemble_checkpoints
from asetools.checkpoint import save_checkpoint
from asetools.testing import check_invariance
from tests.conftest import small_allegro


@pytest.fixture(scope="module")
def members():
    return [small_allegro(species=("Cu", "Au"), seed=seed).double() for seed in range(3)]


def _crystal():
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 1))
    atoms.symbols[[0, 5]] = "Au"
    atoms.rattle(0.1, seed=2)
    return atoms


def test_mean_and_spread_of_the_members(members):
    atoms = _crystal()
    ensemble = EnsembleCalc(members, dtype="float64")
    atoms.calc = ensemble
    stress = atoms.get_stress()
    results = dict(ensemble.results)
    singles = [AllegroCalc(m, dtype="float64") for m in members]
    energies = np.array([c.get_potential_energy(atoms) for c in singles])
    forces = np.stack([c.get_forces(atoms) for c in singles])
    stresses = np.stack([c.get_stress(atoms) for c in singles])
    assert np.ptp(energies) > 1e-3  # the members really differ
    assert results["energy"] == pytest.approx(energies.mean(), rel=1e-12)
    assert results["energy_uncertainty"] == pytest.approx(energies.std(ddof=1), rel=1e-10)
    np.testing.assert_allclose(results["forces"], forces.mean(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(results["forces_uncertainty"], forces.std(axis=0, ddof=1), rtol=1e-10, atol=1e-14)
    norms = np.linalg.norm(forces.std(axis=0, ddof=1), axis=1)
    np.testing.assert_allclose(results["atom_force_uncertainty"], norms, rtol=1e-10)
    assert results["uncertainty"] == results["force_uncertainty"] == pytest.approx(norms.max())
    assert results["uncertainty_mean"] == pytest.approx(norms.mean())
    np.testing.assert_allclose(stress, stresses.mean(axis=0), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(results["stress_uncertainty"], stresses.std(axis=0, ddof=1), rtol=1e-8, atol=1e-14)
    np.testing.assert_array_equal(ensemble.member_energies, energies)


def test_spreads_are_invariant(members):
    errors = check_invariance(EnsembleCalc(members, dtype="float64"), _crystal(), atol=1e-9, rtol=1e-9)
    assert "permutation/atom_force_uncertainty" in errors and "rotation/uncertainty" in errors


def test_molecules_have_no_stress(members):
    atoms = molecule("CH4")
    atoms.symbols = ["Cu"] + ["Au"] * 4
    atoms.positions *= 2.0
    atoms.calc = EnsembleCalc(members[:2])
    assert atoms.get_forces().shape == (5, 3)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


def test_from_directory_and_bad_members(tmp_path, members):
    for index, model in enumerate(members):
        (tmp_path / f"member_{index}").mkdir()
        save_checkpoint(model, tmp_path / f"member_{index}" / "best.pt")
    assert [p.parent.name for p in ensemble_checkpoints(tmp_path)] == ["member_0", "member_1", "member_2"]
    atoms = _crystal()
    atoms.calc = EnsembleCalc.from_directory(tmp_path, dtype="float64")
    reference = EnsembleCalc(members, dtype="float64")
    assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy(atoms), rel=1e-12)
    with pytest.raises(FileNotFoundError, match="--ensemble"):
        ensemble_checkpoints(tmp_path / "member_0")
    with pytest.raises(ValueError, match="at least two"):
        EnsembleCalc(members[:1])
    with pytest.raises(ValueError, match="same elements"):
        EnsembleCalc([members[0], small_allegro(species=("Cu",))])
