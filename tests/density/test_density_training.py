"""Training density models: the baseline fit, a short run, checkpoints and exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import molecule

from asetools.checkpoint import load_checkpoint, save_checkpoint
from asetools.density import load_density_model
from asetools.config import from_dict
from asetools.density.model import DensityModel, DensityModelConfig
from asetools.density.training import (
    DensityDataConfig,
    DensityFitConfig,
    DensityRunConfig,
    evaluate_density_model,
    fit_baseline,
    frame_loss,
    train_density_model,
)

SMALL = {
    "basis": {"beta": 3.0, "l_max": {"H": 1}, "default_l_max": 2},
    "channels": 4,
    "l_max": 2,
    "num_layers": 1,
    "radial_hidden": [16],
}


def test_baseline_fit_recovers_a_superposition_of_spherical_centres(density_helpers):
    teacher = density_helpers.teacher(network=False)
    frames = density_helpers.frames(teacher, copies=1)
    student = DensityModel(teacher.config).double()
    with torch.no_grad():
        student.output_scale.zero_()
    before = evaluate_density_model(student, frames)
    fit_baseline(student, frames, cusp_weight=0.0)  # the teacher's Gaussians have no nuclear cusp
    after = evaluate_density_model(student, frames)
    assert before.nmape > 50
    assert after.nmape < 1e-2 and after.electron_error < 1e-4


def _run(tmp_path: Path, dataset: Path, epochs: int, directory: str = "run", **fit) -> DensityRunConfig:
    return DensityRunConfig(
        data=DensityDataConfig(dataset=str(dataset), split=[0.67, 0.22, 0.11], split_seed=0),
        model=dict(SMALL),
        training=DensityFitConfig(
            epochs=epochs, frames_per_batch=3, points_per_frame=512, learning_rate=1e-2, dtype="float64", **fit
        ),
        output_directory=str(tmp_path / directory),
    )


def _logged_nmape(message: str) -> float:
    """The validation NMAPE (%) in a training log line such as ``... validation NMAPE 2.31 % ...``."""
    return float(message.split("NMAPE ")[1].split(" %")[0])


@pytest.fixture
def dataset(density_dataset) -> Path:
    return density_dataset


def test_training_improves_on_the_baseline_and_writes_its_files(tmp_path, dataset):
    messages = []
    model, test_metrics = train_density_model(_run(tmp_path, dataset, epochs=6), log=messages.append)
    baseline_line = next(m for m in messages if m.startswith("baseline"))
    baseline_nmape = _logged_nmape(baseline_line)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,validation_nmape") and len(rows) == 7
    validation = [float(row.split(",")[2]) for row in rows[1:]]
    assert min(validation) < 0.8 * baseline_nmape
    assert test_metrics is not None and test_metrics.nmape < baseline_nmape
    saved = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert saved["nmape"] == pytest.approx(test_metrics.nmape)
    assert model.checkpoint_metadata["validation_nmape"] == pytest.approx(min(validation), rel=1e-5)


@pytest.mark.parametrize("ema_decay", [None, 0.9])
def test_resume_continues_exactly(tmp_path, dataset, ema_decay):
    straight, _ = train_density_model(_run(tmp_path, dataset, epochs=2, directory="straight", ema_decay=ema_decay), log=lambda m: None)
    # an interrupted run: max_seconds=0 stops it after its first epoch
    train_density_model(_run(tmp_path, dataset, epochs=2, directory="split", ema_decay=ema_decay, max_seconds=0.0), log=lambda m: None)
    assert len((tmp_path / "split" / "metrics.csv").read_text().splitlines()) == 2
    messages = []
    resumed, _ = train_density_model(_run(tmp_path, dataset, epochs=2, directory="split", ema_decay=ema_decay), log=messages.append)
    assert any(m.startswith("resumed from") for m in messages)
    first = load_density_model(tmp_path / "straight" / "last.pt").state_dict()
    second = load_density_model(tmp_path / "split" / "last.pt").state_dict()
    for name, value in first.items():
        torch.testing.assert_close(second[name], value, rtol=0, atol=0, msg=name)
    for name, value in straight.state_dict().items():  # best.pt: EMA weights when averaging
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0, msg=name)


def test_density_checkpoints_round_trip_and_are_told_apart(tmp_path, density_helpers):
    teacher = density_helpers.teacher()
    path = save_checkpoint(teacher, tmp_path / "density.pt")
    loaded = load_density_model(path)
    atoms = molecule("CH3OH")
    with torch.no_grad():
        torch.testing.assert_close(loaded.expansion(atoms).coefficients, teacher.expansion(atoms).coefficients)
    with pytest.raises(ValueError, match="charge-density model"):
        load_checkpoint(path)
    (tmp_path / "broken.pt").write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_density_model(tmp_path / "broken.pt")


def test_density_weighted_sampling_is_unbiased(density_helpers):
    """Points drawn partly by density, reweighted, estimate the grid's mean |error| without bias."""
    import numpy as np

    from asetools.density.training import PointSampler

    frame = density_helpers.frames(density_helpers.teacher(), copies=1)[0]
    error = np.random.default_rng(0).normal(size=frame.grid.num_points) ** 2  # any per-point quantity
    exact = error.mean()
    sampler = PointSampler(0.7)
    generator = np.random.default_rng(1)
    flat_of = {tuple(p): i for i, p in enumerate(np.round(frame.grid.points(), 9))}
    estimates, dense = [], []
    for _ in range(400):
        points, values, weights = sampler.sample(frame, 256, generator)
        index = np.array([flat_of[tuple(p)] for p in np.round(points, 9)])
        np.testing.assert_array_equal(values, frame.grid.values.ravel()[index])
        estimates.append(np.mean(weights * error[index]))
        dense.append(np.mean(values))
    assert np.mean(estimates) == pytest.approx(exact, rel=0.03)
    assert np.mean(dense) > 3 * frame.grid.values.mean()  # the dense regions are sampled more often
    with pytest.raises(ValueError, match="density_sampling"):
        PointSampler(1.0)


