"""Dataset statistics that set an energy model's normalisation before training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from ..graph import build_graph
from .frames import LabelKeys, LabelledFrame, label_frames

__all__ = ["DatasetStatistics", "dataset_statistics"]


@dataclass
class DatasetStatistics:
    """Summary of a training set, per species where it matters.

    Attributes:
        avg_num_neighbors: mean number of neighbours within the cutoff per atom.
        per_species_energy_shifts: eV per atom of each species: the isolated-atom
            energies when given, else a least-squares fit of the total energies to
            the composition (``E ~ sum_s n_s shift_s``).
        force_rms: root mean square force component in eV/Å.
        num_structures: number of structures.
        num_atoms: total number of atoms.
        shift_source: ``"isolated_atoms"`` or ``"least_squares"``.
        mean_residual_energy_per_atom: mean over structures of ``(E - sum_s n_s shift_s) / N``, eV/atom.
        per_species_force_rms: force RMS on atoms of each species, eV/Å (0 if absent).
        per_species_avg_num_neighbors: mean neighbour count of atoms of each species.
        per_species_num_atoms: number of atoms of each species.
    """

    avg_num_neighbors: float
    per_species_energy_shifts: list[float]
    force_rms: float
    num_structures: int
    num_atoms: int
    shift_source: str = "least_squares"
    mean_residual_energy_per_atom: float = 0.0
    per_species_force_rms: list[float] = field(default_factory=list)
    per_species_avg_num_neighbors: list[float] = field(default_factory=list)
    per_species_num_atoms: list[int] = field(default_factory=list)

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
    frames: Sequence[Atoms | LabelledFrame],
    cutoff: float,
    species: Sequence[str],
    energy_key: str = "energy",
    forces_key: str = "forces",
    isolated_atom_energies: Mapping[str, float] | None = None,
) -> DatasetStatistics:
    """Neighbour counts, per-species energy shifts and force scales of ``frames``.

    Args:
        frames: labelled structures (``Atoms`` with labels under the given keys, or
            :class:`~asetools.data.LabelledFrame`).
        cutoff: neighbour cutoff in Å.
        species: element symbols in model order.
        energy_key, forces_key: label keys for ``Atoms`` frames.
        isolated_atom_energies: eV per element; when given they are the energy
            shifts (every species needs one), so an isolated atom gets exactly this energy.
    """
    if len(frames) == 0:
        raise ValueError("dataset_statistics: the data set is empty")
    species = list(species)
    frames = label_frames(frames, LabelKeys(energy=energy_key, forces=forces_key), species)
    counts = np.zeros((len(frames), len(species)))
    energies = np.array([frame.energy for frame in frames])
    squared_forces = np.zeros(len(species))
    neighbours = np.zeros(len(species))
    for index, frame in enumerate(frames):
        graph = build_graph(frame.atoms, cutoff, species)
        kinds = graph.species.numpy()
        counts[index] = np.bincount(kinds, minlength=len(species))
        squared_forces += np.bincount(kinds, weights=np.sum(frame.forces**2, axis=1), minlength=len(species))
        neighbours += np.bincount(kinds[graph.edge_index[0].numpy()], minlength=len(species))
    atoms_per_species = counts.sum(axis=0)
    atoms_total = int(atoms_per_species.sum())
    if isolated_atom_energies is not None:
        missing = [s for s in species if s not in isolated_atom_energies]
        if missing:
            raise ValueError(
                f"no isolated-atom energy for {', '.join(missing)}; add it to the isolated-atom file "
                "or leave the file out to fit the shifts by least squares"
            )
        shifts = np.array([isolated_atom_energies[s] for s in species], dtype=float)
        source = "isolated_atoms"
    else:
        shifts, *_ = np.linalg.lstsq(counts, energies, rcond=None)
        source = "least_squares"
    residual = (energies - counts @ shifts) / counts.sum(axis=1)
    present = np.maximum(atoms_per_species, 1)
    return DatasetStatistics(
        avg_num_neighbors=max(float(neighbours.sum()) / atoms_total, 1.0),
        per_species_energy_shifts=[float(v) for v in shifts],
        force_rms=float(np.sqrt(squared_forces.sum() / (3 * atoms_total))),
        num_structures=len(frames),
        num_atoms=atoms_total,
        shift_source=source,
        mean_residual_energy_per_atom=float(residual.mean()),
        per_species_force_rms=[float(v) for v in np.sqrt(squared_forces / (3 * present))],
        per_species_avg_num_neighbors=[float(v) for v in neighbours / present],
        per_species_num_atoms=[int(v) for v in atoms_per_species],
    )
