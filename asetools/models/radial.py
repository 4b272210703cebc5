"""Radial functions of the edge length: a Bessel basis and a smooth polynomial cutoff."""

from __future__ import annotations

import math

import torch

__all__ = ["BesselBasis", "PolynomialCutoff"]


class BesselBasis(torch.nn.Module):
    """Radial Bessel functions ``(2 / r_max) sin(w_n r / r_max) / r``, ``w_n = n pi``.

    Args:
        r_max: cutoff radius in Å.
        num_basis: number of functions ``n = 1 .. num_basis``.
        trainable: learn the frequencies ``w_n`` (initialised at ``n pi``).

    ``forward(r)`` maps edge lengths ``[E]`` (Å) to ``[E, num_basis]`` (1/Å).
    """

    def __init__(self, r_max: float, num_basis: int = 8, trainable: bool = True):
        super().__init__()
        self.r_max = float(r_max)
        self.prefactor = 2.0 / self.r_max
        frequencies = math.pi * torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype())
        if trainable:
            self.frequencies = torch.nn.Parameter(frequencies)
        else:
            self.register_buffer("frequencies", frequencies)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = (r / self.r_max).unsqueeze(-1)
        return self.prefactor * torch.sin(self.frequencies * x) / r.unsqueeze(-1)


class PolynomialCutoff(torch.nn.Module):
    """Smooth envelope ``u(r / r_max)`` that is 1 at 0 and falls to 0 at ``r_max``.

    ``u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)`` for ``x < 1``,
    and 0 beyond; its first ``p - 1`` derivatives vanish at ``x = 1`` (Klicpera et al.,
    DimeNet). ``forward(r)`` maps ``[E]`` lengths in Å to ``[E]`` dimensionless values.
    """

    def __init__(self, r_max: float, p: int = 6):
        super().__init__()
        if p < 2:
            raise ValueError(f"polynomial cutoff: p must be at least 2, got {p}")
        self.r_max = float(r_max)
        self.p = int(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = r / self.r_max
        envelope = (
            1.0
            - 0.5 * (p + 1) * (p + 2) * x.pow(p)
            + p * (p + 2) * x.pow(p + 1)
            - 0.5 * p * (p + 1) * x.pow(p + 2)
        )
        return envelope * (x < 1.0)
