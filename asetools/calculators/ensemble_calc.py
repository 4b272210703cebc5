"""EnsembleCalc: the mean and spread of several independently trained models (a deep ensemble)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from ..graph import MIN_DISTANCE
from ..models import EnergyModel, Potential
from .potential_calc import PotentialCalc, uncertainty_summary

__all__ = ["EnsembleCalc", "ensemble_checkpoints"]


def ensemble_checkpoints(directory: str | os.PathLike, name: str = "best.pt") -> list[Path]:
    """The members' checkpoints of an ensemble run: ``<directory>/member_*/<name>``, in member order."""
    directory = Path(directory)
    found = sorted(directory.glob(f"member_*/{name}"), key=lambda p: int(p.parent.name.split("_")[-1]))
    if not found:
        raise FileNotFoundError(
            f"no ensemble members in {directory} (expected member_0/{name}, member_1/{name}, ...; "
            "train them with `asetools train CONFIG --ensemble N`)"
        )
    return found


class EnsembleCalc(Calculator):
    """ASE calculator for a committee of models of the same species, evaluated on one neighbour list.

    The usual results (``energy``, ``free_energy``, ``energies``, ``forces``, ``stress``)
    are the members' means. Their spreads (sample standard deviations over the members,
    as in matscipy's committee calculator) are:

    - ``energy_uncertainty`` (eV) and ``energies_uncertainty`` (``[N]``, eV);
    - ``forces_uncertainty``: ``[N, 3]`` per component, eV/Å;
    - ``atom_force_uncertainty``: ``[N]``, the norm of each atom's force spread
      (root of the summed component variances), eV/Å, and ``force_uncertainty`` its
      largest value;
    - ``uncertainty`` and ``uncertainty_mean``: the largest and the mean
      ``atom_force_uncertainty``, the per-structure scores compared with a single
      model's (:class:`PotentialCalc`);
    - ``stress_uncertainty`` (Voigt, eV/Å³) when stress is computed.

    Each member's own energies and forces stay available as ``member_energies`` ``[M]``
    and ``member_forces`` ``[M, N, 3]`` attributes after a calculation.

    Args:
        members: at least two models, Potentials or checkpoint paths (all with the same species).
        device, dtype, min_distance, edges_per_block, max_memory: as for :class:`PotentialCalc`
            (members are evaluated one after the other, each within ``max_memory``).
    """

    implemented_properties = [
        "energy",
        "free_energy",
        "energies",
        "forces",
        "stress",
        "energy_uncertainty",
        "energies_uncertainty",
        "forces_uncertainty",
        "atom_force_uncertainty",
        "force_uncertainty",
        "uncertainty",
        "uncertainty_mean",
        "stress_uncertainty",
    ]

    def __init__(
        self,
        members: Sequence[EnergyModel | Potential | str | os.PathLike],
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        min_distance: float | None = MIN_DISTANCE,
        edges_per_block: int | None = None,
        max_memory: int | str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(members, (str, os.PathLike)) or len(members) < 2:
            raise ValueError("an ensemble needs at least two members (a list of models or checkpoint paths)")
        self.members = [
            PotentialCalc(m, device=device, dtype=dtype, min_distance=min_distance, edges_per_block=edges_per_block,
                          max_memory=max_memory, uncertainty=False)
            for m in members
        ]
        species = self.members[0].species
        for index, member in enumerate(self.members[1:], start=1):
            if member.species != species:
                raise ValueError(
                    f"ensemble member {index} has species {member.species}, member 0 has {species}; "
                    "members must be trained on the same elements"
                )
        self.member_energies: np.ndarray | None = None
        self.member_forces: np.ndarray | None = None

    @classmethod
    def from_directory(cls, directory: str | os.PathLike, name: str = "best.pt", **kwargs) -> EnsembleCalc:
        """The ensemble trained by ``asetools train CONFIG --ensemble N`` into ``directory``."""
        return cls(ensemble_checkpoints(directory, name), **kwargs)

    @property
    def species(self) -> list[str]:
        return self.members[0].species

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties or ["energy"], system_changes)
        wants_stress = self.atoms.cell.rank == 3 and "stress" in (properties or ())
        graphs = {}
        members = []
        for member in self.members:
            key = (member.cutoff, member.dtype, member.device)  # one neighbour list serves equal members
            if key not in graphs:
                graphs[key] = member.graph(self.atoms)
            members.append(member.evaluate(graphs[key], wants_stress))
        self.member_energies = np.array([m["energy"] for m in members])
        self.member_forces = np.stack([m["forces"] for m in members])
        atom_energies = np.stack([m["energies"] for m in members])
        force_spread = self.member_forces.std(axis=0, ddof=1)  # [N, 3]
        atom_force = np.sqrt((force_spread**2).sum(axis=1))
        energy = float(self.member_energies.mean())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": atom_energies.mean(axis=0),
            "forces": self.member_forces.mean(axis=0),
            "energy_uncertainty": float(self.member_energies.std(ddof=1)),
            "energies_uncertainty": atom_energies.std(axis=0, ddof=1),
            "forces_uncertainty": force_spread,
            **uncertainty_summary(atom_force, atom_force),
        }
        if wants_stress:
            stresses = np.stack([m["stress"] for m in members])
            self.results["stress"] = stresses.mean(axis=0)
            self.results["stress_uncertainty"] = stresses.std(axis=0, ddof=1)
