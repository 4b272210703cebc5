"""The learned embedded-atom model: physics checks, an independent NumPy evaluation, training."""

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.neighborlist import neighbor_list

from asetools.calculators import MTSCalc, PotentialCalc
from asetools.checkpoint import load_checkpoint, save_checkpoint
from asetools.config import from_dict
from asetools.data import emt_copper_dataset
from asetools.graph import build_graph
from asetools.models import MODEL_CLASSES, EmbeddedAtom, EmbeddedAtomConfig, MTSPair, Potential
from asetools.testing import check_forces_fd, check_invariance, check_stress_fd
from asetools.training import TrainRunConfig
from asetools.training.run import train_from_config
from tests.models.test_allegro import cuau_crystal


def small_eam(species=("Cu", "Au"), seed=0, **overrides) -> EmbeddedAtom:
    settings = dict(
        species=list(species),
        r_max=4.0,
        num_bessels=6,
        num_densities=3,
        embedding_mlp_hidden=[5, 4],
        avg_num_neighbors=12.0,
        per_species_energy_scales=[0.8 + 0.3 * i for i in range(len(species))],
        per_species_energy_shifts=[-2.0 - i for i in range(len(species))],
    )
    settings.update(overrides)
    torch.manual_seed(seed)
    return EmbeddedAtom(EmbeddedAtomConfig(**settings))


def numpy_atom_energies(model: EmbeddedAtom, atoms: Atoms) -> np.ndarray:
    """The model's formula written out with ASE's neighbour list and NumPy, edge by edge (float64)."""
    config = model.config
    species = [config.species.index(s) for s in atoms.get_chemical_symbols()]
    num_species, channels = len(config.species), 1 + config.num_densities
    weights = model.radial_weights.detach().double().numpy().reshape(-1, num_species, num_species, channels)
    frequencies = model.bessel.frequencies.detach().double().numpy()
    embedding = [w.detach().double().numpy() for w in model.embedding_weights]
    r_max, p = config.r_max, config.polynomial_cutoff_p
    # The scales and shifts as the model holds them (buffers of the default dtype).
    scales, shifts = (t.double().numpy() for t in (model.scale_shift.scales, model.scale_shift.shifts))

    def radial(r):
        x = r / r_max
        envelope = 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        return 2 / r_max * np.sin(frequencies * x) / r * envelope

    pair_energy = np.zeros(len(atoms))
    densities = np.zeros((len(atoms), config.num_densities))
    for i, j, r in zip(*neighbor_list("ijd", atoms, r_max)):
        a, b = species[i], species[j]
        basis = radial(r)
        phi_ab, phi_ba = basis @ weights[:, a, b, 0], basis @ weights[:, b, a, 0]
        pair_energy[i] += 0.5 * 0.5 * (phi_ab + phi_ba)
        densities[i] += basis @ weights[:, a, b, 1:] / config.avg_num_neighbors
    energies = []
    for i, a in enumerate(species):
        hidden = densities[i]
        for index, w in enumerate(embedding):
            hidden = hidden @ w[a]
            if index < len(embedding) - 1:
                hidden = hidden / (1 + np.exp(-hidden))
        e = pair_energy[i] + hidden[0]
        energies.append(scales[a] * e + shifts[a])
    return np.array(energies)


def test_energies_equal_an_independent_numpy_evaluation():
    model = small_eam()
    atoms = cuau_crystal(seed=2)
    atoms.calc = PotentialCalc(model, dtype="float64")
    expected = numpy_atom_energies(model, atoms)
    assert np.ptp(expected) > 1e-2, "atom energies all alike: the comparison would be weak"
    np.testing.assert_allclose(atoms.get_potential_energies(), expected, rtol=1e-12, atol=1e-12)


def test_invariance_forces_and_stress():
    calc = PotentialCalc(small_eam(), dtype="float64")
    atoms = cuau_crystal(seed=1)
    atoms.calc = calc
    assert np.abs(atoms.get_forces()).max() > 1e-3, "forces vanish: the checks below would be empty"
    errors = check_invariance(calc, atoms, seed=3, atol=1e-10, rtol=1e-10)
    assert "reflection/forces" in errors and "permutation/energies" in errors
    check_forces_fd(calc, atoms, delta=1e-5, atol=1e-7, rtol=1e-5)
    check_stress_fd(calc, atoms, delta=1e-6, atol=1e-8, rtol=1e-5)


