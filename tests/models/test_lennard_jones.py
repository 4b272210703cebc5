"""LennardJones through PotentialCalc against ASE's LennardJones and a brute-force sum."""

import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.lj import LennardJones as AseLennardJones

from asetools.calculators import PotentialCalc
from asetools.models import LennardJones, LennardJonesConfig
from asetools.testing import check_forces_fd, compare_calculators
from tests.conftest import ARGON, argon_cluster, rattled_argon, triclinic_argon


def small_rattled_cell():
    atoms = bulk("Ar", "fcc", a=5.2) * (2, 1, 1)  # 2 atoms, cell heights far below the cutoff
    atoms.rattle(0.15, seed=3)
    return atoms


STRUCTURES = {
    "crystal": rattled_argon,
    "triclinic": triclinic_argon,
    "small-cell": small_rattled_cell,
    "cluster": argon_cluster,
}


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("name", list(STRUCTURES))
def test_matches_ase_lennard_jones(name, smooth):
    atoms = STRUCTURES[name]()
    ours = PotentialCalc(LennardJones(species=["Ar"], smooth=smooth, **ARGON), dtype="float64")
    reference = AseLennardJones(sigma=ARGON["sigma"], epsilon=ARGON["epsilon"], rc=ARGON["cutoff"], smooth=smooth)
    properties = ["energy", "forces", "energies"] + (["stress"] if atoms.cell.rank == 3 else [])
    errors = compare_calculators(ours, reference, atoms, properties, rtol=1e-10)
    assert set(errors) == set(properties)


def test_custom_onset_matches_ase():
    atoms = rattled_argon(seed=5)
    ours = PotentialCalc(LennardJones(species=["Ar"], smooth=True, onset=6.0, **ARGON), dtype="float64")
    reference = AseLennardJones(sigma=3.4, epsilon=0.0104, rc=8.5, ro=6.0, smooth=True)
    compare_calculators(ours, reference, atoms, ["energy", "forces", "stress"], rtol=1e-10)


def brute_force_energy(atoms, sigma, epsilon, cutoff):
    """Independent O(N^2 * images) sum of shifted LJ pair energies (numpy only)."""
    symbols = atoms.get_chemical_symbols()
    cell = atoms.cell.array
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell).T, axis=1)
    reach = [int(np.ceil(cutoff / h)) if p else 0 for h, p in zip(heights, atoms.pbc)]
    energy = 0.0
    for shift in itertools.product(*(range(-n, n + 1) for n in reach)):
        offset = np.asarray(shift) @ cell
        for a, b in itertools.product(range(len(atoms)), repeat=2):
            if a == b and not any(shift):
                continue
            r = np.linalg.norm(atoms.positions[b] + offset - atoms.positions[a])
            if r <= cutoff:
                s, e = sigma[symbols[a], symbols[b]], epsilon[symbols[a], symbols[b]]
                energy += 0.5 * 4 * e * ((s / r) ** 12 - (s / r) ** 6 - (s / cutoff) ** 12 + (s / cutoff) ** 6)
    return energy


def test_two_species_with_mixing_and_a_pair_override():
    atoms = rattled_argon(repeat=(1, 1, 2), seed=2)
    atoms.symbols[::3] = "Kr"
    model = LennardJones(
        species=["Ar", "Kr"],
        sigma={"Ar": 3.4, "Kr": 3.65},
        epsilon={"Ar": 0.0104, "Kr": 0.0140, "Ar-Kr": 0.0125},
        cutoff=7.0,
    )
    sigma = {("Ar", "Ar"): 3.4, ("Kr", "Kr"): 3.65, ("Ar", "Kr"): 3.525, ("Kr", "Ar"): 3.525}
    epsilon = {("Ar", "Ar"): 0.0104, ("Kr", "Kr"): 0.0140, ("Ar", "Kr"): 0.0125, ("Kr", "Ar"): 0.0125}
    np.testing.assert_allclose(model.sigma.numpy(), [[3.4, 3.525], [3.525, 3.65]])
    calc = PotentialCalc(model, dtype="float64")
    atoms.calc = calc
    expected = brute_force_energy(atoms, sigma, epsilon, 7.0)
    assert atoms.get_potential_energy() == pytest.approx(expected, rel=1e-10)
    check_forces_fd(calc, atoms, indices=range(6))


def test_geometric_mixing_of_epsilon_from_per_species_list():
    model = LennardJones(species=["Ne", "Ar"], sigma=[2.8, 3.4], epsilon=[0.0031, 0.0104])
    np.testing.assert_allclose(model.epsilon.numpy()[0, 1], np.sqrt(0.0031 * 0.0104))
    assert model.cutoff == pytest.approx(3 * 3.4)  # ASE's default rc = 3 sigma


def test_float32_close_to_float64():
    atoms = rattled_argon()
    model = LennardJones(species=["Ar"], **ARGON)
    atoms.calc = PotentialCalc(model, dtype="float64")
    e64, f64 = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = PotentialCalc(model, dtype="float32")
    assert atoms.get_potential_energy() == pytest.approx(e64, rel=1e-5)
    np.testing.assert_allclose(atoms.get_forces(), f64, atol=1e-5)


def test_supercell_energy_is_extensive():
    unit = rattled_argon(repeat=(1, 1, 1), seed=4)
    calc = PotentialCalc(LennardJones(species=["Ar"], **ARGON), dtype="float64")
    unit.calc = calc
    big = unit * (2, 2, 2)
    big.calc = calc
    assert big.get_potential_energy() == pytest.approx(8 * unit.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(big.get_stress(), unit.get_stress(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(species=["Ar"], sigma=[[1.0, 2.0]]), "expected a number"),
        (dict(species=["Ar", "Kr"], sigma=[[1.0, 2.0], [3.0, 1.0]]), "symmetric"),
        (dict(species=["Ar", "Kr"], sigma={"Ar": 3.4}), "no value for the pair"),
        (dict(species=["Ar"], sigma={"Ar-Xe": 3.4}), "'Ar-Xe' must be an element"),
        (dict(species=["Ar"], sigma=-1.0), "sigma > 0"),
        (dict(species=["Ar"], cutoff=5.0, smooth=True, onset=6.0), "onset"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LennardJones(**kwargs)


def test_config_round_trip_through_dict():
    model = LennardJones(species=["Ar", "Kr"], sigma=[3.4, 3.6], epsilon=0.01, cutoff=7.0, smooth=True)
    again = LennardJones.from_config(model.config_dict())
    assert again.config == model.config
    assert isinstance(again.config, LennardJonesConfig)
    with pytest.raises(ValueError, match="unknown field"):
        LennardJones.from_config({**model.config_dict(), "sigmaa": 1.0})


def test_pair_beyond_cutoff_contributes_nothing():
    dimer = Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 8.6]])
    dimer.calc = PotentialCalc(LennardJones(species=["Ar"], **ARGON), dtype="float64")
    assert dimer.get_potential_energy() == 0.0
    assert not dimer.get_forces().any()
