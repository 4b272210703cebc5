"""Fast and slow forces along a short MD run, to judge how large the outer step may be."""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from .langevin import MTSLangevin

__all__ = ["sample_split_forces"]


def sample_split_forces(
    atoms: Atoms,
    calc,
    steps: int = 400,
    timestep_fs: float = 0.5,
    temperature_K: float = 300.0,
    friction_per_fs: float = 0.01,
    equilibration_steps: int = 100,
    rng: np.random.Generator | int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Run Langevin MD with the whole force every step and record the fast and slow forces.

    The step is the inner step (``n_inner = 1``): each step evaluates both parts
    once, and the recorded forces are those results (no extra evaluations). The
    momenta start from a Maxwell-Boltzmann distribution at ``temperature_K``; the
    first ``equilibration_steps`` are not recorded. ``atoms`` is not changed.

    Args:
        atoms: the starting structure.
        calc: a calculator with ``fast_forces`` and ``slow_forces``
            (:class:`~asetools.calculators.MTSCalc`).
        steps: recorded steps; the result has ``steps + 1`` frames.
        timestep_fs: the MD step, fs (the frames' spacing).
        temperature_K: thermostat temperature.
        friction_per_fs: Langevin friction, 1/fs.
        equilibration_steps: steps run before recording.
        rng: random generator or seed for the momenta and the thermostat.

    Returns:
        ``(fast, slow)``: ``[steps + 1, N, 3]`` forces in eV/Å.
    """
    if steps < 1:
        raise ValueError(f"steps: need at least 1, got {steps}")
    if equilibration_steps < 0:
        raise ValueError(f"equilibration_steps: must not be negative, got {equilibration_steps}")
    atoms = atoms.copy()
    atoms.calc = calc
    dynamics = MTSLangevin(
        atoms,
        calc,
        timestep=timestep_fs * units.fs,
        temperature_K=temperature_K,
        friction=friction_per_fs / units.fs,
        n_inner=1,
        rng=rng,
    )
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=dynamics.rng)  # the integrator's generator
    if len(atoms) > 1:
        Stationary(atoms)
    fast, slow = [], []

    def record():
        if dynamics.nsteps >= equilibration_steps:
            fast.append(calc.get_property("fast_forces", atoms).copy())
            slow.append(calc.get_property("slow_forces", atoms).copy())

    dynamics.attach(record, interval=1)  # called at step 0 too, then after every step
    dynamics.run(equilibration_steps + steps)
    return np.array(fast), np.array(slow)
