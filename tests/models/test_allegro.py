"""Allegro: symmetry, gradients, locality, extensivity, checkpoints and errors."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.filters import FrechetCellFilter
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase import units

from asetools.calculators import AllegroCalc
from asetools.checkpoint import load_checkpoint, save_checkpoint
from asetools.graph import build_graph
from asetools.models import Allegro, LennardJones, Potential
from asetools.testing import check_forces_fd, check_invariance, check_stress_fd
from tests.conftest import small_allegro


def cuau_crystal(seed=0) -> Atoms:
    """A rattled, sheared two-species crystal in a triclinic cell."""
    atoms = bulk("Cu", "fcc", a=3.7) * (2, 2, 1)
    atoms.symbols[[1, 2]] = "Au"
    cell = atoms.cell.array.copy()
    cell[2] += 0.2 * cell[0]
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(0.15, seed=seed)
    return atoms


@pytest.mark.parametrize("parity", [True, False])
@pytest.mark.parametrize("l_max", [1, 2, 3])
def test_invariance_and_equivariance(l_max, parity):
    calc = AllegroCalc(small_allegro(l_max, parity), dtype="float64")
    atoms = cuau_crystal()
    atoms.calc = calc
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-3, "forces vanish: the check below would be empty"
    errors = check_invariance(calc, atoms, seed=l_max, atol=1e-10, rtol=1e-10)
    assert "reflection/forces" in errors


def test_invariance_of_a_molecule_without_cell():
    calc = AllegroCalc(small_allegro(3, True, species=("H", "C", "O")), dtype="float64")
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=2)
    check_invariance(calc, atoms, seed=5, atol=1e-10, rtol=1e-10)


def test_parity_adds_pseudotensor_paths_where_they_reach_the_energy():
    # With three layers a pseudo-tensor made in layer 1 (1o x 1o -> 1e) can couple back
    # to a true tensor in layer 2 and then to the scalars of layer 3.
    with_parity = small_allegro(2, True, num_layers=3)
    without = small_allegro(2, False, num_layers=3)
    irreps_with = set(with_parity.layers[0].output_irreps)
    irreps_without = set(without.layers[0].output_irreps)
    assert (1, 1) in irreps_with and (0, -1) not in irreps_with  # 1o x 1o -> 1e, no 0o path from SH
    assert irreps_without == {(0, 1), (1, -1), (2, 1)}
    assert len(with_parity.layers[0].tensor_product.paths) > len(without.layers[0].tensor_product.paths)


def test_irreps_that_cannot_reach_the_energy_are_pruned():
    # With two layers a pseudo-tensor of layer 1 has no path to layer 2's true scalars
    # through the spherical-harmonic environment, so parity changes nothing.
    with_parity, without = small_allegro(2, True), small_allegro(2, False)
    assert with_parity.layers[0].output_irreps == without.layers[0].output_irreps == [(0, 1), (1, -1), (2, 1)]
    assert [layer.output_irreps for layer in with_parity.layers][-1] == [(0, 1)]
    # layer 2 keeps only the scalar paths: 0e x 0e, 1o x 1o, 2e x 2e
    assert len(with_parity.layers[1].tensor_product.paths) == 3


@pytest.mark.parametrize("l_max", [1, 2])
def test_forces_and_stress_match_finite_differences(l_max):
    calc = AllegroCalc(small_allegro(l_max), dtype="float64")
    atoms = cuau_crystal(seed=3)
    check_forces_fd(calc, atoms, delta=1e-5, atol=1e-7, rtol=1e-5)
    check_stress_fd(calc, atoms, delta=1e-6, atol=1e-8, rtol=1e-5)


def test_strict_locality_and_smooth_cutoff():
    model = small_allegro(2)
    calc = AllegroCalc(model, dtype="float64")
    r_max = model.cutoff
    shifts = model.config.per_species_energy_shifts

    def dimer(distance):
        atoms = Atoms("CuAu", positions=[[0, 0, 0], [distance, 0, 0]])
        atoms.calc = calc
        return atoms.get_potential_energy(), atoms.get_forces()

    isolated = shifts[0] + shifts[1]
    assert dimer(r_max + 1e-6)[0] == pytest.approx(isolated, abs=1e-14)
    bound, _ = dimer(0.7 * r_max)
    assert abs(bound - isolated) > 1e-4  # the pair does interact inside the cutoff
    # The envelope's value and first two derivatives vanish at r_max: E ~ d^3, F ~ d^2.
    near, forces = dimer(r_max - 1e-3)
    assert abs(near - isolated) < 1e-7
    assert np.abs(forces).max() < 1e-5

    # An atom's energy does not change when atoms beyond r_max move.
    atoms = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [2.5 + r_max + 0.5, 0.3, 0]])
    atoms.calc = calc
    before = atoms.get_potential_energies()[0]
    atoms.positions[2] += [1.0, 0.7, -0.4]
    assert atoms.get_potential_energies()[0] == pytest.approx(before, abs=1e-14)


def test_batch_matches_single_structures():
    model = small_allegro(2).double()
    potential = Potential(model)
    structures = [cuau_crystal(seed=s) for s in range(3)]
    structures[1] = structures[1].repeat((1, 1, 2))
    batch = potential(build_graph(structures, model.cutoff, model.species), compute_stress=True)
    for index, atoms in enumerate(structures):
        single = potential(build_graph(atoms, model.cutoff, model.species), compute_stress=True)
        torch.testing.assert_close(batch.energy[index], single.energy[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(batch.stress[index], single.stress[0], rtol=1e-10, atol=1e-12)
        start = sum(len(a) for a in structures[:index])
        torch.testing.assert_close(batch.forces[start : start + len(atoms)], single.forces, rtol=1e-10, atol=1e-12)


def test_checkpoint_round_trip(tmp_path):
    model = small_allegro(3, parity=False)
    path = tmp_path / "allegro.pt"
    save_checkpoint(model, path, metadata={"note": "round trip"})
    loaded = load_checkpoint(path)
    assert isinstance(loaded, Allegro)
    assert loaded.config == model.config
    atoms = cuau_crystal(seed=6)
    reference = AllegroCalc(model, dtype="float64")
    for calc in (AllegroCalc(path, dtype="float64"), AllegroCalc(loaded, dtype="float64")):
        atoms.calc = calc
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = reference
        assert energy == atoms.get_potential_energy()
        np.testing.assert_array_equal(forces, atoms.get_forces())


def test_float32_agrees_with_float64():
    model = small_allegro(2)
    atoms = cuau_crystal(seed=7)
    atoms.calc = AllegroCalc(model, dtype="float64")
    forces64 = atoms.get_forces()
    atoms.calc = AllegroCalc(model, dtype="float32")
    np.testing.assert_allclose(atoms.get_forces(), forces64, atol=1e-5)


def test_works_with_ase_optimiser_cell_filter_and_md():
    model = small_allegro(1, species=("Cu",))
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
    atoms.rattle(0.05, seed=1)
    atoms.calc = AllegroCalc(model, dtype="float64")
    start = atoms.get_potential_energy()
    relaxed = FrechetCellFilter(atoms)
    assert BFGS(relaxed, logfile=None).run(fmax=1e-3, steps=200)
    assert atoms.get_potential_energy() < start
    # the filter's generalised forces (atomic forces through the cell's deformation
    # since the start, and the virial rows) are all within fmax
    assert np.linalg.norm(relaxed.get_forces(), axis=1).max() < 1e-3
    assert np.abs(atoms.get_stress()).max() < 1e-4

    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=2)
    atoms.calc = AllegroCalc(model, dtype="float64")
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    energies = []
    dynamics.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    dynamics.run(50)
    kinetic = max(atoms.get_kinetic_energy(), 1e-6)
    assert np.ptp(energies) < 1e-3 * max(kinetic, np.abs(np.diff(energies)).max() * 10)


def test_allegro_calc_refuses_other_models():
    with pytest.raises(TypeError, match="PotentialCalc"):
        AllegroCalc(LennardJones(species=["Ar"], sigma=3.4, epsilon=0.01))


def test_bad_inputs_raise_clear_errors():
    calc = AllegroCalc(small_allegro(1))
    atoms = bulk("Ag", "fcc", a=4.1)
    atoms.calc = calc
    with pytest.raises(ValueError, match="Ag"):
        atoms.get_potential_energy()
    atoms = cuau_crystal()
    atoms.positions[0, 1] = np.nan
    atoms.calc = calc
    with pytest.raises(ValueError, match="(?i)nan|finite"):
        atoms.get_forces()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"l_max": 4}, "l_max"),
        ({"l_max": 0}, "l_max"),
        ({"num_scalar_features": 15}, "num_scalar_features"),
        ({"parity": "yes"}, "parity"),
        ({"per_species_energy_shifts": [0.0]}, "per_species_energy_shifts"),
        ({"r_max": -1.0}, "r_max"),
        ({"num_layers": 0}, "num_layers"),
        ({"species": ["Cu", "Cu"]}, "species"),
    ],
)
def test_bad_config_names_the_field(change, field):
    settings = {"species": ["Cu", "Au"], **change}
    with pytest.raises(ValueError, match=field):
        Allegro.from_config(settings)


def test_normalised_silu_keeps_a_unit_second_moment():
    from e3nn.math import normalize2mom

    from asetools.models.mlp import NormalizedSiLU

    activation = NormalizedSiLU()
    # e3nn estimates the same factor by sampling (to about 0.2 %)
    assert activation.scale == pytest.approx(float(normalize2mom(torch.nn.functional.silu).cst), rel=5e-3)
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert activation(z).pow(2).mean().item() == pytest.approx(1.0, abs=5e-3)


@pytest.mark.parametrize("normalize, low, high", [(True, 0.4, 2.5), (False, 0.0, 0.1)])
def test_deep_mlp_output_scale_at_initialisation(normalize, low, high):
    from asetools.models.mlp import ScalarMLP

    torch.manual_seed(0)
    mlp = ScalarMLP(64, [256, 256, 256, 256], 64, normalize_activation=normalize)
    x = torch.randn(4096, 64)
    with torch.no_grad():
        second_moment = mlp(x).pow(2).mean().item()
    # plain SiLU shrinks the second moment about 0.36 per layer: 0.36**4 = 0.017
    assert low < second_moment < high
