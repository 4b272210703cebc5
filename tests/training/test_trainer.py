"""The trainer: exact resume, checkpoints, EMA, stopping rules, stress loss and logs."""

import csv
import math

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.emt import EMT

from asetools.checkpoint import load_checkpoint, read_checkpoint
from asetools.data import dataset_statistics, emt_copper_dataset, label_frames
from asetools.models import Potential
from asetools.training import Trainer, TrainingConfig, collate, make_samples
from asetools.training.loss import LossWeights, loss_terms, predict
from asetools.training.ema import ema_average
from tests.conftest import small_allegro


@pytest.fixture(scope="module")
def cu_frames():
    return label_frames(emt_copper_dataset(10, repeat=(2, 2, 1), max_strain=0.03, seed=3))


def make_trainer(frames, directory=None, seed=0, **options):
    stats = dataset_statistics(frames, 4.0, ["Cu"])
    model = small_allegro(1, species=("Cu",), seed=seed, num_layers=1, **stats.normalisation())
    config = TrainingConfig(
        **{"batch_size": 3, "dtype": "float64", "stress_weight": 10.0, "learning_rate": 5e-3, "seed": seed, **options}
    )
    samples = make_samples(frames[:8], model.cutoff, model.species, torch.float64)
    validation = make_samples(frames[8:], model.cutoff, model.species, torch.float64)
    return Trainer(model, samples, validation, config, directory=directory, metadata={"note": "test"})


def test_interrupted_and_resumed_run_equals_the_uninterrupted_run(cu_frames, tmp_path):
    whole = make_trainer(cu_frames, tmp_path / "whole", epochs=5, gradient_clip_norm=10.0)
    whole.run()
    part = make_trainer(cu_frames, tmp_path / "part", epochs=2, gradient_clip_norm=10.0)
    part.run()
    resumed = make_trainer(cu_frames, tmp_path / "part", epochs=5, gradient_clip_norm=10.0)
    resumed.resume(tmp_path / "part" / "last.pt")
    assert resumed.epoch == 2
    resumed.run()
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    for key, value in whole.ema.state_dict().items():
        assert torch.equal(value, resumed.ema.state_dict()[key]), key
    strip = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    assert strip(whole.result.history) == strip(resumed.result.history)
    assert whole.result.best_epoch == resumed.result.best_epoch
    assert whole.optimiser.state_dict()["state"][0]["step"] == resumed.optimiser.state_dict()["state"][0]["step"]


def test_last_checkpoint_tells_a_finished_run_from_an_interrupted_one(cu_frames, tmp_path, monkeypatch):
    written = []
    write_progress = Trainer._write_progress

    def recording_write_progress(self, final):
        write_progress(self, final)
        written.append((final, read_checkpoint(tmp_path / "last.pt")["training_state"]["stop_reason"]))

    monkeypatch.setattr(Trainer, "_write_progress", recording_write_progress)
    make_trainer(cu_frames, tmp_path, epochs=2).run()
    assert written == [(False, ""), (False, ""), (True, "reached 2 epochs")]
    resumed = make_trainer(cu_frames, tmp_path, epochs=2)
    resumed.resume(tmp_path / "last.pt")
    assert resumed.result.stop_reason == "reached 2 epochs"


def test_resume_refuses_changed_settings_and_a_model_only_file(cu_frames, tmp_path):
    make_trainer(cu_frames, tmp_path, epochs=1).run()
    other = make_trainer(cu_frames, epochs=3, learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"training.learning_rate: 0.005 -> 0.001"):
        other.resume(tmp_path / "last.pt")
    with pytest.raises(ValueError, match="no training state"):
        other.resume(tmp_path / "best.pt")
    with pytest.raises(ValueError, match=r"training.monitor: 'loss' -> 'force_mae'"):
        make_trainer(cu_frames, epochs=3, monitor="force_mae").resume(tmp_path / "last.pt")


