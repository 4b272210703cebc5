"""``asetools dft-label``: DFT energies and forces (PySCF, the ``[dft]`` extra) for training data."""

from __future__ import annotations

import argparse
import sys
import time


def _dft_label(args: argparse.Namespace) -> int:
    from ase.io import read

    from ..data.dft_labels import label_structures
    from ..data.scf import SCFSettings

    structures = [atoms for path in args.structures for atoms in read(path, index=args.index)]
    settings = SCFSettings(**scf_options(args))
    started = time.perf_counter()
    label_structures(structures, args.output, settings, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - started
    print(f"{len(structures)} structures ({settings.xc}/{settings.basis}) in {seconds:.1f} s -> {args.output}")
    return 0


#: The SCF options both DFT commands (dft-label, dft-density) take, as SCFSettings fields.
SCF_OPTIONS = ("xc", "basis", "charge", "spin", "threads")


def add_scf_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of :class:`~asetools.data.scf.SCFSettings` (unset ones stay None)."""
    parser.add_argument("--xc", help="exchange-correlation functional (default PBE)")
    parser.add_argument("--basis", help="basis set (default def2-SVP)")
    parser.add_argument("--charge", type=int, help="total charge of every molecule (default 0)")
    parser.add_argument("--spin", type=int, help="unpaired electrons (default: from magnetic moments or parity)")
    parser.add_argument("--threads", type=int, help="OpenMP threads for PySCF")


def scf_options(args: argparse.Namespace) -> dict:
    """The SCF options given on the command line, by SCFSettings field name."""
    return {name: getattr(args, name) for name in SCF_OPTIONS if getattr(args, name) is not None}


def add_dft_label_command(commands: argparse._SubParsersAction) -> None:
    label = commands.add_parser(
        "dft-label",
        help="label molecules with DFT energies and forces (PySCF) for asetools train",
        description="Run Kohn-Sham DFT (PySCF, the [dft] extra) on every frame of the structure files and "
        "write them with energy (eV) and forces (eV/Å) to one extended-XYZ file that asetools train reads. "
        "Interrupted runs resume from <output>.partial.",
    )
    label.add_argument("structures", nargs="+", help="structure files ASE reads; every frame is a molecule")
    label.add_argument("--output", "-o", required=True, help="the labelled extended-XYZ file")
    label.add_argument("--index", default=":", help="frames to take from each file, ASE syntax (default all)")
    add_scf_arguments(label)
    label.set_defaults(handler=_dft_label)
