"""``asetools valence-fit``: fit a valence force field (the fast part of a molecular MTS split)."""

from __future__ import annotations

import argparse
import time

import numpy as np


def _valence_fit(args: argparse.Namespace) -> int:
    from ase.io import read

    from ..valence import DEFAULT_BOND_SCALE, DEFAULT_ORDERS, SHARED_KINDS, fit_valence_force_field

    frames = [atoms for path in args.data for atoms in read(path, index=args.index)]
    orders = dict(DEFAULT_ORDERS)
    if args.one_four:
        orders["one_four"] = args.one_four
    started = time.perf_counter()
    field = fit_valence_force_field(
        frames,
        orders,
        bond_scale=DEFAULT_BOND_SCALE if args.bond_scale is None else args.bond_scale,
        atom_typing=args.typing,
        labile_types=() if args.keep_labile else None,
        shared=not args.no_shared,
    )
    seconds = time.perf_counter() - started
    field.save(args.output)
    terms = ", ".join(f"{len(table)} {kind}" for kind, table in field.coefficients.items())
    print(f"fitted to {len(frames)} frames in {seconds:.1f} s: {terms} types -> {args.output}")
    if field.labile_types and not field.hopping_types:
        print(f"labile atom types, left out (they change bonded partners): {', '.join(field.labile_types)}")
    elif field.labile_types:
        print(f"labile atom types (they change bonded partners): {', '.join(field.labile_types)}")
        own_kinds = set(SHARED_KINDS) - {"shared_bond", "shared_bend", "shared_bend_cross"}
        shared = sorted({name for kind in own_kinds for name in field.coefficients.get(kind, {})})
        print(
            f"shared terms {', '.join(shared)} for the atoms that hop ({', '.join(field.hopping_types)}): "
            "symmetric in the two partners, which keep their own terms, so a hop changes neither"
        )
        following = sorted(field.coefficients.get("shared_bond", {}))
        if following:
            print(f"bonds whose rest length follows the hop: {', '.join(following)}")
        bends = sorted(field.coefficients.get("shared_bend", {}))
        if bends:
            print(f"bends of the hopping atom at whichever partner holds it: {', '.join(bends)}")
    residual, reference = force_residual(field, frames)
    print(
        f"force residual (reference minus valence, the slow part of a split): RMS {residual:.3f} eV/Å "
        f"of the reference's {reference:.3f} eV/Å ({100 * (1 - (residual / reference) ** 2):.1f} % of the variance fitted)"
    )
    return 0


def force_residual(field, frames) -> tuple[float, float]:
    """RMS (eV/Å) of the frames' reference forces minus ``field``'s, each frame with its own
    bonds, and RMS of the reference forces themselves."""
    squared, reference, count = 0.0, 0.0, 0
    for atoms in frames:
        forces = atoms.get_forces()
        _, valence = field.bind(field.topology(atoms)).energy_and_forces(atoms.positions, atoms.cell.array)
        squared += float(np.sum((forces - valence) ** 2))
        reference += float(np.sum(forces**2))
        count += forces.size
    return float(np.sqrt(squared / count)), float(np.sqrt(reference / count))


def add_valence_command(commands: argparse._SubParsersAction) -> None:
    fit = commands.add_parser(
        "valence-fit",
        help="fit a valence force field to labelled frames (the fast part of MTSCalc.from_total)",
        description="Fit polynomial bond, angle, Urey-Bradley and cross terms to the reference forces of "
        "labelled frames by linear least squares and save them as JSON (ValenceForceField.load reads it; "
        "ValenceCalc evaluates it). Atoms that change bonded partners between frames are left out, except that "
        "an atom that hops between two partners (a shared proton) gets a term symmetric in them, and the "
        "partners keep their terms, with the bonds next to them and its bend at each partner following the hop.",
    )
    fit.add_argument("data", nargs="+", help="labelled structure files (extxyz with forces, ASE database, ...)")
    fit.add_argument("--output", "-o", default="valence.json", help="the force field's JSON file (default valence.json)")
    fit.add_argument("--index", default=":", help="frames to take from each file, ASE syntax (default all)")
    fit.add_argument(
        "--bond-scale", type=float, help="bonded: closer than this times the sum of covalent radii (default 1.2)"
    )
    fit.add_argument(
        "--typing", choices=("neighbours", "species"), default="neighbours",
        help="name atoms by species and bonded neighbours (default) or by species alone",
    )
    fit.add_argument("--one-four", type=int, default=0, metavar="ORDER", help="also fit 1-4 distance terms of this order")
    fit.add_argument(
        "--keep-labile", action="store_true", help="keep the terms of atoms that change partners between frames"
    )
    fit.add_argument(
        "--no-shared", action="store_true", help="no shared term for a hopping atom: leave its motion out altogether"
    )
    fit.set_defaults(handler=_valence_fit)
