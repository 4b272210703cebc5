"""The ``asetools`` command line: :func:`main` and the parser; each command group is a module of its own.

- :mod:`.models` — ``train``, ``evaluate``, ``info``;
- :mod:`.analysis` — ``rdf``, ``msd``;
- :mod:`.uncertainty` — ``fit-uncertainty``, ``uq-map``;
- :mod:`.lammps` — ``lammps-md``;
- :mod:`.density` — ``density``, ``train-density``, ``dft-density``;
- :mod:`.dft` — ``dft-label`` and the SCF options both DFT commands share;
- :mod:`.valence` — ``valence-fit``.

Handlers import what they need when they run, so ``asetools --help`` loads no torch.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from .analysis import add_analysis_commands
from .density import add_density_commands
from .dft import add_dft_label_command
from .lammps import add_lammps_commands
from .models import add_model_commands
from .uncertainty import add_uncertainty_commands
from .valence import add_valence_command

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asetools", description="Machine-learned potentials as ASE tools.")
    parser.add_argument("--version", action="version", version=f"asetools {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_model_commands(commands)
    add_analysis_commands(commands)
    add_uncertainty_commands(commands)
    add_lammps_commands(commands)
    add_density_commands(commands)
    add_dft_label_command(commands)
    add_valence_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (FileNotFoundError, FileExistsError, ImportError, ValueError, FloatingPointError) as error:
        print(f"asetools {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
