"""Single-model uncertainty (latent-feature mixture) against a deep ensemble, on the BOTNet data.

Parts (``--parts``; all by default):

- ``rank``: for each dataset, train an ensemble of ``--members`` Allegro models (the
  model and optimiser of ``accuracy.py``, seeds 0..M-1, ``--member-seconds`` each), fit
  the mixture head to member 0 (BIC-chosen size, calibrated on the validation frames),
  and evaluate every test structure with member 0 + head and with the ensemble. Per
  structure: the largest per-atom score against the largest per-atom force-error norm
  (and the means against the means); Spearman rank correlation for each test set and
  for all of them together.

  - acac: ``train_300K.xyz`` (450 train / 50 validation) -> ``test_MD_300K.xyz`` (650),
    ``test_dihedral.xyz`` (45, relaxed DFT scan of dihedral 0-1-2-3).
  - ethanol: ``train.xyz`` (rMD17, 950 / 50) -> ``test_eth_meth.xyz`` (1145, ethanol
    and methanol), ``test_norm_mode_874.xyz`` (37), ``test_norm_mode_3005.xyz`` (18).

  The single model's score ranks member 0's own error; the ensemble's force spread
  ranks the error of the ensemble mean (what each user would get), and also member 0's.
- ``cost``: time per force call (neighbour list included, as an ASE user sees it)
  of member 0 without the head, with the head, and of the ensemble, on one molecule and
  on 64 separated copies; modes alternate in rounds; medians; ratios to the plain model.
- ``maps``: uncertainty-vs-PES maps (PNG) with member 0 + head and with the ensemble:
  acac dihedral 0-1-2-3 relaxed from 1 to 177 degrees (training data projected), and
  ethanol's C-C-O-H dihedral against the O-H bond, rigid.
- ``active``: acac active learning. Pool: ``train_300K`` + ``train_600K`` (1000), of
  which 50 are held out for validation. Start from 100 random frames; in each round
  train a model on the selected frames (a fixed number of frame visits, so rounds with
  more frames get fewer epochs), then add the 100 pool frames with the highest
  per-structure score (mixture fitted to the current training frames) or 100 random
  ones, up to 400. Test force MAE on ``test_MD_300K`` and ``test_dihedral`` each round.

usage: python benchmarks/uncertainty.py [--parts rank cost maps active] [--datasets acac ethanol]
           [--members 5] [--member-seconds 120] [--visits 20000] [--work runs/uncertainty]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms
from scipy.stats import spearmanr

from accuracy import DATA, allegro_run_config, write_split
from asetools._files import atomic_path
from asetools.analysis.uncertainty_map import plot_uncertainty_map, uncertainty_map
from asetools.calculators import EnsembleCalc, PotentialCalc
from asetools.checkpoint import load_potential
from asetools.data.frames import read_labelled_frames
from asetools.models import Potential
from asetools.training.evaluate import evaluate_model
from asetools.training.run import train_from_config
from asetools.uncertainty import atom_features, fit_uncertainty
from timing import force_call_seconds

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"

DATASETS = {
    "acac": {
        "train": "acac/train_300K.xyz",
        "isolated": "acac/isolated_atoms.xyz",
        "tests": {"MD 300 K": "acac/test_MD_300K.xyz", "dihedral scan": "acac/test_dihedral.xyz"},
    },
    "ethanol": {
        "train": "ethanol/train.xyz",
        "isolated": "ethanol/isolated_atoms.xyz",
        "tests": {
            "ethanol+methanol": "ethanol/test_eth_meth.xyz",
            "normal mode 874": "ethanol/test_norm_mode_874.xyz",
            "normal mode 3005": "ethanol/test_norm_mode_3005.xyz",
        },
    },
}


def trained(train: str, validation: str, isolated: str, directory: Path, seconds: float, seed: int,
            epochs: int = 100_000) -> Path:
    """Train once into ``directory`` (a finished run is reused, an unfinished one restarted); the best checkpoint."""
    marker = directory / "finished.json"
    if not marker.exists():
        shutil.rmtree(directory, ignore_errors=True)
        config = allegro_run_config(train, validation, isolated, directory, seconds, seed, epochs)
        _, result = train_from_config(config)
        marker.write_text(json.dumps({"epochs": len(result.history), "seconds": result.seconds,
                                      "best_epoch": result.best_epoch}))
    return directory / "best.pt"


def with_head(checkpoint: Path, train: str, validation: str, seed: int, max_components: int) -> tuple[Potential, dict]:
    """Member ``checkpoint`` with a mixture fitted to ``train`` and calibrated on ``validation``."""
    potential = load_potential(checkpoint)
    started = time.perf_counter()
    fit = fit_uncertainty(potential, train, validation=ase.io.read(validation, ":"), max_components=max_components,
                          seed=seed)
    info = {
        "fit_seconds": time.perf_counter() - started,
        "components": fit.uncertainty.mixture.num_components,
        "validation_spearman_structures": fit.report.spearman_structures,
    }
    return Potential(potential.model, uncertainty=fit.uncertainty), info


def structure_values(single: PotentialCalc, ensemble: EnsembleCalc, path: str) -> dict[str, np.ndarray]:
    """Per-structure scores and errors of ``path``'s frames.

    Scores: the largest and the mean per-atom score of the single model; the largest and the
    mean per-atom force spread of the ensemble (eV/Å) and its energy spread (eV). Errors:
    energy error per atom (eV) of member 0 and of the ensemble mean; when the frames have
    reference forces, also the largest and the mean per-atom force-error norm (eV/Å).
    """
    rows: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(float(value))

    for reference in ase.io.read(path, ":"):
        atoms = Atoms(reference.numbers, reference.positions, cell=reference.cell, pbc=reference.pbc)
        single.calculate(atoms, ["energy", "forces"])
        ensemble.calculate(atoms, ["energy", "forces"])
        add("single_max", single.results["uncertainty"])
        add("single_mean", single.results["uncertainty_mean"])
        add("ensemble_max", ensemble.results["uncertainty"])
        add("ensemble_mean", ensemble.results["uncertainty_mean"])
        add("ensemble_energy", ensemble.results["energy_uncertainty"])
        energy = reference.get_potential_energy()
        add("energy_error", abs(single.results["energy"] - energy) / len(atoms))
        add("ensemble_energy_error", abs(ensemble.results["energy"] - energy) / len(atoms))
        forces = reference.calc.results.get("forces")
        if forces is not None:
            error = np.linalg.norm(single.results["forces"] - forces, axis=1)
            ensemble_error = np.linalg.norm(ensemble.results["forces"] - forces, axis=1)
            add("error_max", error.max())
            add("error_mean", error.mean())
            add("ensemble_error_max", ensemble_error.max())
            add("ensemble_error_mean", ensemble_error.mean())
    return {key: np.array(value) for key, value in rows.items()}


def rank_correlations(values: dict[str, np.ndarray]) -> dict[str, float]:
    """Spearman correlations of each uncertainty with the error it should rank, and the errors themselves."""
    def rho(a: str, b: str) -> float:
        return float(spearmanr(values[a], values[b]).statistic)

    result = {"structures": len(values["energy_error"])}
    if "error_max" in values:
        result.update({
            "F: single max": rho("single_max", "error_max"),
            "F: ensemble max": rho("ensemble_max", "ensemble_error_max"),
            "F: ensemble max vs member-0 error": rho("ensemble_max", "error_max"),
            "F: single mean": rho("single_mean", "error_mean"),
            "F: ensemble mean": rho("ensemble_mean", "ensemble_error_mean"),
            "F MAE member 0 meV/Å": 1e3 * float(values["error_mean"].mean()),
            "F MAE ensemble meV/Å": 1e3 * float(values["ensemble_error_mean"].mean()),
        })
    result.update({
        "E: single max": rho("single_max", "energy_error"),
        "E: ensemble energy spread": rho("ensemble_energy", "ensemble_energy_error"),
        "E: ensemble max force spread": rho("ensemble_max", "ensemble_energy_error"),
        "E MAE member 0 meV/atom": 1e3 * float(values["energy_error"].mean()),
        "E MAE ensemble meV/atom": 1e3 * float(values["ensemble_energy_error"].mean()),
    })
    return result


def dataset_models(name: str, args, work: Path) -> tuple[dict[str, str], list[Path], Potential, dict]:
    """Train (or reuse) the ensemble of ``name`` and fit the head to member 0."""
    spec = DATASETS[name]
    files = write_split(ase.io.read(DATA / spec["train"], ":"), work / name / "data", 50, args.seed)
    isolated = str(DATA / spec["isolated"])
    checkpoints = []
    for member in range(args.members):
        print(f"{name}: ensemble member {member} ({args.member_seconds:.0f} s)", flush=True)
        checkpoints.append(trained(files["train"], files["validation"], isolated,
                                   work / name / f"member_{member}", args.member_seconds, args.seed + member))
    single, head = with_head(checkpoints[0], files["train"], files["validation"], args.seed, args.max_components)
    print(f"{name}: head {json.dumps(head)}", flush=True)
    return files, checkpoints, single, head


def rank_part(name: str, single: Potential, checkpoints: list[Path]) -> dict:
    single_calc = PotentialCalc(single)
    ensemble_calc = EnsembleCalc(checkpoints)
    per_set, together = {}, None
    for label, path in DATASETS[name]["tests"].items():
        values = structure_values(single_calc, ensemble_calc, str(DATA / path))
        per_set[label] = rank_correlations(values)
        print(f"{name} / {label}: {json.dumps(per_set[label])}", flush=True)
        if together is None:
            together = {key: values[key] for key in values if "error_m" not in key}
        else:
            together = {key: np.concatenate([together[key], values[key]]) for key in together}
    per_set["all"] = rank_correlations(together)
    print(f"{name} / all: {json.dumps(per_set['all'])}", flush=True)
    return per_set


def molecule_copies(molecule: Atoms, per_side: int, gap: float = 6.0) -> Atoms:
    """``per_side``³ copies of ``molecule`` on a cubic grid, ``gap`` Å (beyond the cutoff) apart, no cell."""
    extent = np.ptp(molecule.positions, axis=0).max() + gap
    copies = Atoms()
    for shift in np.ndindex(per_side, per_side, per_side):
        part = molecule.copy()
        part.positions += extent * np.array(shift)
        copies += part
    return copies


def cost_part(name: str, single: Potential, checkpoints: list[Path], rounds: int, repeats: int) -> dict:
    molecule = ase.io.read(DATA / DATASETS[name]["train"], 0)
    molecule.calc = None
    calculators = {
        "plain": PotentialCalc(single, uncertainty=False),
        "with head": PotentialCalc(single),
        "ensemble": EnsembleCalc(checkpoints),
    }
    result = {}
    for label, atoms in (("1 molecule", molecule), ("64 molecules", molecule_copies(molecule, 4))):
        times = {mode: [] for mode in calculators}
        for _ in range(rounds):
            for mode, calc in calculators.items():
                times[mode].extend(force_call_seconds(atoms, calc, repeats))
        medians = {mode: float(np.median(t)) for mode, t in times.items()}
        result[label] = {
            "atoms": len(atoms),
            **{f"{mode} ms": 1e3 * value for mode, value in medians.items()},
            **{f"{mode} / plain": value / medians["plain"] for mode, value in medians.items() if mode != "plain"},
        }
        print(f"{name} cost, {label}: {json.dumps(result[label])}", flush=True)
    return result


def maps_part(name: str, single: Potential, checkpoints: list[Path], files: dict) -> dict:
    FIGURES.mkdir(exist_ok=True)
    if name == "acac":
        start = ase.io.read(DATA / "acac/test_dihedral.xyz", 0)
        coordinates, values, relax = ["dihedral:0,1,2,3"], [np.arange(1.0, 178.0, 4.0)], True
    else:
        start = ase.io.read(files["train"], 0)
        coordinates = ["dihedral:0,1,2,8", "bond:2,8"]
        values, relax = [np.linspace(-180.0, 180.0, 25), np.linspace(0.8, 1.8, 15)], False
    start.calc = None
    summary = {}
    for label, calc in (("single", PotentialCalc(single)), ("ensemble", EnsembleCalc(checkpoints))):
        started = time.perf_counter()
        result = uncertainty_map(start, calc, coordinates, values, relax=relax, training=files["train"])
        path = FIGURES / f"uq_map_{name}_{label}.png"
        plot_uncertainty_map(result, path, quantity="force_uncertainty")
        summary[label] = {"seconds": time.perf_counter() - started, "png": str(path.relative_to(HERE))}
        if name == "acac":
            summary[label].update(dihedral_scan_comparison(result))
        print(f"{name} map ({label}): {json.dumps(summary[label])}\n{result.summary()}", flush=True)
    return summary


def dihedral_scan_comparison(result) -> dict:
    """The model's relaxed scan against the DFT scan (the same 45 dihedrals): energies in meV relative to 1 degree.

    Points whose constrained relaxation did not converge are left out of the RMSE and
    reported with the force uncertainty there.
    """
    reference = ase.io.read(DATA / "acac/test_dihedral.xyz", ":")
    dft = 1e3 * np.array([frame.get_potential_energy() for frame in reference])
    model = 1e3 * result.energy.ravel()
    dft, model = dft - dft[0], model - model[0]
    converged = result.converged.ravel()
    force_uncertainty = result.uncertainties["force_uncertainty"].ravel()
    return {
        "converged points": int(converged.sum()),
        "DFT barrier meV": float(dft.max()),
        "model barrier meV (converged points)": float(model[converged].max()),
        "relative energy RMSE meV (converged points)": float(np.sqrt(np.mean((dft - model)[converged] ** 2))),
        "force uncertainty eV/Å, converged: median/max": [float(np.median(force_uncertainty[converged])),
                                                          float(force_uncertainty[converged].max())],
        "force uncertainty eV/Å, not converged: median": float(np.median(force_uncertainty[~converged]))
        if (~converged).any() else None,
        "highest force uncertainty at degrees": float(result.axes[0][np.argmax(force_uncertainty)]),
    }


def scan_energy_rmse(calc, scan: list[Atoms]) -> float:
    """RMS difference (meV) of the model's and the reference's energies along a scan, each relative to its mean."""
    model = np.array([calc.get_potential_energy(Atoms(f.numbers, f.positions)) for f in scan])
    reference = np.array([f.get_potential_energy() for f in scan])
    return 1e3 * float(np.sqrt(np.mean(((model - model.mean()) - (reference - reference.mean())) ** 2)))


def structure_scores(potential: Potential, frames: list[Atoms]) -> np.ndarray:
    """Largest per-atom score of each of ``frames``."""
    evaluated = atom_features(potential, frames, batch_size=25)
    scores = potential.uncertainty(torch.from_numpy(evaluated.features))[0].double().numpy()
    largest = np.full(len(frames), -np.inf)
    np.maximum.at(largest, evaluated.structure_index, scores)
    return largest


def active_part(args, work: Path) -> dict:
    """Uncertainty-driven against random selection from the acac 300 K + 600 K pool (indices >= 500 are 600 K)."""
    pool = ase.io.read(DATA / "acac/train_300K.xyz", ":") + ase.io.read(DATA / "acac/train_600K.xyz", ":")
    directory = work / "active"
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(pool))
    validation_file = str(directory / "validation.xyz")
    ase.io.write(validation_file, [pool[i] for i in sorted(order[:50])], format="extxyz")
    candidates = [int(i) for i in order[50:]]
    isolated = str(DATA / "acac/isolated_atoms.xyz")
    md_test = read_labelled_frames(DATA / "acac/test_MD_300K.xyz")
    scan = ase.io.read(DATA / "acac/test_dihedral.xyz", ":")

    def train_and_test(selected: list[int], run: Path) -> tuple[Path, str, dict]:
        train_file = str(run) + ".xyz"
        ase.io.write(train_file, [pool[i] for i in sorted(selected)], format="extxyz")
        epochs = int(np.ceil(args.visits / len(selected)))
        print(f"active: {run.name}, {len(selected)} frames, {epochs} epochs", flush=True)
        checkpoint = trained(train_file, validation_file, isolated, run, 3 * args.member_seconds, args.seed, epochs)
        potential = load_potential(checkpoint)
        metrics, _ = evaluate_model(potential.model, md_test, batch_size=25)
        record = {
            "frames": len(selected),
            "from 600 K": int(sum(i >= 500 for i in selected)),
            "MD 300 K F MAE meV/Å": 1e3 * metrics.force_mae,
            "MD 300 K E MAE meV/atom": 1e3 * metrics.energy_mae,
            "dihedral scan relative E RMSE meV": scan_energy_rmse(PotentialCalc(potential), scan),
        }
        print(f"active: {json.dumps(record)}", flush=True)
        return checkpoint, train_file, record

    start = candidates[: args.rounds[0]]
    shared = train_and_test(start, directory / f"start_{args.rounds[0]}")
    chosen = {"uncertainty": list(start), "random": list(start)}
    history = {"uncertainty": [], "random": []}
    for index, size in enumerate(args.rounds):
        for strategy, selected in chosen.items():
            if index == 0:
                checkpoint, train_file, record = shared
            else:
                checkpoint, train_file, record = train_and_test(selected, directory / f"{strategy}_{size}")
            history[strategy].append(record)
            if index + 1 == len(args.rounds):
                continue
            taken = set(selected)
            remaining = np.array([i for i in candidates if i not in taken])
            add = args.rounds[index + 1] - size
            if strategy == "random":
                picked = rng.choice(remaining, size=add, replace=False)
            else:
                potential, _ = with_head(checkpoint, train_file, validation_file, args.seed, args.max_components)
                scores = structure_scores(potential, [pool[i] for i in remaining])
                picked = remaining[np.argsort(scores)[::-1][:add]]
            chosen[strategy] = selected + [int(i) for i in picked]
    return history


def record(work: Path, keys: list[str], value) -> None:
    """Store ``value`` under ``keys`` in ``work/results.json``, read afresh so that parts run apart all land."""
    path = work / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    entry = results
    for key in keys[:-1]:
        entry = entry.setdefault(key, {})
    entry[keys[-1]] = value
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["rank", "cost", "maps", "active"],
                        choices=["rank", "cost", "maps", "active"])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--member-seconds", type=float, default=120.0, help="training budget of each member")
    parser.add_argument("--max-components", type=int, default=20, help="largest mixture the BIC scan tries")
    parser.add_argument("--rounds", type=int, nargs="+", default=[100, 200, 300, 400],
                        help="training-set sizes of the active-learning rounds")
    parser.add_argument("--visits", type=int, default=20_000,
                        help="training frame visits per active-learning model (epochs = visits / frames)")
    parser.add_argument("--cost-rounds", type=int, default=5)
    parser.add_argument("--cost-repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="runs/uncertainty")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    for name in args.datasets if {"rank", "cost", "maps"} & set(args.parts) else []:
        files, checkpoints, single, head = dataset_models(name, args, work)
        record(work, [name, "head"], head)
        if "rank" in args.parts:
            record(work, [name, "spearman"], rank_part(name, single, checkpoints))
        if "cost" in args.parts:
            record(work, [name, "cost"], cost_part(name, single, checkpoints, args.cost_rounds, args.cost_repeats))
        if "maps" in args.parts:
            record(work, [name, "maps"], maps_part(name, single, checkpoints, files))
    if "active" in args.parts:
        record(work, ["active"], active_part(args, work))
    print(f"\n{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}")
    print((work / "results.json").read_text())


if __name__ == "__main__":
    main()
