"""Allegro, NequIP and BOTNet trained with one pipeline and equal budgets on the BOTNet datasets.

For each dataset the three model kinds train through ``asetools.training`` on the same
split, for the same wall-clock budget, with the same optimiser settings, and are then
evaluated on

- the dataset's MD test file: energy and force MAE;
- its extrapolation paths (energies only): the ethanol atom-pair dissociation curves
  (``test_dimers.xyz``: HH, HC, HO, CC, CO, OO against distance) and the two normal-mode
  scans (874 and 3005 cm⁻¹ against displacement), the acetylacetone dihedral scan. Each
  path is compared after removing its mean energy (relative energies along the path); a
  PNG per dataset plots predicted against reference energy along every path;
- speed: wall time of one energy + forces evaluation of a test molecule (float32,
  median of 50), and its ratio to Allegro measured in the same run.

Datasets (``../shared/data/botnet``):

- ethanol: ``train.xyz`` (1000 rMD17 frames) -> ``test_MD.xyz`` (1000)
- acac:    ``train_300K.xyz`` (500) -> ``test_MD_300K.xyz`` (650)
- 3bpa:    ``train_300K.xyz`` (500) -> ``train_mixedT.xyz`` (500 frames at 300, 600 and
  1200 K; the published 3BPA test files are not in the shared data, so this is a
  temperature-transfer test, not the paper's)

usage: python benchmarks/design_space.py [--datasets ethanol acac] [--seconds 240]
           [--kinds allegro nequip botnet] [--threads 2] [--work runs/design_space]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import defaultdict
from pathlib import Path

import ase.io
import numpy as np
import torch

from asetools.calculators import PotentialCalc
from asetools.checkpoint import load_checkpoint
from asetools.data.frames import read_labelled_frames
from asetools.training.config import DataConfig, ModelSection, OutputConfig, TrainingConfig, TrainRunConfig
from asetools.training.evaluate import evaluate_model
from asetools.training.run import train_from_config
from timing import force_call_seconds

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "botnet"
FIGURES = HERE / "figures"

DATASETS = {
    "ethanol": {
        "train": "ethanol/train.xyz",
        "test": "ethanol/test_MD.xyz",
        "isolated": "ethanol/isolated_atoms.xyz",
        # file, info key that labels a path (None: one path), info key along the path
        "paths": [
            ("ethanol/test_dimers.xyz", "config_type", "distance"),
            ("ethanol/test_norm_mode_874.xyz", None, "displacement"),
            ("ethanol/test_norm_mode_3005.xyz", None, "displacement"),
        ],
    },
    "acac": {
        "train": "acac/train_300K.xyz",
        "test": "acac/test_MD_300K.xyz",
        "isolated": "acac/isolated_atoms.xyz",
        "paths": [("acac/test_dihedral.xyz", None, "dihedral_angle")],
    },
    "3bpa": {
        "train": "3bpa/train_300K.xyz",
        "test": "3bpa/train_mixedT.xyz",
        "isolated": "3bpa/iso_atoms.xyz",
        "paths": [],
    },
}

#: The Allegro of benchmarks/accuracy.py, and the two message-passing presets at their defaults
#: (NequIP: 4 layers, l_max 2, 32 features of both parities, gates; BOTNet: 3 layers, l_max 2,
#: 32 features, linear updates, per-layer readouts). All with r_max 5 Å.
MODELS = {
    "allegro": {
        "r_max": 5.0, "l_max": 2, "parity": True, "num_layers": 2, "num_scalar_features": 64,
        "num_tensor_features": 16, "two_body_mlp_hidden": [64, 64], "latent_mlp_hidden": [64],
        "readout_mlp_hidden": [32],
    },
    "nequip": {"r_max": 5.0},
    "botnet": {"r_max": 5.0},
}


def train(dataset: str, kind: str, work: Path, seconds: float, validation: int) -> Path:
    """Train ``kind`` on ``dataset`` for ``seconds``; returns the best checkpoint (reused if present)."""
    directory = work / dataset / kind
    best = directory / "best.pt"
    if best.is_file():
        print(f"reusing {best}", flush=True)
        return best
    spec = DATASETS[dataset]
    frames = len(ase.io.read(DATA / spec["train"], ":"))
    config = TrainRunConfig(
        data=DataConfig(
            train_file=str(DATA / spec["train"]),
            validation_fraction=validation / frames,
            split_seed=0,
            isolated_atoms_file=str(DATA / spec["isolated"]),
        ),
        model=ModelSection(kind=kind, options=dict(MODELS[kind])),
        training=TrainingConfig(
            epochs=100_000, batch_size=5, validation_batch_size=25, learning_rate=2e-3, lr_patience=10,
            max_seconds=seconds, seed=0, dtype="float32",
        ),
        output=OutputConfig(directory=str(directory), plot_every=0),
    )
    print(f"training {kind} on {dataset} for {seconds:.0f} s ...", flush=True)
    train_from_config(config)
    return best


def epochs_completed(checkpoint: Path) -> int:
    return len((checkpoint.parent / "metrics.csv").read_text().splitlines()) - 1


def path_energies(calc: PotentialCalc, file: str, label_key: str | None, position_key: str) -> dict[str, dict]:
    """Reference and predicted energies (eV) along every path of ``file``, keyed by path label."""
    paths: dict[str, dict] = defaultdict(lambda: {"coordinate": position_key, "x": [], "reference": [], "predicted": []})
    for atoms in ase.io.read(DATA / file, ":"):
        label = Path(file).stem.removeprefix("test_") if label_key is None else atoms.info[label_key]
        # ASE's extxyz reader moves the energy label into a single-point calculator.
        reference = float(atoms.get_potential_energy() if atoms.calc is not None else atoms.info["energy"])
        atoms.calc = calc
        paths[label]["x"].append(float(atoms.info[position_key]))
        paths[label]["reference"].append(reference)
        paths[label]["predicted"].append(float(atoms.get_potential_energy()))
    for path in paths.values():
        order = np.argsort(path["x"])
        for key in ("x", "reference", "predicted"):
            path[key] = np.asarray(path[key])[order].tolist()
        reference, predicted = np.asarray(path["reference"]), np.asarray(path["predicted"])
        difference = (predicted - predicted.mean()) - (reference - reference.mean())
        path["relative_mae_meV"] = 1e3 * float(np.abs(difference).mean())
    return dict(paths)


def evaluate(dataset: str, kind: str, checkpoint: Path) -> dict:
    spec = DATASETS[dataset]
    model = load_checkpoint(checkpoint)
    frames = read_labelled_frames(str(DATA / spec["test"]), species=model.species)
    metrics, _ = evaluate_model(model, frames, batch_size=20)
    calc = PotentialCalc(checkpoint, dtype="float64")
    paths = {}
    for file, label_key, position_key in spec["paths"]:
        paths.update(path_energies(calc, file, label_key, position_key))
    molecule = ase.io.read(DATA / spec["test"], 0)
    seconds = float(np.median(force_call_seconds(molecule, PotentialCalc(checkpoint, dtype="float32"), 50)))
    return {
        "energy_mae_meV_per_atom": 1e3 * metrics.energy_mae,
        "force_mae_meV_per_A": 1e3 * metrics.force_mae,
        "epochs": epochs_completed(checkpoint),
        "weights": sum(p.numel() for p in model.parameters()),
        "ms_per_evaluation": 1e3 * seconds,
        "paths": paths,
    }


def plot(dataset: str, results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(next(iter(results.values()))["paths"])
    if not labels:
        return
    columns = min(4, len(labels))
    rows = -(-len(labels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows), squeeze=False)
    for axis, label in zip(axes.flat, labels):
        first = next(iter(results.values()))["paths"][label]
        x = np.asarray(first["x"])
        reference = np.asarray(first["reference"])
        axis.plot(x, reference - reference.min(), "k-", lw=2.5, alpha=0.4, label="DFT")
        for kind, result in results.items():
            predicted = np.asarray(result["paths"][label]["predicted"])
            axis.plot(x, predicted - reference.min(), lw=1.2, label=kind)
        axis.set_title(label, fontsize=9)
        axis.set_xlabel(first["coordinate"].replace("_", " "), fontsize=8)
        axis.set_ylabel("E − min E_DFT (eV)", fontsize=8)
        span = np.ptp(reference)
        axis.set_ylim(-0.1 * span - 0.05, 1.2 * span + 0.05)
    for axis in list(axes.flat)[len(labels):]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(f"{dataset}: energy along the extrapolation paths")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def table(dataset: str, results: dict[str, dict]) -> str:
    anchor = results.get("allegro", {}).get("ms_per_evaluation")
    lines = [
        f"### {dataset}",
        "",
        "| model | weights | epochs | test E MAE (meV/atom) | test F MAE (meV/Å) | ms per evaluation | time / Allegro |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        ratio = f"{r['ms_per_evaluation'] / anchor:.2f}" if anchor else "–"
        lines.append(
            f"| {kind} | {r['weights'] / 1e3:.1f} k | {r['epochs']} | {r['energy_mae_meV_per_atom']:.2f} | "
            f"{r['force_mae_meV_per_A']:.1f} | {r['ms_per_evaluation']:.2f} | {ratio} |"
        )
    labels = list(next(iter(results.values()))["paths"])
    if labels:
        lines += ["", "Relative-energy MAE along each path (meV; each path's mean removed):", ""]
        lines.append("| path | " + " | ".join(results) + " |")
        lines.append("|---|" + "---|" * len(results))
        for label in labels:
            values = " | ".join(f"{r['paths'][label]['relative_mae_meV']:.1f}" for r in results.values())
            lines.append(f"| {label} | {values} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ethanol", "acac"], choices=list(DATASETS))
    parser.add_argument("--kinds", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seconds", type=float, default=240.0, help="training budget per model (wall time)")
    parser.add_argument("--validation", type=int, default=50, help="validation frames held out of the training file")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("runs/design_space"))
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"this benchmark needs the BOTNet data in {DATA}")
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads", flush=True)
    report = {}
    for dataset in args.datasets:
        results = {}
        for kind in args.kinds:
            start = time.perf_counter()
            checkpoint = train(dataset, kind, args.work, args.seconds, args.validation)
            results[kind] = evaluate(dataset, kind, checkpoint)
            print(f"[{dataset} {kind}] {time.perf_counter() - start:.0f} s: E {results[kind]['energy_mae_meV_per_atom']:.2f} "
                  f"meV/atom, F {results[kind]['force_mae_meV_per_A']:.1f} meV/Å, "
                  f"{results[kind]['ms_per_evaluation']:.2f} ms per evaluation", flush=True)
        report[dataset] = results
        plot(dataset, results, FIGURES / f"design_space_{dataset}.png")
        print(table(dataset, results), flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
