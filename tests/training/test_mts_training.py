"""Co-training a fast and a slow model (the ``mts:`` section): stages, loss, checkpoints, exact resume."""

import csv

import ase.io
import numpy as np
import pytest
import torch

from asetools.calculators import MTSCalc, PotentialCalc
from asetools.checkpoint import load_checkpoint, read_checkpoint
from asetools.cli import main
from asetools.config import from_dict
from asetools.data import emt_copper_dataset, label_frames
from asetools.models import MTSPair, Potential
from asetools.training import Trainer, TrainRunConfig, collate, make_samples
from asetools.training.loss import BatchCounts
from asetools.training.mts import MTSTrainer
from asetools.training.run import TrainingData, build_model, load_training_data, train_from_config

TINY = {"num_layers": 1, "num_scalar_features": 8, "num_tensor_features": 2, "two_body_mlp_hidden": [8],
        "latent_mlp_hidden": [8], "readout_mlp_hidden": [8]}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cu.xyz"
    ase.io.write(path, emt_copper_dataset(10, repeat=(2, 2, 1), max_strain=0.03, seed=4), format="extxyz")
    return path


def run_config(data_file, directory, fast_epochs=2, epochs=2, **mts):
    training = {"batch_size": 4, "dtype": "float64", "learning_rate": 5e-3, "seed": 1}
    return from_dict(TrainRunConfig, {
        "data": {"train_file": str(data_file), "validation_fraction": 0.2},
        "model": {"options": {"r_max": 4.5, "l_max": 1, **TINY}},
        "training": {**training, "epochs": epochs},
        "mts": {
            "fast_model": {"options": {"r_max": 3.0, "l_max": 1, **TINY}},
            "fast_training": {**training, "epochs": fast_epochs, "seed": 2},
            **mts,
        },
        "output": {"directory": str(directory), "plot_every": 0},
    })


