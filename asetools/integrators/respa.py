"""Reversible RESPA (impulse) multiple-time-step velocity Verlet for ASE."""

from __future__ import annotations

import numbers

import numpy as np
from ase import Atoms
from ase.md.md import MolecularDynamics

__all__ = ["MTSVelocityVerlet"]


def _check_split(calc, integrator: str) -> None:
    if calc is None:
        raise ValueError(
            f"{integrator} needs a calculator: pass calc=MTSCalc(fast, slow) or attach one to the atoms"
        )
    properties = getattr(calc, "implemented_properties", ())
    if "fast_forces" not in properties or "slow_forces" not in properties:
        raise TypeError(
            f"{integrator} needs a calculator that splits the forces into fast and slow parts "
            f"(results 'fast_forces' and 'slow_forces'), got {type(calc).__name__}; wrap two calculators "
            "as asetools.calculators.MTSCalc(fast, slow)"
        )


def _check_n_inner(n_inner) -> int:
    if isinstance(n_inner, bool) or not isinstance(n_inner, numbers.Integral):
        raise TypeError(f"n_inner must be a whole number of inner steps per outer step, got {n_inner!r}")
    if n_inner < 1:
        raise ValueError(f"n_inner must be at least 1 (1 is plain velocity Verlet), got {n_inner}")
    return int(n_inner)


class RESPAIntegrator(MolecularDynamics):
    """The RESPA outer step, shared set-up and pure sub-steps; subclasses give the inner step.

    One call of :meth:`step` is one outer step of length ``timestep`` (ASE time
    units); ``nsteps``, ``loginterval`` and the trajectory count outer steps. The
    fast force is evaluated ``n_inner`` times per outer step and the slow force
    once, and after each outer step both parts at the new positions are in the
    calculator's results, so ASE's logger, observers and trajectory writer read the
    total energy and forces without evaluating a model again.

    Constraints work as in :class:`ase.md.verlet.VelocityVerlet`: positions are
    constrained at every drift and the momenta are made consistent with the
    constrained move (RATTLE's first half), and every kick sets constrained momenta.
    Constraints that add a potential (e.g. ``Hookean``) add their force to the fast
    part, so they act at the inner step.
    """

    def __init__(
        self,
        atoms: Atoms,
        calc=None,
        timestep: float | None = None,
        n_inner: int = 1,
        **kwargs,
    ):
        if calc is None:
            calc = atoms.calc
        _check_split(calc, type(self).__name__)
        if timestep is None or not np.isfinite(timestep) or timestep <= 0:
            raise ValueError(f"timestep must be a positive outer time step in ASE time units, got {timestep!r}")
        self.n_inner = _check_n_inner(n_inner)
        atoms.calc = calc
        super().__init__(atoms, timestep, **kwargs)

    @property
    def inner_dt(self) -> float:
        """The inner (fast-force) time step, ``timestep / n_inner``, in ASE time units."""
        return self.dt / self.n_inner

    def todict(self):
        return {**super().todict(), "n_inner": self.n_inner}

    # -- forces ---------------------------------------------------------------------
    def _part_forces(self, part: str) -> np.ndarray:
        """Forces of one part at the current positions, shape ``[N, 3]`` in eV/Å.

        MD constraint handling mirrors ``Atoms.get_forces(md=True)``: force
        redistribution applies to both parts, potential-adding constraints to the
        fast part only.
        """
        atoms = self.atoms
        forces = atoms.calc.get_property(f"{part}_forces", atoms)
        for constraint in atoms.constraints:
            if hasattr(constraint, "redistribute_forces_md"):
                constraint.redistribute_forces_md(atoms, forces)
            if part == "fast" and hasattr(constraint, "adjust_potential_energy"):
                constraint.adjust_forces(atoms, forces)
        return forces

    # -- the outer step ------------------------------------------------------------
    def step(self, forces=None):
        """Advance one outer step and return the total forces at the new positions (eV/Å).

        Slow half-kick, ``n_inner`` inner steps (:meth:`_inner_step`), slow half-kick.
        ``forces`` is ignored: the split forces come from the calculator.
        """
        half = 0.5 * self.dt
        self._kick(self._part_forces("slow"), half)
        fast = self._part_forces("fast")
        for _ in range(self.n_inner):
            fast = self._inner_step(fast, self.inner_dt)
        slow = self._part_forces("slow")
        self._kick(slow, half)
        return slow + fast

    def _inner_step(self, fast_forces: np.ndarray, dt: float) -> np.ndarray:  # pragma: no cover - abstract
        """Advance ``dt`` under the fast force, given at the current positions; return it at the new ones."""
        raise NotImplementedError

    # -- pure sub-steps -------------------------------------------------------------
    def _kick(self, forces: np.ndarray, dt: float) -> None:
        """Momenta += ``dt`` · forces (constrained momenta)."""
        self.atoms.set_momenta(self.atoms.get_momenta() + dt * forces)

    def _drift(self, dt: float) -> None:
        """Positions += ``dt`` · p / m; with constraints the momenta follow the constrained move."""
        atoms = self.atoms
        momenta = atoms.get_momenta()
        start = atoms.get_positions()
        atoms.set_positions(start + dt * momenta / self.masses)
        if atoms.constraints:
            momenta = (atoms.get_positions() - start) * self.masses / dt
        atoms.set_momenta(momenta, apply_constraint=False)


class MTSVelocityVerlet(RESPAIntegrator):
    """NVE multiple-time-step velocity Verlet (reversible RESPA, Tuckerman et al. 1992).

    One outer step of length ``timestep`` is: a slow half-kick of ``timestep/2``;
    ``n_inner`` velocity-Verlet steps of ``timestep/n_inner`` with the fast force; a
    slow half-kick. It is time-reversible and symplectic, and with ``n_inner=1`` it
    is velocity Verlet on the total force. The outer step must stay below about
    half the period of the fastest motion the slow force still couples to.

    Args:
        atoms: the system; its momenta are the initial momenta.
        calc: a calculator with ``fast_forces`` and ``slow_forces`` results, such as
            :class:`~asetools.calculators.MTSCalc`; it is attached to ``atoms``.
            ``None`` uses the one already attached.
        timestep: outer time step in ASE time units (e.g. ``4 * ase.units.fs``).
        n_inner: fast-force steps per outer step (≥ 1).
        trajectory, logfile, loginterval, ...: as for ASE's ``VelocityVerlet``;
            ``loginterval`` counts outer steps.
    """

    def _inner_step(self, fast_forces: np.ndarray, dt: float) -> np.ndarray:
        """Velocity Verlet with the fast force: half-kick, drift, half-kick."""
        self._kick(fast_forces, 0.5 * dt)
        self._drift(dt)
        fast_forces = self._part_forces("fast")
        self._kick(fast_forces, 0.5 * dt)
        return fast_forces
