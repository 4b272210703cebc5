"""Multiple-time-step MD at equal accuracy: a co-trained fast/slow Allegro pair under
RESPA against a single large Allegro model under velocity Verlet.

System ``cu``: liquid copper at 1500 K and the experimental liquid density, with
ASE's EMT as the reference, so that the reference RDF and self-diffusivity come from
running EMT itself.

1. Data: EMT-labelled 108-atom snapshots from Langevin runs at 1200, 1500 and
   1800 K (training and validation) and a separate 1500 K set (test), cached in the
   work directory.
2. Training, equal budgets: the single model (the slow model's size) for
   ``--train-seconds``; each pair (one per ``--weights`` value of
   ``mts.fast_force_weight``) for the same total, a quarter for stage 1 (the fast
   model alone) and three quarters for stage 2 (both together).
3. Step sweep: NVE runs of ``--sweep-ps`` on a 256-atom liquid from one EMT-
   equilibrated start. The single model at each of ``--timesteps``; each pair at
   the single model's largest stable step as inner step and each of ``--n-inner``.
   A run is stable when its total-energy drift (slope of a linear fit) is at most
   ``--max-drift`` meV/atom/ps and the fluctuation about that line (standard
   deviation) at most ``--max-fluctuation`` meV/atom.
4. Production: after 1 ps of Langevin equilibration with the same model, NVE runs
   of ``--production-ps`` with EMT (at the single model's step), the single model at
   its largest stable step and every pair at its largest stable outer step. Wall
   clock per simulated ps (MD steps only; every run records the same frames every
   ``--record-fs``), energy drift, RDF and self-diffusivity with errors from
   ``--blocks`` independent blocks of the run.

Speedup = wall clock per ps of the single model / that of the pair, from the same
run of this script.

usage: python benchmarks/mts.py [--system cu] [--work runs/mts_benchmark]
           [--train-seconds 400] [--weights 0.1 1 10] [--threads 2] ...
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.emt import EMT
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet
from ase.neighborlist import neighbor_list

from asetools.analysis.force_changes import force_changes
from asetools.calculators import MTSCalc, PotentialCalc
from asetools.checkpoint import load_checkpoint
from asetools.data import emt_liquid_copper, emt_liquid_copper_dataset, read_labelled_frames
from asetools.integrators import MTSLangevin, MTSVelocityVerlet, sample_split_forces
from asetools.models import MTSPair
from asetools.training.config import (
    DataConfig,
    ModelSection,
    MTSSection,
    OutputConfig,
    TrainingConfig,
    TrainRunConfig,
)
from asetools.training.evaluate import evaluate_model
from asetools.training.run import train_from_config
from timing import force_call_seconds

#: Temperature of the liquid-copper runs, K.
TEMPERATURE_K = 1500.0

SLOW_OPTIONS = {
    "r_max": 5.0,
    "l_max": 2,
    "num_layers": 2,
    "num_scalar_features": 64,
    "num_tensor_features": 16,
    "two_body_mlp_hidden": [64, 64],
    "latent_mlp_hidden": [64],
    "readout_mlp_hidden": [32],
}

FAST_OPTIONS = {
    "l_max": 1,
    "num_layers": 1,
    "num_scalar_features": 16,
    "num_tensor_features": 4,
    "two_body_mlp_hidden": [16],
    "latent_mlp_hidden": [16],
    "readout_mlp_hidden": [16],
}


# --------------------------------------------------------------------------- data


def copper_data(work: Path, seed: int) -> dict[str, str]:
    """Write (once) the EMT liquid-copper training, validation and test files; returns their names."""
    files = {name: str(work / "data" / f"{name}.xyz") for name in ("train", "validation", "test")}
    if all(Path(name).is_file() for name in files.values()):
        return files
    (work / "data").mkdir(parents=True, exist_ok=True)
    print("making EMT liquid copper data (108 atoms per frame) ...", flush=True)
    frames = emt_liquid_copper_dataset(280, repeat=3, temperatures_K=(1200.0, 1500.0, 1800.0), seed=seed)
    order = np.random.default_rng(seed).permutation(len(frames))
    test = emt_liquid_copper_dataset(40, repeat=3, temperatures_K=(1500.0,), seed=seed + 100)
    ase.io.write(files["validation"], [frames[i] for i in sorted(order[:40])], format="extxyz")
    ase.io.write(files["train"], [frames[i] for i in sorted(order[40:])], format="extxyz")
    ase.io.write(files["test"], test, format="extxyz")
    return files


# ----------------------------------------------------------------------- training


def training_section(seconds: float, seed: int) -> TrainingConfig:
    return TrainingConfig(
        epochs=100_000,
        batch_size=4,
        validation_batch_size=20,
        learning_rate=2e-3,
        lr_patience=8,
        max_seconds=seconds,
        seed=seed,
        dtype="float32",
    )


def train(
    files: dict[str, str], directory: Path, seconds: float, seed: int, fast_r_max: float, weight: float | None
) -> Path:
    """Train the single model (``weight`` None) or a pair; returns its best checkpoint (reused if present)."""
    best = directory / "best.pt"
    if best.is_file():
        print(f"reusing {best}", flush=True)
        return best
    mts = None
    stage2 = seconds
    if weight is not None:
        mts = MTSSection(
            fast_model=ModelSection(kind="allegro", options={"r_max": fast_r_max, **FAST_OPTIONS}),
            fast_training=training_section(seconds / 4, seed),
            fast_force_weight=weight,
            probe_steps=0,
        )
        stage2 = 3 * seconds / 4
    config = TrainRunConfig(
        data=DataConfig(train_file=files["train"], validation_file=files["validation"]),
        model=ModelSection(kind="allegro", options=dict(SLOW_OPTIONS)),
        training=training_section(stage2, seed),
        output=OutputConfig(directory=str(directory), plot_every=0),
        mts=mts,
    )
    print(f"training {directory.name} ...", flush=True)
    train_from_config(config)
    return best


def test_errors(checkpoint: Path, test_file: str) -> dict[str, float]:
    """Energy and force errors on the test set; for a pair also those of its fast model alone."""
    model = load_checkpoint(checkpoint)
    frames = read_labelled_frames(test_file, species=model.species)
    metrics, _ = evaluate_model(model, frames, batch_size=20)
    errors = {"energy_mae_meV_per_atom": 1e3 * metrics.energy_mae, "force_mae_meV_per_A": 1e3 * metrics.force_mae}
    if isinstance(model, MTSPair):
        fast, _ = evaluate_model(model.fast, frames, batch_size=20)
        errors["fast_force_mae_meV_per_A"] = 1e3 * fast.force_mae
    return errors


# ---------------------------------------------------------------------- dynamics


@dataclass
class Run:
    """What one MD run recorded every ``record_fs``: total energies (eV/atom), temperatures (K), positions (Å)."""

    record_fs: float
    energies: np.ndarray
    temperatures: np.ndarray
    positions: np.ndarray
    wall_seconds: float

    @property
    def simulated_ps(self) -> float:
        return (len(self.energies) - 1) * self.record_fs / 1000.0

    @property
    def seconds_per_ps(self) -> float:
        return self.wall_seconds / self.simulated_ps

    def drift_and_fluctuation(self) -> tuple[float, float]:
        """Slope of a linear fit to the total energy (meV/atom/ps) and the standard deviation about it (meV/atom)."""
        times = np.arange(len(self.energies)) * self.record_fs / 1000.0
        slope, intercept = np.polyfit(times, 1e3 * self.energies, 1)
        residual = 1e3 * self.energies - (slope * times + intercept)
        return float(slope), float(residual.std())


def md_run(atoms: Atoms, dynamics, record_fs: float, simulated_ps: float, step_fs: float) -> Run:
    """Run ``dynamics`` (its atoms are ``atoms``) for ``simulated_ps``, recording every ``record_fs``."""
    every = round(record_fs / step_fs)
    if abs(every * step_fs - record_fs) > 1e-9 or every < 1:
        raise ValueError(f"the recording interval {record_fs} fs is not a multiple of the step {step_fs} fs")
    energies, temperatures, positions = [], [], []

    def record():
        energies.append(atoms.get_total_energy() / len(atoms))
        temperatures.append(atoms.get_temperature())
        positions.append(atoms.get_positions())

    dynamics.attach(record, interval=every)
    steps = every * round(simulated_ps * 1000.0 / record_fs)
    started = time.perf_counter()
    dynamics.run(steps)
    wall = time.perf_counter() - started
    return Run(record_fs, np.array(energies), np.array(temperatures), np.array(positions), wall)


def integrator(atoms: Atoms, calc, step_fs: float, n_inner: int | None, thermostat: bool, seed: int):
    """Velocity Verlet (``n_inner`` None) or RESPA; with ``thermostat``, the Langevin version."""
    if n_inner is None:
        atoms.calc = calc
        if thermostat:
            return Langevin(
                atoms, step_fs * units.fs, temperature_K=TEMPERATURE_K, friction=0.01 / units.fs, fixcm=False,
                rng=np.random.default_rng(seed),
            )
        return VelocityVerlet(atoms, step_fs * units.fs)
    if thermostat:
        return MTSLangevin(
            atoms,
            calc,
            n_inner * step_fs * units.fs,
            temperature_K=TEMPERATURE_K,
            friction=0.01 / units.fs,
            n_inner=n_inner,
            rng=seed,
        )
    return MTSVelocityVerlet(atoms, calc, n_inner * step_fs * units.fs, n_inner=n_inner)


def nve(start: Atoms, calc, step_fs, n_inner, record_fs, simulated_ps, equilibrate_ps=0.0, seed=0) -> Run:
    """NVE from ``start`` (after ``equilibrate_ps`` of Langevin at TEMPERATURE_K with the same calculator)."""
    atoms = start.copy()  # positions and momenta
    outer_fs = step_fs * (n_inner or 1)
    if equilibrate_ps > 0:
        integrator(atoms, calc, step_fs, n_inner, True, seed).run(round(equilibrate_ps * 1000.0 / outer_fs))
    return md_run(atoms, integrator(atoms, calc, step_fs, n_inner, False, seed), record_fs, simulated_ps, outer_fs)


def record_interval(step_fs: float, wanted_fs: float) -> float:
    """The multiple of ``step_fs`` closest to ``wanted_fs`` (at least one step)."""
    return step_fs * max(1, round(wanted_fs / step_fs))


def is_stable(run: Run, max_drift: float, max_fluctuation: float) -> bool:
    drift, fluctuation = run.drift_and_fluctuation()
    return bool(np.isfinite(drift) and abs(drift) <= max_drift and fluctuation <= max_fluctuation)


# -------------------------------------------------------------------- observables


def rdf(run: Run, cell: np.ndarray, r_max: float, bins: int, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """g(r) of each block of the run: ``[blocks, bins]``, and the bin centres (Å)."""
    edges = np.linspace(0.0, r_max, bins + 1)
    shells = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    frames = np.array_split(np.arange(len(run.positions)), blocks)
    natoms = run.positions.shape[1]
    density = natoms / abs(np.linalg.det(cell))
    result = []
    for block in frames:
        counts = np.zeros(bins)
        for index in block:
            atoms = Atoms(f"Cu{natoms}", positions=run.positions[index], cell=cell, pbc=True)
            counts += np.histogram(neighbor_list("d", atoms, r_max), bins=edges)[0]
        result.append(counts / (len(block) * natoms * density * shells))
    return np.array(result), 0.5 * (edges[1:] + edges[:-1])


def diffusivity(run: Run, blocks: int, fit_ps: tuple[float, float]) -> np.ndarray:
    """Self-diffusivity (Å²/ps) of each block: slope of the MSD over lags ``fit_ps``, all time origins, / 6."""
    values = []
    for block in np.array_split(run.positions, blocks):
        block = block - block.mean(axis=1, keepdims=True)  # centre-of-mass motion removed
        lags = np.arange(round(fit_ps[0] * 1000 / run.record_fs), round(fit_ps[1] * 1000 / run.record_fs) + 1)
        if lags[-1] >= len(block):
            raise ValueError(f"a block of {len(block)} frames is too short for lags up to {fit_ps[1]} ps")
        msd = np.array([((block[lag:] - block[:-lag]) ** 2).sum(axis=2).mean() for lag in lags])
        values.append(np.polyfit(lags * run.record_fs / 1000.0, msd, 1)[0] / 6.0)
    return np.array(values)


def observables(run: Run, cell: np.ndarray, blocks: int) -> dict[str, np.ndarray | float]:
    g, r = rdf(run, cell, r_max=min(7.0, 0.49 * np.min(np.linalg.norm(cell, axis=1))), bins=70, blocks=blocks)
    block_ps = run.simulated_ps / blocks
    d = diffusivity(run, blocks, fit_ps=(min(0.5, 0.2 * block_ps), min(2.0, 0.5 * block_ps)))
    return {
        "r": r,
        "g": g.mean(axis=0),
        "g_error": g.std(axis=0, ddof=1) / np.sqrt(blocks),
        "D": float(d.mean()),
        "D_error": float(d.std(ddof=1) / np.sqrt(blocks)),
    }


def compare(model: dict, reference: dict) -> tuple[float, float]:
    """RMS difference of two RDFs over r, and the RMS of their combined standard error."""
    difference = np.sqrt(np.mean((model["g"] - reference["g"]) ** 2))
    error = np.sqrt(np.mean(model["g_error"] ** 2 + reference["g_error"] ** 2))
    return float(difference), float(error)


# -------------------------------------------------------------------------- main


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", choices=["cu"], default="cu")
    parser.add_argument("--work", default="runs/mts_benchmark")
    parser.add_argument("--train-seconds", type=float, default=400.0)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument("--fast-r-max", type=float, default=3.5)
    parser.add_argument("--timesteps", type=float, nargs="+", default=[2.0, 4.0, 6.0, 8.0, 10.0])
    parser.add_argument("--n-inner", type=int, nargs="+", default=[2, 3, 4, 6, 8])
    parser.add_argument("--max-drift", type=float, default=0.5, help="meV/atom/ps")
    parser.add_argument("--max-fluctuation", type=float, default=0.3, help="meV/atom")
    parser.add_argument("--sweep-ps", type=float, default=2.0)
    parser.add_argument("--production-ps", type=float, default=20.0)
    parser.add_argument("--record-fs", type=float, default=24.0)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def sweep_entry(run: Run, args: argparse.Namespace, **setting) -> dict:
    drift, fluctuation = run.drift_and_fluctuation()
    stable = is_stable(run, args.max_drift, args.max_fluctuation)
    return {**setting, "drift": drift, "fluctuation": fluctuation, "stable": stable}


def sweep_line(label: str, entry: dict) -> str:
    verdict = "ok" if entry["stable"] else "unstable"
    return f"  {label:28s} drift {entry['drift']:8.3f}  fluct. {entry['fluctuation']:7.3f}  {verdict}"


def sweep_single(start: Atoms, calc, args: argparse.Namespace, entry: dict) -> float:
    """NVE at each of ``args.timesteps``; returns the largest stable one (fs)."""
    entry["sweep"] = []
    for step in args.timesteps:
        run = nve(start, calc, step, None, record_interval(step, args.record_fs), args.sweep_ps)
        entry["sweep"].append(sweep_entry(run, args, step_fs=step))
        print(sweep_line(f"single {step:g} fs", entry["sweep"][-1]), flush=True)
    stable = [item["step_fs"] for item in entry["sweep"] if item["stable"]]
    if not stable:
        raise SystemExit("the single model is unstable at every step tried; lower --timesteps")
    entry["step_fs"] = max(stable)
    return entry["step_fs"]


def sweep_pair(name: str, start: Atoms, calc: MTSCalc, inner_fs: float, args: argparse.Namespace, entry: dict) -> None:
    """NVE at each of ``args.n_inner`` with ``inner_fs`` inside, and how the two forces change along MD."""
    entry["sweep"] = []
    for n_inner in args.n_inner:
        outer = n_inner * inner_fs
        run = nve(start, calc, inner_fs, n_inner, record_interval(outer, args.record_fs), args.sweep_ps)
        entry["sweep"].append(sweep_entry(run, args, n_inner=n_inner))
        print(sweep_line(f"{name} {inner_fs:g} fs x {n_inner} = {outer:g} fs", entry["sweep"][-1]), flush=True)
    entry["n_inner"] = max([item["n_inner"] for item in entry["sweep"] if item["stable"]], default=1)
    fast, slow = sample_split_forces(
        start.copy(), calc, steps=400, timestep_fs=inner_fs, temperature_K=TEMPERATURE_K, rng=0
    )
    lags = [inner_fs * k for k in (1, 2, 4, 8)]
    slow_changes, fast_changes = force_changes(slow, inner_fs, lags), force_changes(fast, inner_fs, lags)
    entry["slow_force_rms"] = slow_changes.rms
    entry["slow_change_rms"] = dict(zip(lags, slow_changes.change_rms.tolist()))
    entry["fast_change_rms"] = dict(zip(lags, fast_changes.change_rms.tolist()))


def production(start: Atoms, runs: dict, args: argparse.Namespace, report: dict) -> dict[str, dict]:
    """NVE production runs (``runs``: name -> (calculator, step fs, n_inner or None)); returns their observables."""
    outers = [step * (n_inner or 1) for _, step, n_inner in runs.values()]
    record_fs = float(np.lcm.reduce([round(outer * 1000) for outer in outers]) / 1000)  # a multiple of every step
    record_fs *= max(1, round(args.record_fs / record_fs))
    print(f"\nproduction: {args.production_ps} ps NVE each, frames every {record_fs:g} fs", flush=True)
    results = {}
    for name, (calc, step, n_inner) in runs.items():
        run = nve(start, calc, step, n_inner, record_fs, args.production_ps, equilibrate_ps=1.0, seed=args.seed)
        drift, fluctuation = run.drift_and_fluctuation()
        result = results[name] = observables(run, start.cell.array, args.blocks)
        report[name].update(
            seconds_per_ps=run.seconds_per_ps,
            production_drift=drift,
            production_fluctuation=fluctuation,
            temperature_K=float(run.temperatures.mean()),
            D=result["D"],
            D_error=result["D_error"],
        )
        print(
            f"  {name:10s} {run.seconds_per_ps:6.1f} s/ps  drift {drift:7.3f} meV/atom/ps  "
            f"D {result['D']:.3f} ± {result['D_error']:.3f} Å²/ps",
            flush=True,
        )
    for name in runs:
        for against in ("emt", "single"):
            if name not in ("emt", against):
                report[name][f"rdf_vs_{against}"] = compare(results[name], results[against])
    return results


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    work = Path(args.work) / args.system
    work.mkdir(parents=True, exist_ok=True)
    print(f"{platform.machine()}, torch {torch.__version__}, {args.threads} threads", flush=True)

    files = copper_data(work, args.seed)
    checkpoints = {"single": train(files, work / "single", args.train_seconds, args.seed, args.fast_r_max, None)}
    for weight in args.weights:
        name = f"pair_w{weight:g}"
        checkpoints[name] = train(files, work / name, args.train_seconds, args.seed, args.fast_r_max, weight)
    report: dict[str, dict] = {name: {"test": test_errors(path, files["test"])} for name, path in checkpoints.items()}
    pairs = [name for name in checkpoints if name != "single"]

    start = emt_liquid_copper(repeat=4, temperature_K=TEMPERATURE_K, seed=args.seed + 7)
    calcs = {"single": PotentialCalc(checkpoints["single"])}
    calcs.update({name: MTSCalc.from_checkpoint(checkpoints[name]) for name in pairs})

    def evaluation_ms(calc) -> float:
        return 1e3 * float(np.median(force_call_seconds(start, calc, repeats=10)))

    report["single"]["evaluation_ms"] = evaluation_ms(calcs["single"])
    for name in pairs:
        report[name]["fast_evaluation_ms"] = evaluation_ms(calcs[name].fast)
        report[name]["slow_evaluation_ms"] = evaluation_ms(calcs[name].slow)
    report["emt"] = {"evaluation_ms": evaluation_ms(EMT())}

    print("\nstep sweep (NVE; drift meV/atom/ps, fluctuation meV/atom):", flush=True)
    step = sweep_single(start, calcs["single"], args, report["single"])
    for name in pairs:
        sweep_pair(name, start, calcs[name], step, args, report[name])

    runs = {"emt": (EMT(), step, None), "single": (calcs["single"], step, None)}
    runs.update({name: (calcs[name], step, report[name]["n_inner"]) for name in pairs})
    results = production(start, runs, args, report)

    print("\n" + table(report, step))
    (work / "report.json").write_text(json.dumps(report, indent=1, default=float))
    plot_rdfs(results, work / "rdf.png")
    print(f"\nwritten: {work / 'report.json'}, {work / 'rdf.png'}")


def table(report: dict, step: float) -> str:
    """The results as a Markdown table."""
    lines = [
        "| model | test E MAE (meV/atom) | test F MAE (meV/Å) | fast alone F MAE | step (fs) | s per ps | speedup "
        "| NVE drift (meV/atom/ps) | T (K) | D (Å²/ps) | RDF rms diff vs EMT (stat. err.) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in report.items():
        test = entry.get("test", {})
        errors = [f"{test[key]:.{digits}f}" if key in test else "–" for key, digits in (
            ("energy_mae_meV_per_atom", 2), ("force_mae_meV_per_A", 1), ("fast_force_mae_meV_per_A", 1))]  # fmt: skip
        steps = f"{step:g} × {entry['n_inner']}" if "n_inner" in entry else f"{step:g}"
        speedup = "–" if name == "emt" else f"{report['single']['seconds_per_ps'] / entry['seconds_per_ps']:.2f}"
        rdf_text = "–" if name == "emt" else "{:.3f} ({:.3f})".format(*entry["rdf_vs_emt"])
        lines.append(
            f"| {name} | {' | '.join(errors)} | {steps} | {entry['seconds_per_ps']:.1f} | {speedup} | "
            f"{entry['production_drift']:.3f} | {entry['temperature_K']:.0f} | {entry['D']:.3f} ± {entry['D_error']:.3f} "
            f"| {rdf_text} |"
        )
    return "\n".join(lines)


def plot_rdfs(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, result in results.items():
        axis.plot(result["r"], result["g"], label=name, lw=1.2)
    axis.set_xlabel("r (Å)")
    axis.set_ylabel("g(r)")
    axis.set_title(f"liquid Cu, {TEMPERATURE_K:g} K")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    main()
