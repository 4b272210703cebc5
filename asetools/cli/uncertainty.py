"""The ``asetools fit-uncertainty`` and ``asetools uq-map`` subcommands: fit a single-model uncertainty
into a checkpoint, and map uncertainty against the potential energy surface."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_uncertainty_commands", "parse_scan", "print_uncertainty_fit"]


def print_uncertainty_fit(fit) -> None:
    """Print what :func:`~asetools.uncertainty.fit_uncertainty` fitted: mixture size, score percentiles, calibration."""
    info = fit.uncertainty.info
    print(
        f"fitted a {info['num_components']}-component mixture to {info['fitted_atoms']} of "
        f"{info['training_atoms']} training atoms ({info['training_structures']} structures)"
    )
    median, p90, p99, highest = (info["training_score_percentiles"][q] for q in ("50", "90", "99", "100"))
    print(
        f"training-atom scores: median {median:.1f}, 90% {p90:.1f}, 99% {p99:.1f}, max {highest:.1f} "
        "(atoms scoring well above these are unlike the training data)"
    )
    if fit.report is not None:
        report = fit.report
        print(f"calibration on {info['validation_structures']} validation structures (two-fold cross-fitted):")
        print(f"  Spearman rank correlation, score vs force error: atoms {report.spearman_atoms:.3f}, "
              f"structures (max) {report.spearman_structures:.3f}")
        print(f"  relative calibration error {report.relative_calibration_error:.3f}")
        print("  " + report.table().replace("\n", "\n  "))
        calibration = fit.uncertainty.calibration
        last_score = float(calibration.score_knots[-1])
        origin, _, exponent = calibration.tail_parameters
        if exponent > 0:
            print(f"  above score {last_score:.4g} (beyond the validation atoms) the expected error grows as "
                  f"(score - {origin:.4g})^{exponent:.2f}")
        else:
            print(f"  above score {last_score:.4g} the expected error stays constant (no rising trend to extrapolate)")
    else:
        print("no --validation data: scores only, not calibrated to force errors")


def _fit_uncertainty(args: argparse.Namespace) -> int:
    from ..checkpoint import add_uncertainty, load_checkpoint
    from ..data.frames import LabelKeys, read_labelled_frames
    from ..uncertainty import fit_uncertainty

    if args.components is not None and args.components < 1:
        raise ValueError(f"--components: need at least 1, got {args.components}")
    model = load_checkpoint(args.checkpoint).to(args.device)
    if not Path(args.training).exists():
        raise FileNotFoundError(f"training data {args.training!r} does not exist")
    validation = None
    if args.validation:
        keys = LabelKeys(energy=args.energy_key, forces=args.forces_key)
        validation = read_labelled_frames(args.validation, keys, model.species, index=args.validation_index)
    interactive = sys.stderr.isatty()

    def report_size(k: int, bic: float) -> None:
        print(f"  {k:3d} components: BIC {bic:.6g}")

    if args.components is None:
        print(f"choosing the mixture size by BIC (up to {args.max_components} components):")
    fit = fit_uncertainty(
        model,
        args.training,
        validation,
        num_components=args.components,
        max_components=args.max_components,
        max_atoms=args.max_atoms,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=interactive,
        on_component=report_size,
        index=args.index,
    )
    print_uncertainty_fit(fit)
    output = Path(args.output or args.checkpoint)
    add_uncertainty(args.checkpoint, fit.uncertainty, output)
    print(f"wrote the uncertainty into {output}")
    plot = Path(args.plot) if args.plot else output.with_name(output.stem + "_uncertainty.png")
    try:
        from ..uncertainty.plots import plot_uncertainty_fit

        plot_uncertainty_fit(fit, plot)
        print(f"wrote {plot}")
    except ImportError as error:
        print(f"no plot: {error}")
    return 0


def parse_scan(text: str):
    """``KIND:INDICES[:START:STOP:POINTS]``, e.g. ``dihedral:0,1,2,3:-180:180:37`` -> (coordinate, values or None)."""
    import numpy as np

    from ..analysis.scan_coordinates import InternalCoordinate

    fields = text.split(":")
    if len(fields) not in (2, 5):
        raise argparse.ArgumentTypeError(
            f"a scan is KIND:INDICES or KIND:INDICES:START:STOP:POINTS, e.g. dihedral:0,1,2,3:-180:180:37; got {text!r}"
        )
    try:
        coordinate = InternalCoordinate.parse(":".join(fields[:2]))
        if len(fields) == 2:
            return coordinate, None
        start, stop, points = float(fields[2]), float(fields[3]), int(fields[4])
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from error
    if points < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a scan needs at least one point")
    return coordinate, np.linspace(start, stop, points)


def _map_calculator(path: Path, device: str, dtype: str):
    from ..calculators import EnsembleCalc, PotentialCalc

    if path.is_dir():
        return EnsembleCalc.from_directory(path, device=device, dtype=dtype)
    if not path.exists():
        raise FileNotFoundError(f"no model checkpoint or ensemble directory at {path}")
    return PotentialCalc(path, device=device, dtype=dtype)


def _uq_map(args: argparse.Namespace) -> int:
    from ase.io import read

    from ..analysis.uncertainty_map import plot_uncertainty_map, uncertainty_map

    if len(args.scan) > 2:
        raise ValueError(f"--scan: a map has one or two coordinates, got {len(args.scan)}")
    calculator = _map_calculator(Path(args.model), args.device, args.dtype)
    if not Path(args.structure).exists():
        raise FileNotFoundError(f"no structure file at {args.structure}")
    atoms = read(args.structure, index=args.frame)
    coordinates, values = zip(*args.scan)
    result = uncertainty_map(
        atoms,
        calculator,
        coordinates,
        values,
        relax=args.relax,
        fmax=args.fmax,
        max_steps=args.steps,
        training=args.training,
        training_index=args.training_index,
        progress=sys.stderr.isatty(),
    )
    print(result.summary())
    if args.training and result.skipped_training:
        print(f"{result.skipped_training} training frames have other atoms than the structure and are not shown")
    prefix = Path(args.output or Path(args.structure).stem + "_uqmap")
    for suffix, write in ((".csv", result.to_csv), (".xyz", result.write_structures)):
        path = prefix.with_name(prefix.name + suffix)
        write(path)
        print(f"wrote {path}")
    if not args.no_plot:
        path = prefix.with_name(prefix.name + ".png")
        try:
            plot_uncertainty_map(result, path, quantity=args.quantity)
            print(f"wrote {path}")
        except ImportError as error:
            print(f"no plot: {error}")
    return 0


def add_uncertainty_commands(commands) -> None:
    """Register the uncertainty subcommands on the CLI's subparsers."""
    fit = commands.add_parser(
        "fit-uncertainty",
        help="fit a single-model uncertainty (Gaussian mixture on latent features) into a checkpoint",
        description=(
            "Fit a Gaussian mixture to the per-atom latent features of the training structures and store it "
            "in the checkpoint; AllegroCalc then gives per-atom and per-structure uncertainties. With "
            "--validation the score is calibrated to an expected force error in eV/Å."
        ),
    )
    fit.add_argument("checkpoint", help="trained model checkpoint (.pt)")
    fit.add_argument("training", help="the structures the model was trained on (any ase.io format; labels not needed)")
    fit.add_argument("--validation", help="labelled structures not used in training, for calibration")
    fit.add_argument("--output", help="write the checkpoint with the uncertainty here (default: update CHECKPOINT)")
    fit.add_argument("--components", type=int, help="mixture size (default: chosen by BIC)")
    fit.add_argument("--max-components", type=int, default=50, help="largest size the BIC scan tries (default 50)")
    fit.add_argument(
        "--max-atoms", type=int, default=50_000, help="fit to at most this many training atoms, drawn at random"
    )
    fit.add_argument("--index", default=":", help="training frames to use, ase.io syntax (default all)")
    fit.add_argument("--validation-index", default=":", help="validation frames to use (default all)")
    fit.add_argument("--energy-key", default="energy", help="validation energy key (default energy)")
    fit.add_argument("--forces-key", default="forces", help="validation forces key (default forces)")
    fit.add_argument("--plot", help="PNG of scores and calibration (default: next to the output checkpoint)")
    fit.add_argument("--batch-size", type=int, default=16, help="structures per evaluation batch")
    fit.add_argument("--seed", type=int, default=0, help="seed of the atom draw and the k-means starts")
    fit.add_argument("--device", default="cpu", help="torch device (default cpu)")
    fit.set_defaults(handler=_fit_uncertainty)

    scan = commands.add_parser(
        "uq-map",
        help="map energy and uncertainty over one or two bonds, angles or dihedrals",
        description=(
            "Scan a structure over one or two internal coordinates, optionally relaxing the rest, and write the "
            "energy and uncertainty at every grid point (CSV, extended XYZ and a PNG with the training data "
            "projected onto the same coordinates). MODEL is a checkpoint with a fitted uncertainty "
            "(asetools fit-uncertainty) or a directory of ensemble members (asetools train --ensemble)."
        ),
    )
    scan.add_argument("model", help="checkpoint (.pt) with an uncertainty, or an ensemble directory")
    scan.add_argument("structure", help="the structure to scan (any ase.io format)")
    scan.add_argument(
        "--scan",
        action="append",
        required=True,
        type=parse_scan,
        metavar="KIND:INDICES[:START:STOP:POINTS]",
        help="a coordinate to scan, e.g. dihedral:0,1,2,3:-180:180:37, angle:0,1,2 or bond:0,1:0.9:2.0:12 "
        "(0-based atoms; Å and degrees; without a range a full turn, ±30° or 0.8-1.6 times the bond). "
        "Give it twice for a 2D map",
    )
    scan.add_argument("--frame", default=0, type=int, help="frame of STRUCTURE to scan (default 0)")
    scan.add_argument(
        "--relax", action="store_true", help="relax everything else at each point (FIRE, scanned coordinates held)"
    )
    scan.add_argument("--fmax", type=float, default=0.05, help="relaxation force threshold in eV/Å (default 0.05)")
    scan.add_argument("--steps", type=int, default=200, help="most relaxation steps per point (default 200)")
    scan.add_argument("--training", help="training structures to show on the map (the same molecule)")
    scan.add_argument("--training-index", default=":", help="training frames to use, ase.io syntax (default all)")
    scan.add_argument(
        "--quantity",
        choices=["force_uncertainty", "uncertainty", "uncertainty_mean", "energy_uncertainty"],
        help="uncertainty to plot (default: force_uncertainty in eV/Å when available, else the score)",
    )
    scan.add_argument("--output", help="prefix of the output files (default: STRUCTURE's name + _uqmap)")
    scan.add_argument("--no-plot", action="store_true", help="skip the PNG")
    scan.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                      help="evaluation precision (default float64: smooth maps)")
    scan.add_argument("--device", default="cpu", help="torch device (default cpu)")
    scan.set_defaults(handler=_uq_map)
