"""Exponential moving average (EMA) of a model's weights, with a warm-up.

The averaged weights are what trainers validate and keep: they are smoother than the raw
weights of the last optimiser step. :class:`ExponentialMovingAverage` is torch's
:class:`~torch.optim.swa_utils.AveragedModel` (a copy of the model whose parameters hold the
averages, plus the ``n_averaged`` counter) with the decay of :func:`ema_rate`; its
``state_dict`` is the ``AveragedModel``'s, so checkpoints store ``n_averaged`` and
``module.<name>`` entries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch.optim.swa_utils import AveragedModel

__all__ = ["ExponentialMovingAverage", "ema_average", "ema_rate"]


def ema_rate(decay: float, updates: float) -> float:
    """The share of the old average kept by the next update: ``min(decay, (1 + n) / (10 + n))`` after n updates.

    The warm-up (nequip's) lets the first updates follow the weights closely, so the average
    does not stay near the initial weights for the ~1/(1 − decay) steps a plain EMA would.
    """
    n = float(updates)
    return min(decay, (1.0 + n) / (10.0 + n))


def ema_average(decay: float, counted_from: int = 0) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """The ``multi_avg_fn`` of an ``AveragedModel`` that averages with :func:`ema_rate`.

    Args:
        decay: the long-run share of the old average kept per update (0 < decay < 1).
        counted_from: averages that do not count as updates for the warm-up: with 1, the
            average begun from the initial weights (see :class:`ExponentialMovingAverage`)
            warms up as if the first update were its first average.

    The returned function updates ``averaged`` in place towards ``current`` (lists of tensors
    of matching shapes), given the number of averages taken so far (a 0-d tensor).
    """

    def average(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        rate = ema_rate(decay, float(num_averaged) - counted_from)
        torch._foreach_lerp_(averaged, current, 1.0 - rate)

    return average


class ExponentialMovingAverage(AveragedModel):
    """An ``AveragedModel`` of ``model``'s parameters (not its buffers) with the warm-up decay.

    Call :meth:`update_parameters` with the trained model after every optimiser step. The
    averages pair with the model's parameters in the order of ``parameters()`` (which a deep
    copy keeps), so a model's named parameters and the average's match name for name.

    Args:
        model: the model being trained (deep-copied; the copy, :attr:`module`, holds the averages).
        decay: see :func:`ema_average`.
        from_initial: begin the average from ``model``'s current weights, so that the first update
            gives ``r·w₀ + (1 − r)·w₁`` (r = :func:`ema_rate` after 0 updates). Without it (the
            ``AveragedModel`` way) the first update copies the weights and the warm-up counts it.
    """

    def __init__(self, model: torch.nn.Module, decay: float, from_initial: bool = False) -> None:
        counted_from = 1 if from_initial else 0
        super().__init__(model, multi_avg_fn=ema_average(float(decay), counted_from))
        self.counted_from = counted_from
        if from_initial:
            self.update_parameters(model)  # n_averaged = 0: copies the initial weights

    @property
    def updates(self) -> int:
        """Updates averaged in so far (the count the warm-up follows)."""
        return int(self.n_averaged) - self.counted_from

    @contextlib.contextmanager
    def swapped_in(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """Within the block ``model`` holds the averaged weights (matched by name); its own come back afterwards.

        For models whose deep copies differ in their state dict (e3nn's generated modules may
        carry extra constant tensors into a copy's), so that ``model`` rather than
        :attr:`module` can be evaluated and saved.
        """
        averages = dict(self.module.named_parameters())
        with torch.no_grad():
            own = {name: value.detach().clone() for name, value in model.named_parameters()}
            for name, value in model.named_parameters():
                value.copy_(averages[name])
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, value in model.named_parameters():
                    value.copy_(own[name])
