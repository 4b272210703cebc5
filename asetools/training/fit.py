"""A minimal, seeded energy-and-force fit of an energy model to labelled structures.

The full training pipeline (configs, EMA, schedules, checkpoints, resume) builds on
this; :func:`fit` is the small core it shares: samples with precomputed graphs, the
loss, and the error metrics.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from ase import Atoms

from .._optional import optional_import
from ..graph import AtomicGraph, batch_graphs, build_graph
from ..models import EnergyModel, Potential
from ..data.labels import read_energy, read_forces

logger = logging.getLogger(__name__)

__all__ = ["Sample", "make_samples", "collate", "ErrorMetrics", "evaluate_errors", "FitResult", "fit"]


@dataclass
class Sample:
    """One labelled structure: its graph, reference energy ``[1]`` (eV) and forces ``[N, 3]`` (eV/Å)."""

    graph: AtomicGraph
    energy: torch.Tensor
    forces: torch.Tensor


def make_samples(
    frames: Sequence[Atoms],
    cutoff: float,
    species: Sequence[str],
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    energy_key: str = "energy",
    forces_key: str = "forces",
) -> list[Sample]:
    """Build every structure's graph once and read its labels (errors name the structure)."""
    samples = []
    for index, atoms in enumerate(frames):
        try:
            graph = build_graph(atoms, cutoff, species, dtype=dtype, device=device)
        except ValueError as error:
            raise ValueError(f"structure {index}: {error}") from None
        energy = torch.tensor([read_energy(atoms, energy_key, index)], dtype=dtype, device=device)
        forces = torch.as_tensor(read_forces(atoms, forces_key, index), dtype=dtype, device=device)
        samples.append(Sample(graph, energy, forces))
    return samples


def collate(samples: Sequence[Sample]) -> Sample:
    """Join samples into one batch sample."""
    return Sample(
        graph=batch_graphs([s.graph for s in samples]),
        energy=torch.cat([s.energy for s in samples]),
        forces=torch.cat([s.forces for s in samples]),
    )


@dataclass
class ErrorMetrics:
    """Errors of a model on labelled structures.

    Attributes:
        energy_mae: mean absolute error of the energy per atom, eV/atom.
        energy_rmse: root mean square error of the energy per atom, eV/atom.
        force_mae: mean absolute error of force components, eV/Å.
        force_rmse: root mean square error of force components, eV/Å.
    """

    energy_mae: float
    energy_rmse: float
    force_mae: float
    force_rmse: float


def evaluate_errors(potential: Potential, samples: Sequence[Sample], batch_size: int = 8) -> ErrorMetrics:
    """Energy-per-atom and force errors of ``potential`` on ``samples``."""
    energy_errors, force_errors = [], []
    for start in range(0, len(samples), batch_size):
        batch = collate(samples[start : start + batch_size])
        output = potential(batch.graph, compute_forces=True)
        n_atoms = batch.graph.n_atoms.to(output.energy.dtype)
        energy_errors.append(((output.energy - batch.energy) / n_atoms).detach())
        force_errors.append((output.forces - batch.forces).detach().reshape(-1))
    energy = torch.cat(energy_errors).double()
    forces = torch.cat(force_errors).double()
    return ErrorMetrics(
        energy_mae=float(energy.abs().mean()),
        energy_rmse=float(energy.pow(2).mean().sqrt()),
        force_mae=float(forces.abs().mean()),
        force_rmse=float(forces.pow(2).mean().sqrt()),
    )


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_loss``, ``validation_energy_mae``
            (eV/atom), ``validation_force_mae`` (eV/Å), ``learning_rate``, ``seconds``.
        initial: errors on the validation set before training.
        final: errors on the validation set with the kept (best) weights.
        best_epoch: the epoch whose weights were kept (lowest validation loss).
        seconds: wall time of the fit.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    initial: ErrorMetrics | None = None
    final: ErrorMetrics | None = None
    best_epoch: int = 0
    seconds: float = 0.0


def _loss(potential: Potential, batch: Sample, energy_weight: float, force_weight: float) -> torch.Tensor:
    output = potential(batch.graph, compute_forces=True, create_graph=True)
    n_atoms = batch.graph.n_atoms.to(output.energy.dtype)
    energy_term = ((output.energy - batch.energy) / n_atoms).pow(2).mean()
    force_term = (output.forces - batch.forces).pow(2).mean()
    return energy_weight * energy_term + force_weight * force_term


