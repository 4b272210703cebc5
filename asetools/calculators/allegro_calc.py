"""The ASE calculator for Allegro models."""

from __future__ import annotations

import os

import torch

from ..graph import MIN_DISTANCE
from ..models import Allegro, EnergyModel, Potential
from .potential_calc import PotentialCalc

__all__ = ["AllegroCalc"]


class AllegroCalc(PotentialCalc):
    """ASE calculator for an :class:`~asetools.models.Allegro` model.

    ``AllegroCalc("model.pt")`` or ``AllegroCalc(model, device="cuda")``. Everything
    else is :class:`PotentialCalc`: energy, per-atom energies, forces and stress in
    ASE units; works with ASE's optimisers, cell filters and MD.

    Args:
        model: an Allegro model (or a :class:`Potential` around one) or the path of
            an Allegro checkpoint.
        device: torch device to evaluate on.
        dtype: ``"float32"`` (default, fast) or ``"float64"``.
        min_distance: raise if two atoms come closer than this many Å.
    """

    def __init__(
        self,
        model: EnergyModel | Potential | str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        min_distance: float | None = MIN_DISTANCE,
        **kwargs,
    ):
        super().__init__(model, device=device, dtype=dtype, min_distance=min_distance, **kwargs)
        if not isinstance(self.model, Allegro):
            source = f"the checkpoint {os.fspath(model)!r}" if isinstance(model, (str, os.PathLike)) else "the model"
            raise TypeError(
                f"AllegroCalc needs an Allegro model, but {source} is a {type(self.model).__name__}; "
                "use asetools.calculators.PotentialCalc for other models"
            )
