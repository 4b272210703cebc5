"""LatentUncertainty: the per-atom uncertainty head stored next to a model's weights.

Zhu, Batzner, Musaelian and Kozinsky (J. Chem. Phys. 158, 164111, 2023): after
training, fit a Gaussian mixture to the invariant per-atom latent features of the
training set; an atom's uncertainty is the negative log-likelihood (NLL) of its
features under that mixture. Atoms whose environments resemble the training data
score low, unfamiliar ones score high. The head standardises the features with the
training set's mean and spread, scores them, and, when calibrated, maps the score to
an expected per-atom force error in eV/Å.
"""

from __future__ import annotations

from typing import Any

import torch

from .calibration import ErrorCalibration
from .mixture import GaussianMixture

__all__ = ["LatentUncertainty", "PAYLOAD_KIND"]

#: The ``kind`` of the head's entry in a checkpoint.
PAYLOAD_KIND = "latent-gaussian-mixture"


class LatentUncertainty(torch.nn.Module):
    """Scores ``[N]`` (and expected force errors ``[N]``) from latent features ``[N, F]``.

    Args:
        feature_mean: ``[F]`` mean of the training features.
        feature_scale: ``[F]`` spread of the training features (positive).
        mixture: a :class:`GaussianMixture` in the standardised feature space.
        calibration: an optional :class:`ErrorCalibration` from score to eV/Å.
        info: plain-Python facts about the fit (sizes, BIC scan, calibration quality),
            kept in the checkpoint.
    """

    def __init__(
        self,
        feature_mean: torch.Tensor,
        feature_scale: torch.Tensor,
        mixture: GaussianMixture,
        calibration: ErrorCalibration | None = None,
        info: dict[str, Any] | None = None,
    ):
        super().__init__()
        feature_mean = torch.as_tensor(feature_mean, dtype=torch.float64)
        feature_scale = torch.as_tensor(feature_scale, dtype=torch.float64)
        if feature_mean.shape != (mixture.num_features,) or feature_scale.shape != (mixture.num_features,):
            raise ValueError(f"feature mean and scale must both be [{mixture.num_features}]")
        if not bool((feature_scale > 0).all()):
            raise ValueError("feature scales must be positive")
        self.register_buffer("feature_mean", feature_mean)
        self.register_buffer("feature_scale", feature_scale)
        self.mixture = mixture
        self.calibration = calibration
        self.info = dict(info or {})

    @property
    def num_features(self) -> int:
        return self.mixture.num_features

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        """Features ``[N, F]`` shifted and scaled by the training statistics."""
        return (features.to(self.feature_mean.dtype) - self.feature_mean) / self.feature_scale

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-atom scores ``[N]`` (NLL) and expected force errors ``[N]`` in eV/Å (``None`` if uncalibrated)."""
        scores = self.mixture.negative_log_likelihood(self.standardise(features)).to(features.dtype)
        errors = self.calibration(scores) if self.calibration is not None else None
        return scores, errors

    def to_payload(self) -> dict[str, Any]:
        """Plain values and tensors for a checkpoint (readable with ``weights_only=True``)."""
        payload = {
            "kind": PAYLOAD_KIND,
            "feature_mean": self.feature_mean.detach().cpu().double(),
            "feature_scale": self.feature_scale.detach().cpu().double(),
            "log_weights": self.mixture.log_weights.detach().cpu().double(),
            "means": self.mixture.means.detach().cpu().double(),
            "precision_factors": self.mixture.precision_factors.detach().cpu().double(),
            "info": dict(self.info),
        }
        if self.calibration is not None:
            payload["calibration_scores"] = self.calibration.score_knots.detach().cpu().double()
            payload["calibration_errors"] = self.calibration.error_knots.detach().cpu().double()
            payload["calibration_tail"] = self.calibration.tail.detach().cpu().double()
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LatentUncertainty:
        """Rebuild the head written by :meth:`to_payload` (raises ValueError on a damaged entry)."""
        if not isinstance(payload, dict) or payload.get("kind") != PAYLOAD_KIND:
            kind = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
            raise ValueError(f"unknown uncertainty entry {kind!r}; expected {PAYLOAD_KIND!r}")
        try:
            mixture = GaussianMixture(payload["log_weights"], payload["means"], payload["precision_factors"])
            calibration = None
            if "calibration_scores" in payload:
                # Heads written before the tail existed have none: their map stays constant above the data.
                tail = payload.get("calibration_tail")
                tail = {} if tail is None else dict(zip(("tail_origin", "tail_scale", "tail_exponent"), tail.tolist()))
                calibration = ErrorCalibration(payload["calibration_scores"], payload["calibration_errors"], **tail)
            return cls(payload["feature_mean"], payload["feature_scale"], mixture, calibration, payload.get("info"))
        except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as error:
            raise ValueError(f"the uncertainty entry is damaged ({type(error).__name__}: {error}); refit it") from error
