"""How fast the slow force of a valence split changes along MD, atom by atom group.

RESPA holds the slow force fixed over the outer step, so the outer step that a split
allows is set by how much its slow force changes over 1–4 fs. This benchmark runs the
single model of ``benchmarks/mts.py`` (Langevin, 300 K, the inner step) once, records
positions and forces, and for several valence force fields fitted to the training file
(the fast part of ``MTSCalc.from_total``) reports the slow force, single model minus
valence, and its RMS change over each lag, for groups of atoms:

- the atoms that hop between two partners (acetylacetone's enol proton),
- their partners (the two oxygens),
- the atoms bonded to the partners (the carbonyl carbons),
- every other atom.

The variants (``--variants``): ``apart`` leaves every labile atom out (``shared=False``);
``shared`` gives the hopping atom a shared term and keeps the partners' own terms, but no
bond follows the hop (``shared_bond`` order 0); ``following`` lets the bonds next to the
partners follow the hop as well; ``bending`` is the default fit, which also bends the
hopping atom at whichever partner holds it (``shared_bend``). The trajectory is the same for all: each
variant only divides the same force differently.

Usage (after ``python benchmarks/mts.py --system acac --work runs/acac ... --train-only``)::

    python benchmarks/mts_slow_force.py --system acac --work runs/acac
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms, units
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from mts_md import MidstepLangevinBAOAB
from mts_systems import SYSTEMS

from asetools.analysis.force_changes import DEFAULT_LAGS_FS, force_changes
from asetools.calculators import PotentialCalc
from asetools.training.config import load_train_config
from asetools.valence import DEFAULT_ORDERS, ValenceForceField, ValenceTopology, fit_valence_force_field

#: name -> (keyword arguments of fit_valence_force_field, description).
_UNBENT = {**DEFAULT_ORDERS, "shared_bend": 0, "shared_bend_cross": 0}
VARIANTS = {
    "apart": ({"shared": False}, "labile atoms left out"),
    "shared": ({"orders": {**_UNBENT, "shared_bond": 0}}, "shared O-H-O term, partners kept"),
    "following": ({"orders": _UNBENT}, "shared term, partners kept, bonds follow the hop"),
    "bending": ({}, "as following, and the proton bends at either oxygen"),
}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", choices=sorted(name for name in SYSTEMS if name != "cu"), default="acac")
    parser.add_argument("--work", default="runs/acac", help="where benchmarks/mts.py trained the single model")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--step", type=float, default=0.5, help="fs, the MD step and the frames' spacing")
    parser.add_argument("--equilibrate-fs", type=float, default=200.0)
    parser.add_argument("--record-fs", type=float, default=200.0)
    parser.add_argument("--temperature", type=float, default=300.0, help="K")
    parser.add_argument("--friction", type=float, default=0.002, help="Langevin friction, 1/fs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def trajectory(start: Atoms, calc, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, forces)``, ``[T, N, 3]`` each (Å, eV/Å), of a Langevin run with ``calc``."""
    atoms = start.copy()
    atoms.calc = calc
    dynamics = MidstepLangevinBAOAB(
        atoms, args.step * units.fs, temperature_K=args.temperature, T_tau=units.fs / args.friction, rng=args.seed
    )
    thermalize_momenta(atoms, temperature_K=args.temperature, rng=np.random.default_rng(args.seed))
    Stationary(atoms)
    dynamics.run(round(args.equilibrate_fs / args.step))
    positions, forces = [], []

    def record():
        positions.append(atoms.positions.copy())
        forces.append(atoms.get_forces().copy())  # the step's own result: no extra evaluation

    dynamics.attach(record, interval=1)
    dynamics.run(round(args.record_fs / args.step))
    return np.array(positions), np.array(forces)


def atom_groups(topology: ValenceTopology) -> dict[str, np.ndarray]:
    """``[N]`` masks of the hopping atoms, their partners, the atoms bonded to the partners, and the rest."""
    n = len(topology.symbols)
    hopping, partners = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    hopping[topology.shared[:, 1]] = True
    partners[topology.shared[:, [0, 2]].reshape(-1)] = True
    neighbours = np.zeros(n, dtype=bool)
    for i, j in topology.bonds:
        neighbours[i] |= partners[j]
        neighbours[j] |= partners[i]
    neighbours &= ~partners & ~hopping
    return {
        "hopping atoms": hopping,
        "their partners": partners,
        "bonded to a partner": neighbours,
        "every other atom": ~(hopping | partners | neighbours),
    }


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    system = SYSTEMS[args.system]
    directory = Path(args.work) / args.system / "single"
    if not (directory / "best.pt").is_file():
        raise SystemExit(f"no trained single model in {directory}; run benchmarks/mts.py --system {args.system} first")
    print(f"{platform.machine()}, torch {torch.__version__}, {args.threads} threads, system {args.system}", flush=True)
    frames = ase.io.read(load_train_config(directory / "config.yaml").data.train_file, ":")
    fields: dict[str, ValenceForceField] = {}
    for name in args.variants:
        started = time.perf_counter()
        fields[name] = fit_valence_force_field(frames, **VARIANTS[name][0])
        print(f"fitted {name} ({VARIANTS[name][1]}) to {len(frames)} frames in {time.perf_counter() - started:.1f} s")

    start = system.start(args.seed)
    started = time.perf_counter()
    positions, forces = trajectory(start, PotentialCalc(directory / "best.pt"), args)
    print(f"single model, Langevin {args.temperature:g} K: {len(positions)} frames {args.step:g} fs apart "
          f"in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip

    groups = atom_groups(fields["following"].topology(start)) if "following" in fields else None
    report = {"machine": platform.machine(), "torch": torch.__version__, "atoms": len(start), "variants": {}}
    lags = [lag for lag in DEFAULT_LAGS_FS if lag / args.step < len(positions)]
    header = f"| variant | atoms | slow force RMS | {' | '.join(f'change over {lag:g} fs' for lag in lags)} |"
    lines = [header, "|" + "---|" * (3 + len(lags))]
    for name, field in fields.items():
        bound = field.bind(field.topology(start))  # the first frame's bonds, held fixed as in MD
        valence = np.array([bound.energy_and_forces(x, start.cell.array)[1] for x in positions])
        slow = forces - valence
        groups_here = groups or atom_groups(field.topology(start))
        report["variants"][name] = {}
        for group, mask in {"all": np.ones(len(start), dtype=bool), **groups_here}.items():
            if not mask.any():
                continue
            changes = force_changes(slow[:, mask], args.step, lags)
            report["variants"][name][group] = {"rms": changes.rms, "change_rms": changes.change_rms.tolist()}
            values = " | ".join(f"{value:.3f}" for value in changes.change_rms)
            lines.append(f"| {name} | {group} ({int(mask.sum())}) | {changes.rms:.3f} | {values} |")
    print("\n".join(lines))
    out = Path(args.work) / f"slow_force_{args.system}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
