"""The training loss: weighted mean squared errors of energy per atom, forces and stress."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models import Potential, PotentialOutput
from .samples import Sample

__all__ = ["LossWeights", "predict", "loss_terms", "total_loss"]


@dataclass
class LossWeights:
    """Weights of the loss terms.

    The loss is ``energy * mean((dE/N)²) + forces * mean(dF²) + stress * mean(dσ²)``
    in eV²/atom², eV²/Å² and eV²/Å⁶; the stress term averages over structures that
    have a reference stress and is left out when ``stress`` is 0.
    """

    energy: float = 1.0
    forces: float = 1.0
    stress: float = 0.0

    def __post_init__(self):
        for name in ("energy", "forces", "stress"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}_weight: must not be negative, got {getattr(self, name)}")
        if self.energy == 0 and self.forces == 0 and self.stress == 0:
            raise ValueError("loss weights: at least one of energy, forces and stress must be positive")


def predict(potential: Potential, batch: Sample, weights: LossWeights, create_graph: bool) -> PotentialOutput:
    """The outputs the loss needs: energies always, forces and stress when weighted."""
    compute_stress = weights.stress > 0 and bool(batch.has_stress.any())
    return potential(
        batch.graph,
        compute_forces=weights.forces > 0,
        compute_stress=compute_stress,
        create_graph=create_graph,
    )


def loss_terms(output: PotentialOutput, batch: Sample) -> dict[str, torch.Tensor]:
    """Mean squared errors ``energy`` (per atom), ``forces`` and ``stress`` of one batch.

    Only the terms the output allows are present. The predicted stress is taken
    from the virial with a volume of 1 for structures without a reference stress,
    so cells without volume never put NaN into the gradient.
    """
    n_atoms = batch.graph.n_atoms.to(output.energy.dtype)
    terms = {"energy": ((output.energy - batch.energy) / n_atoms).pow(2).mean()}
    if output.forces is not None:
        terms["forces"] = (output.forces - batch.forces).pow(2).mean()
    if output.virial is not None and bool(batch.has_stress.any()):
        volume = torch.linalg.det(batch.graph.cell).abs()
        volume = torch.where(batch.has_stress, volume, torch.ones_like(volume))
        predicted = -output.virial / volume[:, None, None]
        squared = (predicted - batch.stress).pow(2).mean(dim=(1, 2))
        terms["stress"] = squared[batch.has_stress].mean()
    return terms


def total_loss(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    """The weighted sum of the terms present."""
    return sum(getattr(weights, name) * value for name, value in terms.items())
