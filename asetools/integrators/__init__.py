"""Molecular-dynamics integrators built on ``ase.md``: multiple-time-step RESPA.

- :mod:`.respa` -- :class:`MTSVelocityVerlet`: NVE, reversible RESPA (impulse) velocity Verlet;
- :mod:`.langevin` -- :class:`MTSLangevin`: NVT, BAOAB-RESPA with the thermostat at the inner level;
- :mod:`.force_sampling` -- :func:`sample_split_forces` records both parts' forces along a short run.

Both integrators take a calculator that splits its forces into ``fast_forces`` and
``slow_forces``, such as :class:`asetools.calculators.MTSCalc`.
"""

from .force_sampling import sample_split_forces
from .langevin import MTSLangevin, kinetic_temperature
from .respa import MTSVelocityVerlet, RESPAIntegrator

__all__ = ["MTSLangevin", "MTSVelocityVerlet", "RESPAIntegrator", "kinetic_temperature", "sample_split_forces"]
