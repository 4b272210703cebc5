"""Multiple-time-step MD at equal accuracy: a co-trained fast/slow pair under RESPA
against a single large Allegro model under velocity Verlet. The slow part is Allegro of
the single model's size; the fast part (``--fast-kind``) a one-layer Allegro or a learned
embedded-atom model (``embedded_atom``, radial only: about half the fast Allegro's cost).

Systems (``--system``; see mts_systems.py):

- ``cu``: liquid copper at 1500 K and the experimental liquid density, with ASE's EMT
  as the reference, so that the reference RDF and self-diffusivity come from running
  EMT itself (256 atoms).
- ``ethanol`` (500 K) and ``acac`` (acetylacetone, 300 K): 64 independent molecules in
  vacuum (so that the per-call overhead does not hide the cost of the models), trained on the BOTNet data (PBE and PBE+D3 labels); bond-length and
  dihedral distributions against the single model and against the data set's own
  (MD-sampled at the same temperature).

1. Training, equal budgets: the single model (the slow model's size) for
   ``--train-seconds``; each pair (one per ``--weights`` value of
   ``mts.fast_force_weight``) for the same total: ``--fast-seconds`` (default a
   quarter) for stage 1 (the fast model alone), the rest for stage 2 (both together).
   With ``--pair-epochs`` stage 2 runs that many epochs instead, whatever the time
   (equal optimisation steps rather than equal seconds). Finished runs in ``--work``
   are reused; interrupted ones go on from their ``last.pt``.
   ``--extra-train`` files (e.g. ``benchmarks/data/ethanol_active_round1.xyz``, frames
   from active learning) join the system's training set for every model; use a separate
   ``--work`` directory, since trained checkpoints there are reused.
2. Step sweep: NVE runs of ``--sweep-ps`` from one equilibrated start. The single
   model at each of ``--timesteps``; each pair at each of ``--inner-steps`` (for Cu
   the single model's largest stable step) and each of ``--n-inner``, keeping the
   stable setting with the lowest cost per simulated fs. A run is stable when its
   total-energy drift (slope of a linear fit) is at most ``--max-drift``
   meV/atom/ps and the fluctuation about that line (standard deviation) at most
   ``--max-fluctuation`` meV/atom.
3. Production: after ``--equilibrate-ps`` (1) of Langevin equilibration with the same model, NVE runs
   of ``--production-ps`` with the reference (EMT, for Cu), the single model at its
   largest stable step and every pair at its largest stable outer step. Wall clock
   per simulated ps (MD steps only; every run records the same frames every
   ``--record-fs``), energy drift and the observables with errors from ``--blocks``
   independent blocks (of time for the liquid, of molecules for the molecules).

Speedup = wall clock per ps of the single model / that of the pair, from the same
run of this script. ``--train-only`` stops after step 1 (``mts_langevin.py`` uses the
checkpoints). Defaults of the step and sweep options depend on the system.

``--weights`` given with no values trains no pair (the single model only). ``--valence data``
(or ``single``) adds the single model split as a fitted valence force field (fast) plus the
rest (slow; ``MTSCalc.from_total``) to the sweep and production runs: the same potential as
the single model, integrated with RESPA.

``--size large`` makes the single model and the slow model about four times as costly
per force call (the fast model stays as it is); ``--reuse-fast PAIR_DIR`` copies the
finished stage 1 of an earlier pair on the same data instead of training it again.

usage: python benchmarks/mts.py [--system cu|ethanol|acac] [--work runs/mts_benchmark]
           [--size small|large] [--reuse-fast PAIR_DIR]
           [--fast-kind allegro|embedded_atom] [--train-seconds 400] [--fast-seconds 100] [--weights 1 10]
           [--extra-train FILE ...] [--valence data|single] [--threads 2] ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from mts_md import common_record_interval, nve, record_interval
from mts_systems import SYSTEMS, DataFiles, concatenated_frames
from mts_valence import add_valence_option, valence_splits
from timing import force_call_seconds

from asetools.analysis.force_changes import force_changes
from asetools.calculators import MTSCalc, PotentialCalc
from asetools.checkpoint import load_checkpoint, read_checkpoint
from asetools.data import read_labelled_frames
from asetools.integrators import sample_split_forces
from asetools.models import MTSPair, current_kind
from asetools.training.config import (
    MONITORED_METRICS,
    SLOW_ENERGY_SCALE_NAMES,
    DataConfig,
    ModelSection,
    MTSSection,
    OutputConfig,
    TrainingConfig,
    TrainRunConfig,
)
from asetools.training.evaluate import evaluate_model
from asetools.training.run import FAST_DIRECTORY, train_from_config

#: The single model and the pair's slow model, by ``--size``. ``small`` is the size of every
#: run before 2026-12-06; ``large`` costs about four times as much per force call (three
#: layers, twice the widths), nearer the size of a production Allegro model.
SLOW_SIZES = {
    "small": {
        "r_max": 5.0,
        "l_max": 2,
        "num_layers": 2,
        "num_scalar_features": 64,
        "num_tensor_features": 16,
        "two_body_mlp_hidden": [64, 64],
        "latent_mlp_hidden": [64],
        "readout_mlp_hidden": [32],
    },
    "large": {
        "r_max": 5.0,
        "l_max": 2,
        "num_layers": 3,
        "num_scalar_features": 128,
        "num_tensor_features": 32,
        "two_body_mlp_hidden": [128, 128],
        "latent_mlp_hidden": [128, 128],
        "readout_mlp_hidden": [64],
    },
}

#: The fast model of each ``--fast-kind`` (its cutoff is ``--fast-r-max``).
FAST_OPTIONS = {
    "l_max": 1,
    "num_layers": 1,
    "num_scalar_features": 16,
    "num_tensor_features": 4,
    "two_body_mlp_hidden": [16],
    "latent_mlp_hidden": [16],
    "readout_mlp_hidden": [16],
}
FAST_MODELS = {"allegro": FAST_OPTIONS, "embedded_atom": {"num_densities": 8, "embedding_mlp_hidden": [16]}}


# ----------------------------------------------------------------------- training


#: Optimiser settings of the single and slow model, by ``--size`` (the fast model always
#: trains with the small size's). Unclipped, the large size diverged on ethanol after 30
#: epochs at a learning rate of 2e-3 and after 60 at 1e-3 (force MAE from 23 to 120 meV/Å
#: within three epochs); its gradient norm is 0.5-2 after the first few hundred steps. Clipped
#: at 5 it still jumped from 21 to 120 meV/Å at epoch 58; with AMSGrad (Adam whose step
#: cannot grow when the squared-gradient average shrinks) the same run has no such jump.
OPTIMISER = {
    "small": {"learning_rate": 2e-3, "gradient_clip_norm": None},
    "large": {"learning_rate": 1e-3, "gradient_clip_norm": 5.0, "optimizer": "amsgrad"},
}


def training_section(seconds: float, seed: int, size: str = "small") -> TrainingConfig:
    return TrainingConfig(
        epochs=100_000,
        batch_size=4,
        validation_batch_size=20,
        **OPTIMISER[size],
        lr_patience=8,
        max_seconds=seconds,
        seed=seed,
        dtype="float32",
    )


def slow_scale_choice(text: str) -> str | float:
    """``--slow-scale``: a name as given, anything else as a number in eV."""
    return text if text in SLOW_ENERGY_SCALE_NAMES else float(text)


def train(files: DataFiles, directory: Path, args: argparse.Namespace, weight: float | None) -> Path:
    """Train the single model (``weight`` None) or a pair; returns its best checkpoint (reused if present).

    A pair spends ``args.fast_seconds`` (between 0 and ``args.train_seconds``) on stage 1
    and the rest on stage 2; with ``args.reuse_fast`` its stage 1 is that run's, copied.
    """
    best = directory / "best.pt"
    if (is_finished(directory) or (args.as_trained and best.is_file())) and not args.continue_training:
        print(f"reusing {best}", flush=True)
        return best
    seconds, seed, fast_kind, fast_seconds = args.train_seconds, args.seed, args.fast_kind, args.fast_seconds
    mts = None
    stage2 = seconds
    activation = {"normalize_activation": False} if args.plain_silu else {}
    if weight is not None:
        fast_options = {"r_max": args.fast_r_max, **FAST_MODELS[fast_kind], **(activation if fast_kind == "allegro" else {})}
        if args.reuse_fast is not None:
            fast_options.update(reuse_stage1(Path(args.reuse_fast), directory, fast_seconds))
        mts = MTSSection(
            fast_model=ModelSection(kind=fast_kind, options=fast_options),
            fast_training=training_section(fast_seconds, seed),
            fast_force_weight=weight,
            slow_energy_scale=args.slow_scale,
            probe_steps=0,
        )
        stage2 = seconds - fast_seconds
    training = training_section(stage2, seed, args.size)
    if weight is not None:
        stage2_changes = {"monitor": args.pair_monitor}
        if args.pair_epochs is not None:
            stage2_changes.update(epochs=args.pair_epochs, max_seconds=None)
        training = dataclasses.replace(training, **stage2_changes)
    config = TrainRunConfig(
        data=DataConfig(
            train_file=files.train,
            validation_file=files.validation,
            split_seed=seed,
            isolated_atoms_file=files.isolated_atoms,
        ),
        model=ModelSection(kind="allegro", options={**SLOW_SIZES[args.size], **activation}),
        training=training,
        output=OutputConfig(directory=str(directory), plot_every=0),
        mts=mts,
    )
    print(f"training {directory.name} ...", flush=True)
    # A run already there (a stage 1 copied, a run interrupted, or one continued with
    # --continue-training) goes on from its last.pt up to its budget, which counts the time
    # it has already spent; a copied stage 1 has spent its budget and ends at once.
    started = directory / (FAST_DIRECTORY if mts is not None else "") / "last.pt"
    train_from_config(config, resume=started.is_file())
    return best


def is_finished(directory: Path) -> bool:
    """Whether the run in ``directory`` ended (its ``best.pt`` is final), rather than being interrupted.

    Runs written before ``last.pt`` recorded why they stopped count as finished when
    they have a ``best.pt``.
    """
    best, last = directory / "best.pt", directory / "last.pt"
    if not best.is_file():
        return False
    if not last.is_file():
        return True
    state = read_checkpoint(last)["training_state"]
    return bool(state.get("stop_reason", "finished before stop reasons were stored"))


def reuse_stage1(source: Path, directory: Path, fast_seconds: float) -> dict[str, bool]:
    """Copy the finished stage 1 (fast model alone) of the pair run ``source`` into ``directory``.

    The fast model must have had the budget this run would give it, so that the pair
    still spends the same total time as the single model. Returns the fast model's
    activation setting as that run built it (fast Allegro models trained before
    ``normalize_activation`` existed have plain SiLU), to build this run's the same way.
    """
    stage1 = source / FAST_DIRECTORY
    last = stage1 / "last.pt"
    if not last.is_file():
        raise SystemExit(f"--reuse-fast: {last} does not exist; give the directory of a trained pair")
    payload = read_checkpoint(last)
    budget = payload["training_state"]["config"]["max_seconds"]
    if budget != fast_seconds:
        raise SystemExit(f"--reuse-fast: {source}'s fast model trained for {budget} s, this run gives it {fast_seconds:g} s")
    stored = payload["config"]
    activation = {"normalize_activation": stored["normalize_activation"]} if "normalize_activation" in stored else {}
    if (directory / FAST_DIRECTORY / "last.pt").is_file():
        return activation  # copied when this run started; it is being resumed or continued
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(stage1, directory / FAST_DIRECTORY, dirs_exist_ok=True)
    print(f"stage 1 copied from {stage1}", flush=True)
    return activation


def with_extra_training(files: DataFiles, extra: list[str], work: Path) -> DataFiles:
    """``files`` with the frames of ``extra`` appended to its training file (written once under ``work/data``)."""
    if not extra:
        return files
    missing = [name for name in extra if not Path(name).is_file()]
    if missing:
        raise SystemExit(f"--extra-train: no such file(s) {missing}")
    combined = work / "data" / f"train_plus_{'_'.join(Path(name).stem for name in extra)}.xyz"
    return dataclasses.replace(files, train=concatenated_frames(combined, [files.train, *extra]))


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


# -------------------------------------------------------------------------- main


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", choices=sorted(SYSTEMS), default="cu")
    parser.add_argument("--work", default="runs/mts_benchmark")
    parser.add_argument("--train-seconds", type=float, default=400.0)
    parser.add_argument("--fast-seconds", type=float, help="stage 1 of each pair, s (a quarter of --train-seconds)")
    parser.add_argument("--extra-train", nargs="+", default=[], metavar="FILE", help="extxyz frames added to training")
    parser.add_argument(
        "--weights", type=float, nargs="*",
        help="one co-trained pair per value (cu 0.1 1 10, molecules 1 10); none if given empty: the single model only",
    )
    parser.add_argument("--size", choices=sorted(SLOW_SIZES), default="small", help="single and slow model")
    parser.add_argument(
        "--continue-training", action="store_true",
        help="train finished models further, up to --train-seconds in all, instead of reusing them "
        "(give a pair the --fast-seconds it had, or its stage 1 trains on too)",
    )
    parser.add_argument(
        "--pair-epochs", type=int,
        help="stage 2 of each pair ends after this many epochs instead of at the time budget (e.g. the "
        "single model's epoch count: a stage-2 epoch costs more, two models on 9-atom molecules)",
    )
    parser.add_argument(
        "--pair-monitor", choices=MONITORED_METRICS, default="loss",
        help="training.monitor of stage 2 (the single model's is the loss)",
    )
    parser.add_argument(
        "--slow-scale", type=slow_scale_choice, default="residual",
        help="mts.slow_energy_scale of each pair: residual, reference or eV (default residual)",
    )
    parser.add_argument("--reuse-fast", metavar="PAIR_DIR", help="copy stage 1 (the fast model) from this trained pair")
    parser.add_argument(
        "--plain-silu",
        action="store_true",
        help="build the Allegro models with plain SiLU (normalize_activation: false), as runs before "
        "2026-12-06 did; needed to continue them",
    )
    parser.add_argument(
        "--fast-kind", type=current_kind, choices=sorted(FAST_MODELS), default="allegro",
        help="the fast model (eam, the name of earlier runs, is embedded_atom)",
    )
    parser.add_argument("--fast-r-max", type=float, help="Å (cu 3.5, molecules 3.0)")
    parser.add_argument("--timesteps", type=float, nargs="+", help="fs (cu 2-10, molecules 0.5-2)")
    parser.add_argument("--n-inner", type=int, nargs="+")
    parser.add_argument("--inner-steps", type=float, nargs="+", help="fs (cu: the single model's step, molecules 0.5 1)")
    parser.add_argument("--max-drift", type=float, help="meV/atom/ps (0.5)")
    parser.add_argument("--max-fluctuation", type=float, help="meV/atom (0.3)")
    parser.add_argument("--sweep-ps", type=float, default=2.0)
    parser.add_argument("--equilibrate-ps", type=float, default=1.0, help="Langevin before each production run")
    parser.add_argument("--production-ps", type=float, help="cu 20, molecules 5")
    parser.add_argument("--record-fs", type=float, help="cu 24, molecules 10")
    parser.add_argument("--blocks", type=int, help="cu 4 (of time), molecules 8 (of molecules)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-only", action="store_true", help="stop after training (e.g. for mts_langevin.py)")
    parser.add_argument(
        "--as-trained", action="store_true",
        help="use a best.pt found in --work as it is, also one of a run stopped before its budget, instead of "
        "training that run further (models without a best.pt are still trained)",
    )
    add_valence_option(parser)
    args = parser.parse_args()
    if args.fast_seconds is None:
        args.fast_seconds = args.train_seconds / 4
    if not 0 < args.fast_seconds < args.train_seconds:
        parser.error(f"--fast-seconds must lie between 0 and --train-seconds ({args.train_seconds:g}), got {args.fast_seconds:g}")
    for option, value in SYSTEMS[args.system].defaults.items():
        if getattr(args, option) is None:
            setattr(args, option, value)
    return args


def sweep_entry(run, args: argparse.Namespace, **setting) -> dict:
    drift, fluctuation = run.drift_and_fluctuation()
    stable = run.is_stable(args.max_drift, args.max_fluctuation)
    return {**setting, "drift": drift, "fluctuation": fluctuation, "stable": stable, "exploded": run.exploded}


def sweep_line(label: str, entry: dict) -> str:
    verdict = "ok" if entry["stable"] else "exploded" if entry["exploded"] else "unstable"
    return f"  {label:28s} drift {entry['drift']:8.3f}  fluct. {entry['fluctuation']:7.3f}  {verdict}"


def sweep_single(system, start: Atoms, calc, args: argparse.Namespace, entry: dict) -> float:
    """NVE at each of ``args.timesteps``; returns the largest stable one (fs)."""
    entry["sweep"] = []
    for step in args.timesteps:
        run = nve(start, calc, step, None, record_interval(step, args.record_fs), args.sweep_ps, intact=system.intact)
        entry["sweep"].append(sweep_entry(run, args, step_fs=step))
        print(sweep_line(f"single {step:g} fs", entry["sweep"][-1]), flush=True)
    stable = [item["step_fs"] for item in entry["sweep"] if item["stable"]]
    if not stable:
        raise SystemExit("the single model is unstable at every step tried; lower --timesteps")
    entry["step_fs"] = max(stable)
    return entry["step_fs"]


def sweep_pair(
    system, name: str, start: Atoms, calc: MTSCalc, inner_steps: list[float], args: argparse.Namespace, entry: dict,
) -> None:  # fmt: skip
    """NVE at each inner step of ``inner_steps`` and each of ``args.n_inner``.

    Keeps (in ``entry``) the stable setting with the lowest cost per simulated fs,
    estimated from the measured force-call costs, and how the two forces change along
    MD at its inner step.
    """
    entry["sweep"] = []
    for inner_fs in inner_steps:
        for n_inner in args.n_inner:
            outer = n_inner * inner_fs
            run = nve(start, calc, inner_fs, n_inner, record_interval(outer, args.record_fs), args.sweep_ps, intact=system.intact)
            entry["sweep"].append(sweep_entry(run, args, inner_fs=inner_fs, n_inner=n_inner))
            print(sweep_line(f"{name} {inner_fs:g} fs x {n_inner} = {outer:g} fs", entry["sweep"][-1]), flush=True)

    def cost_per_fs(item: dict) -> float:
        calls = item["n_inner"] * entry["fast_evaluation_ms"] + entry["slow_evaluation_ms"]
        return calls / (item["n_inner"] * item["inner_fs"])

    stable = [item for item in entry["sweep"] if item["stable"]]
    if not stable:
        entry["inner_fs"] = entry["n_inner"] = None
        print(f"  {name}: unstable at every setting; no production run", flush=True)
        return
    best = min(stable, key=cost_per_fs)
    entry["inner_fs"], entry["n_inner"] = best["inner_fs"], best["n_inner"]
    inner_fs = entry["inner_fs"]
    try:
        fast, slow = sample_split_forces(
            start.copy(), calc, steps=400, timestep_fs=inner_fs, temperature_K=system.temperature_K, rng=0
        )
    except ValueError as error:
        print(f"  {name}: no force-change probe ({error})", flush=True)
        return
    lags = [inner_fs * k for k in (1, 2, 4, 8)]
    slow_changes, fast_changes = force_changes(slow, inner_fs, lags), force_changes(fast, inner_fs, lags)
    entry["slow_force_rms"] = slow_changes.rms
    entry["slow_change_rms"] = dict(zip(lags, slow_changes.change_rms.tolist()))
    entry["fast_change_rms"] = dict(zip(lags, fast_changes.change_rms.tolist()))


def production(system, start: Atoms, runs: dict, args: argparse.Namespace, report: dict) -> dict[str, dict]:
    """NVE production runs (``runs``: name -> (calculator, step fs, n_inner or None)); returns their observables."""
    record_fs = common_record_interval([step * (n_inner or 1) for _, step, n_inner in runs.values()], args.record_fs)
    print(f"\nproduction: {args.production_ps} ps NVE each, frames every {record_fs:g} fs", flush=True)
    results = {}
    reference = system.reference_observables(args.blocks)
    if reference is not None:
        results[system.reference_name] = reference
    for name, (calc, step, n_inner) in runs.items():
        run = nve(
            start, calc, step, n_inner, record_fs, args.production_ps,
            equilibrate=(args.equilibrate_ps, system.temperature_K), before_nve=system.remove_drift, seed=args.seed,
            intact=system.intact,
        )  # fmt: skip
        if run.exploded:
            raise SystemExit(f"the {name} production run exploded at a step that passed the sweep; lower the step")
        drift, fluctuation = run.drift_and_fluctuation()
        result = results[name] = system.observables(run, start.cell.array, args.blocks)
        report.setdefault(name, {}).update(
            seconds_per_ps=run.seconds_per_ps,
            production_drift=drift,
            production_fluctuation=fluctuation,
            temperature_K=float(run.temperatures.mean()) * system.temperature_factor(len(start)),
            **system.report_entry(result),
        )
        print(
            f"  {name:10s} {run.seconds_per_ps:6.1f} s/ps  drift {drift:7.3f} meV/atom/ps  {system.summary(result)}",
            flush=True,
        )
    for name in runs:
        for against in (system.reference_name, "single"):
            if name not in (system.reference_name, against):
                report[name][f"vs_{against}"] = system.compare(results[name], results[against])
    return results


def main() -> None:
    args = parse_arguments()
    system = SYSTEMS[args.system]
    torch.set_num_threads(args.threads)
    work = Path(args.work) / args.system
    work.mkdir(parents=True, exist_ok=True)
    print(f"{platform.machine()}, torch {torch.__version__}, {args.threads} threads, system {args.system}", flush=True)

    files = with_extra_training(system.data(work, args.seed), args.extra_train, work)
    checkpoints = {
        "single": train(files, work / "single", args, None)
    }
    for weight in args.weights:
        name = f"pair_w{weight:g}" if args.fast_kind == "allegro" else f"{args.fast_kind}_pair_w{weight:g}"
        checkpoints[name] = train(files, work / name, args, weight)
    if args.train_only:
        print(f"trained: {', '.join(str(path) for path in checkpoints.values())}")
        return
    report: dict[str, dict] = {name: {"test": test_errors(path, files.test)} for name, path in checkpoints.items()}
    pairs = [name for name in checkpoints if name != "single"]

    start = system.start(args.seed)
    calcs = {"single": PotentialCalc(checkpoints["single"])}
    calcs.update({name: MTSCalc.from_checkpoint(checkpoints[name]) for name in pairs})
    for name, calc in valence_splits(args.valence, work / "single", calcs["single"]).items():
        calcs[name], report[name] = calc, {}
        pairs.append(name)

    def evaluation_ms(calc) -> float:
        return 1e3 * float(np.median(force_call_seconds(start, calc, repeats=10)))

    report["single"]["evaluation_ms"] = evaluation_ms(calcs["single"])
    for name in pairs:
        report[name]["fast_evaluation_ms"] = evaluation_ms(calcs[name].fast)
        report[name]["slow_evaluation_ms"] = evaluation_ms(calcs[name].slow)
    reference_calc = system.reference_calculator()
    if reference_calc is not None:
        report[system.reference_name] = {"evaluation_ms": evaluation_ms(reference_calc)}
    calls = [f"{name} {key.removesuffix('evaluation_ms')}{value:.1f}" for name, entry in report.items()
             for key, value in entry.items() if key.endswith("evaluation_ms")]  # fmt: skip
    print(f"{len(start)} atoms; force call (ms): " + ", ".join(calls), flush=True)

    print("\nstep sweep (NVE; drift meV/atom/ps, fluctuation meV/atom):", flush=True)
    step = sweep_single(system, start, calcs["single"], args, report["single"])
    for name in pairs:
        sweep_pair(system, name, start, calcs[name], args.inner_steps or [step], args, report[name])

    runs = {} if reference_calc is None else {system.reference_name: (reference_calc, step, None)}
    runs["single"] = (calcs["single"], step, None)
    runs.update({
        name: (calcs[name], report[name]["inner_fs"], report[name]["n_inner"])
        for name in pairs if report[name]["n_inner"] is not None
    })  # fmt: skip
    results = production(system, start, runs, args, report)

    print("\n" + table(system, report, step))
    (work / "report.json").write_text(json.dumps(report, indent=1, default=float))
    plot = work / ("rdf.png" if args.system == "cu" else "distributions.png")
    system.plot(results, plot)
    print(f"\nwritten: {work / 'report.json'}, {plot}")


def table(system, report: dict, step: float) -> str:
    """The results as a Markdown table."""
    rows = []
    for name, entry in report.items():
        test = entry.get("test", {})
        errors = [f"{test[key]:.{digits}f}" if key in test else "–" for key, digits in (
            ("energy_mae_meV_per_atom", 2), ("force_mae_meV_per_A", 1), ("fast_force_mae_meV_per_A", 1))]  # fmt: skip
        if "seconds_per_ps" not in entry:  # no stable setting, no production run
            rows.append({"model": name, "test E MAE (meV/atom)": errors[0], "test F MAE (meV/Å)": errors[1],
                         "fast alone F MAE": errors[2], "step (fs)": "unstable at every step tried"})  # fmt: skip
            continue
        columns = {
            "model": name,
            "test E MAE (meV/atom)": errors[0],
            "test F MAE (meV/Å)": errors[1],
            "fast alone F MAE": errors[2],
            "step (fs)": f"{entry['inner_fs']:g} × {entry['n_inner']}" if "n_inner" in entry else f"{step:g}",
            "s per ps": f"{entry['seconds_per_ps']:.1f}",
            "speedup": "–" if name == system.reference_name
            else f"{report['single']['seconds_per_ps'] / entry['seconds_per_ps']:.2f}",
            "NVE drift (meV/atom/ps)": f"{entry['production_drift']:.3f}",
            "T (K)": f"{entry['temperature_K']:.0f}",
            **system.table_columns(entry),
        }
        rows.append(columns)
    header = max(rows, key=len)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.get(key, "–") for key in header) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
