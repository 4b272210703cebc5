"""ZBL repulsion prior: the published universal function, its place in Allegro, gradients, checkpoints."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

from asetools.calculators import AllegroCalc
from asetools.checkpoint import load_checkpoint, save_checkpoint
from asetools.models import AllegroConfig
from asetools.models.zbl import COULOMB_EV_ANGSTROM, ZBLRepulsion, zbl_pair_energy
from asetools.testing import check_forces_fd, check_invariance
from asetools.training.config import ModelSection
from tests.conftest import small_allegro


def screening_numpy(x):
    """The ZBL universal screening function as printed by Ziegler, Biersack and Littmark."""
    return (
        0.18175 * np.exp(-3.19980 * x)
        + 0.50986 * np.exp(-0.94229 * x)
        + 0.28022 * np.exp(-0.40290 * x)
        + 0.02817 * np.exp(-0.20162 * x)
    )


def envelope_numpy(r, r_max, p=6):
    x = r / r_max
    u = 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
    return np.where(x < 1, u, 0.0)


def pair_energy_numpy(r, z_i, z_j):
    a = 0.46850 / (z_i**0.23 + z_j**0.23)
    return 14.399645 * z_i * z_j / r * screening_numpy(r / a)


def test_coulomb_constant_is_e_squared_over_4_pi_epsilon_0():
    from ase.units import _e, _eps0

    assert COULOMB_EV_ANGSTROM == pytest.approx(_e / (4 * np.pi * _eps0) * 1e10, rel=1e-6)


@pytest.mark.parametrize("z_i, z_j", [(1, 1), (1, 6), (6, 8), (29, 79)])
def test_pair_energy_matches_the_published_formula_and_the_bare_coulomb_limit(z_i, z_j):
    r = np.array([0.05, 0.3, 0.9, 1.5, 2.7])
    got = zbl_pair_energy(torch.tensor(r, dtype=torch.float64), torch.full((5,), z_i), torch.full((5,), z_j))
    np.testing.assert_allclose(got.numpy(), pair_energy_numpy(r, z_i, z_j), rtol=1e-12)
    # The screening function is 1 at x = 0: the unscreened nuclear Coulomb repulsion.
    tiny = torch.tensor([1e-6], dtype=torch.float64)
    bare = COULOMB_EV_ANGSTROM * z_i * z_j / 1e-6
    assert float(zbl_pair_energy(tiny, torch.tensor([z_i]), torch.tensor([z_j]))) == pytest.approx(bare, rel=1e-4)
    assert np.all(np.diff(got.numpy()) < 0), "ZBL is purely repulsive: it must fall with distance"


def test_hydrogen_pair_at_one_angstrom():
    # Worked by hand from the formula: a = 0.2343 Å, x = 4.269, phi = 0.07122 -> 1.0255 eV.
    energy = zbl_pair_energy(torch.tensor([1.0], dtype=torch.float64), torch.tensor([1]), torch.tensor([1]))
    assert float(energy) == pytest.approx(1.0255, abs=2e-3)


def test_edges_carry_half_the_pair_energy_and_vanish_at_the_cutoff():
    zbl = ZBLRepulsion(["H", "O"], r_max=3.0).double()
    r = torch.tensor([0.8, 1.6, 2.999, 3.0, 6.0], dtype=torch.float64)
    centre = torch.tensor([0, 0, 1, 1, 0])
    neighbour = torch.tensor([1, 0, 1, 0, 1])
    z = np.array([1, 8])
    expected = 0.5 * pair_energy_numpy(r.numpy(), z[centre.numpy()], z[neighbour.numpy()]) * envelope_numpy(r.numpy(), 3.0)
    np.testing.assert_allclose(zbl(r, centre, neighbour).numpy(), expected, rtol=1e-12, atol=1e-300)
    assert float(zbl(r, centre, neighbour)[3:].abs().sum()) == 0.0


def test_unknown_element_is_refused():
    with pytest.raises(ValueError, match="unknown element"):
        ZBLRepulsion(["H", "Xx"], r_max=3.0)


def ethanol(seed=1) -> Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=seed)
    return atoms


@pytest.mark.parametrize("reference_path", [False, True])
def test_allegro_adds_exactly_the_pair_sum(reference_path):
    species = ("H", "C", "O")
    with_zbl = small_allegro(2, species=species, r_max=3.0, zbl=True)
    without = small_allegro(2, species=species, r_max=3.0)
    without.load_state_dict(with_zbl.state_dict())
    for model in (with_zbl, without):
        model.reference_path = reference_path
    atoms = ethanol()
    energies = []
    for model in (with_zbl, without):
        atoms.calc = AllegroCalc(model, dtype="float64")
        energies.append(atoms.get_potential_energy())
    distances = atoms.get_all_distances()
    i, j = np.triu_indices(len(atoms), 1)
    z = atoms.numbers
    pairs = pair_energy_numpy(distances[i, j], z[i], z[j]) * envelope_numpy(distances[i, j], 3.0)
    assert pairs.sum() > 1.0, "ethanol's bonds are well inside the ZBL range"
    assert energies[0] - energies[1] == pytest.approx(pairs.sum(), rel=1e-10)


def test_forces_are_gradients_and_the_model_stays_invariant():
    calc = AllegroCalc(small_allegro(2, species=("H", "C", "O"), r_max=3.0, zbl=True), dtype="float64")
    atoms = ethanol(seed=3)
    check_forces_fd(calc, atoms, atol=1e-6, rtol=1e-5)
    check_invariance(calc, atoms, seed=4, atol=1e-9, rtol=1e-9)


def test_short_contacts_are_repelled_even_by_an_untrained_model():
    # Two hydrogens pushed together: the prior's force grows as 1/r^2 and beats
    # anything the small random network does.
    model = small_allegro(2, species=("H",), r_max=3.0, zbl=True)
    calc = AllegroCalc(model, dtype="float64")
    energies = []
    for r in (0.3, 0.5, 0.7):
        atoms = Atoms("H2", positions=[[0, 0, 0], [r, 0, 0]])
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
    assert energies[0] > energies[1] > energies[2]


def test_checkpoint_keeps_the_prior(tmp_path):
    model = small_allegro(2, species=("H", "C", "O"), r_max=3.0, zbl=True)
    path = save_checkpoint(model, tmp_path / "zbl.pt")
    loaded = load_checkpoint(path)
    assert loaded.config.zbl is True
    atoms = ethanol()
    results = []
    for m in (model, loaded):
        atoms.calc = AllegroCalc(m, dtype="float64")
        results.append(atoms.get_potential_energy())
    assert results[0] == pytest.approx(results[1], rel=1e-12)


def test_config_checks_the_flag():
    with pytest.raises(ValueError, match="zbl: must be true or false"):
        AllegroConfig(species=["H"], zbl="yes")
    section = ModelSection(kind="allegro", options={"zbl": True, "r_max": 3.0})
    assert section.options["zbl"] is True
