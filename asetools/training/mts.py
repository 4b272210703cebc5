"""Co-training a fast and a slow model for multiple-time-step MD (Fu et al. 2023).

Stage 1 trains the fast model alone with an ordinary :class:`~asetools.training.Trainer`.
Stage 2 trains an :class:`~asetools.models.MTSPair` of that fast model and a new slow
one with an :class:`MTSTrainer`: the loss is the usual one on the pair's total plus
``fast_force_weight * mean((F_fast - F_ref)²)``, which keeps the stiff forces in the
fast model so that the slow force, the one the outer step integrates, stays small
and smooth. :func:`residual_normalisation` starts the slow model at the size of
what the fast one leaves. The run itself is :func:`asetools.training.run.train_from_config`
with an ``mts:`` section.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..models import MTSPair, Potential, WithinCutoff
from ..models.local import LocalEnergyModel
from .distributed import ProcessGroup, current_group
from .loss import BatchCounts, loss_terms
from .metrics import ErrorMetrics, Predictions, evaluate_errors, predict_samples
from .samples import Sample
from .trainer import Trainer, evaluation_mode

__all__ = ["MTSErrorMetrics", "MTSTrainer", "residual_force_rms", "residual_normalisation"]


@dataclass
class MTSErrorMetrics(ErrorMetrics):
    """Errors of a fast + slow pair, and how its force splits between the parts.

    The inherited fields are the errors of the pair's total. The others, in eV/Å:

    Attributes:
        fast_force_mae, fast_force_rmse: errors of the fast model's forces alone.
        slow_force_rms: root mean square of a component of the slow model's force
            (total minus fast): the force the outer step of RESPA integrates.
        reference_force_rms: root mean square of a reference force component, for scale.
    """

    fast_force_mae: float = math.nan
    fast_force_rmse: float = math.nan
    slow_force_rms: float = math.nan
    reference_force_rms: float = math.nan


def residual_force_rms(
    model: LocalEnergyModel,
    samples: Sequence[Sample],
    batch_size: int = 16,
    group: ProcessGroup | None = None,
) -> float:
    """Root mean square of a component of ``F_ref - F_model`` over ``samples``, in eV/Å.

    In a data-parallel run each process of ``group`` (default: the initialised
    ``torch.distributed`` group, else one process) predicts its share.
    """
    samples, group = list(samples), group or current_group()
    with evaluation_mode(model):
        mine = predict_samples(Potential(model), group.share(samples), batch_size)
    predictions = Predictions.join(group.gather(mine))
    residual = np.concatenate(
        [s.forces.double().cpu().numpy() - f for s, f in zip(samples, predictions.forces)]
    )
    return float(np.sqrt(np.mean(residual**2)))


def residual_normalisation(force_rms: float, num_species: int) -> dict[str, list[float]]:
    """Normalisation fields of a model that learns a residual: no energy shifts, ``force_rms`` as scale.

    The fast model already carries the per-species energy shifts; the slow model's
    output starts at the size ``force_rms`` (eV/Å, taken as eV per atom), e.g. that
    of the force the fast model leaves unexplained (1 eV when it is zero).
    """
    scale = force_rms if force_rms > 0 else 1.0
    return {
        "per_species_energy_scales": [float(scale)] * num_species,
        "per_species_energy_shifts": [0.0] * num_species,
    }


class MTSTrainer(Trainer):
    """Train an :class:`~asetools.models.MTSPair` jointly, keeping the fast model's own forces accurate.

    Takes the arguments of :class:`~asetools.training.Trainer` (the model must be
    an ``MTSPair``; the samples are built with the pair's cutoff) and, by keyword only:

    Args:
        fast_force_weight: weight of the fast model's force error in the training loss.

    The validation loss, which the learning-rate schedule, early stopping and the
    kept (best) weights follow, is the pair's own, without the fast term. The fast
    model is small, and its error settles within a few epochs at several times the
    pair's; weighted in, it made up 97 % of the validation loss on ethanol (weight
    10), so the plateau schedule saw a plateau and halved the learning rate every
    few epochs while the pair's force error was still falling fast. The fast model's
    error is still reported every epoch (``fast_force_mae`` in the history).

    The fast model is trained with the slow one unless its parameters have
    ``requires_grad`` off. :meth:`validate` returns :class:`MTSErrorMetrics`; the
    history and ``metrics.csv`` gain the fast-force error and the slow-force RMS.
    """

    metrics_class = MTSErrorMetrics

    def __init__(self, model: MTSPair, *args, fast_force_weight: float = 1.0, **kwargs):
        if not isinstance(model, MTSPair):
            raise TypeError(f"MTSTrainer trains an MTSPair, got {type(model).__name__}; use Trainer for one model")
        if fast_force_weight < 0:
            raise ValueError(f"fast_force_weight: must not be negative, got {fast_force_weight}")
        super().__init__(model, *args, **kwargs)
        self.fast_force_weight = float(fast_force_weight)
        self._fast_potential = Potential(WithinCutoff(self.model.fast))

    @property
    def fast_is_trained(self) -> bool:
        return any(p.requires_grad for p in self.model.fast.parameters())

    def _batch_loss(self, potential: Potential, batch: Sample, counts: BatchCounts) -> torch.Tensor:
        loss = super()._batch_loss(potential, batch, counts)
        if self.fast_force_weight > 0 and self.fast_is_trained:
            fast = self._fast_potential(batch.graph, compute_forces=True, create_graph=True)
            loss = loss + self.fast_force_weight * loss_terms(fast, batch, counts)["forces"]
        return loss

    def validate(self) -> MTSErrorMetrics:
        pair = self.evaluated_model
        samples = self.monitored_samples
        batch_size = self.config.validation_batch_size
        with evaluation_mode(pair):
            total, fast = Potential(pair), Potential(WithinCutoff(pair.fast))
            total_predictions = self._predict(total)
            fast_predictions = self._predict(fast, compute_stress=False)
            metrics = evaluate_errors(total, samples, batch_size, total_predictions)
        reference = np.concatenate([s.forces.double().cpu().numpy() for s in samples])
        fast_forces = np.concatenate(fast_predictions.forces)
        slow_forces = np.concatenate(total_predictions.forces) - fast_forces
        fast_error = fast_forces - reference
        return MTSErrorMetrics(
            **dataclasses.asdict(metrics),
            fast_force_mae=float(np.abs(fast_error).mean()),
            fast_force_rmse=float(np.sqrt(np.mean(fast_error**2))),
            slow_force_rms=float(np.sqrt(np.mean(slow_forces**2))),
            reference_force_rms=float(np.sqrt(np.mean(reference**2))),
        )

    def _epoch_record(
        self, epoch: int, train_loss: float, validation_loss: float, metrics: MTSErrorMetrics
    ) -> dict[str, float]:
        record = super()._epoch_record(epoch, train_loss, validation_loss, metrics)
        record.update(
            fast_force_mae=metrics.fast_force_mae,
            fast_force_rmse=metrics.fast_force_rmse,
            slow_force_rms=metrics.slow_force_rms,
        )
        return record

    def _checkpoint_metadata(self) -> dict[str, Any]:
        final = self.result.final
        return {
            **super()._checkpoint_metadata(),
            "fast_force_weight": self.fast_force_weight,
            "validation_fast_force_mae_eV_per_A": None if final is None else final.fast_force_mae,
            "validation_slow_force_rms_eV_per_A": None if final is None else final.slow_force_rms,
        }

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "fast_force_weight": self.fast_force_weight}

    def load_state_dict(self, state: dict[str, Any], source: str = "the checkpoint") -> None:
        stored = state.get("fast_force_weight")
        if stored is None:
            raise ValueError(f"cannot resume from {source}: it is not a co-training (MTS) run")
        if stored != self.fast_force_weight:
            raise ValueError(
                f"cannot resume from {source}: mts.fast_force_weight changed ({stored!r} -> "
                f"{self.fast_force_weight!r}); start a new run"
            )
        super().load_state_dict(state, source)
