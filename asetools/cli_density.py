"""``asetools density`` (predict a density file) and ``asetools train-density`` (train a density model)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_density_commands"]


def _density(args: argparse.Namespace) -> int:
    from ase.io import read

    from .calculators import DensityCalculator

    atoms = read(args.structure, index=args.frame)
    periodic = bool(atoms.pbc.all())
    file_format = args.format or ("chgcar" if periodic else "cube")
    output = Path(args.output) if args.output else Path(
        "CHGCAR" if file_format == "chgcar" else f"{Path(args.structure).stem}.cube"
    )
    calc = DensityCalculator(args.model, device=args.device, dtype=args.dtype)
    started = time.perf_counter()
    grid = calc.write_density(
        output, atoms, spacing=args.spacing, shape=tuple(args.shape) if args.shape else None,
        padding=args.padding, format=file_format,
    )
    seconds = time.perf_counter() - started
    electrons = calc.get_property("electrons", atoms)
    shape = "x".join(str(n) for n in grid.shape)
    print(
        f"wrote {output} ({file_format}, {shape} = {grid.num_points} points, {seconds:.2f} s); "
        f"predicted electrons {electrons:.3f} (the structure's atoms have {int(atoms.numbers.sum())})"
    )
    return 0


def _train_density(args: argparse.Namespace) -> int:
    from .training.density import DensityRunConfig, train_density_model

    run = DensityRunConfig.from_yaml(args.config)
    if args.fresh:
        run.training.resume = False
    if args.output_directory:
        run.output_directory = args.output_directory
    _, metrics = train_density_model(run)
    best = Path(run.output_directory) / "best.pt"
    print(f"best model: {best}")
    if metrics is not None:
        print(f"test molecules: NMAPE {metrics.nmape:.3f} %, electron-count error {metrics.electron_error:.3f}")
    return 0


def add_density_commands(commands: argparse._SubParsersAction) -> None:
    density = commands.add_parser(
        "density", help="predict the electron density of a structure and write a cube or CHGCAR file"
    )
    density.add_argument("model", help="density-model checkpoint (.pt) from asetools train-density")
    density.add_argument("structure", help="structure file ASE reads (xyz, extxyz, POSCAR, cif, ...)")
    density.add_argument("--frame", default=-1, type=int, help="frame of a trajectory file (default: the last)")
    density.add_argument("--spacing", type=float, default=0.1, help="largest grid step in Å (default 0.1)")
    density.add_argument("--shape", type=int, nargs=3, metavar="N", help="grid points per cell vector (crystals)")
    density.add_argument("--padding", type=float, default=2.5, help="box margin around a molecule in Å (default 2.5)")
    density.add_argument(
        "--format", choices=["cube", "chgcar"], help="file format (default: chgcar for crystals, cube for molecules)"
    )
    density.add_argument("--output", help="file to write (default: <structure>.cube or CHGCAR)")
    density.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    density.add_argument("--device", default="cpu", help="torch device (default cpu)")
    density.set_defaults(handler=_density)

    train = commands.add_parser("train-density", help="train a charge-density model from a YAML configuration")
    train.add_argument("config", help="YAML with data, model, training and output_directory (see examples/configs)")
    train.add_argument("--fresh", action="store_true", help="start over instead of resuming from last.pt")
    train.add_argument("--output-directory", help="override output_directory of the configuration")
    train.set_defaults(handler=_train_density)
