"""Bias-free multilayer perceptrons on per-edge scalars."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["ScalarMLP", "NormalizedSiLU"]


@functools.cache
def _silu_second_moment(points: int = 80) -> float:
    """``E[silu(z)^2]`` for ``z ~ N(0, 1)``, by Gauss-Hermite quadrature (exact to round-off)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    silu = nodes / (1.0 + np.exp(-nodes))
    return float(np.sum(weights * silu**2) / np.sum(weights))


class NormalizedSiLU(torch.nn.Module):
    """SiLU scaled to keep a unit second moment for unit-normal input (factor 1.6765).

    The same idea as e3nn's ``normalize2mom``, with the factor from quadrature instead
    of sampling. Shapes: any, elementwise.
    """

    scale: float

    def __init__(self):
        super().__init__()
        self.scale = 1.0 / math.sqrt(_silu_second_moment())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.silu(x) * self.scale


class ScalarMLP(torch.nn.Sequential):
    """Linear layers without bias, with (optionally normalised) SiLU between them (none after the last).

    Without biases a zero input gives a zero output, so features that vanish at the
    cutoff keep vanishing through the network. Weights start as ``N(0, 1/fan_in)``,
    so a linear layer keeps the second moment of its input. A plain SiLU then shrinks
    it (to about 0.36 for unit-normal input), so deep stacks start with small outputs;
    with ``normalize_activation`` the SiLU is scaled back to a unit second moment
    (:class:`NormalizedSiLU`, as nequip's MLPs do), so outputs start of order one.

    Args:
        in_features: input width.
        hidden: widths of the hidden layers (may be empty: one linear map).
        out_features: output width.
        normalize_activation: use :class:`NormalizedSiLU` instead of plain SiLU.

    ``forward(x)`` maps ``[..., in_features]`` to ``[..., out_features]``.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int, normalize_activation: bool = False):
        widths = [in_features, *hidden, out_features]
        layers: list[torch.nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            linear = torch.nn.Linear(fan_in, fan_out, bias=False)
            torch.nn.init.normal_(linear.weight, std=fan_in**-0.5)
            layers.append(linear)
            if index < len(widths) - 2:
                layers.append(NormalizedSiLU() if normalize_activation else torch.nn.SiLU())
        super().__init__(*layers)
        self.in_features = in_features
        self.out_features = out_features
