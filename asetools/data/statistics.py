"""Dataset statistics that set an energy model's normalisation before training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..graph import build_graph
from .labels import read_energy, read_forces

__all__ = ["DatasetStatistics", "dataset_statistics"]


@dataclass
class DatasetStatistics:
    """Summary of a training set.

    Attributes:
        avg_num_neighbors: mean number of neighbours within the cutoff per atom.
        per_species_energy_shifts: eV per atom of each species, from a least-squares fit
            of the total energies to the composition (``E ~ sum_s n_s shift_s``).
        force_rms: root mean square force component in eV/Å.
        num_structures: number of structures.
        num_atoms: total number of atoms.
    """

    avg_num_neighbors: float
    per_species_energy_shifts: list[float]
    force_rms: float
    num_structures: int
    num_atoms: int

    @property
    def energy_scale(self) -> float:
        """A per-species energy scale in eV: the force RMS, or 1 if the data has no forces."""
        return self.force_rms if self.force_rms > 0 else 1.0

    def normalisation(self) -> dict[str, object]:
        """The model-config fields these statistics set, for ``AllegroConfig(..., **stats.normalisation())``.

        ``avg_num_neighbors``, ``per_species_energy_scales`` (the energy scale for every
        species) and ``per_species_energy_shifts``.
        """
        return {
            "avg_num_neighbors": self.avg_num_neighbors,
            "per_species_energy_scales": [self.energy_scale] * len(self.per_species_energy_shifts),
            "per_species_energy_shifts": list(self.per_species_energy_shifts),
        }


def dataset_statistics(
    frames: Sequence[Atoms],
    cutoff: float,
    species: Sequence[str],
    energy_key: str = "energy",
    forces_key: str = "forces",
) -> DatasetStatistics:
    """Neighbour count, per-species energy shifts and force scale of ``frames``."""
    if len(frames) == 0:
        raise ValueError("dataset_statistics: the data set is empty")
    species = list(species)
    counts = np.zeros((len(frames), len(species)))
    energies = np.zeros(len(frames))
    squared_forces, components, edges, atoms_total = 0.0, 0, 0, 0
    for index, atoms in enumerate(frames):
        graph = build_graph(atoms, cutoff, species)
        counts[index] = np.bincount(graph.species.numpy(), minlength=len(species))
        energies[index] = read_energy(atoms, energy_key, index)
        forces = read_forces(atoms, forces_key, index)
        squared_forces += float(np.sum(forces**2))
        components += forces.size
        edges += graph.num_edges
        atoms_total += len(atoms)
    shifts, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return DatasetStatistics(
        avg_num_neighbors=max(edges / atoms_total, 1.0),
        per_species_energy_shifts=[float(v) for v in shifts],
        force_rms=float(np.sqrt(squared_forces / components)),
        num_structures=len(frames),
        num_atoms=atoms_total,
    )
