"""Labels, statistics and the built-in EMT data set."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.neighborlist import neighbor_list

from asetools.data import (
    LIQUID_COPPER_DENSITY,
    dataset_statistics,
    emt_copper_dataset,
    emt_liquid_copper,
    emt_liquid_copper_dataset,
    read_energy,
    read_forces,
)


def test_emt_dataset_is_labelled_with_emt_and_reproducible():
    frames = emt_copper_dataset(3, seed=5)
    again = emt_copper_dataset(3, seed=5)
    for atoms, copy in zip(frames, again):
        np.testing.assert_array_equal(atoms.positions, copy.positions)
        fresh = atoms.copy()
        fresh.calc = EMT()
        assert read_energy(atoms) == pytest.approx(fresh.get_potential_energy(), abs=1e-12)
        np.testing.assert_allclose(read_forces(atoms), fresh.get_forces(), atol=1e-12)
    assert not np.allclose(frames[0].cell.array, frames[1].cell.array)


def test_liquid_copper_is_melted_at_the_requested_density():
    atoms = emt_liquid_copper(repeat=2, temperature_K=1500, equilibration_ps=0.2, seed=3)
    assert len(atoms) == 32
    assert len(atoms) / atoms.get_volume() == pytest.approx(LIQUID_COPPER_DENSITY)
    np.testing.assert_allclose(atoms.get_momenta().sum(axis=0), 0.0, atol=1e-10)
    # Melted: atoms have left their lattice sites (fcc neighbours are 2.6 Å apart at this density).
    lattice = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    lattice.set_cell(atoms.cell, scale_atoms=True)
    displacement = atoms.positions - lattice.positions
    displacement -= np.round(displacement @ np.linalg.inv(atoms.cell.array)) @ atoms.cell.array
    assert np.sqrt((displacement**2).sum(axis=1).mean()) > 1.0


def test_liquid_copper_dataset_is_labelled_with_emt_and_reproducible():
    frames = emt_liquid_copper_dataset(4, repeat=2, temperatures_K=(1200, 1800), interval_fs=20, equilibration_ps=0.1, seed=1)
    again = emt_liquid_copper_dataset(4, repeat=2, temperatures_K=(1200, 1800), interval_fs=20, equilibration_ps=0.1, seed=1)
    assert len(frames) == 4
    for atoms, copy in zip(frames, again):
        np.testing.assert_array_equal(atoms.positions, copy.positions)
        fresh = atoms.copy()
        fresh.calc = EMT()
        np.testing.assert_allclose(read_forces(atoms), fresh.get_forces(), atol=1e-12)
        np.testing.assert_allclose(atoms.get_stress(), fresh.get_stress(), atol=1e-12)
    assert not np.allclose(frames[0].positions, frames[1].positions)


def test_labels_from_info_and_arrays():
    atoms = bulk("Cu", "fcc", a=3.6) * 2
    atoms.info["REF_energy"] = -1.5
    atoms.arrays["REF_forces"] = np.ones((len(atoms), 3))
    assert read_energy(atoms, "REF_energy") == -1.5
    np.testing.assert_array_equal(read_forces(atoms, "REF_forces"), 1.0)
    with pytest.raises(ValueError, match="structure 7 has no reference energy 'energy'"):
        read_energy(atoms, where=7)
    atoms.arrays["REF_forces"][3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        read_forces(atoms, "REF_forces")


def test_statistics_match_direct_counts():
    frames = emt_copper_dataset(4, seed=2)
    stats = dataset_statistics(frames, 4.5, ["Cu"])
    neighbours = sum(len(neighbor_list("i", atoms, 4.5)) for atoms in frames)
    atoms_total = sum(len(atoms) for atoms in frames)
    assert stats.avg_num_neighbors == pytest.approx(neighbours / atoms_total)
    mean_energy = np.mean([a.get_potential_energy() / len(a) for a in frames])
    assert stats.per_species_energy_shifts[0] == pytest.approx(mean_energy)
    forces = np.concatenate([a.get_forces() for a in frames])
    assert stats.force_rms == pytest.approx(np.sqrt(np.mean(forces**2)))
    assert stats.num_atoms == atoms_total
