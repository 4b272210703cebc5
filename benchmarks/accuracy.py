"""Training accuracy and throughput: asetools against nequip-allegro on the BOTNet datasets.

For each dataset the training file is split once (seeded) into training and
validation frames and written to the work directory; both codes train the same
Allegro size on those files for the same wall-clock budget, keep their best
(EMA) weights by validation loss, and are evaluated on the dataset's MD test file:

- ethanol: ``train.xyz`` (1000 rMD17 configurations) -> ``test_MD.xyz`` (1000)
- acac:    ``train_300K.xyz`` (500) -> ``test_MD_300K.xyz`` (650)

Model (both): r_max 5 Å, l_max 2, full O(3) parity, 2 layers, 64 scalar / 16 tensor
features, 8 trainable Bessels with p = 6, two-body MLP [64, 64], latent MLP [64],
readout [32], float32. Training (both): batch 5, Adam lr 2e-3, per-atom energy and
force MSE with weights 1 : 1, EMA 0.99, plateau factor 0.5 / patience 10,
isolated-atom energies as shifts. The reference runs as its own ``nequip-train``
process (``benchmarks/nequip_reference``); ours runs ``asetools.training`` in this
process. Both get the same number of threads. The two codes run one after the
other, in alternating order over the datasets, because this machine's speed drifts.

Throughput is training frames per second of training wall time (validation included
for both), over the epochs each code completed within the budget.

usage: python benchmarks/accuracy.py [--datasets ethanol acac] [--seconds 600]
           [--threads 2] [--validation 50] [--work runs/accuracy] [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import ase.data
import ase.io
import numpy as np
import torch

from asetools.data.frames import read_isolated_atom_energies, read_labelled_frames
from asetools.training.config import DataConfig, ModelSection, OutputConfig, TrainingConfig, TrainRunConfig
from asetools.training.evaluate import evaluate_model
from asetools.training.run import train_from_config

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "botnet"
sys.path.insert(0, str(HERE / "nequip_reference"))

DATASETS = {
    "ethanol": ("ethanol/train.xyz", "ethanol/test_MD.xyz", "ethanol/isolated_atoms.xyz"),
    "acac": ("acac/train_300K.xyz", "acac/test_MD_300K.xyz", "acac/isolated_atoms.xyz"),
}

MODEL_OPTIONS = {
    "r_max": 5.0,
    "l_max": 2,
    "parity": True,
    "num_layers": 2,
    "num_scalar_features": 64,
    "num_tensor_features": 16,
    "num_bessels": 8,
    "polynomial_cutoff_p": 6,
    "trainable_bessel": True,
    "two_body_mlp_hidden": [64, 64],
    "latent_mlp_hidden": [64],
    "readout_mlp_hidden": [32],
}


def write_split(frames: list, directory: Path, n_validation: int, seed: int) -> dict[str, str]:
    """Write the seeded training/validation split of ``frames`` into ``directory``; returns the two file names.

    The split depends on the seed and the sizes only, so writing it again gives the same files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(seed).permutation(len(frames))
    files = {"train": str(directory / "train.xyz"), "validation": str(directory / "validation.xyz")}
    ase.io.write(files["validation"], [frames[i] for i in sorted(order[:n_validation])], format="extxyz")
    ase.io.write(files["train"], [frames[i] for i in sorted(order[n_validation:])], format="extxyz")
    return files


def split(name: str, work: Path, n_validation: int, seed: int) -> dict:
    """Write the seeded training/validation split of a dataset; returns the file names and the training size."""
    train_file, test_file, isolated_file = (str(DATA / part) for part in DATASETS[name])
    frames = ase.io.read(train_file, ":")
    files = write_split(frames, work / name, n_validation, seed)
    return {**files, "test": test_file, "isolated": isolated_file, "num_train": len(frames) - n_validation}


