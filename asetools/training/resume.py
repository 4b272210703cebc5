"""The parts of a checkpoint's ``training_state`` that let a run resume exactly.

Besides the weights, a run stopped and resumed must continue with the same optimiser moments,
moving average, schedule and random numbers as the run that never stopped. These functions
turn each into plain values and tensors (what :func:`~asetools.checkpoint.save_checkpoint`
stores and ``torch.load(..., weights_only=True)`` reads back) and restore them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

__all__ = [
    "numpy_random_state",
    "optimisation_state",
    "restore_numpy_random_state",
    "restore_optimisation_state",
    "restore_torch_random_state",
    "torch_random_state",
]


def optimisation_state(
    optimiser: torch.optim.Optimizer,
    ema: torch.nn.Module | None = None,
    scheduler: Any = None,
) -> dict[str, Any]:
    """``{"ema", "optimiser"[, "scheduler"]}``: the state dicts of what steps the weights.

    Args:
        optimiser: the optimiser (its moments and step counts).
        ema: the moving average of the weights, e.g. an
            :class:`~asetools.training.ema.ExponentialMovingAverage` (``None``: stored as ``None``).
        scheduler: a learning-rate scheduler with a ``state_dict`` (``None``: no ``"scheduler"`` entry).
    """
    state = {"ema": None if ema is None else ema.state_dict(), "optimiser": optimiser.state_dict()}
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    return state


def restore_optimisation_state(
    state: dict[str, Any],
    optimiser: torch.optim.Optimizer,
    ema: torch.nn.Module | None = None,
    scheduler: Any = None,
) -> None:
    """Load what :func:`optimisation_state` stored into ``optimiser``, ``ema`` and ``scheduler``.

    The average is left as it is when ``ema`` is ``None`` or the state has none (a run that did
    not average before); the scheduler when ``scheduler`` is ``None``.
    """
    optimiser.load_state_dict(state["optimiser"])
    if ema is not None and state.get("ema") is not None:
        ema.load_state_dict(state["ema"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])


def torch_random_state(generator: torch.Generator | None = None) -> torch.Tensor:
    """The state (a uint8 tensor) of ``generator``, or of torch's global CPU generator when ``None``."""
    return torch.get_rng_state() if generator is None else generator.get_state()


def restore_torch_random_state(state: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """Set ``generator`` (``None``: torch's global CPU generator) to a :func:`torch_random_state`."""
    if generator is None:
        torch.set_rng_state(state)
    else:
        generator.set_state(state)


def numpy_random_state(generator: np.random.Generator) -> str:
    """The state of a NumPy generator's bit generator, as JSON text (a plain value any checkpoint reader accepts)."""
    return json.dumps(generator.bit_generator.state)


def restore_numpy_random_state(state: str, generator: np.random.Generator) -> None:
    """Set ``generator`` to a :func:`numpy_random_state`, so it draws the same numbers as the one captured."""
    generator.bit_generator.state = json.loads(state)
