"""Small structures made on the fly, shared by the tests."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.cluster import Icosahedron

from asetools.models import Allegro, AllegroConfig

ARGON = dict(sigma=3.4, epsilon=0.0104, cutoff=8.5)


def rattled_argon(repeat=(2, 2, 2), seed=0, scale=0.1) -> Atoms:
    """fcc argon near its LJ density, rattled so that no force vanishes by symmetry."""
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True) * repeat
    atoms.rattle(scale, seed=seed)
    return atoms


def rattled_molecules(name: str, count: int, seed: int, scale: float = 0.05) -> list[Atoms]:
    """``count`` copies of ASE's ``molecule(name)``, each with Gaussian displacements of width ``scale`` Å."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = molecule(name)
        atoms.positions += rng.normal(0, scale, atoms.positions.shape)
        frames.append(atoms)
    return frames


def triclinic_argon(seed=0) -> Atoms:
    """A sheared, rattled argon crystal in a triclinic cell."""
    atoms = bulk("Ar", "fcc", a=5.26) * (3, 3, 3)
    cell = atoms.cell.array.copy()
    cell[2] += 0.3 * cell[0] - 0.2 * cell[1]
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(0.1, seed=seed)
    return atoms


def argon_cluster(seed=0) -> Atoms:
    """A rattled 55-atom argon icosahedron with no cell and no periodicity."""
    atoms = Icosahedron("Ar", noshells=3, latticeconstant=5.26)
    atoms.rattle(0.1, seed=seed)
    atoms.set_cell(np.zeros((3, 3)))
    atoms.pbc = False
    return atoms


@pytest.fixture
def argon_crystal():
    return rattled_argon()


@pytest.fixture
def argon_small_cell():
    """One-atom primitive fcc cell: much smaller than the 8.5 Å cutoff."""
    atoms = bulk("Ar", "fcc", a=5.1)
    return atoms


@pytest.fixture
def argon_molecule():
    return argon_cluster()


def small_allegro(l_max=2, parity=True, species=("Cu", "Au"), seed=0, **overrides) -> Allegro:
    """A narrow random Allegro model; narrow enough for fast float64 checks."""
    settings = dict(
        species=list(species),
        r_max=4.0,
        l_max=l_max,
        parity=parity,
        num_layers=2,
        num_scalar_features=16,
        num_tensor_features=4,
        two_body_mlp_hidden=[16],
        latent_mlp_hidden=[16],
        readout_mlp_hidden=[8],
        avg_num_neighbors=12.0,
        per_species_energy_scales=[0.7] * len(species),
        per_species_energy_shifts=[-3.0 - i for i in range(len(species))],
    )
    settings.update(overrides)
    torch.manual_seed(seed)
    return Allegro(AllegroConfig(**settings))


def mixed_cu_au_batch() -> list[Atoms]:
    """A crystal alloy, a triclinic cell, a cluster and two atoms with no neighbours (Cu/Au)."""
    crystal = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 1))
    crystal.rattle(0.1, seed=3)
    crystal.symbols[[1, 6, 9]] = "Au"
    triclinic = bulk("Au", "fcc", a=4.0).repeat((2, 2, 2))
    triclinic.set_cell(triclinic.cell.array + np.array([[0.0, 0.3, 0.1], [0.2, 0.0, 0.0], [0.0, 0.1, 0.0]]), scale_atoms=True)
    triclinic.rattle(0.05, seed=4)
    cluster = molecule("CH4")
    cluster.symbols = ["Cu"] + ["Au"] * 4
    cluster.positions *= 2.2
    lonely = Atoms("CuAu", positions=[[0, 0, 0], [9.0, 0, 0]])  # no atom has a neighbour
    return [crystal, triclinic, cluster, lonely]