def test_a_checkpoint_written_before_a_setting_existed_resumes_with_its_default(cu_frames, tmp_path):
    make_trainer(cu_frames, tmp_path, epochs=1).run()
    payload = read_checkpoint(tmp_path / "last.pt")
    del payload["training_state"]["config"]["monitor"]  # as written before training.monitor existed
    torch.save(payload, tmp_path / "old.pt")
    resumed = make_trainer(cu_frames, epochs=2)
    resumed.resume(tmp_path / "old.pt")
    assert resumed.epoch == 1 and len(resumed.run().history) == 2
    with pytest.raises(ValueError, match=r"training.monitor: 'loss' -> 'force_rmse'"):
        make_trainer(cu_frames, epochs=2, monitor="force_rmse").resume(tmp_path / "old.pt")


def test_checkpoints_hold_the_best_averaged_weights(cu_frames, tmp_path):
    trainer = make_trainer(cu_frames, tmp_path, epochs=4)
    result = trainer.run()
    best = load_checkpoint(tmp_path / "best.pt").double()
    assert best.checkpoint_metadata["note"] == "test"
    assert best.checkpoint_metadata["best_epoch"] == result.best_epoch
    for key, value in trainer.evaluated_model.state_dict().items():
        assert torch.equal(value, best.state_dict()[key]), key
    # The kept weights reproduce the reported validation errors.
    frames = cu_frames[8:]
    calc_errors = []
    for frame in frames:
        samples = make_samples([frame], best.cutoff, best.species, torch.float64)
        with torch.no_grad():
            out = Potential(best)(samples[0].graph)
        calc_errors.append(np.abs(out.forces.numpy() - frame.forces))
    assert np.mean(np.concatenate(calc_errors)) == pytest.approx(result.final.force_mae, rel=1e-10)
    assert "training_state" in read_checkpoint(tmp_path / "last.pt")
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["force_mae_meV_per_A"]) == pytest.approx(1e3 * result.history[-1]["force_mae"], rel=1e-5)
    assert (tmp_path / "learning_curves.png").stat().st_size > 1000


def test_ema_update_follows_the_warm_up_formula():
    average = ema_average(0.99)
    averaged, current = [torch.tensor([1.0, 2.0])], [torch.tensor([3.0, 6.0])]
    average(averaged, current, torch.tensor(4))
    rate = min(0.99, 5 / 14)
    torch.testing.assert_close(averaged[0], rate * torch.tensor([1.0, 2.0]) + (1 - rate) * torch.tensor([3.0, 6.0]))
    averaged = [torch.tensor([1.0])]
    average(averaged, [torch.tensor([3.0])], torch.tensor(10_000))
    torch.testing.assert_close(averaged[0], torch.tensor([0.99 * 1.0 + 0.01 * 3.0]))


@pytest.mark.parametrize("monitor", ["loss", "force_mae"])
def test_the_monitored_metric_drives_the_schedule_and_the_kept_weights(cu_frames, monkeypatch, monitor):
    """Scripted validation errors: the loss (an MSE) rises from epoch 2 on, as with a few outlier
    structures, while the force MAE keeps falling. Each monitor keeps its own best epoch and halves
    the learning rate only when its own value stalls."""
    from asetools.training import ErrorMetrics

    maes = [0.10, 0.08, 0.07, 0.06, 0.05, 0.04]
    rmses = [0.20, 0.15, 0.18, 0.19, 0.20, 0.21]
    scripted = iter(ErrorMetrics(energy_mae=0.01, energy_rmse=0.0, force_mae=m, force_rmse=r) for m, r in zip(maes, rmses))
    monkeypatch.setattr(Trainer, "validate", lambda self: next(scripted))
    trainer = make_trainer(cu_frames, epochs=5, ema_decay=None, lr_patience=1, monitor=monitor)
    result = trainer.run()
    rates = [record["learning_rate"] for record in result.history]
    if monitor == "loss":
        assert result.best_epoch == 1 and result.final.force_mae == 0.08
        # Epochs 2 and 3 do not improve on epoch 1: with a patience of 1 the rate halves after epoch 3.
        assert rates == pytest.approx([5e-3, 5e-3, 2.5e-3, 2.5e-3, 1.25e-3])
        assert [record["validation_loss"] for record in result.history] == pytest.approx([r**2 for r in rmses[1:]])
    else:
        assert result.best_epoch == 5 and result.final.force_mae == 0.04
        assert rates == pytest.approx([5e-3] * 5)
    with pytest.raises(ValueError, match="training.monitor"):
        TrainingConfig(monitor="force_error")


