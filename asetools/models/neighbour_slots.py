"""A dense per-atom layout of the edge list: ``[N atoms, width slots]``.

A strictly local model does most of its work per edge, and sums over the edges of
each centre atom. With the edges laid out as ``[N, width]`` (the edges of atom ``n``
in row ``n``, unused slots padded), those sums are plain reductions over the slot
axis and copying an atom's value back to its edges is broadcasting, instead of
scatter and gather through index tensors (whose backward passes are slow). The
price is the padding: ``width`` is the largest neighbour count, so
``N * width - E`` slots do no useful work (about 10% for bulk fcc metals).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["NeighbourSlots", "neighbour_slots", "sorted_by_centre"]


@dataclass(frozen=True)
class NeighbourSlots:
    """Where every edge sits in the ``[num_atoms, width]`` layout.

    Attributes:
        num_atoms: ``N``.
        width: slots per atom (the largest number of edges of any centre atom).
        flat_index: ``[E]`` position of each edge in the flattened ``[N * width]`` layout.
        mask: ``[N, width]`` true where a slot holds an edge.
    """

    num_atoms: int
    width: int
    flat_index: torch.Tensor
    mask: torch.Tensor

    def scatter(self, values: torch.Tensor, fill: torch.Tensor | float) -> torch.Tensor:
        """Lay per-edge ``values [E, ...]`` out as ``[N, width, ...]``, padding with ``fill``.

        Differentiable with respect to ``values`` (the gradient of a padded slot is dropped).
        """
        trailing = values.shape[1:]
        fill = torch.as_tensor(fill, dtype=values.dtype, device=values.device)
        padded = fill.expand(self.num_atoms * self.width, *trailing).contiguous()
        padded = padded.index_copy(0, self.flat_index, values)
        return padded.view(self.num_atoms, self.width, *trailing)


def sorted_by_centre(centre: torch.Tensor) -> bool:
    """Whether the edges' centre atoms ``centre [E]`` are in non-decreasing order."""
    return centre.numel() < 2 or bool((centre[1:] >= centre[:-1]).all())


@torch.compiler.disable
def neighbour_slots(centre: torch.Tensor, num_atoms: int) -> NeighbourSlots:
    """The slot layout of the edges whose centre atoms are ``centre [E]``.

    Edges keep their relative order within each centre atom. Works whether or not the
    edges are sorted by centre (the sort is skipped when they already are). Integer
    bookkeeping with a data-dependent width: ``torch.compile`` leaves it to eager mode.
    """
    num_edges = centre.shape[0]
    device = centre.device
    counts = torch.bincount(centre, minlength=num_atoms)
    width = int(counts.max()) if num_edges else 0
    starts = torch.cumsum(counts, 0) - counts
    positions = torch.arange(num_edges, device=device)
    if sorted_by_centre(centre):
        rank = positions - starts[centre]
    else:
        order = torch.argsort(centre, stable=True)
        rank = torch.empty_like(positions)
        rank[order] = positions - starts[centre[order]]
    flat_index = centre * width + rank
    mask = torch.zeros(num_atoms * width, dtype=torch.bool, device=device)
    mask[flat_index] = True
    return NeighbourSlots(num_atoms, width, flat_index, mask.view(num_atoms, width))
