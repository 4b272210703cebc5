"""Equivariant message passing on e3nn irreps (the NequIP interaction block).

One :class:`InteractionBlock` updates node features ``h`` [N, dim] as

    m_i = (1/√n_avg) Σ_j  R(|r_ij|) ⊗_uvu ( W_in h_j , Y(r̂_ij) )     (weights per edge from R)
    h_i ← σ( W_out m_i ) + W_self h_i

with ``σ`` a gated nonlinearity (or none, which keeps the update linear in ``h`` and the model
body-ordered, as in BOTNet), ``W_self`` a linear self-connection (optionally one per species of
atom ``i``, as NequIP's species-dependent tensor-product self-connection, or none), ``Y`` the spherical harmonics of the edge direction and ``R`` an MLP of the radial basis
times a smooth cutoff, so messages vanish smoothly at the cutoff. Only paths whose output irrep
is among the block's target irreps are built.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from e3nn import o3
from e3nn.nn import Gate

from .mlp import ScalarMLP

__all__ = ["InteractionBlock", "natural_irreps"]


def natural_irreps(channels: int, l_max: int) -> o3.Irreps:
    """``channels`` copies of each irrep of natural parity up to ``l_max``: 0e + 1o + 2e + ..."""
    return o3.Irreps([(channels, (l, (-1) ** l)) for l in range(l_max + 1)])


class InteractionBlock(torch.nn.Module):
    """One equivariant convolution, with an optional gated nonlinearity and self-connection.

    Args:
        irreps_in: irreps of the incoming node features.
        target_irreps: irreps of the outgoing node features (scalars gate the rest).
        edge_irreps: irreps of the edge spherical harmonics.
        num_radial: width of the radial basis fed to the weight MLP.
        radial_hidden: hidden widths of that MLP.
        average_neighbours: the sum over neighbours is divided by its square root.
        gate: apply the gated nonlinearity: SiLU on even scalars, tanh on odd ones, and
            sigmoid gates on the higher irreps. Without it the block is linear in ``h``.
        self_connection: add a linear map of the old features.
        num_species: with a self-connection, give it one weight matrix per species (a
            tensor product with the one-hot species); 0 shares one matrix.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        target_irreps: o3.Irreps,
        edge_irreps: o3.Irreps,
        num_radial: int,
        radial_hidden: Sequence[int],
        average_neighbours: float,
        gate: bool = True,
        self_connection: bool = True,
        num_species: int = 0,
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        target_irreps = o3.Irreps(target_irreps)
        wanted = {ir for _, ir in target_irreps}
        self.linear_in = o3.Linear(self.irreps_in, self.irreps_in)
        mid, instructions = [], []
        for i, (multiplicity, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_edge) in enumerate(edge_irreps):
                for ir_out in ir_in * ir_edge:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((multiplicity, ir_out))
        if not mid:
            raise ValueError(f"no path from {self.irreps_in} x {edge_irreps} reaches {target_irreps}")
        mid = o3.Irreps(mid)
        mid_sorted, permutation, _ = mid.sort()
        instructions = [(i, j, permutation[k], mode, train) for i, j, k, mode, train in instructions]
        self.tensor_product = o3.TensorProduct(
            self.irreps_in, edge_irreps, mid_sorted, instructions, shared_weights=False, internal_weights=False
        )
        self.radial = ScalarMLP(num_radial, radial_hidden, self.tensor_product.weight_numel)
        self.gate = _gate(target_irreps) if gate else None
        out_irreps = self.gate.irreps_in if gate else target_irreps
        self.linear_out = o3.Linear(mid_sorted.simplify(), out_irreps)
        self.irreps_out = self.gate.irreps_out if gate else target_irreps
        self.species_irreps = o3.Irreps(f"{num_species}x0e") if num_species > 0 else None
        if not self_connection:
            self.self_connection = None
        elif self.species_irreps is None:
            self.self_connection = o3.Linear(self.irreps_in, self.irreps_out)
        else:
            self.self_connection = o3.FullyConnectedTensorProduct(self.irreps_in, self.species_irreps, self.irreps_out)
        self.norm = float(average_neighbours) ** -0.5

    def forward(
        self,
        features: torch.Tensor,
        edge_harmonics: torch.Tensor,
        edge_radial: torch.Tensor,
        edge_index: torch.Tensor,
        species_one_hot: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """New node features [N, dim(irreps_out)].

        Args:
            features: [N, dim(irreps_in)] node features.
            edge_harmonics: [E, dim(edge_irreps)] harmonics of the edge directions.
            edge_radial: [E, num_radial] radial basis times the cutoff envelope.
            edge_index: [2, E] (centre, neighbour).
            species_one_hot: [N, num_species] one-hot species, for a per-species self-connection.
        """
        centre, neighbour = edge_index[0], edge_index[1]
        x = self.linear_in(features)
        messages = self.tensor_product(x[neighbour], edge_harmonics, self.radial(edge_radial))
        summed = torch.zeros(features.shape[0], messages.shape[1], dtype=messages.dtype, device=messages.device)
        summed = summed.index_add(0, centre, messages) * self.norm
        update = self.linear_out(summed)
        if self.gate is not None:
            update = self.gate(update)
        if self.self_connection is None:
            return update
        if self.species_irreps is None:
            return update + self.self_connection(features)
        if species_one_hot is None:
            raise ValueError("this block's self-connection depends on the species: pass species_one_hot")
        return update + self.self_connection(features, species_one_hot)


def _gate(target_irreps: o3.Irreps) -> Gate:
    """A gate whose output is ``target_irreps``: odd-safe activations on scalars, sigmoid gates on the rest."""
    scalars = o3.Irreps([(m, ir) for m, ir in target_irreps if ir.l == 0])
    gated = o3.Irreps([(m, ir) for m, ir in target_irreps if ir.l > 0])
    gates = o3.Irreps([(m, "0e") for m, _ in gated]).simplify()
    scalar_acts = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
    return Gate(scalars, scalar_acts, gates, [torch.sigmoid] * len(gates), gated)
