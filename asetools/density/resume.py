"""A density run's ``last.pt``: the training state written after every epoch, and resuming from it.

The checkpoint holds the model's current (not averaged) weights and a ``training_state`` of

- ``"ema"`` and ``"optimiser"``: :func:`asetools.training.resume.optimisation_state` of the Adam
  optimiser and the :class:`~asetools.training.ema.ExponentialMovingAverage` (``None`` without one);
- ``"numpy_random"`` (JSON text) and ``"torch_random"`` (uint8 tensor): the point and batch
  generator and torch's global generator;
- ``"epoch"``, ``"best_nmape"`` (percent) and ``"history"`` (JSON text of the metrics rows).

Files written before the moving average was the training package's (asetools 0.3.0) store
``"ema"`` as ``{"updates": n, "average": {parameter name: tensor}}``; :func:`restore_run_state`
reads that layout too.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from ..checkpoint import read_checkpoint, save_checkpoint
from ..training.ema import ExponentialMovingAverage
from ..training.resume import (
    numpy_random_state,
    optimisation_state,
    restore_numpy_random_state,
    restore_optimisation_state,
    restore_torch_random_state,
    torch_random_state,
)
from .model import DensityModel

__all__ = ["read_run_state", "restore_run_state", "save_run_state"]


def save_run_state(
    path: str | os.PathLike,
    model: DensityModel,
    optimiser: torch.optim.Optimizer,
    ema: ExponentialMovingAverage | None,
    generator: np.random.Generator,
    epoch: int,
    best_nmape: float,
    history: list[dict[str, float]],
) -> None:
    """Write ``last.pt`` at ``path`` (atomically): ``model``'s weights and everything needed to resume after ``epoch``."""
    state = {
        **optimisation_state(optimiser, ema),
        "numpy_random": numpy_random_state(generator),
        "torch_random": torch_random_state(),
        "epoch": epoch,
        "best_nmape": best_nmape,
        "history": json.dumps(history),
    }
    save_checkpoint(model, path, metadata={"epoch": epoch}, training_state=state)


def read_run_state(path: str | os.PathLike) -> dict[str, Any]:
    """The ``training_state`` of the ``last.pt`` at ``path``.

    Raises:
        ValueError: the file holds a model but no training state.
    """
    state = read_checkpoint(path).get("training_state")
    if state is None:
        raise ValueError(f"{path} has no training state to resume from; delete it or set training.resume: false")
    return state


def restore_run_state(
    state: dict[str, Any],
    optimiser: torch.optim.Optimizer,
    ema: ExponentialMovingAverage | None,
    generator: np.random.Generator,
) -> tuple[int, float, list[dict[str, float]]]:
    """Load a :func:`read_run_state` into the optimiser, the average and the random generators.

    The average stays as constructed when the state has none. Returns the epochs done, the best
    validation NMAPE so far (percent) and the history rows.
    """
    if ema is not None and state.get("ema") is not None:
        state = {**state, "ema": _current_ema_layout(ema, state["ema"])}
    restore_optimisation_state(state, optimiser, ema)
    restore_numpy_random_state(state["numpy_random"], generator)
    restore_torch_random_state(state["torch_random"])
    return int(state["epoch"]), float(state["best_nmape"]), list(json.loads(state["history"]))


def _current_ema_layout(ema: ExponentialMovingAverage, stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` as ``ema.state_dict()`` lays it out, converting the 0.3.0 ``{"updates", "average"}`` layout.

    The old average began at the initial weights and counted only the updates since, which is
    what an average ``from_initial`` does with one more ``n_averaged``. The old layout kept no
    buffers; they are the model's, as the average copied them.
    """
    if "average" not in stored:
        return stored
    state = dict(ema.state_dict())
    for name, value in stored["average"].items():
        state[f"module.{name}"] = value
    state["n_averaged"] = torch.tensor(int(stored["updates"]) + ema.counted_from, dtype=state["n_averaged"].dtype)
    return state