def test_nmape_loss_is_the_frame_nmape(density_helpers):
    """On a frame's whole grid the "nmape" loss is its NMAPE (a fraction) and "l1" its mean |error|;
    with the electron term, 1 % of missing electrons costs 1 % NMAPE per unit weight."""
    teacher = density_helpers.teacher()
    frame = density_helpers.frames(teacher, copies=1)[0]
    student = DensityModel(teacher.config).double()  # untrained: far from the teacher
    values = np.asarray(frame.grid.values, dtype=np.float64).ravel()
    whole_grid = (frame.grid.points(), values, np.ones(frame.grid.num_points))
    mean_density = float(np.abs(values).mean())
    nmape = evaluate_density_model(student, [frame]).nmape
    with torch.no_grad():
        expansion = student.expansion(frame.atoms)
        missing = abs(float(student.basis.integrals(expansion.coefficients, expansion.kinds).sum()) - frame.n_electrons)

        def loss(kind: str, electron_weight: float) -> float:
            fit = DensityFitConfig(loss=kind, electron_weight=electron_weight)
            return float(frame_loss(student, frame, whole_grid, fit, mean_density))

        assert 100 * loss("nmape", 0.0) == pytest.approx(nmape, rel=1e-9)
        assert loss("l1", 0.0) == pytest.approx(nmape / 100 * mean_density, rel=1e-9)
        assert missing > 0.1
        assert loss("nmape", 2.0) - loss("nmape", 0.0) == pytest.approx(2 * missing / frame.n_electrons, rel=1e-9)
    with pytest.raises(ValueError, match="training.loss"):
        DensityFitConfig(loss="mae")


