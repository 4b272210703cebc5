"""The ASE calculator for Allegro models."""

from __future__ import annotations

from ..models import Allegro
from .potential_calc import PotentialCalc

__all__ = ["AllegroCalc"]


class AllegroCalc(PotentialCalc):
    """ASE calculator for an :class:`~asetools.models.Allegro` model.

    ``AllegroCalc("model.pt")`` or ``AllegroCalc(model, device="cuda")``. Everything
    else is :class:`PotentialCalc` (same arguments: ``model``, ``device``, ``dtype``,
    ``min_distance``): energy, per-atom energies, forces and stress in ASE units;
    works with ASE's optimisers, cell filters and MD. Any other model kind raises a
    TypeError that points to :class:`PotentialCalc`.
    """

    model_class = Allegro
