"""The ``asetools`` command line."""

from __future__ import annotations

import argparse
import sys

from . import __version__

__all__ = ["main"]


def _info(args: argparse.Namespace) -> int:
    from .checkpoint import read_checkpoint

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
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asetools", description="Machine-learned potentials as ASE tools.")
    parser.add_argument("--version", action="version", version=f"asetools {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    info = commands.add_parser("info", help="describe a model checkpoint")
    info.add_argument("checkpoint", help="path of a checkpoint file (.pt)")
    info.set_defaults(handler=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"asetools {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
