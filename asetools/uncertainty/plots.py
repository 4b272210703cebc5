"""A figure of a fitted uncertainty: scores of training and validation atoms, and the calibration."""

from __future__ import annotations

import os

import numpy as np
import torch

from .._output import pyplot, save_png
from .fit import UncertaintyFit

__all__ = ["plot_uncertainty_fit"]


def plot_uncertainty_fit(fit: UncertaintyFit, path: str | os.PathLike) -> None:
    """Write a PNG: score histograms (left); with validation data, error against score and the
    fitted map (middle), and binned predicted against observed error (right)."""
    plt = pyplot()
    calibrated = fit.report is not None
    figure, axes = plt.subplots(1, 3 if calibrated else 1, figsize=(13.5 if calibrated else 5, 4.2), squeeze=False)
    axes = axes[0]
    scores = [fit.training_scores] + ([fit.validation_scores] if calibrated else [])
    low, high = np.percentile(np.concatenate(scores), [0.5, 99.5])
    bins = np.linspace(low, high, 60)
    axes[0].hist(fit.training_scores, bins=bins, density=True, alpha=0.6, label="training atoms")
    if calibrated:
        axes[0].hist(fit.validation_scores, bins=bins, density=True, alpha=0.6, label="validation atoms")
    axes[0].set_xlabel("per-atom score (negative log-likelihood)")
    axes[0].set_ylabel("density")
    axes[0].set_title(f"{fit.uncertainty.mixture.num_components}-component mixture")
    axes[0].legend()
    if calibrated:
        errors = fit.validation.force_errors
        axes[1].scatter(fit.validation_scores, 1e3 * errors, s=3, alpha=0.3, label="validation atoms")
        grid = torch.linspace(float(fit.validation_scores.min()), float(fit.validation_scores.max()), 300, dtype=torch.float64)
        curve = fit.uncertainty.calibration(grid).numpy()
        axes[1].plot(grid.numpy(), 1e3 * curve, color="black", label="calibration")
        axes[1].set_xlabel("per-atom score")
        axes[1].set_ylabel("|force error| (meV/Å)")
        axes[1].set_title(f"Spearman {fit.report.spearman_atoms:.2f} (atoms)")
        axes[1].legend()
        report = fit.report
        top = 1e3 * max(report.predicted.max(), report.observed.max()) * 1.05
        axes[2].plot([0, top], [0, top], color="grey", linestyle="--", label="ideal")
        axes[2].plot(1e3 * report.predicted, 1e3 * report.observed, marker="o", label="cross-fitted bins")
        axes[2].set_xlabel("predicted |force error| (meV/Å)")
        axes[2].set_ylabel("observed |force error| (meV/Å)")
        axes[2].set_title(f"relative calibration error {report.relative_calibration_error:.2f}")
        axes[2].legend()
    figure.tight_layout()
    save_png(figure, path)
