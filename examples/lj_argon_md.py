"""Microcanonical MD of fcc argon with the Lennard-Jones model through PotentialCalc.

Runs NVE velocity Verlet (ASE's ``VelocityVerlet``) and prints the total-energy
drift and the speed in atom-steps per second. With the environment variable
``CI`` set it runs a short version.

    python examples/lj_argon_md.py [--steps 500] [--size 4] [--dtype float64]
"""

import argparse
import os
import time

import numpy as np
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from asetools.calculators import PotentialCalc
from asetools.models import LennardJones


def main() -> None:
    short = bool(os.environ.get("CI"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50 if short else 500, help="MD steps")
    parser.add_argument("--size", type=int, default=3 if short else 4, help="cubic fcc repeats per axis (4 atoms each)")
    parser.add_argument("--timestep", type=float, default=5.0, help="time step in fs")
    parser.add_argument("--temperature", type=float, default=40.0, help="initial temperature in K")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    args = parser.parse_args()

    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(args.size)
    model = LennardJones(species=["Ar"], sigma=3.4, epsilon=0.0104, cutoff=8.5, smooth=True)
    atoms.calc = PotentialCalc(model, dtype=args.dtype)
    thermalize_momenta(atoms, temperature_K=2 * args.temperature, rng=np.random.default_rng(42))
    Stationary(atoms)

    dynamics = VelocityVerlet(atoms, timestep=args.timestep * units.fs)
    energies = []
    dynamics.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    start = time.perf_counter()
    dynamics.run(args.steps)
    elapsed = time.perf_counter() - start

    energies = np.asarray(energies)
    drift = (energies - energies[0]) / len(atoms) * 1000.0
    print(f"fcc argon, {len(atoms)} atoms, {args.steps} steps of {args.timestep} fs, LJ cutoff 8.5 Å, {args.dtype}")
    print(f"final temperature            {atoms.get_temperature():10.2f} K")
    print(f"total-energy drift (end)     {drift[-1]:10.2e} meV/atom")
    print(f"total-energy drift (max |.|) {np.abs(drift).max():10.2e} meV/atom")
    print(f"speed                        {len(atoms) * args.steps / elapsed:10.0f} atom-steps/s")


if __name__ == "__main__":
    main()
