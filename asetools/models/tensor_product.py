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

__all__ = [
    "Irrep",
    "irreps_dim",
    "irreps_slices",
    "spherical_harmonic_irreps",
    "allowed_irreps",
    "path_exists",
    "reachable_irreps",
    "ChannelwiseTensorProduct",
]

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


def path_exists(first: Irrep, second: Irrep, output: Irrep) -> bool:
    """Whether ``first x second`` contains ``output`` (triangle rule and parity)."""
    (l1, p1), (l2, p2), (l3, p3) = first, second, output
    return abs(l1 - l2) <= l3 <= l1 + l2 and p3 == p1 * p2


def reachable_irreps(first: Sequence[Irrep], second: Sequence[Irrep], candidates: Sequence[Irrep]) -> list[Irrep]:
    """The ``candidates`` that some product of an irrep of ``first`` and one of ``second`` contains."""
    return [out for out in candidates if any(path_exists(a, b, out) for a in first for b in second)]


@dataclass(frozen=True)
class Path:
    """One coupling ``input irrep x environment irrep -> output irrep``."""

    input_index: int
    env_index: int
    output_index: int


class ChannelwiseTensorProduct(torch.nn.Module):
    """Channel-wise Clebsch-Gordan product of edge features with environment features.

    For every channel ``c`` and every path ``(l1, p1) x (l2, p2) -> (l3, p1 p2)`` with
    ``|l1 - l2| <= l3 <= l1 + l2``, the Clebsch-Gordan product of ``x[:, c]`` and
    ``env[:, c]`` is formed and weighted by a learned ``weights[c, path]``; the paths
    that land on one output irrep are summed. Each path's coefficients are scaled by
    ``sqrt(2 l3 + 1)`` and by ``1 / sqrt(number of paths into l3)``, so unit-variance
    inputs give outputs of order one. Channels are not mixed: this is the "path and
    channel" weighting of Allegro as nequip-allegro maintains it.

    The whole map is one tensor ``W[c, i, j, k] = sum_p weights[c, p] * C_p[i, j, k]``
    (:meth:`coupling_tensor`), with ``C_p`` the path's coefficients placed in the
    blocks of its irreps. Because the environment belongs to the centre atom, the fast
    route contracts it with ``W`` once per atom (:meth:`contract_environment`) and then
    each edge needs only a ``dim(input) x dim(output)`` matrix product. :meth:`forward`
    is the plain per-path evaluation on edges, kept as the reference.

    Args:
        input_irreps: irreps of ``x``.
        env_irreps: irreps of ``env``.
        output_irreps: the irreps the output may carry (those no path reaches are dropped;
            the kept ones are in :attr:`output_irreps`).
        channels: ``C``, the number of channels of ``x``, ``env`` and the output.
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
        self.output_irreps = reachable_irreps(self.input_irreps, self.env_irreps, candidates)
        if not self.output_irreps:
            raise ValueError(
                f"no coupling path from {self.input_irreps} x {self.env_irreps} to any of {candidates}"
            )
        self.paths = [
            Path(i, j, k)
            for k, out in enumerate(self.output_irreps)
            for i, first in enumerate(self.input_irreps)
            for j, second in enumerate(self.env_irreps)
            if path_exists(first, second, out)
        ]
        self.input_slices = irreps_slices(self.input_irreps)
        self.env_slices = irreps_slices(self.env_irreps)
        self.output_slices = irreps_slices(self.output_irreps)
        paths_into = [sum(p.output_index == k for p in self.paths) for k in range(len(self.output_irreps))]
        couplings = torch.zeros(
            len(self.paths), irreps_dim(self.input_irreps), irreps_dim(self.env_irreps), self.output_dim,
            dtype=torch.float64,
        )
        for index, path in enumerate(self.paths):
            l1, l2, l3 = (
                self.input_irreps[path.input_index][0],
                self.env_irreps[path.env_index][0],
                self.output_irreps[path.output_index][0],
            )
            scale = ((2 * l3 + 1) / paths_into[path.output_index]) ** 0.5
            couplings[
                index,
                self.input_slices[path.input_index],
                self.env_slices[path.env_index],
                self.output_slices[path.output_index],
            ] = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * scale
        self.register_buffer("couplings", couplings.to(torch.get_default_dtype()), persistent=False)
        self.weights = torch.nn.Parameter(
            torch.empty(self.channels, len(self.paths)).uniform_(-(3.0**0.5), 3.0**0.5)
        )

    @property
    def output_dim(self) -> int:
        return irreps_dim(self.output_irreps)

    def coupling_tensor(self) -> torch.Tensor:
        """``W[c, i, j, k]``: the weighted coefficients of all paths, ``[C, D_in, D_env, D_out]``."""
        return torch.einsum("cp,pijk->cijk", self.weights, self.couplings)

    def contract_environment(self, env: torch.Tensor) -> torch.Tensor:
        """``M[n, c, i, k] = sum_j env[n, c, j] W[c, i, j, k]``.

        Args:
            env: ``[N, C, D_env]`` environment features of the centre atoms.

        Returns:
            ``[N, C, D_in, D_out]``: per atom and channel, the matrix that maps an
            edge's input features to its output features (``x @ M``).
        """
        return torch.einsum("ncj,cijk->ncik", env, self.coupling_tensor())

    def forward(self, x: torch.Tensor, env: torch.Tensor) -> torch.Tensor:
        """Plain per-path product: ``x [E, C, D_in]``, ``env [E, C, D_env]`` -> ``[E, C, D_out]``."""
        per_output: list[torch.Tensor | None] = [None] * len(self.output_irreps)
        for index, path in enumerate(self.paths):
            block = self.couplings[
                index,
                self.input_slices[path.input_index],
                self.env_slices[path.env_index],
                self.output_slices[path.output_index],
            ]
            product = torch.einsum(
                "eci,ecj,ijk->eck",
                x[..., self.input_slices[path.input_index]],
                env[..., self.env_slices[path.env_index]],
                block,
            ) * self.weights[:, index, None]
            total = per_output[path.output_index]
            per_output[path.output_index] = product if total is None else total + product
        return torch.cat(per_output, dim=-1)
