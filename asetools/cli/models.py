"""Model commands: ``asetools train`` (a model, an ensemble or an MTS pair from a YAML configuration),
``asetools evaluate`` (errors on a labelled file) and ``asetools info`` (describe a checkpoint)."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_model_commands"]


def _info(args: argparse.Namespace) -> int:
    from ..checkpoint import read_checkpoint

    header = read_checkpoint(args.checkpoint)
    n_weights = sum(t.numel() for t in header["state_dict"].values())
    print(f"file              {args.checkpoint}")
    print(f"model kind        {header['kind']}")
    print(f"species           {' '.join(header['species'])}")
    print(f"cutoff            {header['cutoff']} Å")
    print(f"stored tensors    {n_weights} numbers")
    print(f"written by        asetools {header.get('asetools_version', '?')}, torch {header.get('torch_version', '?')}")
    for key, value in header.get("metadata", {}).items():
        print(f"metadata.{key:<8} {value}")
    uncertainty = header.get("uncertainty")
    if isinstance(uncertainty, dict):
        info = uncertainty.get("info", {})
        calibrated = "calibrated to force errors" if "calibration_scores" in uncertainty else "not calibrated"
        print(f"uncertainty       {info.get('num_components', '?')}-component mixture on latent features, {calibrated}")
    return 0


def _launch_processes(args: argparse.Namespace) -> int:
    """Run this ``train`` command again in ``args.nproc`` processes under torchrun (one machine)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}"]
    command += ["-m", "asetools", "train", args.config] + ["--resume"] * args.resume + ["--epoch-log"] * args.epoch_log
    return subprocess.call(command)


def _training_output(args: argparse.Namespace, main_process: bool = True) -> bool:
    """Set up logging for a training command; True when a progress bar replaces the epoch log."""
    interactive = sys.stderr.isatty() and not args.epoch_log
    level = logging.WARNING if interactive or not main_process else logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    return interactive


def _print_training_result(result, name: str = "") -> None:
    from ..training.evaluate import format_report

    print(f"{name}stopped: {result.stop_reason} after {result.seconds:.0f} s; kept epoch {result.best_epoch}")
    print("validation errors of the kept weights:")
    print(format_report(result.final))
    if result.uncertainty is not None:
        from ..training.uncertainty_head import UNCERTAINTY_PLOT
        from .uncertainty import print_uncertainty_fit

        print(f"{name}uncertainty added to best.pt (calibration plot {UNCERTAINTY_PLOT}):")
        print_uncertainty_fit(result.uncertainty)


def _train(args: argparse.Namespace) -> int:
    from ..training.config import load_train_config
    from ..training.run import train_from_config

    if args.nproc < 1:
        raise ValueError(f"--nproc: need at least 1 process, got {args.nproc}")
    config = load_train_config(args.config)  # fail on a bad file before starting processes
    if args.ensemble is not None:
        return _train_ensemble(args, config)
    if args.nproc > 1:
        return _launch_processes(args)
    main_process = os.environ.get("RANK", "0") == "0"
    interactive = _training_output(args, main_process)
    _, result = train_from_config(config, resume=args.resume, progress=interactive)
    if not main_process:
        return 0
    _print_training_result(result)
    directory = config.output.directory
    if config.mts is not None:
        final = result.final
        print(
            f"fast model alone: forces MAE {1e3 * final.fast_force_mae:.1f} meV/Å; slow force RMS "
            f"{1e3 * final.slow_force_rms:.1f} meV/Å ({100 * final.slow_force_rms / final.reference_force_rms:.1f}% "
            "of the reference force RMS)"
        )
        print(f"stage 1 (the fast model alone) is in {directory}/fast/")
    print(f"wrote {directory}/best.pt (use it), {directory}/last.pt (resume), metrics.csv, learning_curves.png")
    if config.mts is not None and config.mts.probe_steps:
        _probe_force_split(config)
    return 0


