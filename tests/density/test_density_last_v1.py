"""A density ``last.pt`` written before the moving average was the training package's still resumes exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from asetools.checkpoint import read_checkpoint
from asetools.density import load_density_model
from asetools.density.training import DensityDataConfig, DensityFitConfig, DensityRunConfig, train_density_model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "density_last_v1"
SMALL = {
    "basis": {"beta": 3.0, "l_max": {"H": 1}, "default_l_max": 2},
    "channels": 4,
    "l_max": 2,
    "num_layers": 1,
    "radial_hidden": [16],
}


def test_a_version_1_last_checkpoint_resumes_to_the_straight_run(tmp_path, density_dataset):
    assert set(read_checkpoint(FIXTURE / "last.pt")["training_state"]["ema"]) == {"updates", "average"}  # the old layout
    (tmp_path / "run").mkdir()
    shutil.copy(FIXTURE / "last.pt", tmp_path / "run" / "last.pt")
    run = DensityRunConfig(
        data=DensityDataConfig(
            dataset=str(density_dataset), molecules=["H2O", "NH3", "CH4", "CO", "N2", "HCN"],
            split=[0.67, 0.22, 0.11], split_seed=0,
        ),
        model=dict(SMALL),
        training=DensityFitConfig(
            epochs=2, frames_per_batch=2, points_per_frame=256, learning_rate=1e-2, dtype="float64", ema_decay=0.9
        ),
        output_directory=str(tmp_path / "run"),
    )
    messages = []
    best, _ = train_density_model(run, log=messages.append)
    assert any(m.startswith("resumed from") and m.endswith("after epoch 1") for m in messages)
    expected_last = load_density_model(FIXTURE / "straight_last_weights.pt").state_dict()
    resumed_last = load_density_model(tmp_path / "run" / "last.pt").state_dict()
    for name, value in expected_last.items():
        torch.testing.assert_close(resumed_last[name], value, rtol=0, atol=0, msg=name)
    for name, value in load_density_model(FIXTURE / "straight_best.pt").state_dict().items():  # the EMA weights
        torch.testing.assert_close(best.state_dict()[name], value, rtol=0, atol=0, msg=name)
    assert set(read_checkpoint(tmp_path / "run" / "last.pt")["training_state"]["ema"]) >= {"n_averaged"}  # the new one
