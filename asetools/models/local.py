"""Strictly local energy models: an atom's energy depends only on its own neighbourhood.

For such a model the energy of centre atom ``i`` is a function of the vectors
``r_ij`` to its neighbours within the cutoff (and of the species), nothing else.
That is what lets :class:`~asetools.models.Potential` evaluate a large system in
blocks of centre atoms, forward and backward per block, with memory bounded by the
block instead of the system, and derive forces and stress from the gradients with
respect to the edge vectors (as LAMMPS pair styles do).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..graph import AtomicGraph
from .base import EnergyModel, no_latent_features

__all__ = ["LocalEnergyModel", "LocalEnvironments", "is_strictly_local"]


@dataclass(frozen=True)
class LocalEnvironments:
    """The neighbourhoods of ``n`` centre atoms: everything a local model may look at.

    Attributes:
        centre_species: ``[n]`` species index of each centre atom (long).
        edge_centre: ``[e]`` which centre atom (``0 .. n-1``) each edge belongs to (long).
        edge_vectors: ``[e, 3]`` vectors from the centre atom to the neighbour, in Å.
        neighbour_species: ``[e]`` species index of each edge's neighbour (long).
    """

    centre_species: torch.Tensor
    edge_centre: torch.Tensor
    edge_vectors: torch.Tensor
    neighbour_species: torch.Tensor

    @property
    def num_centres(self) -> int:
        return int(self.centre_species.shape[0])

    def within(self, cutoff: float, current: float | None = None) -> LocalEnvironments:
        """The same centres with only the edges shorter than ``cutoff`` Å.

        ``current`` is the cutoff the edges were gathered with; when ``cutoff`` is not
        shorter, nothing is dropped and ``self`` is returned.
        """
        if current is not None and cutoff >= current:
            return self
        keep = self.edge_vectors.pow(2).sum(dim=1) < cutoff * cutoff
        return LocalEnvironments(
            centre_species=self.centre_species,
            edge_centre=self.edge_centre[keep],
            edge_vectors=self.edge_vectors[keep],
            neighbour_species=self.neighbour_species[keep],
        )

    @classmethod
    def from_graph(cls, graph: AtomicGraph) -> LocalEnvironments:
        """Every atom of ``graph`` as a centre, with edge vectors differentiable in the positions and cell."""
        centre, neighbour = graph.edge_index[0], graph.edge_index[1]
        return cls(
            centre_species=graph.species,
            edge_centre=centre,
            edge_vectors=graph.edge_vectors(),
            neighbour_species=graph.species[neighbour],
        )


class LocalEnergyModel(EnergyModel):
    """An :class:`EnergyModel` whose atom energies are functions of local environments only.

    Subclasses implement :meth:`local_energies`; ``forward(graph)`` follows from it.
    Declaring a model local is a promise that atom ``i``'s energy does not change
    when anything outside its neighbourhood moves (no message passing between atoms,
    no global terms). :class:`~asetools.models.Potential` relies on it to evaluate
    large systems block by block.
    """

    #: Whether this model keeps the promise; a composite (an MTS pair with a message-passing
    #: part) may not, and then it is evaluated on whole graphs only.
    strictly_local: bool = True

    def local_energies(self, environments: LocalEnvironments) -> torch.Tensor:  # pragma: no cover - abstract
        """Energies ``[n]`` in eV of the centre atoms of ``environments``."""
        raise NotImplementedError

    def local_energies_and_features(self, environments: LocalEnvironments) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies ``[n]`` in eV and invariant latent features ``[n, F]`` of the centre atoms.

        Models with a learned per-atom description override this (and set
        ``num_latent_features``); single-model uncertainty is fitted to these features.
        """
        raise no_latent_features(self)

    def energies_and_features(self, graph: AtomicGraph) -> tuple[torch.Tensor, torch.Tensor]:
        return self.local_energies_and_features(LocalEnvironments.from_graph(graph))

    def forward(self, graph: AtomicGraph) -> torch.Tensor:
        return self.local_energies(LocalEnvironments.from_graph(graph))


def is_strictly_local(model: torch.nn.Module) -> bool:
    """Whether ``model``'s atom energies depend only on the atoms within its cutoff.

    Only such models may be evaluated block by block with bounded memory, or split over
    LAMMPS ranks with a ghost shell of one cutoff.
    """
    return isinstance(model, LocalEnergyModel) and bool(model.strictly_local)
