"""Bias-free multilayer perceptrons on per-edge scalars."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["ScalarMLP"]


class ScalarMLP(torch.nn.Sequential):
    """Linear layers without bias, with SiLU between them (none after the last).

    Without biases a zero input gives a zero output, so features that vanish at the
    cutoff keep vanishing through the network. Weights start as ``N(0, 1/fan_in)``,
    so a linear layer keeps the second moment of its input; each SiLU then shrinks it
    (to about 0.36 for unit-normal input), so deep stacks start with small outputs.

    Args:
        in_features: input width.
        hidden: widths of the hidden layers (may be empty: one linear map).
        out_features: output width.

    ``forward(x)`` maps ``[..., in_features]`` to ``[..., out_features]``.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int):
        widths = [in_features, *hidden, out_features]
        layers: list[torch.nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            linear = torch.nn.Linear(fan_in, fan_out, bias=False)
            torch.nn.init.normal_(linear.weight, std=fan_in**-0.5)
            layers.append(linear)
            if index < len(widths) - 2:
                layers.append(torch.nn.SiLU())
        super().__init__(*layers)
        self.in_features = in_features
        self.out_features = out_features
