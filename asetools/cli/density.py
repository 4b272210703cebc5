"""Density commands: ``asetools density`` (predict a density file), ``asetools train-density`` (train a
density model) and ``asetools dft-density`` (label molecules with DFT densities, the ``[dft]`` extra)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .dft import add_scf_arguments, scf_options

__all__ = ["add_density_commands"]


#: The names of asetools.io.VOLUMETRIC_FORMATS (spelled out: the parser is built without importing asetools.io).
DENSITY_FILE_FORMATS = ["cube", "chgcar", "npz"]


def _density(args: argparse.Namespace) -> int:
    from ase.io import read

    from ..density import DensityCalculator
    from ..io import volumetric_format

    atoms = read(args.structure, index=args.frame)
    if args.output:  # the format the name says, unless --format names one
        output = Path(args.output)
        file_format = volumetric_format(output, args.format).name
    else:
        file_format = args.format or ("chgcar" if atoms.pbc.all() else "cube")
        output = Path("CHGCAR" if file_format == "chgcar" else f"{Path(args.structure).stem}.{file_format}")
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
    from ..density.training import DensityRunConfig, train_density_model

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


def _dft_density(args: argparse.Namespace) -> int:
    from ..config import from_dict, to_dict
    from ..density.dft import DatasetConfig, generate_density_dataset

    run = DatasetConfig.from_yaml(args.config) if args.config else DatasetConfig()
    settings = to_dict(run)
    settings.update(_given(
        output_directory=args.output_directory, structures=args.structures or None,
        g2_elements=args.g2_elements, rattled=args.rattled, rattle_std=args.rattle_std, seed=args.seed,
    ))
    settings["dft"].update(scf_options(args))
    settings["dft"].update(_given(spacing=args.spacing, padding=args.padding))
    run = from_dict(DatasetConfig, settings, context="dft-density options")
    molecules = _molecules_for(run, args.only)
    started = time.perf_counter()
    index = generate_density_dataset(
        molecules, run.output_directory, run.dft, rattled=run.rattled, rattle_std=run.rattle_std, seed=run.seed
    )
    print(
        f"{len(molecules)} molecules x {run.rattled + 1} geometries ({run.dft.xc}/{run.dft.basis}, "
        f"{run.dft.spacing} Å grid) in {time.perf_counter() - started:.1f} s; index: {index}"
    )
    return 0


def _given(**options) -> dict:
    """The options given on the command line (argparse leaves the others None)."""
    return {name: value for name, value in options.items() if value is not None}


def _molecules_for(run, only: list[str] | None) -> dict:
    """The molecules a dataset run labels: every frame of the structure files, else ASE's G2 subset."""
    from ase.io import read

    from ..density.dft import g2_molecules

    if run.structures:
        molecules = {}
        for path in run.structures:
            frames = read(path, index=":")
            for number, atoms in enumerate(frames):
                name = str(atoms.info.get("name") or (Path(path).stem if len(frames) == 1 else f"{Path(path).stem}-{number}"))
                if name in molecules:
                    raise ValueError(f"two structures are named {name!r}; give them distinct names (atoms.info['name'])")
                molecules[name] = atoms
    else:
        molecules = g2_molecules(run.g2_elements)
    if only:
        missing = sorted(set(only) - set(molecules))
        if missing:
            raise ValueError(f"--only names {missing} that are not among the molecules ({', '.join(sorted(molecules))})")
        molecules = {name: molecules[name] for name in only}
    return molecules


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
        "--format",
        choices=DENSITY_FILE_FORMATS,
        help="file format (default: what --output's name says; without --output, chgcar for crystals and cube "
        "for molecules)",
    )
    density.add_argument("--output", help="file to write (default: <structure>.cube, or CHGCAR for a crystal)")
    density.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    density.add_argument("--device", default="cpu", help="torch device (default cpu)")
    density.set_defaults(handler=_density)

    train = commands.add_parser("train-density", help="train a charge-density model from a YAML configuration")
    train.add_argument("config", help="YAML with data, model, training and output_directory (see examples/configs)")
    train.add_argument("--fresh", action="store_true", help="start over instead of resuming from last.pt")
    train.add_argument("--output-directory", help="override output_directory of the configuration")
    train.set_defaults(handler=_train_density)

    dft = commands.add_parser(
        "dft-density",
        help="label molecules with all-electron DFT densities (PySCF) for train-density",
        description="Run Kohn-Sham DFT (PySCF, the [dft] extra) on molecules and rattled copies of them and "
        "write one .npz per frame plus an index.json, the layout train-density reads. Without structure files "
        "it labels ASE's G2 molecules made of --g2-elements. Interrupted runs resume where they stopped.",
    )
    dft.add_argument("structures", nargs="*", help="structure files ASE reads; every frame is a molecule")
    dft.add_argument("--output-directory", "-o", help="dataset directory (default density_dataset)")
    dft.add_argument("--config", help="YAML with the DatasetConfig fields; options given here override it")
    dft.add_argument("--g2-elements", help="without structure files: G2 molecules made of these (default HCNOF)")
    dft.add_argument("--only", nargs="+", metavar="NAME", help="label only these molecules (by name)")
    dft.add_argument("--rattled", type=int, help="rattled copies per molecule (default 2)")
    dft.add_argument("--rattle-std", type=float, help="displacement standard deviation in Å (default 0.04)")
    dft.add_argument("--seed", type=int, help="seed of the displacements (default 0)")
    add_scf_arguments(dft)
    dft.add_argument("--spacing", type=float, help="grid step in Å (default 0.2)")
    dft.add_argument("--padding", type=float, help="box margin in Å (default 2.5)")
    dft.set_defaults(handler=_dft_density)
