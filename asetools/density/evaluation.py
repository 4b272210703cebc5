"""Errors of density models: on full grids (validation, test) and on sampled grid points (the training loss).

Densities in e/Å³, positions in Å. The field's metric is the NMAPE, 100·Σ|ρ̂−ρ| / Σ|ρ| over a
frame's grid; the training loss on points drawn by :class:`PointSampler` estimates the grid's
mean absolute error without bias.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from .field import density_at_points, density_on_grid, electron_count
from .model import DensityModel
from .references import DensityFrame

if TYPE_CHECKING:
    from .training import DensityFitConfig

__all__ = ["DensityMetrics", "PointSampler", "evaluate_density_model", "frame_loss"]


@dataclasses.dataclass
class DensityMetrics:
    """Errors of predicted densities on full grids.

    Attributes:
        nmape: mean over frames of 100·Σ|ρ̂−ρ|/Σ|ρ| (percent).
        electron_error: mean over frames of |∫ρ̂ − N_electrons| (electrons; ∫ρ̂ from the analytic
            integrals of the orbitals).
        per_frame: frame name -> NMAPE (percent).
    """

    nmape: float
    electron_error: float
    per_frame: dict[str, float]


def evaluate_density_model(model: DensityModel, frames: list[DensityFrame]) -> DensityMetrics:
    """NMAPE and electron-count error of ``model`` on the full grids of ``frames``."""
    per_frame, electron_errors = {}, []
    with torch.no_grad():
        for frame in frames:
            expansion = model.expansion(frame.atoms)
            predicted = density_on_grid(model.basis, expansion, frame.grid)
            reference = np.asarray(frame.grid.values, dtype=np.float64)
            per_frame[frame.name] = 100.0 * float(np.abs(predicted - reference).sum() / np.abs(reference).sum())
            electrons = float(electron_count(model.basis, expansion))
            electron_errors.append(abs(electrons - frame.n_electrons))
    return DensityMetrics(
        nmape=float(np.mean(list(per_frame.values()))),
        electron_error=float(np.mean(electron_errors)),
        per_frame=per_frame,
    )


class PointSampler:
    """Draws grid points of a frame for the loss, partly in proportion to the density.

    A point is drawn with probability ``p = (1 − f)/N + f·|ρ|/Σ|ρ|`` (``f`` =
    ``density_fraction``) and weighted by ``1/(N p)``, so the weighted mean absolute error is an
    unbiased estimate of the full grid's, while the dense regions that dominate the NMAPE (cores
    and bonds) are sampled far more often than uniform sampling would.
    """

    def __init__(self, density_fraction: float) -> None:
        if not 0.0 <= density_fraction < 1.0:
            raise ValueError(f"training.density_sampling must lie in [0, 1), got {density_fraction}")
        self.density_fraction = density_fraction
        self._cumulative: dict[int, np.ndarray] = {}

    def sample(
        self, frame: DensityFrame, count: int, generator: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions [P, 3] (Å), reference values [P] (e/Å³) and weights [P] (mean 1 in expectation)."""
        values = np.asarray(frame.grid.values).ravel()
        total = frame.grid.num_points
        if self.density_fraction == 0.0:
            flat = generator.integers(0, total, size=count)
            return frame.grid.points_at(flat), values[flat], np.ones(count)
        key = id(frame)
        if key not in self._cumulative:
            magnitude = np.abs(values.astype(np.float64))
            probability = (1.0 - self.density_fraction) / total + self.density_fraction * magnitude / magnitude.sum()
            self._cumulative[key] = np.cumsum(probability)
        cumulative = self._cumulative[key]
        flat = np.minimum(np.searchsorted(cumulative, generator.random(count) * cumulative[-1]), total - 1)
        probability = np.diff(cumulative, prepend=0.0)[flat] / cumulative[-1]
        return frame.grid.points_at(flat), values[flat], 1.0 / (total * probability)


def frame_loss(
    model: DensityModel,
    frame: DensityFrame,
    sample: tuple[np.ndarray, np.ndarray, np.ndarray],
    fit: DensityFitConfig,
    mean_density: float,
) -> torch.Tensor:
    """The training loss of one frame (scalar tensor) on a sample of its grid points.

    Args:
        model: the density model being trained.
        frame: the frame.
        sample: positions [P, 3] (Å), reference values [P] (e/Å³) and weights [P], as drawn
            by :class:`PointSampler`.
        fit: ``loss`` and ``electron_weight`` are used.
        mean_density: the frame's mean |ρ| over its whole grid (e/Å³), which turns a mean
            absolute error into an NMAPE (as a fraction).
    """
    parameter = next(model.parameters())
    points, reference, weights = (torch.as_tensor(array, dtype=parameter.dtype, device=parameter.device) for array in sample)
    expansion = model.expansion(frame.atoms)
    error = density_at_points(model.basis, expansion, points) - reference
    measure = error * error if fit.loss == "l2" else error.abs()
    loss = (measure * weights).mean()
    if fit.electron_weight:
        missing = (electron_count(model.basis, expansion) - frame.n_electrons).abs() / frame.n_electrons
        loss = loss + fit.electron_weight * mean_density * missing
    return loss / mean_density if fit.loss == "nmape" else loss
