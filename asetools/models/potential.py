"""Potential: energy, forces and stress for any energy model, written once.

Forces are the exact negative gradient of the total energy with respect to the
positions. Stress follows ASE: a symmetric strain ``eps`` is applied to both
positions and cell (``r -> r (1 + eps)``) and ``stress = (1/V) dE/d eps`` in
eV/Å³. A compressed crystal (one that would lower its energy by expanding) thus
has negative stress, as with every ASE calculator. The virial is ``-dE/d eps``
in eV.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..graph import AtomicGraph
from .base import EnergyModel

__all__ = ["Potential", "PotentialOutput"]


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
    """

    energy: torch.Tensor
    atom_energies: torch.Tensor
    forces: torch.Tensor | None = None
    virial: torch.Tensor | None = None
    stress: torch.Tensor | None = None


class Potential(torch.nn.Module):
    """Wraps an :class:`EnergyModel` and derives forces and stress by autograd.

    Args:
        model: any module with ``forward(graph) -> [N]`` per-atom energies, and
            ``species`` and ``cutoff`` attributes.
    """

    def __init__(self, model: EnergyModel):
        super().__init__()
        self.model = model

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
    ) -> PotentialOutput:
        """Energies, and on request forces and stress, of every structure in ``graph``.

        Args:
            graph: the batch.
            compute_forces: compute ``forces = -dE/dr``.
            compute_stress: compute ``virial`` and ``stress`` through a strain.
            create_graph: keep the autograd graph of the derivatives (for a loss on
                forces or stress during training).
        """
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

        with torch.enable_grad() if needs_grad else torch.no_grad():
            atom_energies = self.model(work)
            energy = torch.zeros(
                graph.num_graphs, dtype=atom_energies.dtype, device=atom_energies.device
            ).index_add(0, graph.batch, atom_energies)
            output = PotentialOutput(energy=energy, atom_energies=atom_energies)
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
            d_energy_d_strain = grads[-1]
            volume = torch.linalg.det(graph.cell).abs()
            volume = torch.where(volume > 0, volume, torch.full_like(volume, float("nan")))
            output.virial = -d_energy_d_strain
            output.stress = d_energy_d_strain / volume[:, None, None]
        return output
