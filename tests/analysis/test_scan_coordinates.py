"""Scanned internal coordinates: parsing, measuring and setting them by rigid moves of one side of the molecule."""

import numpy as np
import pytest
from ase.build import molecule

from asetools.analysis import InternalCoordinate, set_internal_coordinates
from asetools.analysis.scan_coordinates import wrap_degrees


def ethanol():
    atoms = molecule("CH3CH2OH")  # C0 C1 O2 H3(O-H) H4..H8
    assert list(atoms.symbols[:4]) == ["C", "C", "O", "H"]
    return atoms


def distances_within(atoms, group):
    return atoms.get_all_distances()[np.ix_(group, group)]


def test_parse_accepts_the_usual_spellings_and_refuses_bad_ones():
    assert InternalCoordinate.parse("dihedral:3,2,1,0") == InternalCoordinate("dihedral", (3, 2, 1, 0))
    assert InternalCoordinate.parse(" Angle 0 1 2") == InternalCoordinate("angle", (0, 1, 2))
    assert InternalCoordinate.parse("bond:0-1").label == "bond 0-1 (Å)"
    with pytest.raises(ValueError, match="unknown internal coordinate 'torsion'"):
        InternalCoordinate.parse("torsion:0,1,2,3")
    with pytest.raises(ValueError, match="a dihedral needs 4 atom indices"):
        InternalCoordinate.parse("dihedral:0,1,2")
    with pytest.raises(ValueError, match="different"):
        InternalCoordinate("angle", (0, 1, 0))
    with pytest.raises(ValueError, match="cannot read"):
        InternalCoordinate.parse("bond:a,b")
    with pytest.raises(ValueError, match="out of range for 9 atoms"):
        InternalCoordinate.parse("bond:0,9").measure(ethanol())


def test_wrap_degrees_keeps_angles_in_one_turn():
    np.testing.assert_allclose(wrap_degrees([-180.0, 180.0, 190.0, -541.0, 0.0]), [180.0, 180.0, -170.0, 179.0, 0.0])
    np.testing.assert_allclose(wrap_degrees([-10.0, 370.0], 0.0), [350.0, 10.0])


def test_measure_agrees_with_ase():
    atoms = ethanol()
    assert InternalCoordinate("bond", (0, 1)).measure(atoms) == pytest.approx(atoms.get_distance(0, 1))
    assert InternalCoordinate("angle", (0, 1, 2)).measure(atoms) == pytest.approx(atoms.get_angle(0, 1, 2))
    dihedral = atoms.get_dihedral(0, 1, 2, 3)
    assert InternalCoordinate("dihedral", (0, 1, 2, 3)).measure(atoms) == pytest.approx(wrap_degrees(dihedral))


def test_turning_a_dihedral_rotates_one_side_rigidly():
    atoms = ethanol()
    torsion = InternalCoordinate("dihedral", (0, 1, 2, 3))  # C-C-O-H: only the hydroxyl H moves
    np.testing.assert_array_equal(torsion.moving_atoms(atoms), [2, 3])
    backbone = InternalCoordinate("dihedral", (2, 1, 0, 6))  # O-C-C-H: the methyl group turns
    methyl = backbone.moving_atoms(atoms)
    np.testing.assert_array_equal(methyl, [0, 6, 7, 8])
    # A last atom that is not on the turning side (H4 sits on C1) leaves only that atom to move.
    np.testing.assert_array_equal(InternalCoordinate("dihedral", (2, 1, 0, 4)).moving_atoms(atoms), [4])
    before = atoms.copy()
    set_internal_coordinates(atoms, [backbone], [-100.0], [methyl])
    assert backbone.measure(atoms) == pytest.approx(-100.0, abs=1e-6)
    rest = np.setdiff1d(np.arange(len(atoms)), methyl)
    np.testing.assert_allclose(atoms.positions[rest], before.positions[rest], atol=1e-12)
    np.testing.assert_allclose(distances_within(atoms, methyl), distances_within(before, methyl), atol=1e-10)
    # The bond the rotation turns about, and the angles at it, stay as they were.
    assert atoms.get_distance(0, 1) == pytest.approx(before.get_distance(0, 1))
    assert atoms.get_angle(2, 1, 0) == pytest.approx(before.get_angle(2, 1, 0))


def test_stretching_and_bending_move_one_side():
    atoms = ethanol()
    before = atoms.copy()
    stretch = InternalCoordinate("bond", (1, 0))  # C1-C0: the methyl group moves away
    bend = InternalCoordinate("angle", (0, 1, 2))  # C-C-O: the hydroxyl turns about C1
    moving = [stretch.moving_atoms(atoms), bend.moving_atoms(atoms)]
    np.testing.assert_array_equal(moving[1], [2, 3])
    set_internal_coordinates(atoms, [stretch, bend], [1.9, 95.0], moving)
    assert stretch.measure(atoms) == pytest.approx(1.9, abs=1e-6)
    assert bend.measure(atoms) == pytest.approx(95.0, abs=1e-6)
    for group in moving:
        np.testing.assert_allclose(distances_within(atoms, group), distances_within(before, group), atol=1e-10)
    np.testing.assert_allclose(atoms.positions[1], before.positions[1])


def test_ring_bonds_fall_back_to_moving_the_last_atom():
    benzene = molecule("C6H6")
    carbons = [i for i in range(12) if benzene.numbers[i] == 6]
    ring = InternalCoordinate("dihedral", tuple(carbons[:4]))
    # Neither side of a ring bond can be turned rigidly; the last carbon moves with nothing else.
    ordered = [carbons[0]]
    for _ in range(3):
        ordered.append(min((c for c in carbons if c not in ordered),
                           key=lambda c: benzene.get_distance(ordered[-1], c)))
    ring = InternalCoordinate("dihedral", tuple(ordered))
    np.testing.assert_array_equal(ring.moving_atoms(benzene), [ordered[-1]])


def test_coordinates_that_cannot_hold_together_are_refused():
    atoms = ethanol()
    forward, backward = InternalCoordinate("bond", (0, 1)), InternalCoordinate("bond", (1, 0))
    moving = [forward.moving_atoms(atoms), backward.moving_atoms(atoms)]
    with pytest.raises(ValueError, match="cannot set bond 0-1 .* and bond 1-0"):
        set_internal_coordinates(atoms, [forward, backward], [1.4, 1.7], moving)
    with pytest.raises(ValueError, match="strictly between 0 and 180"):
        InternalCoordinate("angle", (0, 1, 2)).set(atoms, 180.0, [2, 3])


def test_the_package_keeps_the_trajectory_function_name():
    import asetools.analysis

    assert callable(asetools.analysis.internal_coordinates)  # not shadowed by a submodule of the same name
