"""The ``asetools rdf`` and ``asetools msd`` subcommands: tables on screen, CSV and PNG files."""

from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

from ase import units

__all__ = ["add_analysis_commands", "parse_duration"]

_TIME_UNITS = {"fs": units.fs, "ps": 1000.0 * units.fs, "ns": 1e6 * units.fs}


def parse_duration(text: str) -> float:
    """A duration such as ``"2fs"``, ``"0.5 ps"`` or ``"2"`` (fs) in ASE time units."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(fs|ps|ns)?\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive duration: {text!r} (examples: 2fs, 0.5ps, 10)")
    return float(match.group(1)) * _TIME_UNITS[match.group(2) or "fs"]


def _window(text: str) -> tuple[float, float]:
    start, sep, end = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"a fit window is START:END, e.g. 1ps:5ps, got {text!r}")
    low = 0.0 if start.strip() in ("", "0") else parse_duration(start)
    return low, parse_duration(end)


def _output_prefix(args: argparse.Namespace, kind: str) -> Path:
    if args.output:
        return Path(args.output)
    return Path(Path(args.trajectory).stem + f"_{kind}")


def _file(prefix: Path, suffix: str) -> Path:
    return prefix.parent / (prefix.name + suffix)


def _plot(plot, *arguments, path: Path) -> None:
    try:
        plot(*arguments, path)
        print(f"wrote {path}")
    except ImportError as error:
        print(f"no plot: {error}")


def _rdf(args: argparse.Namespace) -> int:
    from ..analysis.rdf import plot_rdf, rdf

    result = rdf(
        args.trajectory,
        rmax=args.rmax,
        nbins=args.nbins,
        pairs=args.pairs,
        volume=args.volume,
        index=args.index,
        progress=not args.quiet,
    )
    print(f"{result.n_frames} frames, {len(result.r)} bins up to {result.edges[-1]:g} Å")
    print(result.table(every=max(1, len(result.r) // 25)))
    for pair in result.pairs:
        position, height = result.first_peak(pair)
        print(f"highest peak {pair[0]}-{pair[1]}: {height:.3f} at {position:.3f} Å")
    prefix = _output_prefix(args, "rdf")
    result.to_csv(_file(prefix, ".csv"))
    print(f"wrote {_file(prefix, '.csv')}")
    if not args.no_plot:
        _plot(plot_rdf, result, path=_file(prefix, ".png"))
    return 0


def _msd(args: argparse.Namespace) -> int:
    from ..analysis.diffusion import diffusivity, msd, plot_msd

    result = msd(
        args.trajectory,
        timestep=args.dt,
        remove_drift=not args.keep_drift,
        blocks=args.blocks,
        index=args.index,
        progress=not args.quiet,
    )
    species = args.species or result.species + (["all"] if len(result.species) > 1 else [])
    print(f"{len(result.time_ps)} frames over {result.time_ps[-1]:.4g} ps; errors from {args.blocks} segments")
    fits = []
    for name in species:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = diffusivity(result, name, axes=args.axes, fit=args.fit)
        fits.append(fit)
        print(fit)
        for warning in caught:
            print(f"  warning: {warning.message}")
    prefix = _output_prefix(args, "msd")
    result.to_csv(_file(prefix, ".csv"))
    print(f"wrote {_file(prefix, '.csv')}")
    if not args.no_plot:
        _plot(plot_msd, result, fits, path=_file(prefix, ".png"))
    return 0


def add_analysis_commands(commands) -> None:
    """Add ``rdf`` and ``msd`` to the subcommands of the ``asetools`` parser."""
    rdf = commands.add_parser("rdf", help="radial distribution functions of a trajectory (table, CSV, PNG)")
    rdf.add_argument("trajectory", help="trajectory file (extxyz, .traj, anything ase.io reads)")
    rdf.add_argument("--rmax", type=float, required=True, help="largest distance (Å)")
    rdf.add_argument("--nbins", type=int, default=200, help="number of bins (default 200)")
    rdf.add_argument("--pairs", nargs="+", metavar="A-B", help="element pairs, e.g. O-H O-O (default all)")
    rdf.add_argument("--volume", type=float, help="normalisation volume in Å³ (required without full pbc)")
    _common_options(rdf, "rdf")
    rdf.set_defaults(handler=_rdf)

    msd = commands.add_parser("msd", help="mean-squared displacement and diffusion coefficients (table, CSV, PNG)")
    msd.add_argument("trajectory", help="trajectory file (extxyz, .traj, anything ase.io reads)")
    msd.add_argument(
        "--dt", type=parse_duration, required=True, help="time between frames as stored, e.g. 10fs or 0.1ps (bare number: fs)"
    )
    msd.add_argument("--fit", type=_window, help="fit window START:END, e.g. 1ps:5ps (default: found from the log-log slope)")
    msd.add_argument("--species", nargs="+", help="element symbols, or all (default each element, and all)")
    msd.add_argument("--axes", default="xyz", help="axes of the MSD: xyz (3D, default), z, xy, ...")
    msd.add_argument("--blocks", type=int, default=5, help="independent segments for the error estimate (default 5)")
    msd.add_argument("--keep-drift", action="store_true", help="do not subtract the centre-of-mass motion")
    _common_options(msd, "msd")
    msd.set_defaults(handler=_msd)


def _common_options(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument("--index", default=":", help="frames to use, ase.io syntax, e.g. 100: or ::10 (default all)")
    parser.add_argument("--output", help=f"prefix of the CSV and PNG files (default <trajectory name>_{kind})")
    parser.add_argument("--no-plot", action="store_true", help="write no PNG")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
