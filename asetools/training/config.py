"""Typed configuration of a training run, loaded from YAML by ``asetools train config.yaml``.

A configuration file has four sections, and a fifth for co-training::

    data:       where the structures are and how they are labelled (DataConfig)
    model:      the model kind and its hyperparameters (ModelSection)
    training:   optimiser, loss weights, schedule, stopping (TrainingConfig)
    output:     the run directory (OutputConfig)
    mts:        optional: co-train a fast model with ``model`` as the slow one (MTSSection)
    uncertainty: optional: fit a single-model uncertainty into ``best.pt`` after training
                (UncertaintySection)

Every field has a default except ``data.train_file``. Normalisation fields of the
model (neighbour count, energy shifts and scales) come from the training data.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import from_dict, read_yaml_mapping, relative_to
from ..data.frames import LabelKeys

__all__ = [
    "DataConfig",
    "ModelSection",
    "TrainingConfig",
    "OutputConfig",
    "MTSSection",
    "UncertaintySection",
    "TrainRunConfig",
    "load_train_config",
]

#: Model-config fields filled in from the training data, not from the user.
NORMALISATION_FIELDS = ("avg_num_neighbors", "per_species_energy_scales", "per_species_energy_shifts")


@dataclass
class DataConfig:
    """Training and validation data.

    Attributes:
        train_file: extxyz file or ASE database with the training structures.
        validation_file: a separate validation file; without it ``validation_fraction``
            of ``train_file`` is held out at random (seeded by ``split_seed``).
        validation_fraction: share of ``train_file`` held out when there is no validation file.
        split_seed: seed of the random split.
        max_train_frames: use at most this many training frames (a seeded random subset).
        keys: label keys (``energy``/``forces``/``stress``; e.g. ``REF_energy``).
        isolated_atoms_file: one-atom frames whose energies become per-species energy
            shifts; without it the shifts are fitted by least squares.
        skip_bad_frames: drop frames with missing or broken labels with a warning
            instead of stopping with an error.
    """

    train_file: str
    validation_file: str | None = None
    validation_fraction: float = 0.1
    split_seed: int = 0
    max_train_frames: int | None = None
    keys: LabelKeys = field(default_factory=LabelKeys)
    isolated_atoms_file: str | None = None
    skip_bad_frames: bool = False

    def __post_init__(self):
        if self.validation_file is None and not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"data.validation_fraction: must be between 0 and 1, got {self.validation_fraction}")
        if self.max_train_frames is not None and self.max_train_frames < 1:
            raise ValueError(f"data.max_train_frames: must be at least 1, got {self.max_train_frames}")

    def resolve_paths(self, base: str) -> None:
        """Make relative file names relative to ``base`` (the configuration file's directory)."""
        for name in ("train_file", "validation_file", "isolated_atoms_file"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, relative_to(base, value))


@dataclass
class ModelSection:
    """The model to train.

    Attributes:
        kind: the model kind (``allegro``).
        species: element symbols in model order; default: every element in the
            training data, by atomic number.
        options: the model's hyperparameters (for Allegro the fields of
            :class:`~asetools.models.AllegroConfig` except ``species`` and the
            normalisation fields, which are computed from the data).
    """

    kind: str = "allegro"
    species: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        from ..models import MODEL_CLASSES, current_kind

        self.kind = current_kind(self.kind)  # configs written before the snake_case names still read
        if self.kind not in MODEL_CLASSES:
            raise ValueError(f"model.kind: unknown model {self.kind!r}; choose one of {', '.join(sorted(MODEL_CLASSES))}")
        reserved = sorted(set(self.options) & {"species", *NORMALISATION_FIELDS})
        if reserved:
            raise ValueError(
                f"model.options: {', '.join(reserved)} are set from the data (species by model.species); remove them"
            )
        # Check the options now, with placeholder species, so a typo fails before the data is read.
        try:
            self.placeholder_config()
        except TypeError as error:
            raise ValueError(f"model.options: {error}") from None

    def placeholder_config(self):
        """The model's config dataclass from these options, with ``species`` standing in when unset.

        Good for the fields the options decide (cutoff, sizes), not for normalisation.
        """
        from ..models import MODEL_CLASSES

        config_class = MODEL_CLASSES[self.kind].config_class
        return from_dict(config_class, {"species": self.species or ["H"], **self.options}, context="model.options")


#: What ``training.monitor`` may name, and those names as a tuple.
Monitor = Literal["loss", "force_mae", "force_rmse", "energy_mae", "energy_rmse"]
MONITORED_METRICS: tuple[str, ...] = typing.get_args(Monitor)

#: The names ``mts.slow_energy_scale`` may take besides a number in eV, and as a tuple.
SlowEnergyScaleName = Literal["residual", "reference"]
SLOW_ENERGY_SCALE_NAMES: tuple[str, ...] = typing.get_args(SlowEnergyScaleName)


@dataclass
class TrainingConfig:
    """How to train.

    Attributes:
        epochs: maximum number of passes over the training data.
        batch_size: structures per optimiser step.
        validation_batch_size: structures per evaluation batch.
        optimizer: ``adam`` or ``amsgrad``.
        learning_rate: initial step size.
        weight_decay: L2 penalty of Adam (0 for none).
        energy_weight, forces_weight, stress_weight: loss weights (see
            :class:`~asetools.training.LossWeights`); stress only where labelled.
        lr_factor: the learning rate is multiplied by this when the validation loss
            (or the ``monitor`` value) has not improved for ``lr_patience`` epochs.
        monitor: the validation quantity that drives the learning-rate schedule, early
            stopping and the choice of ``best.pt``: ``loss`` (the weighted sum of squared
            errors the model trains on) or one of ``force_mae``, ``force_rmse``,
            ``energy_mae``, ``energy_rmse`` (as nequip's ``metrics_key``). A mean
            absolute error does not let a few badly predicted structures stall the
            schedule while the rest still improve.
        lr_patience: epochs without improvement before the learning rate drops.
        min_learning_rate: stop when the learning rate has fallen below this.
        ema_decay: decay of the exponential moving average of the weights used for
            validation and saved (``null`` to validate and save the raw weights).
        early_stopping_patience: stop after this many epochs without a better
            validation loss (``monitor`` value) (``null``: never).
        max_seconds: stop after the epoch in which this much training time has passed.
        gradient_clip_norm: clip the gradient's norm to this (``null``: no clipping).
        seed: seeds the weight initialisation and the batch order.
        dtype: ``float32`` or ``float64``.
        device: torch device (``cpu``, ``cuda``, ``cuda:1``).
    """

    epochs: int = 100
    batch_size: int = 4
    validation_batch_size: int = 16
    optimizer: Literal["adam", "amsgrad"] = "adam"
    learning_rate: float = 5e-3
    weight_decay: float = 0.0
    energy_weight: float = 1.0
    forces_weight: float = 1.0
    stress_weight: float = 0.0
    lr_factor: float = 0.5
    lr_patience: int = 5
    monitor: Monitor = "loss"
    min_learning_rate: float = 1e-6
    ema_decay: float | None = 0.99
    early_stopping_patience: int | None = None
    max_seconds: float | None = None
    gradient_clip_norm: float | None = None
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "cpu"

    def __post_init__(self):
        positive = ("batch_size", "validation_batch_size", "learning_rate")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"training.{name}: must be positive, got {getattr(self, name)}")
        if self.epochs < 0:
            raise ValueError(f"training.epochs: must not be negative, got {self.epochs}")
        if self.monitor not in MONITORED_METRICS:
            raise ValueError(f"training.monitor: expected one of {list(MONITORED_METRICS)}, got {self.monitor!r}")
        if not 0.0 < self.lr_factor < 1.0:
            raise ValueError(f"training.lr_factor: must be between 0 and 1, got {self.lr_factor}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"training.ema_decay: must be between 0 and 1 (or null), got {self.ema_decay}")
        for name in ("early_stopping_patience", "max_seconds", "gradient_clip_norm"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"training.{name}: must be positive (or null), got {value}")
        if self.min_learning_rate >= self.learning_rate:
            raise ValueError(
                f"training.min_learning_rate: must be below learning_rate ({self.learning_rate:g}), "
                f"got {self.min_learning_rate:g}"
            )
        for name in ("energy_weight", "forces_weight", "stress_weight", "weight_decay", "min_learning_rate", "lr_patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"training.{name}: must not be negative, got {getattr(self, name)}")

    #: Fields that may differ when a run is resumed (they only decide when it stops).
    RESUMABLE_CHANGES = ("epochs", "max_seconds", "early_stopping_patience")


@dataclass
class OutputConfig:
    """Where a run writes its files.

    Attributes:
        directory: run directory: ``best.pt`` and ``last.pt`` checkpoints,
            ``metrics.csv``, ``learning_curves.png`` and a copy of the configuration.
        plot_every: redraw the learning curves every this many epochs (and at the end).
    """

    directory: str = "run"
    plot_every: int = 10


@dataclass
class MTSSection:
    """Co-training of a fast and a slow model for multiple-time-step MD (Fu et al. 2023).

    With this section the ``model`` section is the slow model. Stage 1 trains the
    fast model alone on the reference data (in ``<output.directory>/fast/``).
    Stage 2 adds the slow model (no energy shifts; its energy scale set by
    ``slow_energy_scale``), and trains the
    pair so that fast + slow fits the reference, with ``training``'s settings and
    the extra loss term ``fast_force_weight * mean((F_fast - F_ref)²)`` that keeps
    the stiff forces in the fast model and the slow force smooth. The run's
    ``best.pt`` holds both models (kind ``mts_pair``).

    Attributes:
        fast_model: the fast model: small and with a short cutoff (e.g. Allegro with
            ``r_max`` 3–3.5 Å, ``l_max`` 1, one layer, narrow MLPs). Its species are the
            ``model`` section's.
        fast_training: stage-1 settings (default: the ``training`` section's).
        fast_force_weight: weight of the fast model's own force error in the
            stage-2 training loss, in the units of ``training.forces_weight`` (it has
            no effect with ``freeze_fast``); the validation loss that drives the
            schedule and picks ``best.pt`` is the pair's alone.
        freeze_fast: keep the fast model's weights from stage 1 fixed in stage 2 and
            train only the slow model on the residual.
        slow_energy_scale: the slow model's per-atom energy scale (the fixed factor
            on its network output): ``"residual"``, the RMS of a force component the
            fast model leaves unexplained on the training split after stage 1;
            ``"reference"``, the RMS of a reference force component (what a single
            model gets); or a number in eV. On ethanol the choice made no measurable
            difference (``benchmarks/RESULTS.md``).
        probe_steps: after training, ``asetools train`` runs this many MD steps of
            ``probe_timestep_fs`` at ``probe_temperature_K`` with the pair from the first
            validation structure and reports how much the fast and slow forces change
            over 1–4 fs (0: no probe).
        probe_timestep_fs: the probe's MD step in fs.
        probe_temperature_K: the probe's Langevin temperature.
    """

    fast_model: ModelSection = field(default_factory=ModelSection)
    fast_training: TrainingConfig | None = None
    fast_force_weight: float = 1.0
    freeze_fast: bool = False
    slow_energy_scale: SlowEnergyScaleName | float = "residual"
    probe_steps: int = 400
    probe_timestep_fs: float = 0.5
    probe_temperature_K: float = 300.0

    def __post_init__(self):
        if self.fast_force_weight < 0:
            raise ValueError(f"mts.fast_force_weight: must not be negative, got {self.fast_force_weight}")
        scale = self.slow_energy_scale
        if scale not in SLOW_ENERGY_SCALE_NAMES and (isinstance(scale, (str, bool)) or not scale > 0):
            raise ValueError(
                f"mts.slow_energy_scale: expected one of {list(SLOW_ENERGY_SCALE_NAMES)} or a positive "
                f"energy in eV, got {scale!r}"
            )
        if self.probe_steps < 0:
            raise ValueError(f"mts.probe_steps: must not be negative, got {self.probe_steps}")
        if not 0 < self.probe_timestep_fs <= 1.0:
            raise ValueError(
                f"mts.probe_timestep_fs: must be above 0 and at most 1 fs to resolve changes over 1 fs, "
                f"got {self.probe_timestep_fs}"
            )
        if self.probe_temperature_K < 0:
            raise ValueError(f"mts.probe_temperature_K: must not be negative, got {self.probe_temperature_K}")


@dataclass
class UncertaintySection:
    """Fit a single-model uncertainty into the run's ``best.pt`` once training ends.

    The same fit as ``asetools fit-uncertainty``: a Gaussian mixture over the kept
    model's per-atom latent features of the training split, calibrated to expected
    force errors (eV/Å) on the validation split. It needs a model with latent features
    (Allegro) and at least 4 validation structures; both are checked before training.

    Attributes:
        num_components: the mixture size; ``None`` (the default) chooses it by BIC.
        max_components: the largest mixture the BIC scan tries.
        max_atoms: fit the mixture to at most this many training atoms, drawn at random.
        batch_size: structures per model evaluation while fitting.
    """

    num_components: int | None = None
    max_components: int = 50
    max_atoms: int = 50_000
    batch_size: int = 16

    def __post_init__(self):
        if self.num_components is not None and self.num_components < 1:
            raise ValueError(f"uncertainty.num_components: need at least 1, got {self.num_components}")
        for name in ("max_components", "max_atoms", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"uncertainty.{name}: need at least 1, got {getattr(self, name)}")


@dataclass
class TrainRunConfig:
    """A whole training run: data, model, training and output sections, and optionally ``mts`` and ``uncertainty``."""

    data: DataConfig
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    mts: MTSSection | None = None
    uncertainty: UncertaintySection | None = None

    def __post_init__(self):
        if self.mts is not None and self.uncertainty is not None:
            raise ValueError(
                "uncertainty: a single-model uncertainty is not available for multiple-time-step pairs; "
                "remove the uncertainty section (or the mts section)"
            )
        if self.mts is None:
            return
        fast = self.mts.fast_model
        if fast.species is not None and fast.species != self.model.species:
            raise ValueError(
                "mts.fast_model.species: the fast model takes the model section's species; remove it "
                "(or set model.species)"
            )
        fast.species = self.model.species
        fast_cutoff = float(fast.placeholder_config().cutoff)
        slow_cutoff = float(self.model.placeholder_config().cutoff)
        if fast_cutoff > slow_cutoff:
            raise ValueError(
                f"mts.fast_model: its cutoff ({fast_cutoff:g} Å) is longer than the slow model's "
                f"({slow_cutoff:g} Å); the fast model should be the short-ranged one"
            )

    @property
    def fast_training(self) -> TrainingConfig:
        """Stage-1 settings of a co-training run."""
        if self.mts is None:
            raise ValueError("this run has no mts section")
        return self.mts.fast_training or self.training


def load_train_config(path: str | os.PathLike) -> TrainRunConfig:
    """Read and validate a training configuration; relative file names are relative to the file.

    A bare ``uncertainty:`` line (or ``uncertainty: true``) turns the section on with its
    defaults; ``uncertainty: false`` or no such line leaves it off.
    """
    data = read_yaml_mapping(path)
    if "uncertainty" in data and (data["uncertainty"] is None or data["uncertainty"] is True):
        data["uncertainty"] = {}
    elif data.get("uncertainty") is False:
        data["uncertainty"] = None
    config = from_dict(TrainRunConfig, data, context=os.fspath(path))
    base = os.path.dirname(os.path.abspath(os.fspath(path)))
    config.data.resolve_paths(base)
    config.output.directory = relative_to(base, config.output.directory)
    return config


