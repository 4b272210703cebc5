"""Single-model uncertainty from latent features (Zhu et al., J. Chem. Phys. 158, 164111, 2023).

- :mod:`.mixture` -- :class:`GaussianMixture`, :func:`select_mixture_by_bic`: full-covariance
  mixtures in torch;
- :mod:`.calibration` -- :class:`ErrorCalibration`: a monotone map from score to expected force
  error (eV/Å);
- :mod:`.latent` -- :class:`LatentUncertainty`: the head a :class:`~asetools.models.Potential`
  evaluates;
- :mod:`.fit` -- :func:`fit_uncertainty`: fit the head to a trained model's training and
  validation data (:func:`~asetools.checkpoint.add_uncertainty` stores it in the checkpoint);
- :mod:`.plots` -- a figure of a fitted uncertainty and its calibration.
"""

from .calibration import CalibrationReport, ErrorCalibration, calibration_report
from .fit import UncertaintyFit, atom_features, fit_uncertainty
from .latent import LatentUncertainty
from .mixture import GaussianMixture, MixtureSelection, select_mixture_by_bic

__all__ = [
    "GaussianMixture",
    "MixtureSelection",
    "select_mixture_by_bic",
    "ErrorCalibration",
    "CalibrationReport",
    "calibration_report",
    "LatentUncertainty",
    "UncertaintyFit",
    "atom_features",
    "fit_uncertainty",
]
