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

__all__ = ["EdgeTensorProduct", "InteractionBlock", "natural_irreps"]


def natural_irreps(channels: int, l_max: int) -> o3.Irreps:
    """``channels`` copies of each irrep of natural parity up to ``l_max``: 0e + 1o + 2e + ..."""
    return o3.Irreps([(channels, (l, (-1) ** l)) for l in range(l_max + 1)])


class EdgeTensorProduct(torch.nn.Module):
    """The ``uvu`` tensor product of node features with edge harmonics, with weights per edge, fused.

    It computes what ``o3.TensorProduct(irreps_in, edge_irreps, irreps_out, instructions,
    shared_weights=False, internal_weights=False)`` computes (same coefficients and path
    normalisation, taken from that module), but as one coupling tensor ``C [D_in, D_edge,
    D_out]`` over all paths: per edge ``x [F, D_in] @ (C · Y) [D_in, D_out]``, then one
    weight per (path, channel). e3nn's generated code runs a few small kernels per path;
    this runs three, which on a CPU with small batches is several times faster, and with
    the double backward of force training more so.

    Features travel channel-major, ``[..., F, D]`` with ``D`` the sum of ``2l+1`` over the
    irreps, so every irrep of ``irreps_in`` and ``irreps_out`` must have the same
    multiplicity ``F``; :meth:`channel_major` and :meth:`irreps_layout` convert from and
    to e3nn's layout ``[..., sum(F (2l+1))]``.

    Args:
        irreps_in: node-feature irreps, all of multiplicity ``F``.
        edge_irreps: irreps of the edge harmonics (multiplicity 1).
        irreps_out: output irreps, one entry of multiplicity ``F`` per instruction.
        instructions: e3nn instructions ``(i_in, i_edge, i_out, "uvu", True)``.
    """

    def __init__(self, irreps_in: o3.Irreps, edge_irreps: o3.Irreps, irreps_out: o3.Irreps, instructions: list) -> None:
        super().__init__()
        self.irreps_in, self.edge_irreps, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(edge_irreps), o3.Irreps(irreps_out)
        channels = {mul for mul, _ in self.irreps_in} | {mul for mul, _ in self.irreps_out}
        if len(channels) != 1 or any(mul != 1 for mul, _ in self.edge_irreps):
            raise ValueError(
                f"EdgeTensorProduct needs one multiplicity for every node irrep and 1 for the edge irreps; got "
                f"{self.irreps_in} x {self.edge_irreps} -> {self.irreps_out}"
            )
        if any(mode != "uvu" or not weighted for _, _, _, mode, weighted in instructions):
            raise ValueError("EdgeTensorProduct implements weighted 'uvu' instructions only")
        self.channels = channels.pop()
        self.instructions = [tuple(instruction) for instruction in instructions]
        # e3nn's own module fixes the coefficients, the path weights and the order of the flat weights.
        reference = o3.TensorProduct(
            self.irreps_in, self.edge_irreps, self.irreps_out, instructions, shared_weights=False, internal_weights=False
        )
        self.weight_numel = reference.weight_numel
        in_offsets = _component_offsets(self.irreps_in)
        edge_offsets = _component_offsets(self.edge_irreps)
        out_offsets = _component_offsets(self.irreps_out)
        coupling = torch.zeros(in_offsets[-1], edge_offsets[-1], out_offsets[-1], dtype=torch.float64)
        path_of_component = torch.empty(out_offsets[-1], dtype=torch.long)
        for path, instruction in enumerate(reference.instructions):
            l1 = self.irreps_in[instruction.i_in1].ir.l
            l2 = self.edge_irreps[instruction.i_in2].ir.l
            l3 = self.irreps_out[instruction.i_out].ir.l
            block = instruction.path_weight * o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
            a, b, c = instruction.i_in1, instruction.i_in2, instruction.i_out
            coupling[in_offsets[a] : in_offsets[a + 1], edge_offsets[b] : edge_offsets[b + 1], out_offsets[c] : out_offsets[c + 1]] += block
            path_of_component[out_offsets[c] : out_offsets[c + 1]] = path
        # Kept in float64 outside the module's buffers, so that a float32 round trip of the
        # model cannot round the coefficients: float64 evaluation stays equivariant to 1e-15.
        self._coupling = coupling
        self._coupling_cache: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}
        self.register_buffer("path_of_component", path_of_component, persistent=False)
        self.num_paths = len(reference.instructions)

    def coupling(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """The coupling tensor ``[D_in, D_edge, D_out]`` (Clebsch-Gordan blocks times path weights)."""
        key = (dtype, device)
        if key not in self._coupling_cache:
            self._coupling_cache[key] = self._coupling.to(dtype=dtype, device=device)
        return self._coupling_cache[key]

    def channel_major(self, features: torch.Tensor) -> torch.Tensor:
        """``[..., sum F(2l+1)]`` in e3nn's layout (``irreps_in``) to ``[..., F, D_in]``."""
        return _to_channel_major(features, self.irreps_in, self.channels)

    def irreps_layout(self, features: torch.Tensor) -> torch.Tensor:
        """``[..., F, D_out]`` to e3nn's layout of ``irreps_out``, ``[..., sum F(2l+1)]``."""
        pieces, start = [], 0
        for _, ir in self.irreps_out:
            pieces.append(features[..., start : start + ir.dim].flatten(-2))
            start += ir.dim
        return torch.cat(pieces, dim=-1)

    def channel_major_product(self, x: torch.Tensor, harmonics: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Products ``[E, F, D_out]`` of features ``x [E, F, D_in]``, harmonics ``[E, D_edge]`` and weights ``[E, weight_numel]``."""
        couplings = torch.einsum("ijk,ej->eik", self.coupling(harmonics.dtype, harmonics.device), harmonics)
        products = torch.bmm(x, couplings)
        weights = weights.view(-1, self.num_paths, self.channels).transpose(1, 2)
        return products * weights.index_select(2, self.path_of_component)

    def forward(self, x: torch.Tensor, harmonics: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Like the e3nn module: ``x [E, dim(irreps_in)]`` to ``[E, dim(irreps_out)]``."""
        return self.irreps_layout(self.channel_major_product(self.channel_major(x), harmonics, weights))


def _component_offsets(irreps: o3.Irreps) -> list[int]:
    """Where each irrep's ``2l+1`` components start in the channel-major layout (and the total)."""
    offsets = [0]
    for _, ir in irreps:
        offsets.append(offsets[-1] + ir.dim)
    return offsets


def _to_channel_major(features: torch.Tensor, irreps: o3.Irreps, channels: int) -> torch.Tensor:
    pieces = [features[..., piece].unflatten(-1, (channels, ir.dim)) for piece, (_, ir) in zip(irreps.slices(), irreps)]
    return torch.cat(pieces, dim=-1)


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
        self.tensor_product = EdgeTensorProduct(self.irreps_in, edge_irreps, mid_sorted, instructions)
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
        x = self.tensor_product.channel_major(self.linear_in(features))
        messages = self.tensor_product.channel_major_product(x[neighbour], edge_harmonics, self.radial(edge_radial))
        summed = messages.new_zeros(features.shape[0], *messages.shape[1:]).index_add(0, centre, messages)
        update = self.linear_out(self.tensor_product.irreps_layout(summed * self.norm))
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
