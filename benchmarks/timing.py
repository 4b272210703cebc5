"""Timing helpers shared by the benchmark scripts."""

import time

import numpy as np


def force_call_seconds(atoms, calc, repeats: int) -> np.ndarray:
    """Wall times (s) of ``repeats`` force calls of ``calc``, each at freshly displaced positions.

    One untimed call first (neighbour list, allocations); every timed call moves the
    atoms by a random 1e-3 Å so that no cached result is returned.
    """
    atoms = atoms.copy()
    atoms.calc = calc
    atoms.get_forces()
    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats):
        atoms.positions += rng.normal(scale=1e-3, size=atoms.positions.shape)
        start = time.perf_counter()
        atoms.get_forces()
        times.append(time.perf_counter() - start)
    return np.array(times)
