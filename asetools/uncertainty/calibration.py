"""Calibration: map a dimensionless uncertainty score to an expected force error in eV/Å.

The map is a monotone (non-decreasing) fit of observed per-atom force errors
against the score, by isotonic regression (``scipy.optimize.isotonic_regression``,
pool-adjacent-violators). Each pooled block of the fit becomes one knot at the block's
mean score; between knots the map is linear, beyond the outermost knots it is
constant. A higher score therefore never predicts a smaller error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ErrorCalibration", "CalibrationReport", "calibration_report"]


class ErrorCalibration(torch.nn.Module):
    """A monotone map from scores ``[M]`` to expected errors ``[M]`` (eV/Å).

    Args:
        score_knots: ``[P]`` increasing scores.
        error_knots: ``[P]`` non-decreasing expected errors at the knots.
    """

    def __init__(self, score_knots: torch.Tensor, error_knots: torch.Tensor):
        super().__init__()
        score_knots = torch.as_tensor(score_knots, dtype=torch.float64)
        error_knots = torch.as_tensor(error_knots, dtype=torch.float64)
        if score_knots.ndim != 1 or score_knots.shape != error_knots.shape or score_knots.numel() == 0:
            raise ValueError("calibration knots must be two non-empty 1D arrays of the same length")
        if bool((torch.diff(score_knots) <= 0).any()) or bool((torch.diff(error_knots) < 0).any()):
            raise ValueError("calibration knots must have increasing scores and non-decreasing errors")
        self.register_buffer("score_knots", score_knots)
        self.register_buffer("error_knots", error_knots)

    @classmethod
    def fit(cls, scores: np.ndarray, errors: np.ndarray) -> ErrorCalibration:
        """Fit the map to per-atom ``scores`` ``[M]`` and observed errors ``[M]``."""
        from scipy.optimize import isotonic_regression

        scores = np.asarray(scores, dtype=float).ravel()
        errors = np.asarray(errors, dtype=float).ravel()
        if scores.shape != errors.shape or scores.size < 2:
            raise ValueError("calibration needs at least two (score, error) pairs of equal count")
        if not (np.isfinite(scores).all() and np.isfinite(errors).all()):
            raise ValueError("calibration data contain NaN or infinite values")
        order = np.argsort(scores, kind="stable")
        scores, errors = scores[order], errors[order]
        fitted = isotonic_regression(errors, increasing=True)
        starts = fitted.blocks[:-1]
        block_sizes = np.diff(fitted.blocks)
        block_scores = np.add.reduceat(scores, starts) / block_sizes
        block_errors = fitted.x[starts]
        # Blocks with equal mean scores (ties) cannot be separate knots: keep the last (largest) error.
        keep = np.append(np.diff(block_scores) > 0, True)
        return cls(torch.from_numpy(block_scores[keep]), torch.from_numpy(block_errors[keep]))

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        """Expected errors ``[M]`` (eV/Å) at ``scores`` ``[M]``."""
        knots, values = self.score_knots.to(scores.dtype), self.error_knots.to(scores.dtype)
        if knots.numel() == 1:
            return values.expand_as(scores).clone()
        clamped = scores.clamp(knots[0], knots[-1])
        right = torch.searchsorted(knots, clamped.contiguous()).clamp(1, knots.numel() - 1)
        left = right - 1
        fraction = (clamped - knots[left]) / (knots[right] - knots[left])
        return values[left] + fraction * (values[right] - values[left])


@dataclass
class CalibrationReport:
    """How well a calibrated uncertainty predicts errors on data it was not fitted to.

    Attributes:
        spearman_atoms: rank correlation of per-atom score and per-atom force error.
        spearman_structures: rank correlation of per-structure maximum score and
            per-structure maximum per-atom force error.
        predicted: ``[bins]`` mean predicted error (eV/Å) in each bin of predicted error.
        observed: ``[bins]`` mean observed error (eV/Å) in the same bins.
        counts: ``[bins]`` atoms per bin.
        relative_calibration_error: atom-weighted mean of ``|predicted - observed|`` over
            the bins, divided by the mean observed error (0 is perfect).
    """

    spearman_atoms: float
    spearman_structures: float
    predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray
    relative_calibration_error: float

    def table(self) -> str:
        """The binned predicted and observed errors as text, in meV/Å."""
        lines = ["predicted (meV/Å)  observed (meV/Å)  atoms"]
        for p, o, n in zip(self.predicted, self.observed, self.counts):
            lines.append(f"{1e3 * p:17.2f}  {1e3 * o:16.2f}  {n:5d}")
        return "\n".join(lines)


def calibration_report(
    scores: np.ndarray,
    predicted: np.ndarray,
    observed: np.ndarray,
    structure_index: np.ndarray,
    bins: int = 10,
) -> CalibrationReport:
    """Compare predicted and observed per-atom errors ``[M]``; ``structure_index`` ``[M]`` groups atoms.

    The bins are quantiles of the predicted error, so each holds about the same number of atoms.
    """
    from scipy.stats import spearmanr

    scores, predicted, observed = (np.asarray(a, dtype=float).ravel() for a in (scores, predicted, observed))
    structure_index = np.asarray(structure_index).ravel()
    n_structures = int(structure_index.max()) + 1
    max_score = np.full(n_structures, -np.inf)
    max_error = np.full(n_structures, -np.inf)
    np.maximum.at(max_score, structure_index, scores)
    np.maximum.at(max_error, structure_index, observed)
    order = np.argsort(predicted, kind="stable")
    groups = [g for g in np.array_split(order, min(bins, order.size)) if g.size]
    mean_predicted = np.array([predicted[g].mean() for g in groups])
    mean_observed = np.array([observed[g].mean() for g in groups])
    counts = np.array([g.size for g in groups])
    gap = float(np.sum(counts * np.abs(mean_predicted - mean_observed)) / counts.sum())
    return CalibrationReport(
        spearman_atoms=float(spearmanr(scores, observed).statistic),
        spearman_structures=float(spearmanr(max_score, max_error).statistic) if n_structures > 2 else float("nan"),
        predicted=mean_predicted,
        observed=mean_observed,
        counts=counts,
        relative_calibration_error=gap / max(float(observed.mean()), 1e-300),
    )
