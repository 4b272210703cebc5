"""Single-model uncertainty on an Allegro model: features, invariance, checkpoints, calculator results."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from asetools.calculators import AllegroCalc, PotentialCalc
from asetools.checkpoint import add_uncertainty, load_potential, read_checkpoint, save_checkpoint
from asetools.data.emt import emt_copper_dataset
from asetools.graph import batch_graphs, build_graph
from asetools.models import LennardJones, Potential
from asetools.testing import check_invariance
from asetools.uncertainty import LatentUncertainty, atom_features, fit_uncertainty
from tests.conftest import small_allegro

EXTRA_KEYS = ["energies_uncertainty", "uncertainty", "uncertainty_mean", "atom_force_uncertainty", "force_uncertainty"]


@pytest.fixture(scope="module")
def frames():
    return emt_copper_dataset(36, seed=4)


@pytest.fixture(scope="module")
def model():
    return small_allegro(species=("Cu",)).double()


@pytest.fixture(scope="module")
def fitted(model, frames):
    return fit_uncertainty(model, frames[:28], validation=frames[28:], max_components=6, seed=0)


def test_features_agree_on_every_evaluation_path(model, frames):
    graph = batch_graphs([build_graph(f, model.cutoff, model.species, dtype=torch.float64) for f in frames[:3]])
    with torch.no_grad():
        blocked = Potential(model, edges_per_block=50)(graph, compute_features=True)
        whole = Potential(model)(graph, compute_features=True)
    # With differentiable parameters the Potential evaluates the whole graph at once.
    whole_graph = Potential(model)(graph, compute_forces=True, create_graph=True, compute_features=True)
    model.reference_path = True
    try:
        with torch.no_grad():
            reference = Potential(model)(graph, compute_features=True)
    finally:
        model.reference_path = False
    assert blocked.atom_features.shape == (graph.num_atoms, model.num_latent_features)
    for other in (whole, whole_graph, reference):
        torch.testing.assert_close(other.atom_features, blocked.atom_features, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(other.atom_energies.detach(), blocked.atom_energies, rtol=1e-10, atol=1e-12)
    assert not whole_graph.atom_features.requires_grad


def test_fit_records_what_it_did(fitted, frames):
    info = fitted.uncertainty.info
    assert info["training_atoms"] == 28 * len(frames[0]) == fitted.training_scores.size
    assert 1 <= info["num_components"] == fitted.uncertainty.mixture.num_components <= 6
    assert min(fitted.bic, key=fitted.bic.get) == info["num_components"]
    assert info["validation_structures"] == 8
    assert fitted.uncertainty.calibrated
    # Even this untrained model's force errors grow with the score.
    assert fitted.report.spearman_atoms > 0.2
    assert fitted.report.spearman_structures > 0.2


def test_uncertainty_is_invariant_under_rotation_translation_and_permutation(model, fitted):
    calc = AllegroCalc(Potential(model, uncertainty=fitted.uncertainty), dtype="float64")
    atoms = bulk("Cu", "fcc", a=3.6).repeat((3, 2, 2))
    atoms.rattle(0.15, seed=1)
    # per-atom scores of a few hundred (Gaussian log-densities in latent space) carry
    # round-off amplified by the inverse covariances: ~3e-9 relative in float64
    errors = check_invariance(calc, atoms, atol=1e-7, rtol=1e-8)
    for key in EXTRA_KEYS:
        assert f"rotation/{key}" in errors and f"permutation/{key}" in errors


def test_structures_unlike_the_training_data_score_higher(model, fitted, frames):
    calc = AllegroCalc(Potential(model, uncertainty=fitted.uncertainty), dtype="float64")
    training = []
    for atoms in frames[:28]:
        atoms = atoms.copy()
        atoms.calc = calc
        atoms.get_potential_energy()
        training.append(calc.results["uncertainty"])
    for factor in (0.88, 1.15):  # bonds compressed or stretched well beyond the 4 % strains of the data
        atoms = frames[0].copy()
        atoms.set_cell(atoms.cell * factor, scale_atoms=True)
        atoms.calc = calc
        atoms.get_potential_energy()
        assert calc.results["uncertainty"] > max(training)
        assert calc.results["uncertainty_mean"] > max(training)
        assert calc.results["force_uncertainty"] >= np.median(fitted.validation.force_errors)


def test_calculator_results(model, fitted, frames):
    plain = AllegroCalc(model, dtype="float64")
    calc = AllegroCalc(Potential(model, uncertainty=fitted.uncertainty), dtype="float64")
    assert set(EXTRA_KEYS) <= set(calc.implemented_properties)
    assert "uncertainty" not in AllegroCalc.implemented_properties  # the class attribute is left alone
    atoms = frames[30].copy()
    atoms.calc = calc
    forces = atoms.get_forces()
    results = dict(calc.results)
    np.testing.assert_array_equal(forces, plain.get_forces(atoms))
    assert results["energies_uncertainty"].shape == (len(atoms),)
    assert results["uncertainty"] == results["energies_uncertainty"].max()
    assert results["uncertainty_mean"] == pytest.approx(results["energies_uncertainty"].mean())
    assert results["atom_force_uncertainty"].shape == (len(atoms),)
    assert np.all(results["atom_force_uncertainty"] > 0)
    assert results["force_uncertainty"] == results["atom_force_uncertainty"].max()
    assert calc.get_property("uncertainty", atoms) == results["uncertainty"]
    # The same numbers as scoring the features directly.
    features = torch.from_numpy(atom_features(model, [atoms]).features)
    scores, errors = fitted.uncertainty(features)
    np.testing.assert_allclose(results["energies_uncertainty"], scores.numpy(), rtol=1e-12)
    np.testing.assert_allclose(results["atom_force_uncertainty"], errors.numpy(), rtol=1e-12)
    off = AllegroCalc(Potential(model, uncertainty=fitted.uncertainty), dtype="float64", uncertainty=False)
    off.get_forces(atoms)
    assert not set(EXTRA_KEYS) & set(off.results)


def test_uncalibrated_uncertainty_gives_scores_only(model, frames):
    fit = fit_uncertainty(model, frames[:10], num_components=2)
    assert fit.report is None and not fit.uncertainty.calibrated and fit.bic == {}
    calc = AllegroCalc(Potential(model, uncertainty=fit.uncertainty))
    atoms = frames[0].copy()
    atoms.calc = calc
    atoms.get_potential_energy()
    assert "uncertainty" in calc.results and "force_uncertainty" not in calc.results


def test_checkpoint_round_trip(tmp_path, model, fitted, frames):
    potential = Potential(model, uncertainty=fitted.uncertainty)
    save_checkpoint(potential, tmp_path / "with.pt")
    loaded = load_potential(tmp_path / "with.pt")
    assert loaded.uncertainty is not None and loaded.uncertainty.info == fitted.uncertainty.info
    assert loaded.uncertainty.calibration.tail_parameters == fitted.uncertainty.calibration.tail_parameters
    atoms = frames[29].copy()
    direct, from_file = AllegroCalc(potential, dtype="float64"), AllegroCalc(tmp_path / "with.pt", dtype="float64")
    for calc in (direct, from_file):
        calc.get_potential_energy(atoms)
    for key in EXTRA_KEYS:
        np.testing.assert_allclose(from_file.results[key], direct.results[key], rtol=1e-12)


def test_add_uncertainty_keeps_the_rest_of_the_checkpoint(tmp_path, model, fitted):
    source = tmp_path / "model.pt"
    save_checkpoint(model, source, metadata={"note": "kept"}, training_state={"epoch": 7})
    add_uncertainty(source, fitted.uncertainty, tmp_path / "out.pt")
    assert "uncertainty" not in read_checkpoint(source)  # --output leaves the source alone
    written = read_checkpoint(tmp_path / "out.pt")
    assert written["metadata"] == {"note": "kept"} and written["training_state"] == {"epoch": 7}
    add_uncertainty(source, fitted.uncertainty)  # in place
    assert "uncertainty" in read_checkpoint(source)
    assert load_potential(source).uncertainty.num_features == model.num_latent_features


def test_damaged_or_mismatched_uncertainty_is_a_clear_error(tmp_path, model, fitted):
    payload = fitted.uncertainty.to_payload()
    del payload["calibration_tail"]  # a head written before the tail existed loads with a constant tail
    assert LatentUncertainty.from_payload(payload).calibration.tail_parameters[1:] == (0.0, 0.0)
    del payload["means"]
    with pytest.raises(ValueError, match="damaged"):
        LatentUncertainty.from_payload(payload)
    wider = small_allegro(species=("Cu",), num_scalar_features=8)
    with pytest.raises(ValueError, match="latent features"):
        Potential(wider, uncertainty=fitted.uncertainty)
    save_checkpoint(wider, tmp_path / "wider.pt")
    with pytest.raises(ValueError, match="another model"):
        add_uncertainty(tmp_path / "wider.pt", fitted.uncertainty)
    with pytest.raises(ValueError, match="no fitted uncertainty"):
        Potential(model)(build_graph(bulk("Cu"), model.cutoff, model.species), compute_uncertainty=True)


def test_models_without_latent_features_are_refused(frames):
    lj = LennardJones(species=["Cu"], sigma=2.3, epsilon=0.4, cutoff=5.0)
    with pytest.raises(TypeError, match="no per-atom latent features"):
        fit_uncertainty(lj, frames[:4])
    with pytest.raises(TypeError, match="latent features"):
        PotentialCalc(lj).potential(build_graph(frames[0], 5.0, ["Cu"]), compute_features=True)


def test_bad_structures_name_the_structure(model, frames):
    broken = frames[2].copy()
    broken.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="structure 2"):
        atom_features(model, [frames[0], frames[1], broken])


def test_message_passing_models_carry_an_uncertainty(frames):
    """NequIP's last-layer scalars take the same mixture: invariant scores that rise off the data."""
    from tests.conftest import small_message_passing

    model = small_message_passing("nequip", species=("Cu",), r_max=4.0).double()
    fitted = fit_uncertainty(model, frames[:28], validation=frames[28:], max_components=4, seed=0)
    calc = PotentialCalc(Potential(model, uncertainty=fitted.uncertainty), dtype="float64")
    atoms = frames[30].copy()
    atoms.calc = calc
    atoms.get_potential_energy()
    assert set(EXTRA_KEYS) <= set(calc.results)
    typical = calc.results["uncertainty"]
    # per-atom scores of a few hundred (Gaussian log-densities in latent space) carry
    # round-off amplified by the inverse covariances: ~3e-9 relative in float64
    errors = check_invariance(calc, atoms, atol=1e-7, rtol=1e-8)
    assert "rotation/energies_uncertainty" in errors
    squeezed = frames[30].copy()
    squeezed.set_cell(squeezed.cell * 0.88, scale_atoms=True)
    squeezed.calc = calc
    squeezed.get_potential_energy()
    assert calc.results["uncertainty"] > typical