def test_weight_average_pairs_weights_by_name(tmp_path):
    """The EMA of a model with l = 3 features (e3nn modules that change when deep-copied) saves and loads."""
    from asetools.density.model import DensityModelConfig
    from asetools.density.basis import OrbitalBasisConfig
    from asetools.training.ema import ExponentialMovingAverage

    model = DensityModel(DensityModelConfig(species=["H", "O"], basis=OrbitalBasisConfig(beta=3.0, default_l_max=3), channels=4, l_max=3, num_layers=1))
    average = ExponentialMovingAverage(model, decay=0.5, from_initial=True)
    before = {name: value.detach().clone() for name, value in model.named_parameters()}
    for _ in range(20):
        average.update_parameters(model)  # warm-up: the first updates follow the model closely
    with torch.no_grad():
        for value in model.parameters():
            value.add_(1.0)
    average.update_parameters(model)  # decay 0.5 now: halfway to the new weights
    with average.swapped_in(model):
        for name, value in model.named_parameters():
            torch.testing.assert_close(value, before[name] + 0.5)
        save_checkpoint(model, tmp_path / "ema.pt")
    for name, value in model.named_parameters():  # the model's own weights are back
        torch.testing.assert_close(value, before[name] + 1.0)
    loaded = load_density_model(tmp_path / "ema.pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded.basis.log_exponents, before["basis.log_exponents"] + 0.5)
        assert torch.isfinite(loaded.expansion(molecule("H2O")).coefficients).all()


def test_time_schedule_anneals_over_the_budget():
    from asetools.density.training import _learning_rate

    by_time = DensityFitConfig(learning_rate=1e-2, min_learning_rate=1e-4, schedule="time", max_seconds=100.0)
    by_epochs = DensityFitConfig(learning_rate=1e-2, min_learning_rate=1e-4)
    middle = 1e-4 + 0.5 * (1e-2 - 1e-4)
    # a run far from its last epoch is still annealed when its time is spent
    assert _learning_rate(by_time, step=0, total_steps=1000, seconds=0.0) == pytest.approx(1e-2)
    assert _learning_rate(by_time, step=10, total_steps=1000, seconds=50.0) == pytest.approx(middle)
    assert _learning_rate(by_time, step=10, total_steps=1000, seconds=150.0) == pytest.approx(1e-4)
    # whichever of steps and time is further along sets the rate
    assert _learning_rate(by_time, step=500, total_steps=1000, seconds=1.0) == pytest.approx(middle)
    assert _learning_rate(by_epochs, step=10, total_steps=1000, seconds=150.0) > 0.99e-2
    with pytest.raises(ValueError, match="max_seconds"):
        DensityFitConfig(schedule="time")


def test_time_budget_is_shared_by_resumed_runs(tmp_path, dataset):
    run = _run(tmp_path, dataset, epochs=50, directory="budget", max_seconds=0.0)
    run.training.schedule = "time"
    train_density_model(run, log=lambda m: None)
    messages = []
    train_density_model(run, log=messages.append)  # the budget is spent: one more epoch at the final rate
    rows = (tmp_path / "budget" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
    seconds = [float(row.split(",")[-1]) for row in rows[1:]]
    assert seconds[1] > seconds[0] > 0  # cumulative over the resumed run
    assert float(rows[2].split(",")[4]) == pytest.approx(run.training.min_learning_rate)


G2 = Path(__file__).resolve().parents[3] / "shared" / "data" / "density_g2"


@pytest.mark.skipif(not (G2 / "index.json").is_file(), reason="needs ../shared/data/density_g2")
def test_baseline_has_a_physical_nuclear_cusp():
    """The grid seldom samples the last 0.05 Å around a nucleus; the cusp condition fills the gap.

    Reference: a PySCF PBE/def2-SVP calculation of water (not among the fitted molecules) on a
    line out of the oxygen nucleus.
    """
    pytest.importorskip("pyscf")
    from asetools.density.references import read_density_dataset
    from asetools.density.dft import dft_density
    from asetools.io.grid import DensityGrid
    from asetools.density.field import density_at_points

    frames = read_density_dataset(G2, molecules=["CH3OH", "HCOOH", "CH3CHO", "CO2", "H2CO", "CH4", "C2H6"])
    water = molecule("H2O")
    oxygen = water.positions[0]
    distances = np.array([0.0, 0.005, 0.01, 0.02, 0.04, 0.08])
    points = oxygen + distances[:, None] * np.array([1.0, 0.0, 0.0])
    reference = np.array([
        dft_density(water, grid=DensityGrid(values=np.zeros((1, 1, 1)), origin=p, voxel=np.eye(3) * 0.1,
                                            atoms=water, periodic=False)).frame.grid.values.item()
        for p in points
    ])
    predictions = {}
    for weight in (0.0, 10.0):
        torch.manual_seed(0)
        model = DensityModel(from_dict(DensityModelConfig, {**SMALL, "species": ["H", "C", "O"]}))
        fit_baseline(model, frames, cusp_weight=weight)
        with torch.no_grad():
            model.output_scale.zero_()
            predictions[weight] = density_at_points(
                model.basis, model.expansion(water), torch.as_tensor(points)
            ).numpy()
    cusp = predictions[10.0]
    assert np.all(np.diff(cusp) < 0), cusp  # falls monotonically away from the nucleus
    np.testing.assert_allclose(cusp, reference, rtol=0.2)
    # without the cusp equations the tight orbitals are free and the nucleus is far off
    assert np.abs(predictions[0.0] / reference - 1).max() > 0.5


def test_extra_training_data_joins_only_the_training_part(tmp_path, dataset, density_helpers):
    teacher = density_helpers.teacher()
    (tmp_path / "extra").mkdir()
    extra = density_helpers.write(
        density_helpers.frames(teacher, copies=1, molecules=["C2H6", "CH3CHO", "HCOOH"]), tmp_path / "extra"
    )
    plain = _run(tmp_path, dataset, epochs=1, directory="plain")
    messages_plain, messages_extra = [], []
    train_density_model(plain, log=messages_plain.append)
    with_extra = _run(tmp_path, dataset, epochs=1, directory="extra_run")
    with_extra.data.extra_training = [str(extra)]
    train_density_model(with_extra, log=messages_extra.append)
    counts_plain = [int(word) for word in messages_plain[0].replace(",", "").split() if word.isdigit()][:3]
    counts_extra = [int(word) for word in messages_extra[0].replace(",", "").split() if word.isdigit()][:3]
    assert counts_extra == [counts_plain[0] + 3, counts_plain[1], counts_plain[2]]


def test_extra_training_data_may_not_hold_a_held_out_formula(tmp_path, dataset):
    run = _run(tmp_path, dataset, epochs=1)
    run.data.extra_training = [str(dataset)]  # every held-out molecule is in it
    with pytest.raises(ValueError, match="formula of a validation or test molecule"):
        train_density_model(run, log=lambda m: None)


def _fine_tuning(tmp_path: Path, dataset: Path, initial: Path, directory: str, **model) -> DensityRunConfig:
    run = _run(tmp_path, dataset, epochs=1, directory=directory, initial_model=str(initial))
    run.model = model
    return run


def test_fine_tuning_starts_from_the_checkpoint_and_learns_exponent_scales(tmp_path, dataset):
    first, _ = train_density_model(_run(tmp_path, dataset, epochs=2, directory="first"), log=lambda m: None)
    initial = tmp_path / "first" / "best.pt"
    messages = []
    tuned, _ = train_density_model(
        _fine_tuning(tmp_path, dataset, initial, "tuned", learn_exponent_scale=True), log=messages.append
    )
    assert not any(m.startswith("baseline") for m in messages)  # the baseline fit would overwrite the weights
    start = next(m for m in messages if m.startswith("fine-tuning"))
    start_nmape = _logged_nmape(start)
    assert start_nmape == pytest.approx(first.checkpoint_metadata["validation_nmape"], abs=0.006)  # printed to 0.01
    assert tuned.config.learn_exponent_scale and tuned.config.channels == SMALL["channels"]
    with torch.no_grad():
        scales = tuned.expansion(molecule("CH3OH")).exponent_scale
    assert scales is not None and bool(((scales > 0.5) & (scales < 2.0)).all())
    assert float((scales - 1).abs().max()) > 1e-4  # the new head trained


def test_fine_tuning_keeps_the_architecture(tmp_path, dataset):
    train_density_model(_run(tmp_path, dataset, epochs=1, directory="first"), log=lambda m: None)
    initial = tmp_path / "first" / "best.pt"
    with pytest.raises(ValueError, match="differs from the checkpoint's in channels"):
        train_density_model(_fine_tuning(tmp_path, dataset, initial, "wider", channels=8), log=lambda m: None)
    with pytest.raises(FileNotFoundError, match="no density checkpoint"):
        train_density_model(_fine_tuning(tmp_path, dataset, tmp_path / "none.pt", "missing"), log=lambda m: None)
    train_density_model(_fine_tuning(tmp_path, dataset, initial, "scaled", learn_exponent_scale=True), log=lambda m: None)
    with pytest.raises(ValueError, match="switching learn_exponent_scale off"):
        train_density_model(
            _fine_tuning(tmp_path, dataset, tmp_path / "scaled" / "best.pt", "unscaled", learn_exponent_scale=False),
            log=lambda m: None,
        )


def test_fine_tuning_example_starts_from_the_first_stage_example():
    configs = Path(__file__).parents[2] / "examples" / "configs"
    first = DensityRunConfig.from_yaml(configs / "g2_density.yaml")
    tuned = DensityRunConfig.from_yaml(configs / "g2_density_finetune.yaml")
    assert tuned.training.initial_model == str(Path(first.output_directory) / "best.pt")
    assert tuned.model == {"learn_exponent_scale": True}
    assert (tuned.data.dataset, tuned.data.split, tuned.data.split_seed) == (
        first.data.dataset, first.data.split, first.data.split_seed
    )


def test_file_names_in_a_run_file_are_relative_to_it(tmp_path):
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "run.yaml"
    path.write_text(
        "data:\n  dataset: ../data/g2\n  extra_training: [../data/extra, /abs/extra]\n"
        "training:\n  initial_model: ../runs/first/best.pt\noutput_directory: ../runs/second\n"
    )
    run = DensityRunConfig.from_yaml(path)
    assert run.data.dataset == str(tmp_path / "data" / "g2")
    assert run.data.extra_training == [str(tmp_path / "data" / "extra"), "/abs/extra"]
    assert run.training.initial_model == str(tmp_path / "runs" / "first" / "best.pt")
    assert run.output_directory == str(tmp_path / "runs" / "second")
