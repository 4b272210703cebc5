"""Error metrics of a model on labelled structures: overall and per element."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..models import Potential
from .loss import LossWeights
from .samples import Sample, collate

__all__ = ["ErrorMetrics", "Predictions", "evaluate_errors", "predict_samples"]


@dataclass
class ErrorMetrics:
    """Errors of a model on labelled structures (eV-based units).

    Attributes:
        energy_mae, energy_rmse: errors of the energy per atom, eV/atom.
        force_mae, force_rmse: errors of force components, eV/Å.
        stress_mae, stress_rmse: errors of stress components, eV/Å³, over structures
            with a reference stress (``None`` without any).
        per_element_force_mae, per_element_force_rmse: force errors on atoms of each
            element, eV/Å.
        num_structures: structures evaluated.
    """

    energy_mae: float
    energy_rmse: float
    force_mae: float
    force_rmse: float
    stress_mae: float | None = None
    stress_rmse: float | None = None
    per_element_force_mae: dict[str, float] = field(default_factory=dict)
    per_element_force_rmse: dict[str, float] = field(default_factory=dict)
    num_structures: int = 0

    def loss(self, weights: LossWeights) -> float:
        """The training loss's weighted sum of mean squared errors on these structures."""
        value = weights.energy * self.energy_rmse**2 + weights.forces * self.force_rmse**2
        if weights.stress and self.stress_rmse is not None:
            value += weights.stress * self.stress_rmse**2
        return value


@dataclass
class Predictions:
    """A model's outputs for each structure, as NumPy arrays (eV, eV/Å, eV/Å³).

    Attributes:
        energies: ``[B]`` total energies.
        forces: one ``[N_b, 3]`` array per structure.
        stresses: one ``[3, 3]`` array per structure (NaN without a cell volume), or ``None``.
    """

    energies: np.ndarray
    forces: list[np.ndarray]
    stresses: list[np.ndarray] | None

    @classmethod
    def join(cls, parts: Sequence[Predictions]) -> Predictions:
        """The predictions of consecutive parts of a data set, in order."""
        with_stress = all(part.stresses is not None for part in parts)
        return cls(
            energies=np.concatenate([part.energies for part in parts]),
            forces=[f for part in parts for f in part.forces],
            stresses=[s for part in parts for s in part.stresses] if with_stress else None,
        )


def predict_samples(
    potential: Potential, samples: Sequence[Sample], batch_size: int = 16, compute_stress: bool = False
) -> Predictions:
    """Energies, forces (and stresses) of ``potential`` on ``samples``, without an autograd graph."""
    energies, forces, stresses = [], [], []
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            batch = collate(samples[start : start + batch_size])
            output = potential(batch.graph, compute_forces=True, compute_stress=compute_stress)
            energies.append(output.energy.double().cpu().numpy())
            sizes = batch.graph.n_atoms.tolist()
            forces.extend(np.split(output.forces.double().cpu().numpy(), np.cumsum(sizes)[:-1]))
            if compute_stress:
                stresses.extend(output.stress.double().cpu().numpy())
    return Predictions(np.concatenate(energies) if energies else np.zeros(0), forces, stresses if compute_stress else None)


def evaluate_errors(
    potential: Potential, samples: Sequence[Sample], batch_size: int = 16, predictions: Predictions | None = None
) -> ErrorMetrics:
    """Energy-per-atom, force, stress and per-element force errors of ``potential`` on ``samples``."""
    if not samples:
        raise ValueError("evaluate_errors: no structures to evaluate")
    with_stress = [i for i, s in enumerate(samples) if bool(s.has_stress.any())]
    if predictions is None:
        predictions = predict_samples(potential, samples, batch_size, compute_stress=bool(with_stress))
    n_atoms = np.array([s.graph.num_atoms for s in samples])
    reference_energy = np.array([float(s.energy) for s in samples])
    energy_error = (predictions.energies - reference_energy) / n_atoms
    force_error = np.concatenate([p - s.forces.double().cpu().numpy() for p, s in zip(predictions.forces, samples)])
    kinds = np.concatenate([s.graph.species.cpu().numpy() for s in samples])
    metrics = ErrorMetrics(
        energy_mae=float(np.abs(energy_error).mean()),
        energy_rmse=float(np.sqrt(np.mean(energy_error**2))),
        force_mae=float(np.abs(force_error).mean()),
        force_rmse=float(np.sqrt(np.mean(force_error**2))),
        num_structures=len(samples),
    )
    for index, element in enumerate(potential.species):
        errors = force_error[kinds == index]
        if errors.size:
            metrics.per_element_force_mae[element] = float(np.abs(errors).mean())
            metrics.per_element_force_rmse[element] = float(np.sqrt(np.mean(errors**2)))
    if with_stress and predictions.stresses is not None:
        stress_error = np.stack(
            [predictions.stresses[i] - samples[i].stress[0].double().cpu().numpy() for i in with_stress]
        )
        metrics.stress_mae = float(np.abs(stress_error).mean())
        metrics.stress_rmse = float(np.sqrt(np.mean(stress_error**2)))
    return metrics
