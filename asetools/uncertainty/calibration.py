"""Calibration: map a dimensionless uncertainty score to an expected force error in eV/Å.

Inside the validation data the map is a monotone (non-decreasing) fit of observed
per-atom force errors against the score, by isotonic regression
(``scipy.optimize.isotonic_regression``, pool-adjacent-violators); atoms with equal
scores are pooled first. Each pooled block of the fit becomes one knot at the block's
mean score; between knots the map is linear,
below the first knot it is constant.

Above the last knot the map must keep rising: an atom far from the training data has a
huge score and should get a large expected error, not the largest error seen in
validation. There the map follows a power law of the score's excess over the smallest
validation score,

    error(s) = e_last + A [(s - s_0)^p - (s_last - s_0)^p],        s > s_last,

with ``A`` and ``p`` fitted in log-log space to the binned upper half of the validation
data. The tail joins the last knot continuously and, with ``0 <= p <= 1``, never falls.
For a Gaussian mixture far from its components the score (NLL) grows as the squared
Mahalanobis distance, so an error growing linearly with distance gives ``p = 1/2``;
measured values sit near 0.4 (acac 0.44, ethanol 0.39). A higher score therefore never
predicts a smaller error.
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
        tail_origin: ``s_0``, the score from which the tail's power law is measured
            (at most the last knot's score).
        tail_scale: ``A`` >= 0, in eV/Å per score unit to the power ``p``.
        tail_exponent: ``p`` in [0, 1]; 0 (the default) gives a constant tail.
    """

    MAX_TAIL_EXPONENT = 1.0

    def __init__(
        self,
        score_knots: torch.Tensor,
        error_knots: torch.Tensor,
        tail_origin: float | None = None,
        tail_scale: float = 0.0,
        tail_exponent: float = 0.0,
    ):
        super().__init__()
        score_knots = torch.as_tensor(score_knots, dtype=torch.float64)
        error_knots = torch.as_tensor(error_knots, dtype=torch.float64)
        if score_knots.ndim != 1 or score_knots.shape != error_knots.shape or score_knots.numel() == 0:
            raise ValueError("calibration knots must be two non-empty 1D arrays of the same length")
        if bool((torch.diff(score_knots) <= 0).any()) or bool((torch.diff(error_knots) < 0).any()):
            raise ValueError("calibration knots must have increasing scores and non-decreasing errors")
        tail_origin = float(score_knots[0]) if tail_origin is None else float(tail_origin)
        tail_scale, tail_exponent = float(tail_scale), float(tail_exponent)
        if not all(np.isfinite([tail_origin, tail_scale, tail_exponent])):
            raise ValueError("the calibration tail's parameters must be finite")
        if tail_origin > float(score_knots[-1]):
            raise ValueError("the calibration tail's origin must not lie above the last knot's score")
        if tail_scale < 0 or not 0 <= tail_exponent <= self.MAX_TAIL_EXPONENT:
            raise ValueError(
                f"the calibration tail needs scale >= 0 and 0 <= exponent <= {self.MAX_TAIL_EXPONENT}"
            )
        self.register_buffer("score_knots", score_knots)
        self.register_buffer("error_knots", error_knots)
        self.register_buffer("tail", torch.tensor([tail_origin, tail_scale, tail_exponent], dtype=torch.float64))

    @property
    def tail_parameters(self) -> tuple[float, float, float]:
        """``(s_0, A, p)`` of the tail above the last knot."""
        origin, scale, exponent = self.tail.tolist()
        return origin, scale, exponent

    @classmethod
    def fit(
        cls, scores: np.ndarray, errors: np.ndarray, extrapolate: bool = True, tail_bins: int = 10
    ) -> ErrorCalibration:
        """Fit the map to per-atom ``scores`` ``[M]`` and observed errors ``[M]`` (eV/Å).

        Args:
            extrapolate: fit the rising power-law tail above the data; ``False`` keeps the
                map constant there (at the largest fitted error).
            tail_bins: equal-count bins of the upper half of the scores used for the tail fit.
        """
        from scipy.optimize import isotonic_regression

        scores = np.asarray(scores, dtype=float).ravel()
        errors = np.asarray(errors, dtype=float).ravel()
        if scores.shape != errors.shape or scores.size < 2:
            raise ValueError("calibration needs at least two (score, error) pairs of equal count")
        if not (np.isfinite(scores).all() and np.isfinite(errors).all()):
            raise ValueError("calibration data contain NaN or infinite values")
        order = np.argsort(scores, kind="stable")
        scores, errors = scores[order], errors[order]
        # Atoms with equal scores share one expected error: pool them (weighted by count) first.
        unique_scores, first, counts = np.unique(scores, return_index=True, return_counts=True)
        mean_errors = np.add.reduceat(errors, first) / counts
        fitted = isotonic_regression(mean_errors, weights=counts.astype(float), increasing=True)
        starts = fitted.blocks[:-1]
        block_counts = np.add.reduceat(counts, starts)
        block_scores = np.add.reduceat(unique_scores * counts, starts) / block_counts
        block_errors = fitted.x[starts]
        # Guard against rounding making two neighbouring block means equal: keep the later one.
        keep = np.append(np.diff(block_scores) > 0, True)
        origin, scale, exponent = scores[0], 0.0, 0.0
        if extrapolate:
            scale, exponent = _power_law_tail(scores, errors, origin, tail_bins)
        return cls(
            torch.from_numpy(block_scores[keep]), torch.from_numpy(block_errors[keep]), origin, scale, exponent
        )

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        """Expected errors ``[M]`` (eV/Å) at ``scores`` ``[M]``."""
        knots, values = self.score_knots.to(scores.dtype), self.error_knots.to(scores.dtype)
        if knots.numel() == 1:
            inside = values.expand_as(scores).clone()
        else:
            clamped = scores.clamp(knots[0], knots[-1])
            right = torch.searchsorted(knots, clamped.contiguous()).clamp(1, knots.numel() - 1)
            left = right - 1
            fraction = (clamped - knots[left]) / (knots[right] - knots[left])
            inside = values[left] + fraction * (values[right] - values[left])
        return inside + self._tail_rise(scores)

    def _tail_rise(self, scores: torch.Tensor) -> torch.Tensor:
        """``[M]`` the tail's rise above the last knot's error (0 at and below the last knot)."""
        origin, scale, exponent = self.tail.unbind()
        last = self.score_knots[-1]
        # In float64, so that huge scores (1e9 and more far from the data) keep their ordering.
        beyond = scores.to(torch.float64).clamp_min(last)
        rise = scale * ((beyond - origin).pow(exponent) - (last - origin).pow(exponent))
        return rise.clamp_min(0.0).to(scores.dtype)


