"""RDF and MSD of asetools against MDAnalysis (InterRDF, EinsteinMSD) and ASE (get_rdf) on one trajectory.

The trajectory is liquid copper from ASE's EMT: 500 atoms melted at 3000 K and then run
at 1500 K with Langevin dynamics, positions written every 10 fs (not wrapped, as ASE
writes them). Values must agree to 1e-6; the ratio is the reference tool's wall time over
ours (> 1: asetools is faster). Needs MDAnalysis and tidynamics:

    pip install MDAnalysis tidynamics
    python benchmarks/analysis.py [--frames 400]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.geometry.rdf import get_rdf
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

from asetools.analysis import msd, rdf

FRAME_FS = 10.0


def liquid_copper(n_frames: int, seed: int = 0) -> list:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (5, 5, 5)
    atoms.calc = EMT()
    thermalize_momenta(atoms, temperature_K=3000, rng=np.random.default_rng(seed))
    dynamics = Langevin(atoms, 5 * units.fs, temperature_K=3000, friction=0.02, fixcm=False, rng=np.random.default_rng(seed))
    dynamics.run(400)  # melt
    dynamics.set_temperature(temperature_K=1500)
    dynamics.run(400)
    frames = []
    dynamics.attach(lambda: frames.append(atoms.copy()), interval=int(FRAME_FS / 5))
    dynamics.run(int(n_frames * FRAME_FS / 5))
    frames = frames[:n_frames]
    for frame in frames:
        frame.calc = None
    return frames


def best_of(repeats: int, function):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def universe(frames):
    import MDAnalysis as mda
    from MDAnalysis.coordinates.memory import MemoryReader

    u = mda.Universe.empty(len(frames[0]), trajectory=True)
    coordinates = np.array([f.positions for f in frames], dtype=np.float64)
    dimensions = np.array([f.cell.cellpar() for f in frames], dtype=np.float32)
    u.load_new(coordinates, format=MemoryReader, dimensions=dimensions)
    return u


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.analysis.rdf import InterRDF

    start = time.perf_counter()
    frames = liquid_copper(args.frames)
    print(f"trajectory: {len(frames)} frames of {len(frames[0])} Cu atoms, {time.perf_counter() - start:.0f} s of EMT MD")
    u = universe(frames)
    rmax, nbins = 6.0, 120

    ours_t, ours = best_of(args.repeats, lambda: rdf(frames, rmax, nbins))
    ase_t, (ase_g, _) = best_of(1, lambda: get_rdf(frames, rmax, nbins))

    def mda_rdf():
        analysis = InterRDF(u.atoms, u.atoms, nbins=nbins, range=(0.0, rmax))
        analysis.run()
        return analysis.results.rdf

    mda_t, mda_g = best_of(args.repeats, mda_rdf)
    # MDAnalysis counts each atom at distance 0 from itself in the first bin; compare from bin 1 on
    print(f"RDF ({rmax} Å, {nbins} bins)")
    print(f"  max |g - g_ASE|          {np.abs(ours.g - ase_g).max():.2e}")
    print(f"  max |g - g_MDAnalysis|   {np.abs(ours.g[1:] - mda_g[1:]).max():.2e}")
    # MDAnalysis keeps coordinates in float32: with the same rounding only pairs within rounding of a bin edge differ
    rounded = [f.copy() for f in frames]
    for f in rounded:
        f.positions = f.positions.astype(np.float32)
    difference = np.abs(rdf(rounded, rmax, nbins).g[1:] - mda_g[1:])
    # one pair counted in a neighbouring bin changes g by 2 / (N rho V_shell frames)
    n = len(frames[0])
    per_pair = 2.0 / (n * n / frames[0].get_volume() * ours.shell_volumes()[1:] * len(frames))
    print(f"  max |g - g_MDAnalysis| with float32 input   {difference.max():.2e} = {np.max(difference / per_pair):.1f} pair counts")
    print(f"  asetools {ours_t:.3f} s   MDAnalysis {mda_t:.3f} s   ASE {ase_t:.3f} s")
    print(f"  ratio vs MDAnalysis {mda_t / ours_t:.2f}   ratio vs ASE {ase_t / ours_t:.2f}")

    dt = FRAME_FS * units.fs
    ours_t, ours_msd = best_of(args.repeats, lambda: msd(frames, dt, remove_drift=False, blocks=1))

    def mda_msd():
        analysis = EinsteinMSD(u, select="all", msd_type="xyz", fft=True)
        analysis.run()
        return analysis.results.timeseries

    mda_t, mda_values = best_of(args.repeats, mda_msd)
    scale = ours_msd.total().max()
    print("MSD (all time origins, FFT)")
    print(f"  max |MSD - MSD_MDAnalysis| / max MSD   {np.abs(ours_msd.total() - mda_values).max() / scale:.2e}")
    print(f"  asetools {ours_t:.3f} s (reading Atoms and unwrapping included)   MDAnalysis {mda_t:.3f} s")
    print(f"  ratio vs MDAnalysis {mda_t / ours_t:.2f}")


if __name__ == "__main__":
    main()
