"""One MPI rank's share of a strictly local model: energy, forces and virial of its own atoms.

LAMMPS gives each rank its own ("local") atoms and copies ("ghosts") of every atom
within the communication cutoff of its subdomain, as explicit positions: periodic
images are just more ghosts. For a strictly local model with cutoff ``r_max`` and a
communication cutoff of at least ``2 r_max``:

- the force on a local atom ``i`` is ``-dE/dr_i`` with contributions only from atoms
  within ``r_max`` of ``i``, whose own neighbourhoods lie within ``2 r_max`` of ``i``
  and so are complete on this rank. Evaluating the model on the local atoms and on
  the ghosts within ``r_max`` of them, as centres, gives exact local forces, and no
  force has to be sent back to another rank;
- the rank's energy is the sum of its local atoms' energies, and its virial the sum
  of their per-atom virials (each centre atom's own edges), so both add up over
  ranks to the whole system's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers

from ..graph import build_graph
from ..models import Potential
from ..models.local import LocalEnergyModel

__all__ = ["DomainEvaluator", "DomainResult", "VOIGT_LAMMPS"]

#: The (row, column) pairs of LAMMPS's six-component virial: xx, yy, zz, xy, xz, yz.
VOIGT_LAMMPS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


@dataclass
class DomainResult:
    """What one rank contributes, all for its ``nlocal`` own atoms.

    Attributes:
        energy: sum of the local atoms' energies, eV.
        atom_energies: ``[nlocal]`` per-atom energies, eV.
        forces: ``[nlocal, 3]`` forces on the local atoms, eV/Å (exact: they include the
            contributions of ghost centres).
        atom_virials: ``[nlocal, 6]`` per-atom virials in eV, LAMMPS order (xx yy zz xy xz yz).
        virial: ``[6]`` the sum of ``atom_virials``, eV.
        num_centres: how many atoms (local + ghost) the model was evaluated on as centres.
    """

    energy: float
    atom_energies: np.ndarray
    forces: np.ndarray
    atom_virials: np.ndarray
    virial: np.ndarray
    num_centres: int


class DomainEvaluator:
    """Evaluates a strictly local model on a rank's local atoms and their ghosts.

    Args:
        potential: the model; it must be strictly local (a
            :class:`~asetools.models.local.LocalEnergyModel`). Message-passing models
            are refused: their receptive field is layers x cutoff, not the cutoff.
        dtype: dtype the model runs in (``torch.float64`` matches LAMMPS's doubles).
        device: torch device of the model.
    """

    def __init__(self, potential: Potential, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"):
        if not isinstance(potential.model, LocalEnergyModel):
            raise TypeError(
                f"{type(potential.model).__name__} models are not strictly local (an atom's energy may depend on "
                "atoms beyond the cutoff), so a rank cannot evaluate its atoms from a ghost shell of 2 x cutoff; "
                "asetools.lammps runs strictly local models such as Allegro"
            )
        self.dtype = dtype
        self.device = torch.device(device)
        self.potential = copy.deepcopy(potential).to(device=self.device, dtype=dtype).eval()
        for parameter in self.potential.parameters():
            parameter.requires_grad_(False)
        self._numbers = np.array([atomic_numbers[symbol] for symbol in potential.species])

    @property
    def cutoff(self) -> float:
        """The model's cutoff ``r_max`` in Å."""
        return float(self.potential.cutoff)

    @property
    def ghost_cutoff(self) -> float:
        """The shell of ghost atoms a rank needs around its subdomain: ``2 r_max``, in Å."""
        return 2.0 * self.cutoff

    def __call__(self, positions: np.ndarray, species: np.ndarray, nlocal: int) -> DomainResult:
        """Energy, forces and virial of the first ``nlocal`` atoms.

        Args:
            positions: ``[n, 3]`` Cartesian positions in Å of the local atoms followed by
                the ghosts (periodic images included as separate atoms).
            species: ``[n]`` index of each atom's element in the model's species list.
            nlocal: how many of the atoms are local (the first ones).
        """
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        species = np.asarray(species, dtype=np.int64)
        if positions.ndim != 2 or positions.shape[1] != 3 or len(species) != len(positions):
            raise ValueError(f"positions [n, 3] and species [n] disagree: {positions.shape} and {species.shape}")
        if not 0 <= nlocal <= len(positions):
            raise ValueError(f"nlocal = {nlocal} is outside 0..{len(positions)}")
        if len(species) and (species.min() < 0 or species.max() >= len(self._numbers)):
            raise ValueError(
                f"species indices must be 0..{len(self._numbers) - 1} for the model's species "
                f"{self.potential.species}; got {species.min()}..{species.max()}"
            )
        if nlocal == 0:
            return DomainResult(0.0, np.zeros(0), np.zeros((0, 3)), np.zeros((0, 6)), np.zeros(6), 0)
        cluster = Atoms(numbers=self._numbers[species], positions=positions, pbc=False)
        graph = build_graph(cluster, self.cutoff, self.potential.species, dtype=self.dtype, device=self.device)
        centre, neighbour = graph.edge_index
        needed = torch.zeros(len(positions), dtype=torch.bool, device=self.device)
        needed[:nlocal] = True
        needed[neighbour[centre < nlocal]] = True
        graph = graph.replace(edge_index=graph.edge_index[:, needed[centre]], edge_shift=graph.edge_shift[needed[centre]])
        output = self.potential(graph, compute_forces=True, compute_atom_virials=True)
        atom_energies = output.atom_energies[:nlocal].double().cpu().numpy()
        rows, columns = zip(*VOIGT_LAMMPS)
        atom_virials = output.atom_virials[:nlocal][:, rows, columns].double().cpu().numpy()
        return DomainResult(
            energy=float(atom_energies.sum()),
            atom_energies=atom_energies,
            forces=output.forces[:nlocal].double().cpu().numpy(),
            atom_virials=atom_virials,
            virial=atom_virials.sum(axis=0),
            num_centres=int(needed.sum()),
        )
