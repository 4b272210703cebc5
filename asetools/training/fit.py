"""Train a model on labelled structures held in memory: the Python entry point of training.

``asetools train config.yaml`` (:mod:`asetools.training.run`) reads files and builds
the model first; both end in the same :class:`~asetools.training.Trainer`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
from ase import Atoms

from ..data.frames import LabelKeys, LabelledFrame
from ..models import EnergyModel
from .config import TrainingConfig
from .samples import make_samples
from .trainer import FitResult, Trainer

__all__ = ["fit"]


def fit(
    model: EnergyModel,
    train: Sequence[Atoms | LabelledFrame],
    validation: Sequence[Atoms | LabelledFrame] | None = None,
    config: TrainingConfig | None = None,
    *,
    keys: LabelKeys | None = None,
    directory: str | Path | None = None,
    progress: bool = False,
    **options,
) -> FitResult:
    """Fit ``model`` in place to reference energies, forces (and stresses).

    Args:
        model: the energy model, normalised already (see :func:`~asetools.data.dataset_statistics`).
        train: labelled structures.
        validation: held-out labelled structures; the kept weights are those with
            the lowest validation loss (the training loss without them).
        config: training options (default :class:`TrainingConfig`).
        keys: label keys for ``Atoms`` frames (default ``energy``/``forces``/``stress``).
        directory: write checkpoints, ``metrics.csv`` and plots there (default: no files).
        progress: show a tqdm progress bar.
        **options: fields of :class:`TrainingConfig` to change, e.g. ``epochs=20``.

    Returns:
        the run's history and errors; the model holds the kept weights.
    """
    config = dataclasses.replace(config or TrainingConfig(), **options)
    dtype = getattr(torch, config.dtype)
    samples = make_samples(train, model.cutoff, model.species, dtype, config.device, keys)
    held_out = make_samples(validation or [], model.cutoff, model.species, dtype, config.device, keys)
    return Trainer(model, samples, held_out, config, directory=directory, progress=progress).run()
