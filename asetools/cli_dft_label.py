"""``asetools dft-label``: DFT energies and forces (PySCF, the ``[dft]`` extra) for training data."""

from __future__ import annotations

import argparse
import sys
import time


def _dft_label(args: argparse.Namespace) -> int:
    from ase.io import read

    from .data.dft import SCFSettings
    from .data.dft_labels import label_structures

    structures = [atoms for path in args.structures for atoms in read(path, index=args.index)]
    settings = SCFSettings(
        **{
            key: value
            for key, value in dict(
                xc=args.xc, basis=args.basis, charge=args.charge, spin=args.spin, threads=args.threads
            ).items()
            if value is not None
        }
    )
    started = time.perf_counter()
    label_structures(structures, args.output, settings, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - started
    print(f"{len(structures)} structures ({settings.xc}/{settings.basis}) in {seconds:.1f} s -> {args.output}")
    return 0


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
    label.add_argument("--xc", help="exchange-correlation functional (default PBE)")
    label.add_argument("--basis", help="basis set (default def2-SVP)")
    label.add_argument("--charge", type=int, help="total charge of every molecule (default 0)")
    label.add_argument("--spin", type=int, help="unpaired electrons (default: from magnetic moments or parity)")
    label.add_argument("--threads", type=int, help="OpenMP threads for PySCF")
    label.set_defaults(handler=_dft_label)
