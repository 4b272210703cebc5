"""Channel-wise Clebsch-Gordan tensor products of O(3) features, as Allegro uses them.

Features are stored as ``[E, C, D]``: ``C`` channels, each a direct sum of
irreducible representations ("irreps") concatenated along the last axis. An irrep
is a pair ``(l, p)``: degree ``l`` (dimension ``2l + 1``) and parity ``p = +1``
(even) or ``-1`` (odd) under inversion. Spherical harmonics of degree ``l`` have
parity ``(-1)^l``. Coupling coefficients come from :func:`e3nn.o3.wigner_3j`, so
the features transform with e3nn's Wigner D matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from e3nn import o3

__all__ = ["Irrep", "irreps_dim", "irreps_slices", "spherical_harmonic_irreps", "allowed_irreps", "ChannelwiseTensorProduct"]

Irrep = tuple[int, int]


def irreps_dim(irreps: Sequence[Irrep]) -> int:
    """Total dimension of a direct sum of irreps."""
    return sum(2 * l + 1 for l, _ in irreps)


def irreps_slices(irreps: Sequence[Irrep]) -> list[slice]:
    """Where each irrep sits along the last feature axis."""
    slices, start = [], 0
    for l, _ in irreps:
        slices.append(slice(start, start + 2 * l + 1))
        start += 2 * l + 1
    return slices


def spherical_harmonic_irreps(l_max: int) -> list[Irrep]:
    """``[(0, +1), (1, -1), (2, +1), ...]``: the irreps of spherical harmonics up to ``l_max``."""
    return [(l, (-1) ** l) for l in range(l_max + 1)]


def allowed_irreps(l_max: int, parity: bool) -> list[Irrep]:
    """Irreps a tensor feature may carry.

    With ``parity`` every degree up to ``l_max`` with both parities (pseudo-tensors
    such as cross products included); without it only those with the parity of the
    spherical harmonics, ``(l, (-1)^l)``. Either choice is O(3) equivariant.
    """
    if parity:
        return [(l, p) for l in range(l_max + 1) for p in (1, -1)]
    return spherical_harmonic_irreps(l_max)


@dataclass(frozen=True)
class Path:
    """One coupling ``input irrep x environment irrep -> output irrep``."""

    input_index: int
    env_index: int
    output_index: int


class ChannelwiseTensorProduct(torch.nn.Module):
    """Per-channel product of edge features with environment features, then channel mixing.

    For every channel ``c`` and every allowed path ``(l1, p1) x (l2, p2) -> (l3, p1 p2)``
    with ``|l1 - l2| <= l3 <= l1 + l2``, the Clebsch-Gordan product of ``x[:, c]`` and
    ``env[:, c]`` is formed (scaled by ``sqrt(2 l3 + 1)`` so that unit-variance inputs
    give unit-variance outputs). The paths that land on one output irrep are then mixed
    across channels and paths by a learned linear map to ``C`` channels, which keeps
    equivariance because it acts on every component ``m`` alike.

    Args:
        input_irreps: irreps of ``x``.
        env_irreps: irreps of ``env``.
        output_irreps: the irreps the output may carry (those no path reaches are dropped;
            the kept ones are in :attr:`output_irreps`).
        channels: ``C``, the number of channels of ``x``, ``env`` and the output.

    ``forward(x [E, C, dim(input)], env [E, C, dim(env)]) -> [E, C, dim(output_irreps)]``.
    """

    def __init__(
        self,
        input_irreps: Sequence[Irrep],
        env_irreps: Sequence[Irrep],
        output_irreps: Sequence[Irrep],
        channels: int,
    ):
        super().__init__()
        self.input_irreps = list(input_irreps)
        self.env_irreps = list(env_irreps)
        self.channels = int(channels)
        candidates = list(output_irreps)
        paths_by_output: dict[int, list[tuple[int, int]]] = {k: [] for k in range(len(candidates))}
        for i, (l1, p1) in enumerate(self.input_irreps):
            for j, (l2, p2) in enumerate(self.env_irreps):
                for k, (l3, p3) in enumerate(candidates):
                    if abs(l1 - l2) <= l3 <= l1 + l2 and p3 == p1 * p2:
                        paths_by_output[k].append((i, j))
        kept = [k for k in range(len(candidates)) if paths_by_output[k]]
        if not kept:
            raise ValueError(
                f"no coupling path from {self.input_irreps} x {self.env_irreps} to any of {candidates}"
            )
        self.output_irreps = [candidates[k] for k in kept]
        self.paths: list[Path] = []
        for out_index, k in enumerate(kept):
            for i, j in paths_by_output[k]:
                self.paths.append(Path(i, j, out_index))
                l1, l2, l3 = self.input_irreps[i][0], self.env_irreps[j][0], candidates[k][0]
                coupling = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * (2 * l3 + 1) ** 0.5
                self.register_buffer(f"cg_{len(self.paths) - 1}", coupling.to(torch.get_default_dtype()))
        self.input_slices = irreps_slices(self.input_irreps)
        self.env_slices = irreps_slices(self.env_irreps)
        self.paths_per_output = [sum(p.output_index == o for p in self.paths) for o in range(len(kept))]
        self.mixing = torch.nn.ParameterList(
            torch.nn.Parameter(torch.randn(n * self.channels, self.channels) / (n * self.channels) ** 0.5)
            for n in self.paths_per_output
        )

    @property
    def output_dim(self) -> int:
        return irreps_dim(self.output_irreps)

    def forward(self, x: torch.Tensor, env: torch.Tensor) -> torch.Tensor:
        num_edges = x.shape[0]
        per_output: list[list[torch.Tensor]] = [[] for _ in self.output_irreps]
        for index, path in enumerate(self.paths):
            coupling = getattr(self, f"cg_{index}")
            product = torch.einsum(
                "eci,ecj,ijk->eck",
                x[..., self.input_slices[path.input_index]],
                env[..., self.env_slices[path.env_index]],
                coupling,
            )
            per_output[path.output_index].append(product)
        blocks = []
        for products, weight, (l, _) in zip(per_output, self.mixing, self.output_irreps):
            stacked = torch.cat(products, dim=1)  # [E, n_paths * C, 2l + 1]
            mixed = torch.einsum("eqm,qc->ecm", stacked, weight)
            blocks.append(mixed.reshape(num_edges, self.channels, 2 * l + 1))
        return torch.cat(blocks, dim=-1)