def _train_ensemble(args: argparse.Namespace, config) -> int:
    from ..training.ensemble import train_ensemble

    if args.nproc > 1:
        raise ValueError("--ensemble trains its members one after another; use it without --nproc")
    outcomes = train_ensemble(config, args.ensemble, resume=args.resume, progress=_training_output(args))
    for index, (_, result) in enumerate(outcomes):
        _print_training_result(result, name=f"member {index}: ")
    directory = config.output.directory
    print(f"wrote {directory}/member_0 ... member_{args.ensemble - 1} (best.pt, last.pt each)")
    print(f"use them together with asetools.calculators.EnsembleCalc.from_directory({str(directory)!r})")
    return 0


def _probe_force_split(config) -> None:
    """Short MD with a co-trained pair: how much its fast and slow forces change over 1–4 fs."""
    from ..analysis.force_changes import force_split_report, plot_force_changes, probe_force_split
    from ..calculators import MTSCalc
    from ..training.run import load_training_data

    mts, directory = config.mts, Path(config.output.directory)
    data = load_training_data(config)
    atoms = (data.validation or data.train)[0].atoms
    calc = MTSCalc.from_checkpoint(directory / "best.pt", dtype="float64", device=config.training.device)
    print(
        f"probe: {mts.probe_steps} Langevin steps of {mts.probe_timestep_fs:g} fs at {mts.probe_temperature_K:g} K "
        f"from a validation structure ({len(atoms)} atoms)"
    )
    changes = probe_force_split(atoms, calc, mts.probe_steps, mts.probe_timestep_fs, mts.probe_temperature_K)
    if changes is None:
        print("probe: too few steps to resolve a lag of 1 fs; raise mts.probe_steps")
        return
    print(force_split_report(*changes))
    try:
        plot_force_changes(*changes, directory / "force_changes.png")
        print(f"wrote {directory}/force_changes.png")
    except ImportError as error:
        print(f"no plot: {error}")


def _evaluate(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint
    from ..data.frames import LabelKeys, read_labelled_frames
    from ..training.evaluate import evaluate_model, format_report, write_predictions

    model = load_checkpoint(args.checkpoint)
    keys = LabelKeys(energy=args.energy_key, forces=args.forces_key, stress=args.stress_key)
    frames = read_labelled_frames(args.data, keys, model.species, index=args.index, skip_bad=args.skip_bad_frames)
    metrics, predictions = evaluate_model(model, frames, args.batch_size, args.dtype, args.device)
    print(format_report(metrics))
    if args.output:
        write_predictions(frames, predictions, args.output)
        print(f"wrote predictions to {args.output}")
    return 0


def add_model_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``info``, ``train`` and ``evaluate`` to the ``asetools`` parser's ``commands``."""
    info = commands.add_parser("info", help="describe a model checkpoint")
    info.add_argument("checkpoint", help="path of a checkpoint file (.pt)")
    info.set_defaults(handler=_info)

    train = commands.add_parser("train", help="train a model from a YAML configuration")
    train.add_argument("config", help="training configuration (YAML): data, model, training, output sections")
    train.add_argument("--resume", action="store_true", help="continue the run in output.directory from last.pt")
    train.add_argument(
        "--epoch-log", action="store_true", help="log one line per epoch instead of a progress bar"
    )
    train.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data-parallel processes on this machine (launches torchrun; each takes a share of every batch)",
    )
    train.add_argument(
        "--ensemble",
        type=int,
        metavar="N",
        help="train N models with seeds training.seed + i into output.directory/member_i (a deep ensemble)",
    )
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="errors of a model on a labelled data file")
    evaluate.add_argument("checkpoint", help="model checkpoint (.pt)")
    evaluate.add_argument("data", help="labelled structures (extxyz, ASE database, ...)")
    evaluate.add_argument("--output", help="write the predictions to this extxyz file")
    evaluate.add_argument("--index", default=":", help="frames to use, ase.io syntax (default all)")
    evaluate.add_argument("--energy-key", default="energy", help="reference energy key (default energy)")
    evaluate.add_argument("--forces-key", default="forces", help="reference forces key (default forces)")
    evaluate.add_argument("--stress-key", default="stress", help="reference stress key (default stress)")
    evaluate.add_argument("--skip-bad-frames", action="store_true", help="skip frames with broken labels")
    evaluate.add_argument("--batch-size", type=int, default=16, help="structures per evaluation batch")
    evaluate.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    evaluate.add_argument("--device", default="cpu", help="torch device (default cpu)")
    evaluate.set_defaults(handler=_evaluate)
