"""Per-species energy scale and shift: the last step of every trainable energy model."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["PerSpeciesScaleShift"]


class PerSpeciesScaleShift(torch.nn.Module):
    """``E_i = s(z_i) · e_i + e₀(z_i)``: a network's output in eV from per-species scales and shifts.

    The values come from the model's config (filled in from the training statistics), so
    they are not stored in the state dict: a checkpoint's config alone rebuilds them.

    Args:
        scales: eV, one per species (e.g. the force RMS of the data).
        shifts: eV, one per species (e.g. isolated-atom energies).

    ``forward(energies, species)`` maps ``[N]`` outputs and ``[N]`` species indices to ``[N]`` eV.
    """

    def __init__(self, scales: Sequence[float], shifts: Sequence[float]):
        super().__init__()
        self.register_buffer("scales", torch.tensor(list(scales)), persistent=False)
        self.register_buffer("shifts", torch.tensor(list(shifts)), persistent=False)

    def forward(self, energies: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return energies * self.scales[species] + self.shifts[species]