def test_early_stopping_and_the_learning_rate_floor(cu_frames):
    stalled = make_trainer(
        cu_frames, epochs=50, learning_rate=1e-30, ema_decay=None, early_stopping_patience=3, min_learning_rate=0.0
    )
    result = stalled.run()
    assert len(result.history) == 3 and result.best_epoch == 0
    assert "no better validation loss for 3 epochs" in result.stop_reason
    # Steps of 1e-7 improve the loss by about 1e-5 relative, less than the scheduler's 1e-4 threshold: a plateau.
    floored = make_trainer(cu_frames, epochs=50, learning_rate=1e-7, ema_decay=None, lr_patience=0, min_learning_rate=6e-8)
    result = floored.run()
    assert "learning rate below" in result.stop_reason and len(result.history) == 2
    assert result.history[-1]["learning_rate"] == pytest.approx(5e-8)


def test_stress_term_uses_the_potential_stress_and_ignores_molecules(cu_frames):
    stats = dataset_statistics(cu_frames, 4.0, ["Cu"])
    model = small_allegro(1, species=("Cu",), num_layers=1, **stats.normalisation()).double()
    cluster = molecule("H2O")
    cluster.set_chemical_symbols(["Cu"] * 3)
    cluster.positions *= 1.8
    cluster.calc = EMT()
    cluster.get_forces()
    samples = make_samples(cu_frames[:2] + [cluster], model.cutoff, model.species, torch.float64)
    batch = collate(samples)
    weights = LossWeights(1.0, 1.0, 1.0)
    output = predict(Potential(model), batch, weights, create_graph=True)
    terms = loss_terms(output, batch)
    expected = np.mean([(output.stress[i].detach().numpy() - frame.stress) ** 2 for i, frame in enumerate(cu_frames[:2])])
    assert float(terms["stress"].detach()) == pytest.approx(expected, rel=1e-12)
    terms["stress"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_config_checks_name_the_field():
    with pytest.raises(ValueError, match="training.ema_decay"):
        TrainingConfig(ema_decay=1.5)
    with pytest.raises(ValueError, match="training.lr_factor"):
        TrainingConfig(lr_factor=2.0)
    with pytest.raises(ValueError, match="training.min_learning_rate: must be below"):
        TrainingConfig(learning_rate=1e-4, min_learning_rate=1e-3)
    with pytest.raises(ValueError, match="at least one"):
        LossWeights(0.0, 0.0, 0.0)
    assert math.isfinite(TrainingConfig().learning_rate)


def test_resuming_with_changed_model_settings_is_refused(cu_frames, tmp_path):
    first = make_trainer(cu_frames, tmp_path, epochs=1)
    first.run()
    stats = dataset_statistics(cu_frames, 4.0, ["Cu"])
    model = small_allegro(1, species=("Cu",), num_layers=1, normalize_activation=False, **stats.normalisation())
    samples = make_samples(cu_frames[:8], model.cutoff, model.species, torch.float64)
    config = TrainingConfig(batch_size=3, dtype="float64", stress_weight=10.0, learning_rate=5e-3, epochs=2)
    other = Trainer(model, samples, samples, config, directory=tmp_path / "other")
    with pytest.raises(ValueError, match=r"model settings changed \(normalize_activation: True -> False\)"):
        other.resume(tmp_path / "last.pt")