def test_molecule_with_three_species_matches_finite_differences():
    calc = PotentialCalc(small_eam(species=("H", "C", "O"), r_max=3.0), dtype="float64")
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=2)
    atoms.calc = calc
    np.testing.assert_allclose(atoms.get_potential_energies(), numpy_atom_energies(calc.model, atoms), atol=1e-12)
    check_invariance(calc, atoms, seed=5, atol=1e-10, rtol=1e-10)
    check_forces_fd(calc, atoms, delta=1e-5, atol=1e-7, rtol=1e-5)


def test_periodic_images_are_consistent():
    """A 2x2x2 supercell has eight times the energy, the same stress and tiled forces."""
    calc = PotentialCalc(small_eam(), dtype="float64")
    atoms = cuau_crystal(seed=4)
    atoms.calc = calc
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    supercell = atoms.repeat((2, 2, 2))
    supercell.calc = calc
    assert supercell.get_potential_energy() == pytest.approx(8 * energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(supercell.get_forces(), np.tile(forces, (8, 1)), atol=1e-10)
    np.testing.assert_allclose(supercell.get_stress(), stress, atol=1e-12)


def test_pair_energy_is_shared_equally_and_lone_atoms_have_their_shift():
    model = small_eam(num_densities=0, per_species_energy_scales=[1.0, 1.0])
    calc = PotentialCalc(model, dtype="float64")
    dimer = Atoms("CuAu", positions=[[0, 0, 0], [2.6, 0, 0]])
    dimer.calc = calc
    energies = dimer.get_potential_energies() - np.array([-2.0, -3.0])
    assert abs(energies[0]) > 1e-3 and energies[0] == pytest.approx(energies[1], abs=1e-14)
    apart = Atoms("CuAu", positions=[[0, 0, 0], [4.0, 0, 0]])  # exactly at the cutoff
    apart.calc = PotentialCalc(small_eam(), dtype="float64")
    np.testing.assert_array_equal(apart.get_potential_energies(), [-2.0, -3.0])
    np.testing.assert_array_equal(apart.get_forces(), np.zeros((2, 3)))


def test_energy_vanishes_smoothly_at_the_cutoff():
    calc = PotentialCalc(small_eam(), dtype="float64")
    shift = -5.0

    def dimer(distance):
        atoms = Atoms("CuAu", positions=[[0, 0, 0], [distance, 0, 0]])
        atoms.calc = calc
        return atoms.get_potential_energy() - shift, atoms.get_forces()[0, 0]

    inside_energy, inside_force = dimer(3.0)
    assert abs(inside_energy) > 1e-3 and abs(inside_force) > 1e-3
    # The envelope vanishes at the cutoff with two derivatives and each Bessel function has a zero
    # there, so at a distance d inside it the energy goes as d^4 and the force as d^3.
    (e1, f1), (e2, f2) = dimer(4.0 - 1e-3), dimer(4.0 - 2e-3)
    assert abs(e1) < 1e-11 and abs(f1) < 1e-8
    assert e2 / e1 == pytest.approx(16.0, rel=0.02) and f2 / f1 == pytest.approx(8.0, rel=0.02)


def test_batch_matches_single_structures():
    model = small_eam().double()
    potential = Potential(model)
    structures = [cuau_crystal(seed=s) for s in range(3)]
    structures[1] = structures[1].repeat((1, 1, 2))
    structures.append(Atoms("CuAu", positions=[[0, 0, 0], [9.0, 0, 0]]))
    batch = potential(build_graph(structures, model.cutoff, model.species), compute_stress=False)
    start = 0
    for index, atoms in enumerate(structures):
        single = potential(build_graph(atoms, model.cutoff, model.species))
        torch.testing.assert_close(batch.energy[index], single.energy[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(batch.forces[start : start + len(atoms)], single.forces, rtol=1e-10, atol=1e-12)
        start += len(atoms)


def test_checkpoint_round_trip_keeps_the_kind(tmp_path):
    model = small_eam()
    save_checkpoint(model, tmp_path / "eam.pt")
    loaded = load_checkpoint(tmp_path / "eam.pt")
    assert type(loaded) is EmbeddedAtom and MODEL_CLASSES["embedded_atom"] is EmbeddedAtom
    atoms = cuau_crystal(seed=5)
    atoms.calc = PotentialCalc(model, dtype="float64")
    expected = atoms.get_forces()
    atoms.calc = PotentialCalc(tmp_path / "eam.pt", dtype="float64")
    np.testing.assert_array_equal(atoms.get_forces(), expected)


def test_densities_are_the_latent_features():
    model = small_eam().double()
    atoms = cuau_crystal(seed=6)
    graph = build_graph(atoms, model.cutoff, model.species, dtype=torch.float64)
    energies, features = model.energies_and_features(graph)
    assert features.shape == (len(atoms), model.num_latent_features) == (4, 3)
    torch.testing.assert_close(energies, model(graph))
    rotated = atoms.copy()
    rotated.rotate(37.0, (1.0, 2.0, 0.5), rotate_cell=True)
    _, rotated_features = model.energies_and_features(build_graph(rotated, model.cutoff, model.species, dtype=torch.float64))
    torch.testing.assert_close(rotated_features, features, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "change, field",
    [({"r_max": 0.0}, "r_max"), ({"num_densities": -1}, "num_densities"), ({"num_bessels": 0}, "num_bessels"),
     ({"embedding_mlp_hidden": [0]}, "embedding_mlp_hidden"), ({"species": ["Cu", "Cu"]}, "species")],
)
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        EmbeddedAtomConfig(**{"species": ["Cu"], **change})


@pytest.fixture(scope="module")
def copper_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cu.xyz"
    ase.io.write(path, emt_copper_dataset(24, repeat=(2, 2, 2), max_strain=0.03, seed=7), format="extxyz")
    return path


def test_learns_emt_copper(copper_file, tmp_path):
    """EMT is itself of embedded-atom form: a short training brings the force error far below the force scale."""
    config = from_dict(TrainRunConfig, {
        "data": {"train_file": str(copper_file), "validation_fraction": 0.25},
        "model": {"kind": "embedded_atom", "options": {"r_max": 4.5, "num_densities": 4, "embedding_mlp_hidden": [8]}},
        "training": {"batch_size": 3, "epochs": 40, "learning_rate": 2e-2, "dtype": "float64", "seed": 0},
        "output": {"directory": str(tmp_path / "run"), "plot_every": 0},
    })
    model, result = train_from_config(config)
    assert isinstance(model, EmbeddedAtom)
    frames = ase.io.read(copper_file, ":")
    force_rms = np.sqrt(np.mean(np.concatenate([atoms.get_forces() for atoms in frames]) ** 2))
    first, best = result.history[0]["force_mae"], min(row["force_mae"] for row in result.history)
    assert best < 0.15 * force_rms and best < 0.3 * first, (first, best, force_rms)


def test_fast_part_of_an_mts_pair(copper_file, tmp_path):
    config = from_dict(TrainRunConfig, {
        "data": {"train_file": str(copper_file), "validation_fraction": 0.25},
        "model": {"options": {"r_max": 4.5, "l_max": 1, "num_layers": 1, "num_scalar_features": 8,
                              "num_tensor_features": 2, "two_body_mlp_hidden": [8], "latent_mlp_hidden": [8],
                              "readout_mlp_hidden": [8]}},
        "training": {"batch_size": 4, "epochs": 2, "learning_rate": 5e-3, "dtype": "float64", "seed": 1},
        "mts": {"fast_model": {"kind": "embedded_atom", "options": {"r_max": 3.0, "num_densities": 2}},
                "fast_training": {"batch_size": 4, "epochs": 2, "dtype": "float64", "seed": 2}},
        "output": {"directory": str(tmp_path / "run"), "plot_every": 0},
    })
    pair, _ = train_from_config(config)
    assert isinstance(pair, MTSPair) and isinstance(pair.fast, EmbeddedAtom)
    atoms = ase.io.read(copper_file, 0)
    atoms.calc = MTSCalc.from_checkpoint(tmp_path / "run" / "best.pt", dtype="float64")
    fast = atoms.calc.get_property("fast_forces", atoms)
    np.testing.assert_allclose(atoms.get_forces(), fast + atoms.calc.get_property("slow_forces", atoms), atol=1e-10)
    assert np.abs(fast).max() > 1e-3
    check_forces_fd(atoms.calc, atoms, delta=1e-5, atol=1e-7, rtol=1e-5)
