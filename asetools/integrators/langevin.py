"""BAOAB-RESPA Langevin dynamics (NVT) with a multiple time step, for ASE."""

from __future__ import annotations

import numpy as np
from ase import Atoms, units

from .respa import RESPAIntegrator

__all__ = ["MTSLangevin", "kinetic_temperature"]


def kinetic_temperature(atoms: Atoms, kinetic_energy: float) -> float:
    """The temperature (K) of ``kinetic_energy`` (eV) shared by ``atoms``' degrees of freedom.

    Counts them as ``atoms.get_temperature()`` does: 3 per atom, less what constraints remove.
    """
    return 2.0 * kinetic_energy / (atoms.get_number_of_degrees_of_freedom() * units.kB)


def _check_temperature(temperature_K) -> float:
    if temperature_K is None or not np.isfinite(temperature_K) or temperature_K < 0:
        raise ValueError(f"temperature_K must be a temperature in kelvin (≥ 0), got {temperature_K!r}")
    return float(temperature_K)


def _check_friction(friction) -> float:
    if friction is None or not np.isfinite(friction) or friction < 0:
        raise ValueError(
            f"friction must be ≥ 0 in inverse ASE time units (e.g. 0.01 / ase.units.fs), got {friction!r}"
        )
    return float(friction)


class MTSLangevin(RESPAIntegrator):
    """Langevin dynamics with RESPA: BAOAB-RESPA (Lagardère et al., J. Phys. Chem. Lett. 2019).

    One outer step of length ``timestep`` is: a slow half-kick (B, ``timestep/2``);
    ``n_inner`` times [fast half-kick B, half drift A, friction and noise O over the
    whole inner step, half drift A, fast half-kick B]; a slow half-kick. The O step,
    ``p ← a·p + √((1 − a²)·m·k_B·T)·ξ`` with ``a = exp(−friction · δt)``, acts only
    at the innermost level. BAOAB samples configurations with a very small
    time-step error, which is what averages of positions need.

    Kinetic temperature: at the end of a step BAOAB's momenta are too cold, by a
    factor of about ``1 − (ω·δt)²/4`` for a vibration of angular frequency ``ω``
    (``atoms.get_temperature()`` shows it), while the momenta right after each O step
    are Maxwell-Boltzmann for harmonic systems (Leimkuhler & Matthews 2013; OpenMM's
    ``LangevinMiddleIntegrator`` reports its kinetic energy at the same point).
    :meth:`get_midstep_temperature` gives that estimate for the last outer step.

    With ``friction=0`` it is :class:`MTSVelocityVerlet`. ``FixAtoms`` keeps the
    fixed atoms still (their momenta stay zero). Unlike ASE's ``Langevin`` there is
    no ``fixcm`` option: the noise lets the centre of mass diffuse freely.

    Args:
        atoms: the system; its momenta are the initial momenta.
        calc: a calculator with ``fast_forces`` and ``slow_forces`` results (see
            :class:`MTSVelocityVerlet`).
        timestep: outer time step in ASE time units.
        temperature_K: bath temperature in kelvin.
        friction: friction coefficient γ in inverse ASE time units
            (``0.01 / ase.units.fs`` is a relaxation time of 100 fs).
        n_inner: fast-force steps per outer step (≥ 1).
        rng: random generator with a ``standard_normal(shape)`` method, or an int
            seed; ``None`` seeds one from the operating system.
        trajectory, logfile, loginterval, ...: as for ASE's MD classes.
    """

    def __init__(
        self,
        atoms: Atoms,
        calc=None,
        timestep: float | None = None,
        temperature_K: float | None = None,
        friction: float | None = None,
        n_inner: int = 1,
        rng=None,
        **kwargs,
    ):
        self.temp = units.kB * _check_temperature(temperature_K)
        self.fr = _check_friction(friction)
        if rng is None or isinstance(rng, (int, np.integer)):
            rng = np.random.default_rng(rng)
        if not hasattr(rng, "standard_normal"):
            raise TypeError(f"rng must be a numpy Generator (or an int seed), got {type(rng).__name__}")
        self.rng = rng
        self._midstep_kinetic_energies: list[float] = []
        super().__init__(atoms, calc, timestep, n_inner, **kwargs)

    def step(self, forces=None):
        self._midstep_kinetic_energies = []
        return super().step(forces)

    def get_midstep_temperature(self) -> float:
        """Kinetic temperature (K) right after the O steps of the last outer step, averaged over its inner steps.

        Counts degrees of freedom as ``atoms.get_temperature()`` does (3 per atom, less
        what constraints remove). Free of BAOAB's end-of-step bias (class docstring).
        """
        if not self._midstep_kinetic_energies:
            raise RuntimeError("get_midstep_temperature: no step has been taken yet; call run() or step() first")
        return kinetic_temperature(self.atoms, float(np.mean(self._midstep_kinetic_energies)))

    def set_temperature(self, temperature_K: float) -> None:
        """Change the bath temperature (kelvin) for the following steps."""
        self.temp = units.kB * _check_temperature(temperature_K)

    def set_friction(self, friction: float) -> None:
        """Change the friction (inverse ASE time units) for the following steps."""
        self.fr = _check_friction(friction)

    def todict(self):
        return {**super().todict(), "temperature_K": self.temp / units.kB, "friction": self.fr}

    def _thermalise(self, dt: float) -> None:
        """O step: exact Ornstein-Uhlenbeck update of the momenta over ``dt``."""
        atoms = self.atoms
        decay = np.exp(-self.fr * dt)
        noise = np.sqrt((1.0 - decay**2) * self.masses * self.temp)
        momenta = decay * atoms.get_momenta() + noise * self.rng.standard_normal((len(atoms), 3))
        atoms.set_momenta(momenta)

    def _inner_step(self, fast_forces: np.ndarray, dt: float) -> np.ndarray:
        """B A O A B with the fast force: half-kick, half drift, thermostat, half drift, half-kick."""
        self._kick(fast_forces, 0.5 * dt)
        self._drift(0.5 * dt)
        self._thermalise(dt)
        self._midstep_kinetic_energies.append(self.atoms.get_kinetic_energy())
        self._drift(0.5 * dt)
        fast_forces = self._part_forces("fast")
        self._kick(fast_forces, 0.5 * dt)
        return fast_forces
