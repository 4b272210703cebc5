"""MD runs for the MTS benchmark: single-step and RESPA integrators, NVE runs that record
energies and positions, and the stability test of a run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units
from ase.md.langevinbaoab import LangevinBAOAB
from ase.md.verlet import VelocityVerlet

from asetools.integrators import MTSLangevin, MTSVelocityVerlet, kinetic_temperature

#: Langevin friction of the equilibration runs, 1/fs.
FRICTION_PER_FS = 0.01


class MidstepLangevinBAOAB(LangevinBAOAB):
    """ASE's ``LangevinBAOAB`` that also reports the kinetic temperature right after its O step.

    The same estimate as :meth:`asetools.integrators.MTSLangevin.get_midstep_temperature`,
    so that a single model and a pair are measured alike (without a barostat only).
    """

    def _BAOAB_OU(self, drag_gamma_mod=0.0):
        super()._BAOAB_OU(drag_gamma_mod)
        self._midstep_kinetic_energy = self.atoms.get_kinetic_energy()

    def get_midstep_temperature(self) -> float:
        if not hasattr(self, "_midstep_kinetic_energy"):
            raise RuntimeError("get_midstep_temperature: no step has been taken yet")
        return kinetic_temperature(self.atoms, self._midstep_kinetic_energy)


@dataclass
class Run:
    """What one MD run recorded every ``record_fs``: total energies (eV/atom), temperatures (K), positions (Å).

    ``temperatures`` are at the end of each recorded step (``atoms.get_temperature()``,
    what the total energy holds); under Langevin, ``midstep_temperatures`` are right
    after the O step (free of BAOAB's end-of-step bias; empty otherwise).
    """

    record_fs: float
    energies: np.ndarray
    temperatures: np.ndarray
    positions: np.ndarray
    wall_seconds: float
    exploded: bool = False
    midstep_temperatures: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def simulated_ps(self) -> float:
        return (len(self.energies) - 1) * self.record_fs / 1000.0

    @property
    def seconds_per_ps(self) -> float:
        """Wall-clock seconds per simulated ps (``nan`` for a run that failed before its second frame)."""
        return self.wall_seconds / self.simulated_ps if self.simulated_ps > 0 else float("nan")

    def drift_and_fluctuation(self) -> tuple[float, float]:
        """Slope of a linear fit to the total energy (meV/atom/ps) and the standard deviation about it (meV/atom)."""
        times = np.arange(len(self.energies)) * self.record_fs / 1000.0
        slope, intercept = np.polyfit(times, 1e3 * self.energies, 1)
        residual = 1e3 * self.energies - (slope * times + intercept)
        return float(slope), float(residual.std())

    def is_stable(self, max_drift: float, max_fluctuation: float) -> bool:
        if self.exploded:
            return False
        drift, fluctuation = self.drift_and_fluctuation()
        return bool(np.isfinite(drift) and abs(drift) <= max_drift and fluctuation <= max_fluctuation)


class _Exploded(Exception):
    pass


def md_run(
    atoms: Atoms, dynamics, record_fs: float, simulated_ps: float, step_fs: float, explosion_meV: float = 100.0,
    intact: Callable[[np.ndarray], bool] | None = None,
) -> Run:
    """Run ``dynamics`` (its atoms are ``atoms``) for ``simulated_ps``, recording every ``record_fs``.

    The run stops early, marked ``exploded``, once the total energy has moved by more
    than ``explosion_meV`` per atom from its start (or is not finite), once
    ``intact(positions)`` says a recorded frame has come apart (under a thermostat one
    atom flying off barely moves the energy per atom), or once the calculator refuses the
    structure as unphysical: an unstable step would otherwise fling atoms apart and make
    every further step slower.
    """
    every = round(record_fs / step_fs)
    if abs(every * step_fs - record_fs) > 1e-9 or every < 1:
        raise ValueError(f"the recording interval {record_fs} fs is not a multiple of the step {step_fs} fs")
    energies, temperatures, positions, midstep = [], [], [], []
    has_midstep = hasattr(dynamics, "get_midstep_temperature")

    def record():
        energies.append(atoms.get_total_energy() / len(atoms))
        temperatures.append(atoms.get_temperature())
        if has_midstep and dynamics.nsteps > 0:
            midstep.append(dynamics.get_midstep_temperature())
        positions.append(atoms.get_positions())
        if not np.isfinite(energies[-1]) or 1e3 * abs(energies[-1] - energies[0]) > explosion_meV:
            raise _Exploded
        if intact is not None and not intact(positions[-1]):
            raise _Exploded

    dynamics.attach(record, interval=every)
    steps = every * round(simulated_ps * 1000.0 / record_fs)
    started = time.perf_counter()
    try:
        if dynamics.nsteps > 0:  # a continued run: ASE records the starting frame only on a first run
            record()
        dynamics.run(steps)
        exploded = False
    except _Exploded:
        exploded = True
    except ValueError as error:  # the calculator refuses an unphysical or non-finite structure
        if "unphysical" not in str(error) and "non-finite" not in str(error):
            raise
        exploded = True
    finally:  # the same dynamics may run again (production after equilibration)
        dynamics.observers = [observer for observer in dynamics.observers if observer[0] is not record]
    wall = time.perf_counter() - started
    return Run(record_fs, np.array(energies), np.array(temperatures), np.array(positions), wall, exploded, np.array(midstep))


def integrator(
    atoms: Atoms, calc, step_fs: float, n_inner: int | None, temperature_K: float | None, seed: int,
    friction_per_fs: float = FRICTION_PER_FS,
):
    """Velocity Verlet (``n_inner`` None) or RESPA; with a ``temperature_K``, the Langevin version.

    ``step_fs`` is the (inner) step; ``friction_per_fs`` the Langevin friction in 1/fs.
    Langevin is BAOAB in both cases (ASE's ``LangevinBAOAB``, and ``MTSLangevin``,
    which is the same integrator when ``n_inner`` is 1), so that a single model and a
    pair are thermostatted alike.
    """
    friction = friction_per_fs / units.fs
    if n_inner is None:
        atoms.calc = calc
        if temperature_K is None:
            return VelocityVerlet(atoms, step_fs * units.fs)
        return MidstepLangevinBAOAB(atoms, step_fs * units.fs, temperature_K=temperature_K, T_tau=1.0 / friction, rng=seed)
    outer = n_inner * step_fs * units.fs
    if temperature_K is None:
        return MTSVelocityVerlet(atoms, calc, outer, n_inner=n_inner)
    return MTSLangevin(atoms, calc, outer, temperature_K=temperature_K, friction=friction, n_inner=n_inner, rng=seed)


def nve(
    start: Atoms,
    calc,
    step_fs: float,
    n_inner: int | None,
    record_fs: float,
    simulated_ps: float,
    equilibrate: tuple[float, float] | None = None,
    before_nve: Callable[[Atoms], None] | None = None,
    seed: int = 0,
    intact: Callable[[np.ndarray], bool] | None = None,
) -> Run:
    """NVE from ``start`` (its positions and momenta).

    ``equilibrate`` (ps, K): Langevin with the same calculator and steps first;
    ``before_nve(atoms)`` is then called (e.g. to remove momenta) before the NVE run;
    ``intact`` as in :func:`md_run`.
    """
    atoms = start.copy()
    outer_fs = step_fs * (n_inner or 1)
    if equilibrate is not None:
        picoseconds, temperature = equilibrate
        integrator(atoms, calc, step_fs, n_inner, temperature, seed).run(round(picoseconds * 1000.0 / outer_fs))
    if before_nve is not None:
        before_nve(atoms)
    dynamics = integrator(atoms, calc, step_fs, n_inner, None, seed)
    return md_run(atoms, dynamics, record_fs, simulated_ps, outer_fs, intact=intact)


def record_interval(step_fs: float, wanted_fs: float) -> float:
    """The multiple of ``step_fs`` closest to ``wanted_fs`` (at least one step)."""
    return step_fs * max(1, round(wanted_fs / step_fs))


def common_record_interval(outer_steps_fs: list[float], wanted_fs: float) -> float:
    """A multiple of every outer step, as close to ``wanted_fs`` as that allows."""
    least = float(np.lcm.reduce([round(step * 1000) for step in outer_steps_fs]) / 1000)
    return least * max(1, round(wanted_fs / least))
