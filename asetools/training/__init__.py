"""Training energy models on labelled structures."""

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
