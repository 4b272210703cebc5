"""Small structures made on the fly, shared by the tests."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.cluster import Icosahedron

from asetools.density import DensityModel, DensityModelConfig, OrbitalBasisConfig, density_on_grid
from asetools.density.references import DensityFrame
from asetools.io.grid import DensityGrid
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


def small_message_passing(kind="nequip", species=("Cu", "Au"), seed=0, **overrides):
    """A narrow random message-passing model of ``kind`` (``nequip``, ``botnet`` or ``message_passing``)."""
    from asetools.models import MODEL_CLASSES

    settings = dict(
        species=list(species),
        r_max=3.5,
        num_layers=2,
        l_max=2,
        num_features=4,
        radial_mlp_hidden=[8],
        avg_num_neighbors=12.0,
        per_species_energy_scales=[0.7] * len(species),
        per_species_energy_shifts=[-3.0 - i for i in range(len(species))],
    )
    settings.update(overrides)
    model_class = MODEL_CLASSES[kind]
    torch.manual_seed(seed)
    return model_class(model_class.config_class(**settings))


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


# -- charge density: a random 'teacher' model plays the reference, so a student can match it exactly --

MOLECULES = ["H2O", "NH3", "CH4", "HCN", "C2H2", "CO", "H2CO", "CH3OH", "N2"]


def density_teacher(seed: int = 0, network: bool = True) -> DensityModel:
    """A random model whose densities play the reference: the student can represent them exactly."""
    torch.manual_seed(seed)
    config = DensityModelConfig(species=["H", "C", "N", "O"], basis=OrbitalBasisConfig(beta=3.0, l_max={"H": 1}, default_l_max=2), channels=4, l_max=2, num_layers=1, radial_hidden=[16])
    teacher = DensityModel(config).double()
    with torch.no_grad():
        count = teacher.basis.counts_per_l[0]
        # diffuse positive s orbitals carry the charge; tight ones small
        teacher.baseline.copy_(torch.rand(len(teacher.kinds), count, dtype=torch.float64) * torch.linspace(1.0, 0.2, count, dtype=torch.float64))
        teacher.output_scale.fill_(0.05 if network else 0.0)
    return teacher


def teacher_density_frames(teacher: DensityModel, copies: int = 2, molecules: list[str] = MOLECULES) -> list[DensityFrame]:
    frames = []
    for name in molecules:
        for copy in range(copies):
            atoms = molecule(name)
            atoms.rattle(0.05, seed=copy + 1)
            grid = DensityGrid.around(atoms, spacing=0.3, padding=1.5)
            with torch.no_grad():
                expansion = teacher.expansion(atoms)
                values = density_on_grid(teacher.basis, expansion, grid)
                electrons = float(teacher.basis.integrals(expansion.coefficients, expansion.kinds).sum())
            frames.append(DensityFrame(grid=grid.with_values(values), name=f"{name}_{copy}", molecule=name, n_electrons=electrons))
    return frames


def write_density_dataset(frames: list[DensityFrame], directory: Path) -> Path:
    entries = []
    for frame in frames:
        grid = frame.grid
        np.savez(
            directory / f"{frame.name}.npz", numbers=frame.atoms.numbers, positions=frame.atoms.positions,
            origin=grid.origin, voxel=grid.voxel, shape=np.array(grid.shape), density=grid.values,
        )
        entries.append({"id": frame.name, "molecule": frame.molecule, "n_electrons": frame.n_electrons})
    (directory / "index.json").write_text(json.dumps({"frames": entries}))
    return directory


@pytest.fixture
def density_helpers() -> SimpleNamespace:
    """The teacher model, its frames and the dataset writer, for tests that build their own data."""
    return SimpleNamespace(teacher=density_teacher, frames=teacher_density_frames, write=write_density_dataset)


@pytest.fixture(scope="session")
def density_dataset(tmp_path_factory) -> Path:
    """A G2-layout dataset (index.json + .npz) of nine molecules, two geometries each, from a teacher model."""
    return write_density_dataset(teacher_density_frames(density_teacher()), tmp_path_factory.mktemp("density_data"))
