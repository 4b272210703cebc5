"""The ``asetools fit-uncertainty`` subcommand: add a single-model uncertainty to a checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_uncertainty_commands"]


def _fit_uncertainty(args: argparse.Namespace) -> int:
    from .checkpoint import add_uncertainty, load_checkpoint
    from .data.frames import LabelKeys, read_labelled_frames
    from .uncertainty import fit_uncertainty

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
    else:
        print("no --validation data: scores only, not calibrated to force errors")
    output = Path(args.output or args.checkpoint)
    add_uncertainty(args.checkpoint, fit.uncertainty, output)
    print(f"wrote the uncertainty into {output}")
    plot = Path(args.plot) if args.plot else output.with_name(output.stem + "_uncertainty.png")
    try:
        from .uncertainty.plots import plot_uncertainty_fit

        plot_uncertainty_fit(fit, plot)
        print(f"wrote {plot}")
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
