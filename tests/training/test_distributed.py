"""Data-parallel training: shares of a batch add up to the batch, and 2 processes train like 1."""

import subprocess
import sys

import ase.io
import numpy as np
import pytest
import torch
import yaml

from asetools.checkpoint import read_checkpoint
from asetools.cli import main
from asetools.data import dataset_statistics, emt_copper_dataset, label_frames
from asetools.models import Potential
from asetools.training import collate, make_samples
from asetools.training.distributed import ProcessGroup
from asetools.training.loss import BatchCounts, LossWeights, loss_terms, predict, total_loss
from tests.conftest import small_allegro


@pytest.mark.parametrize("world_size", [1, 2, 3, 5])
def test_shares_are_contiguous_disjoint_and_cover_the_items(world_size):
    items = list(range(7))
    shares = [ProcessGroup(rank, world_size).share(items) for rank in range(world_size)]
    assert [i for share in shares for i in share] == items
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1


def test_share_gradients_with_batch_counts_sum_to_the_batch_gradient():
    frames = label_frames(emt_copper_dataset(5, repeat=(2, 2, 1), max_strain=0.03, seed=4))
    frames[1].stress = None  # a structure without a stress label in one share
    stats = dataset_statistics(frames, 4.0, ["Cu"])
    model = small_allegro(1, species=("Cu",), num_layers=1, **stats.normalisation()).double()
    samples = make_samples(frames, model.cutoff, model.species, torch.float64)
    weights = LossWeights(energy=1.0, forces=2.0, stress=10.0)
    potential = Potential(model)

    def loss_and_gradient(members, counts):
        model.zero_grad(set_to_none=True)
        batch = collate(members)
        loss = total_loss(loss_terms(predict(potential, batch, weights, create_graph=True), batch, counts), weights)
        loss.backward()
        return float(loss.detach()), [p.grad.clone() for p in model.parameters()]

    whole_loss, whole_gradient = loss_and_gradient(samples, None)
    counts = BatchCounts.of(samples)
    assert counts == BatchCounts(structures=5, atoms=5 * len(frames[0].atoms), stressed=4)
    parts = [loss_and_gradient(ProcessGroup(rank, 2).share(samples), counts) for rank in range(2)]
    assert sum(loss for loss, _ in parts) == pytest.approx(whole_loss, rel=1e-12)
    for index, expected in enumerate(whole_gradient):
        summed = parts[0][1][index] + parts[1][1][index]
        torch.testing.assert_close(summed, expected, rtol=1e-10, atol=1e-14)


def write_run(directory, train_file, validation_file):
    config = {
        "data": {"train_file": str(train_file), "validation_file": str(validation_file)},
        "model": {
            "options": {
                "r_max": 4.0, "num_layers": 1, "num_scalar_features": 8, "num_tensor_features": 2,
                "two_body_mlp_hidden": [8], "latent_mlp_hidden": [8], "readout_mlp_hidden": [8],
            }
        },
        # 10 frames in batches of 3: the last batch has one structure, so one process gets none.
        "training": {"epochs": 3, "batch_size": 3, "dtype": "float64", "stress_weight": 10.0, "seed": 1},
        "output": {"directory": "run"},
    }
    directory.mkdir()
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    frames = emt_copper_dataset(13, repeat=(2, 2, 1), max_strain=0.03, seed=5)
    for atoms in frames[::3]:  # some structures without a stress label
        atoms.calc.results.pop("stress")
    ase.io.write(tmp_path / "train.xyz", frames[:10], format="extxyz")
    ase.io.write(tmp_path / "validation.xyz", frames[10:], format="extxyz")
    one = write_run(tmp_path / "one", tmp_path / "train.xyz", tmp_path / "validation.xyz")
    two = write_run(tmp_path / "two", tmp_path / "train.xyz", tmp_path / "validation.xyz")

    assert main(["train", str(one), "--epoch-log"]) == 0
    launched = subprocess.run(
        [sys.executable, "-m", "asetools", "train", str(two), "--nproc", "2", "--epoch-log"],
        capture_output=True, text=True, timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("kept epoch") == 1  # only rank 0 reports

    single = read_checkpoint(tmp_path / "one" / "run" / "last.pt")["training_state"]
    parallel = read_checkpoint(tmp_path / "two" / "run" / "last.pt")["training_state"]
    assert parallel["epoch"] == single["epoch"] == 3
    for key, value in single["model"].items():
        torch.testing.assert_close(parallel["model"][key], value, rtol=1e-8, atol=1e-10, msg=key)
    for record_one, record_two in zip(single["history"], parallel["history"], strict=True):
        for name in ("train_loss", "validation_loss", "force_mae", "stress_mae"):
            assert record_two[name] == pytest.approx(record_one[name], rel=1e-8), name
    rows = (tmp_path / "two" / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3
    assert np.isfinite(single["history"][-1]["stress_mae"])
