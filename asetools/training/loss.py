"""The training loss: weighted mean squared errors of energy per atom, forces and stress."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..models import Potential, PotentialOutput
from .samples import Sample

__all__ = ["LossWeights", "BatchCounts", "predict", "loss_terms", "total_loss"]


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


@dataclass(frozen=True)
class BatchCounts:
    """What the loss terms of a batch average over.

    In data-parallel training a process sees part of a batch but divides by the
    counts of the whole batch, so the processes' losses add up to the batch's loss.

    Attributes:
        structures: structures in the batch.
        atoms: atoms in the batch.
        stressed: structures with a reference stress.
    """

    structures: int
    atoms: int
    stressed: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> BatchCounts:
        """The counts of the batch made of ``samples``."""
        return cls(
            structures=sum(s.graph.num_graphs for s in samples),
            atoms=sum(s.graph.num_atoms for s in samples),
            stressed=sum(int(s.has_stress.sum()) for s in samples),
        )


def predict(potential: Potential, batch: Sample, weights: LossWeights, create_graph: bool) -> PotentialOutput:
    """The outputs the loss needs: energies always, forces and stress when weighted."""
    compute_stress = weights.stress > 0 and bool(batch.has_stress.any())
    return potential(
        batch.graph,
        compute_forces=weights.forces > 0,
        compute_stress=compute_stress,
        create_graph=create_graph,
    )


def loss_terms(output: PotentialOutput, batch: Sample, counts: BatchCounts | None = None) -> dict[str, torch.Tensor]:
    """Mean squared errors ``energy`` (per atom), ``forces`` and ``stress`` of one batch.

    The sums of squares are divided by ``counts`` (default: the batch's own, giving
    plain means). Only the terms the output allows are present. The predicted
    stress is taken from the virial with a volume of 1 for structures without a
    reference stress, so cells without volume never put NaN into the gradient.
    """
    counts = counts or BatchCounts.of([batch])
    n_atoms = batch.graph.n_atoms.to(output.energy.dtype)
    terms = {"energy": ((output.energy - batch.energy) / n_atoms).pow(2).sum() / counts.structures}
    if output.forces is not None:
        terms["forces"] = (output.forces - batch.forces).pow(2).sum() / (3 * counts.atoms)
    if output.virial is not None and bool(batch.has_stress.any()):
        volume = torch.linalg.det(batch.graph.cell).abs()
        volume = torch.where(batch.has_stress, volume, torch.ones_like(volume))
        predicted = -output.virial / volume[:, None, None]
        squared = (predicted - batch.stress).pow(2).mean(dim=(1, 2))
        terms["stress"] = squared[batch.has_stress].sum() / counts.stressed
    return terms


def total_loss(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    """The weighted sum of the terms present."""
    return sum(getattr(weights, name) * value for name, value in terms.items())
