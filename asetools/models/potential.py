"""Potential: energy, forces and stress for any energy model, written once.

Forces are the exact negative gradient of the total energy with respect to the
positions. Stress follows ASE: a symmetric strain ``eps`` is applied to both
positions and cell (``r -> r (1 + eps)``) and ``stress = (1/V) dE/d eps`` in
eV/Å³. A compressed crystal (one that would lower its energy by expanding) thus
has negative stress, as with every ASE calculator. The virial is ``-dE/d eps``
in eV.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from ..graph import AtomicGraph
from .base import EnergyModel
from .local import LocalEnvironments, is_strictly_local
from .memory_budget import BlockCost, edges_per_block_for_budget, measure_block_cost, memory_budget, parse_memory
from .neighbour_slots import sorted_by_centre


class FeatureUncertainty(Protocol):
    """What :class:`Potential` needs of a fitted single-model uncertainty.

    :class:`asetools.uncertainty.LatentUncertainty` is one: a module of ``num_features`` inputs
    that maps per-atom latent features ``[N, F]`` to a per-atom score ``[N]`` and, when
    calibrated, the expected force-error norm ``[N]`` in eV/Å (else ``None``).
    """

    num_features: int

    def __call__(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]: ...

__all__ = ["FeatureUncertainty", "Potential", "PotentialOutput"]

#: Default block size of the blocked evaluation, in edges (about 256 atoms of a dense metal
#: at 5 Å): small enough that every intermediate tensor of an Allegro layer stays well
#: below glibc's 32 MiB limit for reusing freed heap memory (see benchmarks/RESULTS.md).
DEFAULT_EDGES_PER_BLOCK = 12288


@dataclass
class PotentialOutput:
    """What :class:`Potential` computes for a batch of ``B`` structures and ``N`` atoms.

    Attributes:
        energy: ``[B]`` total energy per structure in eV.
        atom_energies: ``[N]`` per-atom energies in eV (they sum to ``energy``).
        forces: ``[N, 3]`` forces in eV/Å, or ``None`` if not asked for.
        virial: ``[B, 3, 3]`` virial ``-dE/d eps`` in eV, or ``None`` if not asked for.
        stress: ``[B, 3, 3]`` stress ``(1/V) dE/d eps`` in eV/Å³ (ASE sign); NaN for a
            structure whose cell has zero volume; ``None`` if not asked for.
        atom_features: ``[N, F]`` invariant per-atom latent features (no autograd graph),
            or ``None`` if not asked for.
        atom_uncertainty: ``[N]`` per-atom uncertainty score (the negative log-likelihood
            of the atom's features under the fitted mixture; dimensionless), or ``None``.
        atom_force_uncertainty: ``[N]`` expected norm of each atom's force error in eV/Å,
            when the uncertainty is calibrated and was asked for; else ``None``.
        atom_virials: ``[N, 3, 3]`` per-atom virials in eV, or ``None`` if not asked for:
            atom ``i`` gets ``-sum_j r_ij (x) dE_i/dr_ij`` (symmetrised) over its own edges,
            so they sum to ``virial`` and a domain's share needs only its own centres.
    """

    energy: torch.Tensor
    atom_energies: torch.Tensor
    forces: torch.Tensor | None = None
    virial: torch.Tensor | None = None
    stress: torch.Tensor | None = None
    atom_features: torch.Tensor | None = None
    atom_uncertainty: torch.Tensor | None = None
    atom_force_uncertainty: torch.Tensor | None = None
    atom_virials: torch.Tensor | None = None


class Potential(torch.nn.Module):
    """Wraps an :class:`EnergyModel` and derives forces and stress by autograd.

    Args:
        model: any module with ``forward(graph) -> [N]`` per-atom energies, and
            ``species`` and ``cutoff`` attributes.
        edges_per_block: for a strictly local model evaluated without differentiable
            outputs, the largest number of edges per block of centre atoms (a block
            always holds at least one atom). Peak memory scales with it, not with the
            system size.
        max_memory: a memory budget for one evaluation: bytes, a string such as
            ``"4 GiB"``, or ``"auto"`` (90% of the memory available on the device at
            each call). Blocks are then made smaller than ``edges_per_block`` when the
            graph, its per-edge arrays and one block's working memory would not fit
            otherwise (:mod:`~asetools.models.memory_budget`); a budget too small for
            the system raises a MemoryError that says how much it needs, before any
            large allocation. On a GPU, raise ``edges_per_block`` too, to fill the
            budget with larger blocks.
        uncertainty: a fitted :class:`~asetools.uncertainty.LatentUncertainty` for the
            model's latent features, or ``None``.
        compile: evaluate a strictly local model's environments with ``torch.compile``
            (inductor, dynamic shapes) when no parameter gradients are needed, as in MD.
            The first call compiles (tens of seconds; later processes reuse inductor's
            on-disk cache), and each further neighbour-count layout may add one more
            compilation. It pays off most for small models, whose eager evaluation is
            dominated by per-operation overhead. Training and other paths stay eager.
    """

    def __init__(
        self,
        model: EnergyModel,
        edges_per_block: int = DEFAULT_EDGES_PER_BLOCK,
        uncertainty: FeatureUncertainty | None = None,
        max_memory: int | str | None = None,
        compile: bool = False,
    ):
        super().__init__()
        if edges_per_block < 1:
            raise ValueError(f"edges_per_block must be at least 1, got {edges_per_block}")
        self.model = model
        self.edges_per_block = int(edges_per_block)
        self.max_memory = max_memory if max_memory in (None, "auto") else parse_memory(max_memory)
        self._block_costs: dict[tuple[torch.dtype, str], BlockCost] = {}
        if uncertainty is not None:
            width = getattr(model, "num_latent_features", None)
            if width != uncertainty.num_features:
                raise ValueError(
                    f"the uncertainty was fitted to {uncertainty.num_features} latent features, but this "
                    f"{type(model).__name__} has {width}: it was fitted for another model; refit it for this one"
                )
        self.uncertainty = uncertainty
        if compile and not is_strictly_local(model):
            raise ValueError(
                f"compile=True evaluates strictly local models block by block; {type(model).__name__} here is "
                "not one (message passing, or a pair with such a part): evaluate it without compile"
            )
        self.compile = bool(compile)
        self._compiled: dict[str, Callable] = {}

    def __getstate__(self):
        # Compiled functions hold code objects and guards: copies compile afresh.
        return {**self.__dict__, "_compiled": {}}

    @property
    def species(self) -> list[str]:
        return self.model.species

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    def forward(
        self,
        graph: AtomicGraph,
        compute_forces: bool = True,
        compute_stress: bool = False,
        create_graph: bool = False,
        compute_features: bool = False,
        compute_uncertainty: bool = False,
        compute_atom_virials: bool = False,
    ) -> PotentialOutput:
        """Energies, and on request forces, stress, features and uncertainty, of every structure in ``graph``.

        Args:
            graph: the batch.
            compute_forces: compute ``forces = -dE/dr``.
            compute_stress: compute ``virial`` and ``stress`` through a strain.
            create_graph: keep the autograd graph of the derivatives (for a loss on
                forces or stress during training).
            compute_features: return the per-atom latent features (local models with
                features only, such as Allegro).
            compute_uncertainty: score the features with the fitted uncertainty (raises
                if there is none); implies ``compute_features``.
            compute_atom_virials: also compute the per-atom virials (implies
                ``compute_stress``); strictly local models evaluated without a
                parameter graph only, as in MD.
        """
        if compute_uncertainty and self.uncertainty is None:
            raise ValueError(
                "this potential has no fitted uncertainty; add one with `asetools fit-uncertainty` "
                "or asetools.uncertainty.fit_uncertainty"
            )
        compute_features = compute_features or compute_uncertainty
        if compute_features and getattr(self.model, "num_latent_features", None) is None:
            raise TypeError(f"{type(self.model).__name__} models have no per-atom latent features")
        blocked = is_strictly_local(self.model) and not create_graph and not self._parameters_need_grad()
        if compute_atom_virials and not blocked:
            raise ValueError(
                f"per-atom virials need a strictly local model evaluated outside training (no create_graph, "
                f"no parameter gradients); {type(self.model).__name__} here is not"
            )
        if blocked:
            output = self._forward_in_blocks(
                graph, compute_forces, compute_stress or compute_atom_virials, compute_features, compute_atom_virials
            )
            return self._scored(output) if compute_uncertainty else output
        needs_grad = compute_forces or compute_stress
        strain = None
        positions = graph.positions
        if needs_grad:
            positions = positions.detach().requires_grad_(compute_forces)
            work = graph.replace(positions=positions)
            if compute_stress:
                strain = torch.zeros_like(graph.cell, requires_grad=True)
                symmetric = 0.5 * (strain + strain.transpose(1, 2))
                deformation = symmetric[graph.batch]  # [N, 3, 3]
                work = work.replace(
                    positions=positions + torch.einsum("ni,nij->nj", positions, deformation),
                    cell=graph.cell + torch.bmm(graph.cell, symmetric),
                )
        else:
            work = graph

        # Without derivatives the caller's grad mode decides (training on energies needs it on).
        with torch.enable_grad() if needs_grad else contextlib.nullcontext():
            features = None
            if compute_features:
                atom_energies, features = self.model.energies_and_features(work)
                features = features.detach()
            else:
                atom_energies = self.model(work)
            energy = torch.zeros(
                graph.num_graphs, dtype=atom_energies.dtype, device=atom_energies.device
            ).index_add(0, graph.batch, atom_energies)
            output = PotentialOutput(energy=energy, atom_energies=atom_energies, atom_features=features)
            if compute_uncertainty:
                self._scored(output)
            if not needs_grad:
                return output
            inputs = ([positions] if compute_forces else []) + ([strain] if compute_stress else [])
            grads = torch.autograd.grad(
                energy.sum(), inputs, create_graph=create_graph, allow_unused=True
            )
        grads = [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]
        if compute_forces:
            output.forces = -grads[0]
        if compute_stress:
            _set_stress(output, grads[-1], graph.cell)
        return output

    def _parameters_need_grad(self) -> bool:
        """Whether the energy must stay differentiable in the parameters (training)."""
        return torch.is_grad_enabled() and any(p.requires_grad for p in self.model.parameters())

    def _scored(self, output: PotentialOutput) -> PotentialOutput:
        """Fill the uncertainty fields of ``output`` from its features."""
        output.atom_uncertainty, output.atom_force_uncertainty = self.uncertainty(output.atom_features)
        return output

    def _forward_in_blocks(
        self,
        graph: AtomicGraph,
        compute_forces: bool,
        compute_stress: bool,
        compute_features: bool = False,
        compute_atom_virials: bool = False,
    ) -> PotentialOutput:
        """Block-by-block evaluation of a strictly local model; outputs carry no autograd graph."""
        needs_grad = compute_forces or compute_stress
        centre, neighbour = graph.edge_index[0], graph.edge_index[1]
        edges_sorted = sorted_by_centre(centre)
        degree = torch.bincount(centre, minlength=graph.num_atoms)
        edges_per_block = self._edges_per_block(graph, edges_sorted, degree)  # before the [E, 3] arrays
        with torch.no_grad():
            vectors = graph.edge_vectors()
        if not edges_sorted:
            order = torch.argsort(centre, stable=True)
            centre, neighbour, vectors = centre[order], neighbour[order], vectors[order]
        # Blocks hold only atoms with edges: an atom without neighbours would still take a full
        # row of the block's [atoms, widest neighbour count] layout. Those atoms form one last
        # group of empty environments.
        active = torch.nonzero(degree).squeeze(1)
        offsets = [0] + torch.cumsum(degree[active], 0).tolist()
        groups = [(active[start:stop], offsets[start], offsets[stop]) for start, stop in _blocks(offsets, edges_per_block)]
        idle = torch.nonzero(degree == 0).squeeze(1)
        if len(idle):
            groups.append((idle, 0, 0))
        atom_energies = torch.empty(graph.num_atoms, dtype=graph.dtype, device=graph.device)
        features = None
        if compute_features:
            features = torch.empty(graph.num_atoms, self.model.num_latent_features, dtype=graph.dtype, device=graph.device)
        # Forces and virials are accumulated block by block: nothing of size [edges] but the
        # edge vectors outlives its block.
        forces = torch.zeros_like(graph.positions) if compute_forces else None
        d_energy_d_strain = torch.zeros_like(graph.cell) if compute_stress else None
        atom_virials = graph.positions.new_zeros(graph.num_atoms, 3, 3) if compute_atom_virials else None
        for atoms, first, last in groups:
            block_vectors = vectors[first:last]
            if needs_grad:
                block_vectors = block_vectors.detach().requires_grad_(True)
            environments = LocalEnvironments(
                centre_species=graph.species[atoms],
                edge_centre=torch.repeat_interleave(torch.arange(len(atoms), device=graph.device), degree[atoms]),
                edge_vectors=block_vectors,
                neighbour_species=graph.species[neighbour[first:last]],
            )
            with torch.enable_grad() if needs_grad else torch.no_grad():
                if compute_features:
                    energies, block_features = self._local("local_energies_and_features", environments)
                    features[atoms] = block_features.detach()
                else:
                    energies = self._local("local_energies", environments)
                grad = None
                if needs_grad and last > first:
                    (grad,) = torch.autograd.grad(energies.sum(), block_vectors, allow_unused=True)
            atom_energies[atoms] = energies.detach()
            if grad is None:
                continue
            if compute_forces:
                forces.index_add_(0, centre[first:last], grad).index_add_(0, neighbour[first:last], grad, alpha=-1.0)
            if compute_stress:
                edge_virials = block_vectors.detach().unsqueeze(2) * grad.unsqueeze(1)  # [e, 3, 3]: r_a g_b
                edge_virials = 0.5 * (edge_virials + edge_virials.transpose(1, 2))
                d_energy_d_strain.index_add_(0, graph.batch[centre[first:last]], edge_virials)
                if compute_atom_virials:
                    atom_virials.index_add_(0, centre[first:last], edge_virials, alpha=-1.0)
        energy = torch.zeros(graph.num_graphs, dtype=graph.dtype, device=graph.device)
        output = PotentialOutput(
            energy=energy.index_add(0, graph.batch, atom_energies),
            atom_energies=atom_energies,
            atom_features=features,
            forces=forces,
            atom_virials=atom_virials,
        )
        if compute_stress:
            _set_stress(output, d_energy_d_strain, graph.cell)
        return output

    def _local(self, method: str, environments: LocalEnvironments):
        """``self.model.<method>(environments)``, through ``torch.compile`` when asked for."""
        if not self.compile:
            return getattr(self.model, method)(environments)
        function = self._compiled.get(method)
        if function is None:
            function = self._compiled[method] = torch.compile(getattr(self.model, method), dynamic=True)
        try:
            return function(environments)
        except torch._dynamo.exc.BackendCompilerFailed as error:
            raise RuntimeError(
                f"torch.compile could not build {type(self.model).__name__} for this device (on a CPU inductor "
                f"needs a working C++ compiler, on a GPU Triton); evaluate without compile=True. Cause: {error}"
            ) from error

    def _edges_per_block(self, graph: AtomicGraph, sorted_edges: bool, degree: torch.Tensor | None = None) -> int:
        """``edges_per_block``, or the block size that fits ``graph`` in ``max_memory`` (``degree``: edges per atom)."""
        if self.max_memory is None:
            return self.edges_per_block
        key = (graph.dtype, str(graph.device))
        if key not in self._block_costs:
            self._block_costs[key] = measure_block_cost(self.model, graph.dtype, graph.device)
        budget = memory_budget(self.max_memory, graph.device)
        fitting = edges_per_block_for_budget(budget, graph, self._block_costs[key], sorted_edges, degree)
        return min(fitting, self.edges_per_block)


def _blocks(edge_offsets: list[int], edges_per_block: int):
    """``(start, stop)`` atom ranges with at most ``edges_per_block`` edges (or a single atom) each."""
    num_atoms = len(edge_offsets) - 1
    start = 0
    while start < num_atoms:
        stop = bisect.bisect_right(edge_offsets, edge_offsets[start] + edges_per_block, lo=start + 1) - 1
        stop = min(max(stop, start + 1), num_atoms)
        yield start, stop
        start = stop


def _set_stress(output: PotentialOutput, d_energy_d_strain: torch.Tensor, cell: torch.Tensor) -> None:
    """Fill ``virial`` and ``stress`` from ``dE/d eps`` ``[B, 3, 3]`` (NaN stress without volume)."""
    volume = torch.linalg.det(cell).abs()
    volume = torch.where(volume > 0, volume, torch.full_like(volume, float("nan")))
    output.virial = -d_energy_d_strain
    output.stress = d_energy_d_strain / volume[:, None, None]
