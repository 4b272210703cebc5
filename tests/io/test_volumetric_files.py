"""Cube and CHGCAR files: round trips, units, layout and agreement with ASE and pymatgen."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.units import Bohr

from asetools.io import read_chgcar, read_cube, write_chgcar, write_cube
from asetools.io.grid import DensityGrid


def _printed(values: np.ndarray, digits: int) -> np.ndarray:
    """``values`` rounded to ``digits`` decimals of scientific notation, as a file prints them."""
    return np.array([float(f"{x:.{digits}E}") for x in np.ravel(values)]).reshape(np.shape(values))


@pytest.fixture
def water_grid() -> DensityGrid:
    atoms = molecule("H2O")
    grid = DensityGrid.around(atoms, spacing=0.3, padding=1.0)
    rng = np.random.default_rng(3)
    return grid.with_values(rng.lognormal(size=grid.shape) * 1e-2)


@pytest.fixture
def triclinic_grid() -> DensityGrid:
    atoms = bulk("Si", "diamond", a=5.43)  # an fcc primitive cell: voxel vectors not orthogonal
    rng = np.random.default_rng(4)
    return DensityGrid.for_cell(atoms, (7, 9, 11), values=rng.uniform(0.0, 0.3, size=(7, 9, 11)))


def test_cube_round_trip_is_exact_to_printed_precision(tmp_path, water_grid):
    path = tmp_path / "water.cube"
    write_cube(path, water_grid, comment="water test")
    back = read_cube(path)
    assert back.shape == water_grid.shape
    expected = _printed(water_grid.values * Bohr**3, 5) / Bohr**3
    np.testing.assert_array_equal(back.values, expected)
    # geometry: printed with 6 decimals in Bohr
    np.testing.assert_allclose(back.origin, water_grid.origin, atol=0.6e-6 * Bohr, rtol=0)
    np.testing.assert_allclose(back.voxel, water_grid.voxel, atol=0.6e-6 * Bohr, rtol=0)
    np.testing.assert_allclose(back.atoms.positions, water_grid.atoms.positions, atol=0.6e-6 * Bohr, rtol=0)
    np.testing.assert_array_equal(back.atoms.numbers, water_grid.atoms.numbers)
    # a second trip through the file format changes nothing at all
    write_cube(tmp_path / "again.cube", back)
    assert (tmp_path / "again.cube").read_text().split("\n")[2:] == path.read_text().split("\n")[2:]


def test_cube_layout_units_and_ase_reader(tmp_path, water_grid):
    """Values in e/Bohr³, z fastest, rows broken into lines of six; ASE reads the same field."""
    from ase.io.cube import read_cube_data

    path = tmp_path / "water.cube"
    write_cube(path, water_grid)
    lines = path.read_text().splitlines()
    natoms = int(lines[2].split()[0])
    assert natoms == 3
    nz = water_grid.shape[2]
    first_row = lines[6 + natoms : 6 + natoms + -(-nz // 6)]
    assert [len(line.split()) for line in first_row] == [6] * (nz // 6) + ([nz % 6] if nz % 6 else [])
    first_values = np.array(" ".join(first_row).split(), dtype=float)
    np.testing.assert_allclose(first_values, water_grid.values[0, 0, :] * Bohr**3, rtol=1e-5)

    data, atoms = read_cube_data(str(path))
    np.testing.assert_allclose(data, water_grid.values * Bohr**3, rtol=1e-5)
    np.testing.assert_allclose(atoms.positions, water_grid.atoms.positions, atol=1e-5)


def test_cube_electron_count_survives_the_unit_conversion(tmp_path):
    atoms = Atoms("He", positions=[[0.0, 0.0, 0.0]])
    grid = DensityGrid.around(atoms, spacing=0.1, padding=4.0)
    alpha = 1.7  # 1/Å²
    r2 = np.sum(grid.points() ** 2, axis=1).reshape(grid.shape)
    values = 2.0 * (alpha / np.pi) ** 1.5 * np.exp(-alpha * r2)
    grid = grid.with_values(values)
    assert grid.integrate() == pytest.approx(2.0, rel=1e-6)
    write_cube(tmp_path / "he.cube", grid)
    assert read_cube(tmp_path / "he.cube").integrate() == pytest.approx(2.0, rel=1e-5)


def test_chgcar_round_trip_periodic_triclinic(tmp_path, triclinic_grid):
    path = tmp_path / "CHGCAR"
    write_chgcar(path, triclinic_grid)
    back = read_chgcar(path)
    assert back.periodic and back.shape == triclinic_grid.shape
    volume = abs(np.linalg.det(triclinic_grid.cell))
    np.testing.assert_array_equal(back.values, _printed(triclinic_grid.values * volume, 11) / volume)
    np.testing.assert_allclose(back.voxel, triclinic_grid.voxel, atol=1e-12)
    np.testing.assert_allclose(back.atoms.positions, triclinic_grid.atoms.positions, atol=1e-12)
    assert back.integrate() == pytest.approx(triclinic_grid.integrate(), rel=1e-10)


def test_chgcar_layout_x_fastest_five_per_line(tmp_path, triclinic_grid):
    path = tmp_path / "CHGCAR"
    write_chgcar(path, triclinic_grid)
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.split() == ["7", "9", "11"])
    body = lines[index + 1 :]
    assert all(len(line.split()) == 5 for line in body[:-1]) and 1 <= len(body[-1].split()) <= 5
    volume = abs(np.linalg.det(triclinic_grid.cell))
    stored = np.array(" ".join(body).split(), dtype=float)
    assert stored.size == 7 * 9 * 11
    values = triclinic_grid.values
    np.testing.assert_allclose(stored[:3], [values[0, 0, 0], values[1, 0, 0], values[2, 0, 0]] * np.array(volume), rtol=1e-10)
    np.testing.assert_allclose(stored[7], values[0, 1, 0] * volume, rtol=1e-10)
    np.testing.assert_allclose(stored[63], values[0, 0, 1] * volume, rtol=1e-10)


def test_chgcar_agrees_with_ase_and_pymatgen(tmp_path, triclinic_grid):
    from ase.calculators.vasp import VaspChargeDensity

    path = tmp_path / "CHGCAR"
    write_chgcar(path, triclinic_grid)
    ase_density = VaspChargeDensity(str(path))
    np.testing.assert_allclose(ase_density.chg[-1], triclinic_grid.values, rtol=1e-10)
    np.testing.assert_allclose(ase_density.atoms[-1].cell.array, triclinic_grid.cell, atol=1e-10)

    pymatgen_vasp = pytest.importorskip("pymatgen.io.vasp")
    chgcar = pymatgen_vasp.Chgcar.from_file(str(path))
    volume = abs(np.linalg.det(triclinic_grid.cell))
    np.testing.assert_allclose(chgcar.data["total"], triclinic_grid.values * volume, rtol=1e-10)
    np.testing.assert_allclose(chgcar.structure.lattice.matrix, triclinic_grid.cell, atol=1e-10)


def test_chgcar_of_a_molecule_box_keeps_atoms_where_the_grid_saw_them(tmp_path, water_grid):
    write_chgcar(tmp_path / "CHGCAR", water_grid)
    back = read_chgcar(tmp_path / "CHGCAR")
    np.testing.assert_allclose(back.cell, water_grid.cell, atol=1e-12)
    np.testing.assert_allclose(back.atoms.positions, water_grid.atoms.positions - water_grid.origin, atol=1e-12)
    np.testing.assert_allclose(back.values, water_grid.values, rtol=1e-10)


def test_chgcar_reader_skips_augmentation_and_spin_blocks(tmp_path, triclinic_grid):
    path = tmp_path / "CHGCAR"
    write_chgcar(path, triclinic_grid)
    text = path.read_text()
    extra = "augmentation occupancies   1  4\n  0.1 0.2 0.3 0.4\n" + " 1.0 1.0\n    7    9   11\n" + " 0.5" * 693 + "\n"
    path.write_text(text + extra)
    np.testing.assert_allclose(read_chgcar(path).values, triclinic_grid.values, rtol=1e-10)


def test_truncated_files_give_clear_errors(tmp_path, water_grid, triclinic_grid):
    write_cube(tmp_path / "a.cube", water_grid)
    text = (tmp_path / "a.cube").read_text()
    (tmp_path / "cut.cube").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_cube(tmp_path / "cut.cube")
    write_chgcar(tmp_path / "CHGCAR", triclinic_grid)
    text = (tmp_path / "CHGCAR").read_text()
    (tmp_path / "CUT").write_text(text[: len(text) - 200])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_chgcar(tmp_path / "CUT")
    (tmp_path / "junk").write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="not a cube file"):
        read_cube(tmp_path / "junk")
    with pytest.raises(ValueError, match="not a CHGCAR file"):
        read_chgcar(tmp_path / "junk")
    with pytest.raises(FileNotFoundError):
        read_cube(tmp_path / "missing.cube")


def test_failed_write_leaves_the_old_file(tmp_path, water_grid):
    path = tmp_path / "water.cube"
    write_cube(path, water_grid)
    before = path.read_text()
    bad = water_grid.with_values(np.full(water_grid.shape, "x", dtype=object))
    with pytest.raises(ValueError):
        write_cube(path, bad)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["water.cube"]


def test_density_grid_geometry():
    atoms = molecule("CH4")
    grid = DensityGrid.around(atoms, spacing=0.2, padding=2.0)
    points = grid.points().reshape(grid.shape + (3,))
    assert np.all(points[0, 0, 0] <= atoms.positions.min(axis=0) - 2.0 + 1e-9)
    assert np.all(points[-1, -1, -1] >= atoms.positions.max(axis=0) + 2.0 - 1e-9)
    np.testing.assert_allclose(points[1, 0, 0] - points[0, 0, 0], [0.2, 0, 0])
    np.testing.assert_allclose(grid.points(5, 9), grid.points()[5:9])
    x, y, z = grid.axis_coordinates()
    np.testing.assert_allclose(points[:, 3, 4, 0], x)
    with pytest.raises(ValueError, match="3-D"):
        DensityGrid(values=np.zeros(4), origin=np.zeros(3), voxel=np.eye(3))
    with pytest.raises(ValueError, match="linearly dependent"):
        DensityGrid(values=np.zeros((2, 2, 2)), origin=np.zeros(3), voxel=np.zeros((3, 3)))
