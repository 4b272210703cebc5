"""Training charge-density models on reference densities.

The recipe: the s-orbital baseline of every kind is fitted first by least squares over the
training grids (a superposition of spherical atoms and bond sites); the network is then trained
with the mean absolute error on grid points sampled afresh every step, which on average is the
field's metric NMAPE = 100·Σ|ρ̂−ρ| / Σ|ρ| over the full grid. Validation uses full grids.

Run files in ``output.directory``: ``last.pt`` (model, optimiser, EMA, random states: resume
exactly; see :mod:`.resume`), ``best.pt`` (EMA weights of the best validation NMAPE),
``metrics.csv`` and, at the end, ``test_metrics.json``. Every file is written atomically.

The baseline fit is :mod:`.baseline`'s, the validation metrics and the training loss are
:mod:`.evaluation`'s; the moving average, the resume states and the CSV writer are the energy
trainer's (:mod:`asetools.training`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .._files import atomic_path
from .._optional import progress_bar
from ..checkpoint import save_checkpoint
from ..config import from_dict, load_yaml, relative_to
from ..training.ema import ExponentialMovingAverage
from ..training.log import write_history_csv
from .baseline import fit_baseline
from .evaluation import DensityMetrics, PointSampler, evaluate_density_model, frame_loss
from .model import DensityModel, DensityModelConfig, load_density_model
from .references import DensityFrame, read_density_dataset, split_by_molecule
from .resume import read_run_state, restore_run_state, save_run_state

__all__ = [
    "DensityDataConfig",
    "DensityFitConfig",
    "DensityRunConfig",
    "DensityMetrics",
    "PointSampler",
    "evaluate_density_model",
    "fit_baseline",
    "frame_loss",
    "train_density_model",
    "training_only_frames",
]


@dataclasses.dataclass
class DensityDataConfig:
    """Where the reference densities are.

    Attributes:
        dataset: a directory with an ``index.json`` (or of .npz/.cube/CHGCAR files), or the index.
        molecules: use only these molecules (None: all).
        split: fractions of molecules for training, validation and test (frames of one molecule
            stay together).
        split_seed: seed of the split.
        max_train_frames: cap on training frames (None: all).
        extra_training: more datasets (same forms as ``dataset``) whose frames all join the
            training part and never the validation or test parts. A frame whose chemical formula
            matches a validation or test frame is refused, so no held-out molecule (or isomer of
            one) is trained on.
    """

    dataset: str
    molecules: list[str] | None = None
    split: list[float] = dataclasses.field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int = 0
    max_train_frames: int | None = None
    extra_training: list[str] = dataclasses.field(default_factory=list)


#: The columns of a density run's ``metrics.csv``: CSV column -> (history key, factor); the units are
#: those of the history (losses as :data:`LOSS_UNITS`, NMAPE in percent, electrons, seconds).
HISTORY_COLUMNS = {
    "epoch": ("epoch", 1),
    **{name: (name, 1.0) for name in ("train_loss", "validation_nmape", "validation_electron_error", "learning_rate", "seconds")},
}

#: What each ``training.loss`` measures, as logged (the NMAPE loss is logged in per cent).
LOSS_UNITS = {"l1": "e/Å³", "nmape": "%", "l2": "e²/Å⁶"}


@dataclasses.dataclass
class DensityFitConfig:
    """Optimisation.

    Attributes:
        epochs: passes over the training frames.
        frames_per_batch: frames per optimiser step.
        points_per_frame: grid points sampled from each frame per step.
        density_sampling: fraction of the sampling in proportion to the density (the rest uniform;
            the loss is reweighted, so it stays the mean error over the whole grid).
        learning_rate: initial Adam learning rate, decayed on a cosine to ``min_learning_rate``.
        schedule: what the cosine runs over: ``"epochs"`` (all of them), or ``"time"``, the
            ``max_seconds`` budget summed over resumed runs, so a run cut short by its budget still
            ends annealed. The time schedule depends on the machine's speed, so two runs of it
            differ slightly.
        loss: ``"l1"``: mean absolute error over each frame's grid (e/Å³), so frames with a
            denser box (heavier atoms, less vacuum) weigh more; ``"nmape"``: the same error
            divided by the frame's mean |ρ|, which is the frame's NMAPE, the validation and test
            measure, so every frame counts equally; ``"l2"``: mean squared error.
        electron_weight: weight of the relative electron-count error |∫ρ̂ − N|/N in the loss,
            scaled so that 1 % of missing electrons costs as much as 1 % NMAPE at weight 1 (0: off).
        cusp_weight: weight of the nuclear-cusp equations in the baseline fit (see
            :func:`fit_baseline`); keep it for all-electron densities, set 0 for pseudo-densities
            without a cusp (VASP CHGCAR valence densities).
        ema_decay: exponential moving average of the weights for validation and ``best.pt`` (None: off).
        gradient_clip_norm: clip the gradient norm (None: off).
        validation_every: epochs between validations.
        max_seconds: stop after this wall time (None: no limit); the run can be resumed. With
            ``schedule: time`` it is the budget of the whole run, resumed parts included.
        seed: seeds the weights, the batches and the sampled points.
        dtype: ``"float32"`` or ``"float64"``.
        device: torch device of the model.
        resume: continue from ``last.pt`` in the output directory when it exists.
        initial_model: fine-tune: start from the weights of this density checkpoint instead of
            the baseline fit. Its configuration is the default of the run's ``model`` section,
            which may only switch ``learn_exponent_scale`` on (the recipe's fine-tuning step;
            the new exponent head starts at a scale of 1, so the first step predicts what the
            checkpoint does). Resuming from ``last.pt`` takes precedence.
    """

    epochs: int = 20
    frames_per_batch: int = 4
    points_per_frame: int = 4096
    density_sampling: float = 0.5
    learning_rate: float = 5e-3
    min_learning_rate: float = 5e-5
    schedule: Literal["epochs", "time"] = "epochs"
    loss: Literal["l1", "nmape", "l2"] = "l1"
    electron_weight: float = 1.0
    cusp_weight: float = 10.0
    ema_decay: float | None = 0.99
    gradient_clip_norm: float | None = 10.0
    validation_every: int = 1
    max_seconds: float | None = None
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "cpu"
    resume: bool = True
    initial_model: str | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "frames_per_batch", "points_per_frame", "validation_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"training.{name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0 or self.min_learning_rate < 0:
            raise ValueError("training.learning_rate must be positive and min_learning_rate not negative")
        if self.loss not in LOSS_UNITS:
            raise ValueError(f"training.loss must be one of {', '.join(LOSS_UNITS)}, got {self.loss!r}")
        if self.schedule == "time" and self.max_seconds is None:
            raise ValueError("training.schedule: time needs training.max_seconds, the budget the decay runs over")


@dataclasses.dataclass
class DensityRunConfig:
    """A density training run, as loaded from YAML.

    Attributes:
        data: the dataset and its split.
        model: hyperparameters of :class:`DensityModelConfig` (``species`` may be left out: the
            elements of the dataset are used).
        training: optimisation.
        output_directory: where the run's files go.
    """

    data: DensityDataConfig
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    training: DensityFitConfig = dataclasses.field(default_factory=DensityFitConfig)
    output_directory: str = "density_run"

    @classmethod
    def from_yaml(cls, path) -> DensityRunConfig:
        """Read a run from YAML; relative file names (datasets, ``initial_model``, ``output_directory``)
        are relative to the file."""
        run = load_yaml(cls, path)
        base = os.path.dirname(os.path.abspath(os.fspath(path)))
        run.data.dataset = relative_to(base, run.data.dataset)
        run.data.extra_training = [relative_to(base, dataset) for dataset in run.data.extra_training]
        run.output_directory = relative_to(base, run.output_directory)
        if run.training.initial_model is not None:
            run.training.initial_model = relative_to(base, run.training.initial_model)
        return run



def _learning_rate(config: DensityFitConfig, step: int, total_steps: int, seconds: float) -> float:
    """The cosine-decayed rate after ``step`` of ``total_steps`` optimiser steps and ``seconds`` of training."""
    if config.schedule == "time":
        spent = 1.0 if config.max_seconds <= 0 else seconds / config.max_seconds
        progress = min(1.0, max(step / max(1, total_steps), spent))
    else:
        progress = min(1.0, step / max(1, total_steps))
    return config.min_learning_rate + 0.5 * (config.learning_rate - config.min_learning_rate) * (1 + math.cos(math.pi * progress))


def training_only_frames(datasets: Sequence[str], held_out: Sequence[DensityFrame]) -> list[DensityFrame]:
    """The frames of ``datasets``, checked to share no chemical formula with ``held_out``.

    Raises:
        ValueError: naming the frames whose formula is that of a held-out molecule.
    """
    held_out_formulas = {frame.atoms.get_chemical_formula(mode="hill"): frame.molecule for frame in held_out}
    frames = [frame for dataset in datasets for frame in read_density_dataset(dataset)]
    clashes = sorted(
        f"{frame.name} ({formula}, like {held_out_formulas[formula]})"
        for frame in frames
        if (formula := frame.atoms.get_chemical_formula(mode="hill")) in held_out_formulas
    )
    if clashes:
        raise ValueError(
            "data.extra_training holds molecules with the formula of a validation or test molecule: "
            + ", ".join(clashes[:10]) + (" ..." if len(clashes) > 10 else "")
            + "; remove them from the extra datasets so the held-out error stays honest"
        )
    return frames


def _build_model(run: DensityRunConfig, frames: list[DensityFrame]) -> DensityModel:
    if run.training.initial_model is not None:
        return _fine_tuning_model(run)
    options = dict(run.model)
    if not options.get("species"):
        symbols = {symbol for frame in frames for symbol in frame.atoms.get_chemical_symbols()}
        options["species"] = sorted(symbols, key=lambda s: (len(s), s))
    config = from_dict(DensityModelConfig, options, context="model")
    torch.manual_seed(run.training.seed)
    return DensityModel(config)


def _fine_tuning_model(run: DensityRunConfig) -> DensityModel:
    """The model of ``run.training.initial_model`` with the run's ``model`` options applied.

    Only ``learn_exponent_scale`` may differ from the checkpoint's configuration, and only from
    off to on: any other change would leave weights without a place in the new model.
    """
    path = run.training.initial_model
    try:
        source = load_density_model(path)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"training.initial_model: no density checkpoint at {path}") from error
    stored = dataclasses.asdict(source.config)
    options = {**stored, **run.model}
    config = from_dict(DensityModelConfig, options, context="model")
    wanted = dataclasses.asdict(config)
    changed = sorted(name for name in wanted if name != "learn_exponent_scale" and wanted[name] != stored[name])
    if changed:
        raise ValueError(
            f"training.initial_model {path}: the run's model differs from the checkpoint's in {', '.join(changed)}; "
            "fine-tuning keeps the architecture (only learn_exponent_scale may be switched on): "
            "drop those entries from the model section or train from scratch"
        )
    if stored["learn_exponent_scale"] and not config.learn_exponent_scale:
        raise ValueError(
            f"training.initial_model {path} predicts exponent scales; switching learn_exponent_scale off "
            "would discard them (keep it on)"
        )
    torch.manual_seed(run.training.seed)
    model = DensityModel(config).to(next(source.parameters()).dtype)
    missing, unexpected = model.load_state_dict(source.state_dict(), strict=False)
    if unexpected or any(not name.startswith("exponent_head.") for name in missing):
        raise ValueError(f"training.initial_model {path}: weights do not fit (missing {missing}, unexpected {unexpected})")
    return model


def train_density_model(run: DensityRunConfig, log=print) -> tuple[DensityModel, DensityMetrics | None]:
    """Train a density model as ``run`` says; returns the best model (EMA weights) and its test metrics.

    Resumes from ``last.pt`` in the output directory when ``run.training.resume`` and it exists;
    otherwise starts from ``run.training.initial_model`` when given (fine-tuning), else from the
    baseline fit.
    """
    fit = run.training
    directory = Path(run.output_directory)
    directory.mkdir(parents=True, exist_ok=True)
    frames = read_density_dataset(run.data.dataset, run.data.molecules)
    train, validation, test = split_by_molecule(frames, tuple(run.data.split), seed=run.data.split_seed)
    if run.data.max_train_frames is not None:
        train = train[: run.data.max_train_frames]
    extra = training_only_frames(run.data.extra_training, held_out=validation + test)
    train, frames = train + extra, frames + extra
    if not validation:
        raise ValueError("the split leaves no validation molecules; give data.split a validation fraction")
    dtype = torch.float64 if fit.dtype == "float64" else torch.float32
    device = torch.device(fit.device)
    model = _build_model(run, frames).to(device=device, dtype=dtype)
    log(f"density model: {len(train)} training, {len(validation)} validation, {len(test)} test frames; "
        f"{sum(p.numel() for p in model.parameters())} parameters; basis {model.basis.irreps}")

    optimiser = torch.optim.Adam(model.parameters(), lr=fit.learning_rate)
    generator = np.random.default_rng(fit.seed)
    start_epoch, best_nmape, history, state = 0, math.inf, [], None
    last_path, best_path = directory / "last.pt", directory / "best.pt"
    if fit.resume and last_path.exists():
        state = read_run_state(last_path)
        model.load_state_dict(load_density_model(last_path).to(dtype).state_dict())
        log(f"resumed from {last_path} after epoch {int(state['epoch'])}")
    elif fit.initial_model is not None:
        start = evaluate_density_model(model, validation)
        log(f"fine-tuning {fit.initial_model}: validation NMAPE {start.nmape:.2f} % at the start")
    else:
        fitted = fit_baseline(model, train, cusp_weight=fit.cusp_weight)
        baseline = evaluate_density_model(model, validation)
        log(f"baseline (spherical atoms and bond sites): validation NMAPE {baseline.nmape:.2f} %, "
            f"largest coefficient {float(fitted.abs().max()):.3g}")
    # the average begins at the weights training starts from (the baseline fit, say)
    ema = None if fit.ema_decay is None else ExponentialMovingAverage(model, fit.ema_decay, from_initial=True)
    if state is not None:
        start_epoch, best_nmape, history = restore_run_state(state, optimiser, ema, generator)

    sampler = PointSampler(fit.density_sampling)
    # A frame's mean |ρ| turns its mean absolute error into its NMAPE (and the electron error into the same units).
    mean_density = [float(np.abs(frame.grid.values).mean()) for frame in train]
    logged_factor = 100.0 if fit.loss == "nmape" else 1.0
    steps_per_epoch = math.ceil(len(train) / fit.frames_per_batch)
    total_steps = steps_per_epoch * fit.epochs
    started = time.perf_counter()
    earlier_seconds = float(history[-1]["seconds"]) if history else 0.0  # of the runs this one resumes
    for epoch in range(start_epoch, fit.epochs):
        model.train()
        order = generator.permutation(len(train))
        losses = []
        batches = [order[i : i + fit.frames_per_batch] for i in range(0, len(order), fit.frames_per_batch)]
        for step, batch in enumerate(progress_bar(batches, total=len(batches), description=f"epoch {epoch + 1}", unit="batch")):
            elapsed = earlier_seconds + time.perf_counter() - started
            rate = _learning_rate(fit, epoch * steps_per_epoch + step, total_steps, elapsed)
            for group in optimiser.param_groups:
                group["lr"] = rate
            optimiser.zero_grad(set_to_none=True)
            batch_loss = 0.0
            for index in batch:
                frame = train[int(index)]
                sample = sampler.sample(frame, fit.points_per_frame, generator)
                loss = frame_loss(model, frame, sample, fit, mean_density[int(index)])
                (loss / len(batch)).backward()
                batch_loss += logged_factor * float(loss.detach()) / len(batch)
            if fit.gradient_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), fit.gradient_clip_norm)
            optimiser.step()
            if ema is not None:
                ema.update_parameters(model)
            losses.append(batch_loss)
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "learning_rate": rate,
                  "seconds": earlier_seconds + time.perf_counter() - started}
        if (epoch + 1) % fit.validation_every == 0 or epoch + 1 == fit.epochs:
            averaged = ema.swapped_in(model) if ema is not None else contextlib.nullcontext(model)
            with averaged as evaluated:
                metrics = evaluate_density_model(evaluated.eval(), validation)
                record.update(validation_nmape=metrics.nmape, validation_electron_error=metrics.electron_error)
                if metrics.nmape < best_nmape:
                    best_nmape = metrics.nmape
                    save_checkpoint(evaluated, best_path, metadata={"epoch": epoch + 1, "validation_nmape": metrics.nmape})
            log(f"epoch {epoch + 1}: loss {record['train_loss']:.4g} {LOSS_UNITS[fit.loss]}, validation NMAPE {metrics.nmape:.3f} %, "
                f"electron error {metrics.electron_error:.3f}, lr {rate:.2e}")
        history.append(record)
        save_run_state(last_path, model, optimiser, ema, generator, epoch + 1, best_nmape, history)
        write_history_csv(history, directory / "metrics.csv", HISTORY_COLUMNS, line_end="\n")
        spent = record["seconds"] if fit.schedule == "time" else time.perf_counter() - started
        if fit.max_seconds is not None and spent > fit.max_seconds:
            log(f"stopping after {fit.max_seconds} s of training (resume to continue)")
            break

    best = load_density_model(best_path)
    test_metrics = None
    if test:
        test_metrics = evaluate_density_model(best, test)
        log(f"test: NMAPE {test_metrics.nmape:.3f} %, electron error {test_metrics.electron_error:.3f}")
        with atomic_path(directory / "test_metrics.json") as temporary:
            temporary.write_text(json.dumps(dataclasses.asdict(test_metrics), indent=1))
    return best, test_metrics
