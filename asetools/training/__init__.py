"""Training energy models on labelled structures."""

from .fit import ErrorMetrics, FitResult, Sample, collate, evaluate_errors, fit, make_samples

__all__ = ["ErrorMetrics", "FitResult", "Sample", "collate", "evaluate_errors", "fit", "make_samples"]