def allegro_run_config(
    train: str, validation: str, isolated: str, directory: Path, seconds: float, seed: int, epochs: int = 100_000
) -> TrainRunConfig:
    """The training run of this benchmark (model size and optimiser above) for ``seconds`` or ``epochs``."""
    return TrainRunConfig(
        data=DataConfig(train_file=train, validation_file=validation, isolated_atoms_file=isolated),
        model=ModelSection(kind="allegro", options=dict(MODEL_OPTIONS)),
        training=TrainingConfig(
            epochs=epochs,
            batch_size=5,
            validation_batch_size=25,
            learning_rate=2e-3,
            energy_weight=1.0,
            forces_weight=1.0,
            ema_decay=0.99,
            lr_factor=0.5,
            lr_patience=10,
            max_seconds=seconds,
            seed=seed,
            dtype="float32",
        ),
        output=OutputConfig(directory=str(directory), plot_every=0),
    )


def train_ours(files: dict, directory: Path, seconds: float, seed: int) -> dict[str, float]:
    config = allegro_run_config(files["train"], files["validation"], files["isolated"], directory, seconds, seed)
    started = time.perf_counter()
    model, result = train_from_config(config)
    wall = time.perf_counter() - started
    test = read_labelled_frames(files["test"], species=model.species)
    metrics, _ = evaluate_model(model, test, batch_size=25)
    return {
        "energy_mae_meV_per_atom": 1e3 * metrics.energy_mae,
        "force_mae_meV_per_A": 1e3 * metrics.force_mae,
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "train_frames_per_s": files["num_train"] * len(result.history) / result.seconds,
        "seconds": result.seconds,
        "startup_seconds": wall - result.seconds,
    }


def train_reference(files: dict, directory: Path, seconds: float, seed: int, threads: int) -> dict:
    from run_nequip import train_nequip

    isolated = read_isolated_atom_energies(files["isolated"])
    species = sorted(isolated, key=lambda symbol: ase.data.atomic_numbers[symbol])
    return train_nequip(
        files["train"],
        files["validation"],
        files["test"],
        isolated,
        species,
        str(directory),
        max_seconds=seconds,
        seed=seed,
        threads=threads,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seconds", type=float, default=600.0, help="training budget per code and dataset")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--validation", type=int, default=50, help="validation frames held out of the training file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="runs/accuracy", help="work directory (splits, runs, results.json)")
    parser.add_argument("--skip-reference", action="store_true", help="train only asetools")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    work = Path(args.work).resolve()
    results = {}
    for index, name in enumerate(args.datasets):
        files = split(name, work, args.validation, args.seed)
        runs = {"asetools": lambda: train_ours(files, work / name / "asetools", args.seconds, args.seed)}
        if not args.skip_reference:
            runs["nequip-allegro"] = lambda: train_reference(
                files, work / name / "nequip", args.seconds, args.seed, args.threads
            )
        order = list(runs) if index % 2 == 0 else list(runs)[::-1]
        results[name] = {}
        for code in order:
            print(f"{name}: training {code} for {args.seconds:.0f} s", flush=True)
            results[name][code] = runs[code]()
            print(f"  {json.dumps(results[name][code])}", flush=True)

    print(f"\n{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}")
    print(f"budget {args.seconds:.0f} s per code and dataset; test-set errors of the best validation weights")
    print(f"{'dataset':8s} {'code':15s} {'E MAE meV/atom':>15s} {'F MAE meV/Å':>12s} {'epochs':>7s} {'frames/s':>9s}")
    for name, codes in results.items():
        for code, r in codes.items():
            print(
                f"{name:8s} {code:15s} {r['energy_mae_meV_per_atom']:15.2f} {r['force_mae_meV_per_A']:12.1f}"
                f" {r['epochs']:7d} {r['train_frames_per_s']:9.1f}"
            )
        if "nequip-allegro" in codes:
            ours, reference = codes["asetools"], codes["nequip-allegro"]
            print(
                f"{name:8s} ratio (reference / ours): force MAE {reference['force_mae_meV_per_A'] / ours['force_mae_meV_per_A']:.2f}, "
                f"energy MAE {reference['energy_mae_meV_per_atom'] / ours['energy_mae_meV_per_atom']:.2f}; "
                f"throughput (ours / reference) {ours['train_frames_per_s'] / reference['train_frames_per_s']:.2f}"
            )
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
