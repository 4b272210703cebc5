"""The training loop: Adam/AMSGrad, plateau schedule, EMA, early stopping, checkpoints, resume.

A :class:`Trainer` owns everything whose state changes during training (weights,
their moving average, optimiser, scheduler, the batch-order generator, the history),
and can write all of it into one checkpoint and read it back. A run resumed from
``last.pt`` therefore continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._optional import optional_import
from ..checkpoint import read_checkpoint, save_checkpoint
from ..config import to_dict
from ..models import EnergyModel, Potential
from .config import NORMALISATION_FIELDS, TrainingConfig
from .distributed import ProcessGroup, current_group, process_device
from .ema import ExponentialMovingAverage
from .log import write_learning_curves, write_metrics_csv
from .loss import BatchCounts, LossWeights, loss_terms, predict, total_loss
from .metrics import ErrorMetrics, Predictions, evaluate_errors, predict_samples
from .resume import optimisation_state, restore_optimisation_state, restore_torch_random_state, torch_random_state
from .samples import Sample, collate

logger = logging.getLogger(__name__)

__all__ = ["Trainer", "FitResult", "BEST_CHECKPOINT", "LAST_CHECKPOINT"]

BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"


@dataclass
class FitResult:
    """What a training run did.

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_loss``, ``validation_loss``,
            ``energy_mae``/``energy_rmse`` (eV/atom), ``force_mae``/``force_rmse`` (eV/Å),
            ``stress_mae`` (eV/Å³, NaN without stress labels), ``learning_rate``, ``seconds``.
        initial: validation errors before training.
        final: validation errors of the kept (best) weights.
        best_epoch: the epoch whose weights were kept (0: the initial ones).
        seconds: training time, summed over resumed parts.
        stop_reason: why the run ended.
        uncertainty: the :class:`~asetools.uncertainty.UncertaintyFit` added to ``best.pt``
            when the configuration has an ``uncertainty`` section, else ``None``.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    initial: ErrorMetrics | None = None
    final: ErrorMetrics | None = None
    best_epoch: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    uncertainty: Any = None