def parameters(model):
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_two_stages_make_one_pair_checkpoint(data_file, tmp_path):
    config = run_config(data_file, tmp_path / "run")
    pair, result = train_from_config(config)
    run = tmp_path / "run"
    for name in ("best.pt", "last.pt", "metrics.csv", "config.yaml", "fast/best.pt", "fast/last.pt", "fast/metrics.csv"):
        assert (run / name).exists(), name
    assert isinstance(pair, MTSPair) and len(result.history) == 2

    payload = read_checkpoint(run / "best.pt")
    assert payload["kind"] == "mts_pair" and payload["cutoff"] == 4.5
    stage1 = payload["metadata"]["mts_stage1"]
    assert stage1["best_epoch"] in (0, 1, 2)

    # The slow model was normalised to what the fast model of stage 1 left: no shifts, residual RMS as scale.
    fast_alone = load_checkpoint(run / "fast" / "best.pt").double()
    frames = ase.io.read(data_file, ":")
    residual = stage1["residual_force_rms_eV_per_A"]
    slow_config = pair.slow.config
    assert slow_config.per_species_energy_shifts == [0.0]
    assert slow_config.per_species_energy_scales == [pytest.approx(residual)]
    train = load_training_data(config).train
    reference = np.concatenate([frame.forces for frame in train])
    fast_calc = PotentialCalc(fast_alone, dtype="float64")
    predicted = np.concatenate([fast_calc.get_property("forces", frame.atoms.copy()) for frame in train])
    assert residual == pytest.approx(np.sqrt(np.mean((reference - predicted) ** 2)), rel=1e-8)

    # The kept stage-2 pair evaluates like the sum of its two parts, each on its own neighbour list.
    atoms = frames[0].copy()
    whole = PotentialCalc(load_checkpoint(run / "best.pt"), dtype="float64")
    split = MTSCalc.from_checkpoint(run / "best.pt", dtype="float64")
    atoms.calc = split
    forces = atoms.get_forces()
    np.testing.assert_allclose(forces, whole.get_property("forces", atoms.copy()), atol=1e-10)
    np.testing.assert_allclose(split.results["fast_forces"] + split.results["slow_forces"], forces, atol=1e-12)

    with open(run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and float(rows[-1]["slow_force_rms_meV_per_A"]) > 0
    assert float(rows[-1]["fast_force_mae_meV_per_A"]) == pytest.approx(1e3 * result.history[-1]["fast_force_mae"])
    final = result.final
    assert final.reference_force_rms > final.slow_force_rms > 0


def test_fast_force_term_is_the_fast_models_own_force_error(data_file):
    """The stage-2 loss adds w * mean((F_fast - F_ref)²), with F_fast from the fast model on its own graphs."""
    config = run_config(data_file, "unused")
    frames = ase.io.read(data_file, ":4")
    pair, _ = _untrained_pair(config, frames)
    weight = 3.0
    samples = make_samples(frames, pair.cutoff, pair.species, torch.float64)
    trainer = MTSTrainer(pair, samples, config=config.training, fast_force_weight=weight)
    plain = Trainer(pair, samples, config=config.training)
    batch, counts = collate(samples), BatchCounts.of(samples)
    potential = Potential(pair)
    extra = trainer._batch_loss(potential, batch, counts) - plain._batch_loss(potential, batch, counts)

    fast_samples = make_samples(frames, pair.fast.cutoff, pair.species, torch.float64)
    fast_batch = collate(fast_samples)
    fast_forces = Potential(pair.fast)(fast_batch.graph).forces
    expected = weight * torch.mean((fast_forces - fast_batch.forces) ** 2)
    assert float(extra.detach()) == pytest.approx(float(expected.detach()), rel=1e-10)
    assert float(expected.detach()) > 0


def test_validation_loss_is_the_pairs_own_without_the_fast_term(data_file):
    """The schedule and the kept weights follow the pair's error; the fast term (several times larger) is left out."""
    config = run_config(data_file, "unused")
    frames = ase.io.read(data_file, ":4")
    pair, _ = _untrained_pair(config, frames)
    samples = make_samples(frames, pair.cutoff, pair.species, torch.float64)
    trainer = MTSTrainer(pair, samples, samples, config=config.training, fast_force_weight=10.0)
    plain = Trainer(pair, samples, samples, config=config.training)
    metrics = trainer.validate()
    assert metrics.fast_force_rmse > 0
    assert trainer._validation_loss(metrics) == pytest.approx(plain._validation_loss(plain.validate()), rel=1e-12)


def _untrained_pair(config, frames):
    data = TrainingData(label_frames(frames), [], ["Cu"], None)
    fast, _ = build_model(config, data, section=config.mts.fast_model)
    slow, _ = build_model(config, data)
    return MTSPair.from_parts(fast.double(), slow.double()), data


def test_freeze_fast_trains_only_the_slow_model(data_file, tmp_path):
    config = run_config(data_file, tmp_path / "run", freeze_fast=True)
    pair, result = train_from_config(config)
    stage1 = load_checkpoint(tmp_path / "run" / "fast" / "best.pt")
    for name, value in parameters(stage1).items():
        torch.testing.assert_close(pair.fast.state_dict()[name], value.double(), rtol=0, atol=0)
    assert result.best_epoch > 0  # the slow model did learn something


@pytest.mark.parametrize("choice", ["reference", 0.37])
def test_slow_energy_scale_can_be_the_reference_force_rms_or_a_number(data_file, tmp_path, choice):
    config = run_config(data_file, tmp_path / "run", fast_epochs=1, epochs=1, slow_energy_scale=choice)
    pair, _ = train_from_config(config)
    if choice == "reference":
        train = load_training_data(config).train
        expected = float(np.sqrt(np.mean(np.concatenate([frame.forces for frame in train]) ** 2)))
        residual = read_checkpoint(tmp_path / "run" / "best.pt")["metadata"]["mts_stage1"]["residual_force_rms_eV_per_A"]
        assert expected != pytest.approx(residual, rel=1e-3)  # not the default's number
    else:
        expected = choice
    assert pair.slow.config.per_species_energy_scales == [pytest.approx(expected, rel=1e-6)]
    assert pair.slow.config.per_species_energy_shifts == [0.0]
    stored = read_checkpoint(tmp_path / "run" / "best.pt")["metadata"]["slow_energy_scale_eV"]
    assert stored == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("stop_at_epoch", [1, 3], ids=["in-stage-1", "in-stage-2"])
def test_interrupted_co_training_resumes_exactly(data_file, tmp_path, monkeypatch, stop_at_epoch):
    reference, reference_result = train_from_config(run_config(data_file, tmp_path / "whole"))

    original = Trainer._train_epoch
    calls = {"n": 0}

    def dies_after(self, potential):
        calls["n"] += 1
        if calls["n"] > stop_at_epoch:
            raise KeyboardInterrupt("killed")
        return original(self, potential)

    config = run_config(data_file, tmp_path / "parts")
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_train_epoch", dies_after)
        with pytest.raises(KeyboardInterrupt):
            train_from_config(config)
    with pytest.raises(FileExistsError, match="--resume"):
        train_from_config(config)
    resumed, resumed_result = train_from_config(config, resume=True)

    for name, value in parameters(reference).items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=1e-12)
    assert [r["validation_loss"] for r in resumed_result.history] == pytest.approx(
        [r["validation_loss"] for r in reference_result.history], rel=1e-10
    )


