"""After training: fit a single-model uncertainty into the run's best checkpoint.

Driven by the ``uncertainty`` section of a training configuration
(:class:`~asetools.training.config.UncertaintySection`). The checks run before
training, so that a run does not spend hours only to fail at the end.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..models import EnergyModel
from .config import TrainRunConfig, UncertaintySection

__all__ = ["check_uncertainty_section", "fit_run_uncertainty", "UNCERTAINTY_PLOT"]

logger = logging.getLogger(__name__)

#: The calibration plot written beside ``best.pt``.
UNCERTAINTY_PLOT = "best_uncertainty.png"


def check_uncertainty_section(model: EnergyModel, num_validation: int) -> None:
    """Raise ValueError, before training, when the ``uncertainty`` section cannot be honoured."""
    from ..uncertainty.fit import MIN_VALIDATION_STRUCTURES, as_fittable_potential

    try:
        as_fittable_potential(model)
    except TypeError as error:
        raise ValueError(f"uncertainty: {error}; or remove the uncertainty section") from error
    if num_validation < MIN_VALIDATION_STRUCTURES:
        raise ValueError(
            f"uncertainty: calibration needs at least {MIN_VALIDATION_STRUCTURES} validation structures, the run "
            f"has {num_validation}; give data.validation_file or a larger data.validation_fraction"
        )


def fit_run_uncertainty(
    config: TrainRunConfig, data, checkpoint: Path, device: str | torch.device = "cpu", progress: bool = False
):
    """Fit the uncertainty described by ``config.uncertainty`` into ``checkpoint`` (in place).

    Args:
        config: the run's configuration (its ``uncertainty`` section must be set).
        data: the run's :class:`~asetools.training.run.TrainingData`: the mixture is fitted
            to the training split and calibrated on the validation split.
        checkpoint: the kept model (``best.pt``); the fitted head is added to it atomically.
        device: where the model evaluates the features.
        progress: show progress bars.

    Returns:
        The :class:`~asetools.uncertainty.UncertaintyFit`.
    """
    from ..checkpoint import add_uncertainty, load_potential
    from ..uncertainty import fit_uncertainty

    section: UncertaintySection = config.uncertainty
    potential = load_potential(checkpoint).to(device)
    fit = fit_uncertainty(
        potential,
        [frame.atoms for frame in data.train],
        validation=data.validation,
        num_components=section.num_components,
        max_components=section.max_components,
        max_atoms=section.max_atoms,
        batch_size=section.batch_size,
        seed=config.training.seed,
        progress=progress,
    )
    add_uncertainty(checkpoint, fit.uncertainty)
    info = fit.uncertainty.info
    logger.info(
        "fitted a %d-component uncertainty into %s (structure Spearman %.3f on the validation split)",
        info["num_components"], checkpoint, info["spearman_structures"],
    )
    try:
        from ..uncertainty.plots import plot_uncertainty_fit

        plot_uncertainty_fit(fit, checkpoint.with_name(UNCERTAINTY_PLOT))
    except ImportError as error:  # matplotlib is optional
        logger.warning("no uncertainty plot: %s", error)
    return fit