def fit(
    model: EnergyModel,
    train: Sequence[Atoms],
    validation: Sequence[Atoms] | None = None,
    *,
    epochs: int = 100,
    batch_size: int = 4,
    learning_rate: float = 5e-3,
    energy_weight: float = 1.0,
    force_weight: float = 1.0,
    seed: int = 0,
    dtype: str | torch.dtype = "float32",
    device: str | torch.device = "cpu",
    max_seconds: float | None = None,
    energy_key: str = "energy",
    forces_key: str = "forces",
    progress: bool = False,
) -> FitResult:
    """Fit ``model`` in place to reference energies and forces with Adam.

    The loss per batch is ``energy_weight * mean((dE / N)^2) + force_weight * mean(dF^2)``
    (eV²/atom² and eV²/Å²). Batches are shuffled with a generator seeded by ``seed``,
    so two fits with the same inputs give the same model on CPU. The learning rate is
    halved when the validation loss stops improving for 5 epochs, and at the end the
    model keeps the weights with the lowest validation loss (the last ones without
    validation data).

    Args:
        model: the energy model; trained in place and left in ``dtype`` on ``device``.
        train: labelled structures (energy and forces, see ``energy_key`` and ``forces_key``).
        validation: held-out labelled structures (default: none).
        epochs: maximum number of passes over ``train``.
        batch_size: structures per optimiser step.
        learning_rate: Adam's initial step size.
        energy_weight, force_weight: loss weights.
        seed: seeds weight-free randomness (shuffling).
        dtype: ``"float32"`` or ``"float64"``.
        device: torch device.
        max_seconds: stop after the epoch during which this much wall time has passed.
        energy_key, forces_key: where the labels are (calculator results, ``info``, ``arrays``).
        progress: show a tqdm progress bar over epochs (needs ``tqdm``).

    One line per epoch is logged at INFO level to the ``asetools.training.fit`` logger.
    """
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if len(train) == 0:
        raise ValueError("fit: the training set is empty")
    if batch_size < 1 or epochs < 0:
        raise ValueError(f"fit: need batch_size >= 1 and epochs >= 0, got {batch_size} and {epochs}")
    started = time.perf_counter()
    model.to(device=device, dtype=dtype)
    potential = Potential(model)
    samples = make_samples(train, model.cutoff, model.species, dtype, device, energy_key, forces_key)
    held_out = make_samples(validation or [], model.cutoff, model.species, dtype, device, energy_key, forces_key)
    monitor = held_out or samples

    def validation_loss(metrics: ErrorMetrics) -> float:
        return energy_weight * metrics.energy_rmse**2 + force_weight * metrics.force_rmse**2

    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=5)
    generator = torch.Generator().manual_seed(seed)
    result = FitResult(initial=evaluate_errors(potential, monitor))
    result.final = result.initial
    best_loss = validation_loss(result.initial)
    best_state = copy.deepcopy(model.state_dict()) if held_out else None
    epoch_range = range(1, epochs + 1)
    if progress:
        tqdm = optional_import("tqdm.auto", extra="progress").tqdm
        epoch_range = tqdm(epoch_range, desc="fit", unit="epoch")
    for epoch in epoch_range:
        model.train()
        order = torch.randperm(len(samples), generator=generator).tolist()
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = collate([samples[i] for i in order[start : start + batch_size]])
            optimiser.zero_grad(set_to_none=True)
            loss = _loss(potential, batch, energy_weight, force_weight)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * batch.graph.num_graphs
            count += batch.graph.num_graphs
        model.eval()
        metrics = evaluate_errors(potential, monitor)
        loss_now = validation_loss(metrics)
        scheduler.step(loss_now)
        if not held_out or loss_now < best_loss:
            best_loss, result.best_epoch, result.final = loss_now, epoch, metrics
            if held_out:
                best_state = copy.deepcopy(model.state_dict())
        record = {
            "epoch": epoch,
            "train_loss": total / count,
            "validation_energy_mae": metrics.energy_mae,
            "validation_force_mae": metrics.force_mae,
            "learning_rate": optimiser.param_groups[0]["lr"],
            "seconds": time.perf_counter() - started,
        }
        result.history.append(record)
        logger.info(
            f"epoch {epoch:4d}  loss {record['train_loss']:.3e}  val E MAE {1e3 * metrics.energy_mae:7.2f} meV/atom"
            f"  val F MAE {1e3 * metrics.force_mae:7.1f} meV/Å  lr {record['learning_rate']:.1e}"
        )
        if max_seconds is not None and record["seconds"] >= max_seconds:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result
