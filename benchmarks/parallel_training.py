"""Data-parallel training throughput: ``asetools train --nproc P`` against one process, in one run.

Trains the ethanol example model (``examples/configs/ethanol_allegro.yaml``: l_max 2,
64 scalar / 16 tensor features, batch 5, float32) for a few epochs on a subset of
the rMD17 ethanol frames, once with one process using every core and once with P
processes of one thread each, in alternating rounds because this machine's speed
drifts. Reports training frames per second (median epoch, the first epoch of each
run left out) and the ratio against the single process, the anchor.

usage: python benchmarks/parallel_training.py [--nproc 2] [--rounds 2] [--epochs 4] [--frames 400]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "configs" / "ethanol_allegro.yaml"
DATA = HERE.parent.parent / "shared" / "data" / "botnet" / "ethanol"


def write_config(directory: Path, frames: int, epochs: int) -> Path:
    config = yaml.safe_load(EXAMPLE.read_text())
    config["data"].update(
        train_file=str(DATA / "train.xyz"),
        isolated_atoms_file=str(DATA / "isolated_atoms.xyz"),
        max_train_frames=frames,
    )
    config["training"].update(epochs=epochs, max_seconds=None, early_stopping_patience=None)
    config["output"] = {"directory": str(directory / "run"), "plot_every": 0}
    directory.mkdir(parents=True)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def frames_per_second(config: Path, nproc: int, frames: int, threads: int) -> float:
    """Run the training; training frames per second of the median epoch after the first."""
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads if nproc == 1 else 1))
    command = [sys.executable, "-m", "asetools", "train", str(config), "--nproc", str(nproc), "--epoch-log"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    with open(config.parent / "run" / "metrics.csv") as file:
        seconds = [float(row["seconds"]) for row in csv.DictReader(file)]
    epoch_seconds = [b - a for a, b in zip(seconds[:-1], seconds[1:])]
    return frames / statistics.median(epoch_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes of the parallel run")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of the single process")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--frames", type=int, default=400, help="training frames (validation: 10%% of train.xyz)")
    args = parser.parse_args()

    speeds: dict[int, list[float]] = {1: [], args.nproc: []}
    with tempfile.TemporaryDirectory() as work:
        for round_index in range(args.rounds):
            for nproc in (1, args.nproc) if round_index % 2 == 0 else (args.nproc, 1):
                config = write_config(Path(work) / f"r{round_index}p{nproc}", args.frames, args.epochs)
                speeds[nproc].append(frames_per_second(config, nproc, args.frames, args.threads))
                print(f"round {round_index}: {nproc} process(es): {speeds[nproc][-1]:.1f} frames/s", flush=True)
    single, parallel = statistics.median(speeds[1]), statistics.median(speeds[args.nproc])
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; ethanol, {args.frames} frames")
    print(f"1 process x {args.threads} threads (anchor): {single:.1f} frames/s")
    print(f"{args.nproc} processes x 1 thread:          {parallel:.1f} frames/s")
    print(f"ratio {parallel / single:.2f}")


if __name__ == "__main__":
    main()
