"""Training energy models on labelled structures, and the pieces every trainer reuses.

A run:

- :mod:`.config` -- the typed configuration of ``asetools train config.yaml``;
- :mod:`.run` -- a run from a configuration: data, normalisation, model, training;
- :mod:`.fit` -- :func:`fit`, the Python entry point on frames held in memory;
- :mod:`.trainer` -- :class:`Trainer`, the loop: optimiser, plateau schedule, EMA, early
  stopping, checkpoints, exact resume;
- :mod:`.samples`, :mod:`.loss`, :mod:`.metrics` -- samples as tensors, the weighted loss, the
  error metrics (overall and per element);
- :mod:`.evaluate` -- a trained model's errors on a labelled file, and its predictions;
- :mod:`.distributed` -- data-parallel training over processes;
- :mod:`.ensemble` -- deep ensembles (one run per seed);
- :mod:`.mts` -- co-training a fast and a slow model for multiple-time-step MD;
- :mod:`.uncertainty_head` -- the single-model uncertainty fitted after training.

Pieces other trainers use too (the charge-density trainer of :mod:`asetools.density` does):

- :mod:`.ema` -- :class:`ExponentialMovingAverage` of the weights;
- :mod:`.resume` -- optimiser, EMA and random-number states saved into and restored from a
  checkpoint, for bit-exact resume;
- :mod:`.log` -- the per-epoch metrics CSV and the learning-curve PNG.
"""

from .config import DataConfig, ModelSection, OutputConfig, TrainingConfig, TrainRunConfig, load_train_config
from .ema import ExponentialMovingAverage
from .fit import fit
from .loss import LossWeights
from .metrics import ErrorMetrics, Predictions, evaluate_errors, predict_samples
from .samples import Sample, collate, make_samples
from .trainer import BEST_CHECKPOINT, LAST_CHECKPOINT, FitResult, Trainer

__all__ = [
    "BEST_CHECKPOINT",
    "DataConfig",
    "ErrorMetrics",
    "ExponentialMovingAverage",
    "FitResult",
    "LAST_CHECKPOINT",
    "LossWeights",
    "ModelSection",
    "OutputConfig",
    "Predictions",
    "Sample",
    "TrainRunConfig",
    "Trainer",
    "TrainingConfig",
    "collate",
    "evaluate_errors",
    "fit",
    "load_train_config",
    "make_samples",
    "predict_samples",
]
