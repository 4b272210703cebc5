"""Covalent topology and internal coordinates against ASE's own geometry functions and hand counts."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from asetools.analysis.geometry import Topology, bond_lengths, dihedral_angles, internal_coordinates


def test_ethanol_has_the_bonds_and_dihedrals_a_chemist_counts():
    topology = Topology.from_atoms(molecule("CH3CH2OH"))
    bonds = {label: len(rows) for label, rows in topology.groups("bonds").items()}
    assert bonds == {"C-C": 1, "C-H": 5, "C-O": 1, "H-O": 1}
    dihedrals = {label: len(rows) for label, rows in topology.groups("dihedrals").items()}
    # About C-C: 3 methyl H × (2 methylene H + O); about C-O: (C + 2 H) × the hydroxyl H.
    assert dihedrals == {"C-C-O-H": 1, "H-C-C-H": 6, "H-C-C-O": 3, "H-C-O-H": 2}
    assert topology.n_molecules == 1


def test_separate_copies_are_separate_molecules():
    water = molecule("H2O")
    pair = water + water
    pair.positions[3:] += [8.0, 0.0, 0.0]
    topology = Topology.from_atoms(pair)
    assert topology.n_molecules == 2
    assert topology.molecule.tolist() == [0, 0, 0, 1, 1, 1]
    groups = topology.groups("bonds")
    assert list(groups) == ["H-O"]
    assert groups["H-O"].tolist() == [[0, 1], [0, 2], [3, 4], [3, 5]]
    assert len(topology.dihedrals) == 0


def test_repeat_equals_the_topology_of_the_copies():
    ethanol = molecule("CH3CH2OH")
    copies = ethanol.copy()
    for shift in (10.0, 20.0):
        moved = ethanol.copy()
        moved.positions += [shift, 0.0, 0.0]
        copies += moved
    repeated, direct = Topology.from_atoms(ethanol).repeat(3), Topology.from_atoms(copies)
    assert repeated.symbols == direct.symbols
    assert repeated.bonds.tolist() == direct.bonds.tolist()
    assert sorted(map(tuple, repeated.dihedrals.tolist())) == sorted(map(tuple, direct.dihedrals.tolist()))
    assert repeated.molecule.tolist() == direct.molecule.tolist()
    with pytest.raises(ValueError, match="copies"):
        Topology.from_atoms(ethanol).repeat(0)


def test_values_match_ase_for_every_frame():
    atoms = molecule("CH3CH2OH")
    rng = np.random.default_rng(0)
    frames = atoms.positions + rng.normal(scale=0.1, size=(6, len(atoms), 3))
    topology = Topology.from_atoms(atoms)
    lengths = bond_lengths(frames, topology.bonds)
    angles = dihedral_angles(frames, topology.dihedrals)
    for frame, positions in enumerate(frames):
        copy = Atoms(atoms.symbols, positions=positions)
        for n, (i, j) in enumerate(topology.bonds):
            assert lengths[frame, n] == pytest.approx(copy.get_distance(i, j), abs=1e-12)
        for n, quad in enumerate(topology.dihedrals):
            expected = copy.get_dihedral(*quad)  # ASE: [0, 360)
            assert angles[frame, n] % 360.0 == pytest.approx(expected, abs=1e-9)
            assert -180.0 <= angles[frame, n] < 180.0


def test_dihedral_sign_and_mirror_image():
    # j-k along z, i on +y; l turned by ``turn`` degrees about z. Mirror images have opposite signs.
    def dihedral(turn):
        l_direction = [np.cos(np.radians(90 + turn)), np.sin(np.radians(90 + turn)), 0.0]
        positions = np.array([[0, 1, 0], [0, 0, 0], [0, 0, 1.5], np.add([0, 0, 1.5], l_direction)])
        return dihedral_angles(positions[None], np.array([[0, 1, 2, 3]]))[0, 0]

    assert dihedral(0.0) == pytest.approx(0.0, abs=1e-12)
    assert dihedral(60.0) == pytest.approx(-dihedral(-60.0))
    assert abs(dihedral(60.0)) == pytest.approx(60.0)
    assert dihedral(180.0) == pytest.approx(-180.0)


def test_minimum_image_across_the_cell():
    atoms = Atoms("H2", positions=[[0.2, 0, 0], [9.5, 0, 0]], cell=[10, 10, 10], pbc=True)
    bonds = np.array([[0, 1]])
    assert bond_lengths(atoms.positions, bonds, atoms.cell, atoms.pbc)[0] == pytest.approx(0.7)
    assert bond_lengths(atoms.positions, bonds)[0] == pytest.approx(9.3)


def test_internal_coordinates_by_label_and_shape_check():
    atoms = molecule("CH3CH2OH")
    topology = Topology.from_atoms(atoms)
    values = internal_coordinates(np.stack([atoms.positions] * 3), topology)
    assert values["C-H"].shape == (3, 5)
    assert values["C-O"][0, 0] == pytest.approx(atoms.get_distance(*topology.groups("bonds")["C-O"][0]))
    with pytest.raises(ValueError, match="positions must be"):
        internal_coordinates(atoms.positions, topology)
    with pytest.raises(ValueError, match="kind must be"):
        topology.groups("angles")