def _equal_count_groups(indices: np.ndarray, bins: int) -> list[np.ndarray]:
    """``indices`` cut in order into at most ``bins`` consecutive groups of (nearly) equal size, none empty."""
    return [group for group in np.array_split(indices, min(bins, indices.size)) if group.size]


def _power_law_tail(scores: np.ndarray, errors: np.ndarray, origin: float, bins: int) -> tuple[float, float]:
    """``(A, p)`` of ``error = A (score - origin)^p`` fitted to the upper half of sorted ``scores``.

    The upper half is split into ``bins`` equal-count bins; a least-squares line through
    the bins' log mean excess score and log mean error gives ``p`` (clipped to [0, 1]) and
    ``A``. Too few distinct bins, or non-positive errors, give a flat tail ``(0, 0)``.
    """
    groups = _equal_count_groups(np.arange(scores.size // 2, scores.size), bins)
    excess = np.array([scores[g].mean() - origin for g in groups])
    mean_errors = np.array([errors[g].mean() for g in groups])
    usable = (excess > 0) & (mean_errors > 0)
    if usable.sum() < 2 or np.ptp(np.log(excess[usable])) == 0:
        return 0.0, 0.0
    x, y = np.log(excess[usable]), np.log(mean_errors[usable])
    exponent = float(np.clip(np.polyfit(x, y, 1)[0], 0.0, ErrorCalibration.MAX_TAIL_EXPONENT))
    if exponent == 0.0:
        return 0.0, 0.0
    # With the exponent fixed (after clipping), the best log-space intercept is the mean residual.
    scale = float(np.exp(np.mean(y - exponent * x)))
    return scale, exponent


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
    groups = _equal_count_groups(np.argsort(predicted, kind="stable"), bins)
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