def test_config_errors_name_the_problem(data_file, tmp_path):
    with pytest.raises(ValueError, match="longer than the slow model"):
        from_dict(TrainRunConfig, {
            "data": {"train_file": str(data_file)},
            "model": {"options": {"r_max": 3.0}},
            "mts": {"fast_model": {"options": {"r_max": 4.0}}},
        })
    with pytest.raises(ValueError, match="fast_force_weight"):
        run_config(data_file, tmp_path, fast_force_weight=-1.0)
    for bad in ("biggest", 0.0, -0.1, True):
        with pytest.raises(ValueError, match="slow_energy_scale"):
            run_config(data_file, tmp_path, slow_energy_scale=bad)
    with pytest.raises(ValueError, match="species"):
        from_dict(TrainRunConfig, {
            "data": {"train_file": str(data_file)},
            "model": {"species": ["Cu"]},
            "mts": {"fast_model": {"species": ["Cu", "Au"], "options": {"r_max": 3.0}}},
        })
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train_from_config(run_config(data_file, tmp_path / "empty"), resume=True)


def test_train_command_reports_the_force_split(data_file, tmp_path, capsys):
    import yaml

    config = {
        "data": {"train_file": str(data_file), "validation_fraction": 0.2},
        "model": {"options": {"r_max": 4.0, **TINY}},
        "training": {"epochs": 1, "batch_size": 4},
        "mts": {"fast_model": {"options": {"r_max": 3.0, "l_max": 1, **TINY}}, "fast_force_weight": 2.0,
                "probe_steps": 20, "probe_timestep_fs": 0.5},
        "output": {"directory": "run"},
    }
    path = tmp_path / "mts.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--epoch-log"]) == 0
    out = capsys.readouterr().out
    assert "fast model alone: forces MAE" in out and "slow force RMS" in out
    # The probe MD resolves lags of 1 to 4 fs with 20 steps of 0.5 fs.
    assert "slow/fast" in out and " 4.00 fs" in out
    assert (tmp_path / "run" / "force_changes.png").exists()
    assert read_checkpoint(tmp_path / "run" / "best.pt")["kind"] == "mts_pair"


def test_the_example_configuration_is_valid():
    from pathlib import Path

    from asetools.training import load_train_config

    path = Path(__file__).parents[2] / "examples" / "configs" / "ethanol_mts.yaml"
    config = load_train_config(path)
    assert config.mts.fast_model.options["r_max"] == 3.0 and config.model.options["r_max"] == 5.0
    assert config.fast_training.epochs == 500 and config.training.epochs == 1000
    assert config.data.train_file.endswith("shared/data/botnet/ethanol/train_eth_meth.xyz")


def test_a_message_passing_slow_model_co_trains(data_file, tmp_path):
    config = run_config(data_file, tmp_path / "run")
    config.model.kind = "botnet"
    config.model.options = {"r_max": 4.5, "num_layers": 2, "l_max": 1, "num_features": 4, "radial_mlp_hidden": [8]}
    pair, result = train_from_config(config)
    assert isinstance(pair, MTSPair) and type(pair.slow).__name__ == "BOTNet" and len(result.history) == 2
    assert np.isfinite(result.history[-1]["force_mae"]) and np.isfinite(result.history[-1]["fast_force_mae"])
    atoms = ase.io.read(data_file, 0)
    atoms.calc = MTSCalc.from_checkpoint(tmp_path / "run" / "best.pt", dtype="float64")
    total = atoms.get_forces()
    np.testing.assert_allclose(total, atoms.calc.get_property("fast_forces", atoms)
                               + atoms.calc.get_property("slow_forces", atoms), atol=1e-10)