@contextlib.contextmanager
def evaluation_mode(model: torch.nn.Module):
    """Put ``model`` in eval mode for the block and restore its mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class Trainer:
    """Train an energy model on prepared samples.

    Args:
        model: the energy model, trained in place (moved to the config's dtype and device).
        train: training samples (see :func:`~asetools.training.make_samples`), in the
            config's dtype and on its device.
        validation: validation samples; without them the training samples are monitored.
        config: the training options.
        directory: run directory for checkpoints and logs (``None``: write no files).
        metadata: extra plain values stored in every checkpoint (data statistics, ...).
        progress: show a tqdm progress bar over epochs.
        plot_every: redraw ``learning_curves.png`` every this many epochs (and at the end).
        group: the processes of a data-parallel run (default: the initialised
            ``torch.distributed`` group, else one process). Each process takes its
            share of every batch and of the validation set; rank 0 writes the files.
    """

    #: The type :meth:`validate` returns (stored in checkpoints as a dict of its fields).
    metrics_class: type[ErrorMetrics] = ErrorMetrics

    def __init__(
        self,
        model: EnergyModel,
        train: Sequence[Sample],
        validation: Sequence[Sample] = (),
        config: TrainingConfig | None = None,
        directory: str | Path | None = None,
        metadata: dict[str, Any] | None = None,
        progress: bool = False,
        plot_every: int = 10,
        group: ProcessGroup | None = None,
    ):
        if not train:
            raise ValueError("the training set is empty")
        self.config = config or TrainingConfig()
        self.group = group or current_group()
        dtype = getattr(torch, self.config.dtype)
        self.model = model.to(device=process_device(self.config.device), dtype=dtype)
        if self.group.world_size > 1:  # start every process from rank 0's weights
            self.model.load_state_dict(self.group.broadcast(self.model.state_dict()))
        self.train_samples = list(train)
        self.validation_samples = list(validation)
        self.directory = None if directory is None or not self.group.is_main else Path(directory)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.metadata = dict(metadata or {})
        self.progress = progress
        self.plot_every = plot_every
        self.weights = LossWeights(self.config.energy_weight, self.config.forces_weight, self.config.stress_weight)
        self.optimiser = torch.optim.Adam(
            self.model.parameters(),
            lr=self.config.learning_rate,
            weight_decay=self.config.weight_decay,
            amsgrad=self.config.optimizer == "amsgrad",
        )
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimiser, factor=self.config.lr_factor, patience=self.config.lr_patience
        )
        self.ema = (
            None if self.config.ema_decay is None else ExponentialMovingAverage(self.model, self.config.ema_decay)
        )
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.epoch = 0
        self.best_monitored = math.inf  # the best value of training.monitor so far
        self.best_state: dict[str, torch.Tensor] | None = None
        self.epochs_since_best = 0
        self.result = FitResult()

    # ----------------------------------------------------------------- evaluation
    @property
    def evaluated_model(self) -> EnergyModel:
        """The weights used for validation and saved: the moving average, or the raw weights."""
        return self.model if self.ema is None else self.ema.module

    def validate(self) -> ErrorMetrics:
        """Errors of the evaluated weights on the validation samples (training samples without them).

        In a data-parallel run each process predicts its share and every process
        gets all the predictions, so every process computes the same errors.
        """
        model = self.evaluated_model
        with evaluation_mode(model):
            potential = Potential(model)
            samples = self.monitored_samples
            return evaluate_errors(potential, samples, self.config.validation_batch_size, self._predict(potential))

    @property
    def monitored_samples(self) -> list[Sample]:
        """The samples validation runs on: the validation set, or the training set without one."""
        return self.validation_samples or self.train_samples

    def _predict(self, potential: Potential, compute_stress: bool | None = None) -> Predictions:
        """``potential``'s predictions on :attr:`monitored_samples`, each process predicting its share.

        Stress is computed when any sample has a reference stress unless ``compute_stress`` says otherwise.
        """
        samples = self.monitored_samples
        if compute_stress is None:
            compute_stress = any(bool(s.has_stress.any()) for s in samples)
        batch_size = self.config.validation_batch_size
        mine = predict_samples(potential, self.group.share(samples), batch_size, compute_stress)
        return Predictions.join(self.group.gather(mine))

    def _validation_loss(self, metrics: ErrorMetrics) -> float:
        return metrics.loss(self.weights)

    def _monitored(self, metrics: ErrorMetrics) -> float:
        """The value of ``training.monitor`` (lower is better) that the schedule and ``best.pt`` follow."""
        if self.config.monitor == "loss":
            return self._validation_loss(metrics)
        return float(getattr(metrics, self.config.monitor))

    # ----------------------------------------------------------------- training
    def _batch_loss(self, potential: Potential, batch: Sample, counts: BatchCounts) -> torch.Tensor:
        """The loss of this process's share ``batch`` of a batch whose whole has ``counts``."""
        output = predict(potential, batch, self.weights, create_graph=True)
        return total_loss(loss_terms(output, batch, counts), self.weights)

    def _train_epoch(self, potential: Potential) -> float:
        """One pass over the training samples; returns the mean batch loss weighted by batch size."""
        self.model.train()
        order = torch.randperm(len(self.train_samples), generator=self.generator).tolist()
        total, count = 0.0, 0
        for start in range(0, len(order), self.config.batch_size):
            members = [self.train_samples[i] for i in order[start : start + self.config.batch_size]]
            counts = BatchCounts.of(members)
            mine = self.group.share(members)
            self.optimiser.zero_grad(set_to_none=True)
            loss = 0.0
            if mine:
                share_loss = self._batch_loss(potential, collate(mine), counts)
                share_loss.backward()
                loss = float(share_loss.detach())
            loss = self.group.sum_gradients(self.model.parameters(), loss)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"epoch {self.epoch + 1}: the training loss is {loss}; lower the learning rate, "
                    "set training.gradient_clip_norm, or check the data for outliers"
                )
            if self.config.gradient_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.gradient_clip_norm)
            self.optimiser.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            total += loss * counts.structures
            count += counts.structures
        return total / count

    def run(self) -> FitResult:
        """Train until ``epochs``, early stopping, the learning-rate floor or the time budget.

        At the end the model holds the best evaluated weights (the moving average if
        EMA is on). With a run directory, ``last.pt`` (everything needed to resume)
        is written after every epoch and ``best.pt`` whenever the monitored validation
        value (``training.monitor``, by default the loss) improves.
        """
        config = self.config
        result = self.result
        if result.initial is None:
            result.initial = result.final = self.validate()
            self.best_monitored = self._monitored(result.initial)
            self._keep_best()
        potential = Potential(self.model)
        main = self.group.is_main
        bar = None
        if self.progress and main:
            tqdm = optional_import("tqdm.auto", extra="progress").tqdm
            bar = tqdm(total=config.epochs, initial=self.epoch, desc="train", unit="epoch")
        started = time.perf_counter() - result.seconds
        result.stop_reason = self.group.broadcast(self._stop_reason())
        while not result.stop_reason:
            train_loss = self._train_epoch(potential)
            self.epoch = epoch = self.epoch + 1
            metrics = self.validate()
            validation_loss, monitored = self._validation_loss(metrics), self._monitored(metrics)
            self.scheduler.step(monitored)
            if monitored < self.best_monitored:
                self.best_monitored, result.best_epoch, result.final = monitored, epoch, metrics
                self._keep_best()
                self.epochs_since_best = 0
            else:
                self.epochs_since_best += 1
            result.seconds = time.perf_counter() - started
            record = self._epoch_record(epoch, train_loss, validation_loss, metrics)
            result.history.append(record)
            if main:
                logger.info(
                    f"epoch {epoch:4d}  loss {train_loss:.3e}  val E MAE {1e3 * metrics.energy_mae:7.2f} meV/atom"
                    f"  val F MAE {1e3 * metrics.force_mae:7.1f} meV/Å  lr {record['learning_rate']:.1e}"
                )
            self._write_progress(final=False)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(F_meV=f"{1e3 * metrics.force_mae:.1f}", best=result.best_epoch)
            result.stop_reason = self.group.broadcast(self._stop_reason())  # rank 0's clock decides for all
        if bar is not None:
            bar.close()
        self._write_progress(final=True)  # before the swap below: last.pt keeps the state to resume from
        self.evaluated_model.load_state_dict(self.best_state)
        if self.ema is not None:
            self.model.load_state_dict(self.best_state)
        self.model.eval()
        return result

    def _epoch_record(
        self, epoch: int, train_loss: float, validation_loss: float, metrics: ErrorMetrics
    ) -> dict[str, float]:
        """The history row of an epoch (see :class:`FitResult`)."""
        return {
            "epoch": epoch,
            "train_loss": train_loss,
            "validation_loss": validation_loss,
            "energy_mae": metrics.energy_mae,
            "energy_rmse": metrics.energy_rmse,
            "force_mae": metrics.force_mae,
            "force_rmse": metrics.force_rmse,
            "stress_mae": math.nan if metrics.stress_mae is None else metrics.stress_mae,
            "learning_rate": self.optimiser.param_groups[0]["lr"],
            "seconds": self.result.seconds,
        }

    def _stop_reason(self) -> str:
        config = self.config
        if self.epoch >= config.epochs:
            return f"reached {config.epochs} epochs"
        if config.early_stopping_patience is not None and self.epochs_since_best >= config.early_stopping_patience:
            return f"no better validation {self.config.monitor} for {self.epochs_since_best} epochs"
        if self.optimiser.param_groups[0]["lr"] < config.min_learning_rate:
            return f"learning rate below {config.min_learning_rate:g}"
        if config.max_seconds is not None and self.result.seconds >= config.max_seconds:
            return f"time budget of {config.max_seconds:g} s used"
        return ""

    # ----------------------------------------------------------------- files and state
    def _checkpoint_metadata(self) -> dict[str, Any]:
        final = self.result.final
        return {
            **self.metadata,
            "epoch": self.epoch,
            "best_epoch": self.result.best_epoch,
            "validation_energy_mae_eV_per_atom": None if final is None else final.energy_mae,
            "validation_force_mae_eV_per_A": None if final is None else final.force_mae,
        }

    def _keep_best(self) -> None:
        """Remember the evaluated weights as the best so far, and write them to ``best.pt``."""
        self.best_state = copy.deepcopy(self.evaluated_model.state_dict())
        if self.directory is not None:
            save_checkpoint(self.evaluated_model, self.directory / BEST_CHECKPOINT, self._checkpoint_metadata())

    def _write_progress(self, final: bool) -> None:
        """Write ``last.pt`` (the state to resume from), the metrics CSV and, now and then, the plot."""
        if self.directory is None:
            return
        save_checkpoint(
            self.evaluated_model, self.directory / LAST_CHECKPOINT, self._checkpoint_metadata(), self.state_dict()
        )
        write_metrics_csv(self.result.history, self.directory / "metrics.csv")
        if final or (self.plot_every and self.epoch % self.plot_every == 0):
            write_learning_curves(self.result.history, self.directory / "learning_curves.png")

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes during training, as plain values and tensors.

        ``stop_reason`` is empty in the ``last.pt`` of a run that is still going or was
        interrupted, and says why it ended in that of a finished run.
        """
        result = self.result
        return {
            "config": to_dict(self.config),
            "epoch": self.epoch,
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            **optimisation_state(self.optimiser, self.ema, self.scheduler),  # "ema", "optimiser", "scheduler"
            "generator": torch_random_state(self.generator),
            "best_loss": self.best_monitored,  # the key of checkpoints from before training.monitor
            "best_state": self.best_state,
            "epochs_since_best": self.epochs_since_best,
            "history": list(result.history),
            "initial": None if result.initial is None else to_dict(result.initial),
            "final": None if result.final is None else to_dict(result.final),
            "best_epoch": result.best_epoch,
            "seconds": result.seconds,
            "stop_reason": result.stop_reason,
            "metadata": dict(self.metadata),
        }

    def load_state_dict(self, state: dict[str, Any], source: str = "the checkpoint") -> None:
        """Continue from :meth:`state_dict`; the settings must match except those that only decide when to stop."""
        stored, current = state["config"], to_dict(self.config)
        defaults = to_dict(TrainingConfig())  # for settings added after the checkpoint was written
        changed = [
            name for name in current
            if stored.get(name, defaults[name]) != current[name] and name not in TrainingConfig.RESUMABLE_CHANGES
        ]
        if changed:
            details = ", ".join(f"training.{n}: {stored.get(n, defaults[n])!r} -> {current[n]!r}" for n in changed)
            raise ValueError(f"cannot resume from {source}: the training settings changed ({details}); start a new run")
        fingerprint = self.metadata.get("dataset_fingerprint")
        if fingerprint is not None and state["metadata"].get("dataset_fingerprint") not in (None, fingerprint):
            raise ValueError(f"cannot resume from {source}: the training data changed since it was written")
        self.model.load_state_dict(state["model"])
        restore_optimisation_state(state, self.optimiser, self.ema, self.scheduler)
        restore_torch_random_state(state["generator"], self.generator)
        self.epoch = int(state["epoch"])
        self.best_monitored = float(state["best_loss"])
        self.best_state = state["best_state"]
        self.epochs_since_best = int(state["epochs_since_best"])
        self.result = FitResult(
            history=list(state["history"]),
            initial=self._metrics_or_none(state["initial"]),
            final=self._metrics_or_none(state["final"]),
            best_epoch=int(state["best_epoch"]),
            seconds=float(state["seconds"]),
            stop_reason=str(state.get("stop_reason", "")),
        )

    def _metrics_or_none(self, payload: dict[str, Any] | None) -> ErrorMetrics | None:
        return None if payload is None else self.metrics_class(**payload)

    def resume(self, path: str | Path) -> None:
        """Load the training state stored in a ``last.pt`` checkpoint."""
        payload = read_checkpoint(path)
        state = payload.get("training_state")
        if state is None:
            raise ValueError(f"{path} holds a model but no training state; resume from a run's {LAST_CHECKPOINT}")
        changed = _changed_model_settings(payload["config"], self.model.config_dict())
        if changed:
            details = ", ".join(f"{name}: {old!r} -> {new!r}" for name, old, new in changed)
            raise ValueError(
                f"cannot resume from {path}: the model settings changed ({details}); set them in the "
                "model section as the checkpoint has them, or start a new run"
            )
        self.load_state_dict(state, source=str(path))


def _changed_model_settings(stored: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(name, stored, current)`` for each model setting that differs (nested parts searched; normalisation skipped)."""
    changed = []
    for name in sorted(set(stored) | set(current)):
        if name in NORMALISATION_FIELDS:
            continue
        old, new = stored.get(name), current.get(name)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += _changed_model_settings(old, new, f"{prefix}{name}.")
        elif old != new:
            changed.append((f"{prefix}{name}", old, new))
    return changed
