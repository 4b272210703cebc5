"""One MPI rank's share of a strictly local model: energy, forces and virial of its own atoms.

LAMMPS gives each rank its own ("local") atoms and copies ("ghosts") of every atom
within the communication cutoff of its subdomain, as explicit positions: periodic
images are just more ghosts. For a strictly local model with cutoff ``r_max``, the
force on a local atom ``i`` is ``-dE/dr_i`` with contributions only from the energies
of atoms within ``r_max`` of ``i``. Two ways to get them all:

- ``send_ghost_forces=False``, with a communication cutoff of at least ``2 r_max``:
  the neighbourhoods of those atoms lie within ``2 r_max`` of ``i`` and so are
  complete on this rank. Evaluating the model on the local atoms and on the ghosts
  within ``r_max`` of them, as centres, gives exact local forces, and no force has to
  be sent to another rank;
- ``send_ghost_forces=True``, with a communication cutoff of ``r_max``: only the
  local atoms are centres, and the forces their energies put on ghosts are returned
  (:attr:`DomainResult.ghost_forces`) for the ranks that own those atoms to add
  (:class:`~asetools.lammps.exchange.GhostForceExchange`), as LAMMPS's pair styles
  do with ``newton on``. Each atom is evaluated once over all ranks.

In both,
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

from ..graph import AtomicGraph, build_graph
from ..models import Potential
from ..models.local import is_strictly_local

__all__ = ["DomainEvaluator", "DomainResult", "VOIGT_LAMMPS"]

#: The (row, column) pairs of LAMMPS's six-component virial: xx, yy, zz, xy, xz, yz.
VOIGT_LAMMPS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


@dataclass
class DomainResult:
    """What one rank contributes, all for its ``nlocal`` own atoms.

    Attributes:
        energy: sum of the local atoms' energies, eV.
        atom_energies: ``[nlocal]`` per-atom energies, eV.
        forces: ``[nlocal, 3]`` forces on the local atoms, eV/Å: exact when ghosts were
            evaluated as centres; else this rank's share, to which the other ranks'
            ``ghost_forces`` on these atoms must be added.
        atom_virials: ``[nlocal, 6]`` per-atom virials in eV, LAMMPS order (xx yy zz xy xz yz).
        virial: ``[6]`` the sum of ``atom_virials``, eV.
        num_centres: how many atoms (local + ghost) the model was evaluated on as centres.
        ghost_forces: ``[nghost, 3]`` forces in eV/Å that the local atoms' energies put on
            the ghosts owned by other ranks (zero for images of local atoms, which are
            already added to ``forces``), when ghost forces are sent; else ``None``.
    """

    energy: float
    atom_energies: np.ndarray
    forces: np.ndarray
    atom_virials: np.ndarray
    virial: np.ndarray
    num_centres: int
    ghost_forces: np.ndarray | None = None


class DomainEvaluator:
    """Evaluates a strictly local model on a rank's local atoms and their ghosts.

    Args:
        potential: the model; it must be strictly local (a
            :class:`~asetools.models.local.LocalEnergyModel`). Message-passing models
            are refused: their receptive field is layers x cutoff, not the cutoff.
        dtype: dtype the model runs in (``torch.float64`` matches LAMMPS's doubles).
        device: torch device of the model.
        send_ghost_forces: evaluate only the local atoms and return the forces on
            ghosts for their owners (ghost shell ``r_max``), instead of evaluating the
            ghosts within ``r_max`` too (ghost shell ``2 r_max``, nothing to send).
    """

    def __init__(
        self,
        potential: Potential,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        send_ghost_forces: bool = False,
    ):
        if not is_strictly_local(potential.model):
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
        self.send_ghost_forces = bool(send_ghost_forces)

    @property
    def cutoff(self) -> float:
        """The model's cutoff ``r_max`` in Å."""
        return float(self.potential.cutoff)

    @property
    def ghost_cutoff(self) -> float:
        """The shell of ghost atoms a rank needs around its subdomain, in Å: ``r_max`` when ghost
        forces are sent to their owners, else ``2 r_max``."""
        return self.cutoff if self.send_ghost_forces else 2.0 * self.cutoff

    def __call__(
        self, positions: np.ndarray, species: np.ndarray, nlocal: int, tags: np.ndarray | None = None
    ) -> DomainResult:
        """Energy, forces and virial of the first ``nlocal`` atoms.

        Args:
            positions: ``[n, 3]`` Cartesian positions in Å of the local atoms followed by
                the ghosts (periodic images included as separate atoms).
            species: ``[n]`` index of each atom's element in the model's species list.
            nlocal: how many of the atoms are local (the first ones).
            tags: ``[n]`` global atom IDs (LAMMPS's tags), or ``None``. With them, a
                ghost that is an image of a local atom is not evaluated as a centre (its
                force contributions are added to the local atom instead), and a foreign
                atom seen as several ghost images is evaluated once. Without them every
                ghost is taken as a distinct atom: still exact, but a rank that spans a
                periodic direction evaluates its boundary atoms twice.
        """
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        species = np.asarray(species, dtype=np.int64)
        if positions.ndim != 2 or positions.shape[1] != 3 or len(species) != len(positions):
            raise ValueError(f"positions [n, 3] and species [n] disagree: {positions.shape} and {species.shape}")
        if not 0 <= nlocal <= len(positions):
            raise ValueError(f"nlocal = {nlocal} is outside 0..{len(positions)}")
        if tags is not None and len(tags) != len(positions):
            raise ValueError(f"tags must have one entry per atom: {len(tags)} for {len(positions)} atoms")
        if len(species) and (species.min() < 0 or species.max() >= len(self._numbers)):
            raise ValueError(
                f"species indices must be 0..{len(self._numbers) - 1} for the model's species "
                f"{self.potential.species}; got {species.min()}..{species.max()}"
            )
        nghost = len(positions) - nlocal
        ghost_forces = np.zeros((nghost, 3)) if self.send_ghost_forces else None
        if nlocal == 0:
            return DomainResult(0.0, np.zeros(0), np.zeros((0, 3)), np.zeros((0, 6)), np.zeros(6), 0, ghost_forces)
        cluster = Atoms(numbers=self._numbers[species], positions=positions, pbc=False)
        graph = build_graph(cluster, self.cutoff, self.potential.species, dtype=self.dtype, device=self.device)
        image_of = _images_of_local_atoms(tags, nlocal, len(positions))
        if self.send_ghost_forces:
            centres = np.arange(len(positions)) < nlocal
        else:
            centres = _centres(graph.edge_index.cpu().numpy(), nlocal, image_of, tags)
        graph, atoms = _restricted(graph, torch.as_tensor(centres, device=self.device))
        output = self.potential(graph, compute_forces=True, compute_atom_virials=True)
        forces = output.forces.double().cpu().numpy()
        local_forces = forces[:nlocal].copy()
        atoms = atoms.cpu().numpy()
        images = image_of[atoms]
        np.add.at(local_forces, images[images >= 0], forces[images >= 0])
        if self.send_ghost_forces:
            foreign = (atoms >= nlocal) & (images < 0)
            ghost_forces[atoms[foreign] - nlocal] = forces[foreign]
        atom_energies = output.atom_energies[:nlocal].double().cpu().numpy()
        rows, columns = zip(*VOIGT_LAMMPS)
        atom_virials = output.atom_virials[:nlocal][:, rows, columns].double().cpu().numpy()
        return DomainResult(
            energy=float(atom_energies.sum()),
            atom_energies=atom_energies,
            forces=local_forces,
            atom_virials=atom_virials,
            virial=atom_virials.sum(axis=0),
            num_centres=int(centres.sum()),
            ghost_forces=ghost_forces,
        )


def _images_of_local_atoms(tags: np.ndarray | None, nlocal: int, num_atoms: int) -> np.ndarray:
    """``[n]``: for each ghost that is a periodic image of a local atom, that atom's index; else -1."""
    image_of = np.full(num_atoms, -1, dtype=np.int64)
    if tags is None:
        return image_of
    tags = np.asarray(tags, dtype=np.int64)
    order = np.argsort(tags[:nlocal])
    sorted_tags = tags[:nlocal][order]
    slot = np.minimum(np.searchsorted(sorted_tags, tags[nlocal:]), nlocal - 1)
    found = sorted_tags[slot] == tags[nlocal:]
    image_of[nlocal:][found] = order[slot[found]]
    return image_of


def _centres(edge_index: np.ndarray, nlocal: int, image_of: np.ndarray, tags: np.ndarray | None) -> np.ndarray:
    """``[n]`` mask of the atoms to evaluate: local atoms, and one copy of each foreign atom within reach.

    A foreign atom is one owned by another rank; it is within reach when it lies
    within the cutoff of a local atom, so that its energy depends on a local position.
    """
    centres = np.zeros(len(image_of), dtype=bool)
    centres[:nlocal] = True
    centre, neighbour = edge_index
    reached = np.unique(neighbour[centre < nlocal])
    reached = reached[reached >= nlocal]
    if tags is not None:
        reached = reached[image_of[reached] < 0]  # images of local atoms are the local atoms themselves
        _, first = np.unique(np.asarray(tags)[reached], return_index=True)
        reached = reached[first]  # one image of each foreign atom
    centres[reached] = True
    return centres


def _restricted(graph: AtomicGraph, centres: torch.Tensor) -> tuple[AtomicGraph, torch.Tensor]:
    """The graph of the chosen centres and their neighbours only, and the original index of each atom kept.

    Local atoms stay first and keep their indices; the other ghosts are dropped, so the
    model never runs over atoms that have no edges to evaluate.
    """
    centre, neighbour = graph.edge_index
    keep = centres[centre]
    centre, neighbour = centre[keep], neighbour[keep]
    used = centres.clone()
    used[neighbour] = True
    atoms = torch.nonzero(used).squeeze(1)
    new_index = torch.cumsum(used, 0) - 1
    restricted = AtomicGraph(
        positions=graph.positions[atoms],
        species=graph.species[atoms],
        cell=graph.cell,
        pbc=graph.pbc,
        batch=torch.zeros(len(atoms), dtype=torch.long, device=graph.device),
        edge_index=torch.stack([new_index[centre], new_index[neighbour]]),
        edge_shift=graph.edge_shift[keep],
        n_atoms=torch.tensor([len(atoms)], device=graph.device),
    )
    return restricted, atoms
