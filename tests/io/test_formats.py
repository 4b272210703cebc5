"""The volumetric format table: one place decides a file's format, for every reader and writer."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, molecule

from asetools.cli.density import DENSITY_FILE_FORMATS
from asetools.io import (
    VOLUMETRIC_FORMATS,
    DensityGrid,
    read_chgcar,
    read_cube,
    read_npz,
    read_volumetric,
    volumetric_format,
    write_volumetric,
)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("rho.cube", "cube"),
        ("RHO.CUB", "cube"),
        ("CHGCAR", "chgcar"),
        ("AECCAR2", "chgcar"),
        ("chgcar_relaxed", "chgcar"),
        ("PARCHG.0042", "chgcar"),
        ("si.vasp", "chgcar"),
        ("h2o_0.npz", "npz"),
    ],
)
def test_the_path_says_the_format(name, expected):
    assert volumetric_format(f"some/dir/{name}").name == expected


def test_a_named_format_wins_and_unknown_names_or_paths_fail_clearly():
    assert volumetric_format("density.dat", "CUBE").name == "cube"
    with pytest.raises(ValueError, match="unknown volumetric format 'xsf'.*cube, chgcar, npz"):
        volumetric_format("rho.cube", "xsf")
    with pytest.raises(ValueError, match="cannot tell the format of density.dat.*format=.*cube \\(.cube"):
        volumetric_format("density.dat")
    with pytest.raises(FileNotFoundError, match="missing.cube"):
        read_volumetric("missing.cube")


def test_the_cli_offers_exactly_the_table(tmp_path):
    assert DENSITY_FILE_FORMATS == list(VOLUMETRIC_FORMATS)


@pytest.mark.parametrize("fmt", list(VOLUMETRIC_FORMATS))
def test_every_format_round_trips_through_the_table_also_in_slabs(tmp_path, fmt):
    atoms = molecule("H2O")
    grid = DensityGrid.around(atoms, spacing=0.35, padding=1.0)
    grid = grid.with_values(np.random.default_rng(0).uniform(0.01, 1.0, size=grid.shape))
    path = tmp_path / f"water.{fmt}"
    assert write_volumetric(path, grid, fmt).name == fmt
    whole = read_volumetric(path, fmt)
    axis = VOLUMETRIC_FORMATS[fmt].slab_axis
    slabs = np.array_split(grid.values, 3, axis=axis)
    write_volumetric(tmp_path / f"slabbed.{fmt}", grid, fmt, slabs=slabs)
    slabbed = read_volumetric(tmp_path / f"slabbed.{fmt}", fmt)
    rtol = 1e-6 if fmt != "cube" else 1e-4  # cube files print 5 decimals
    np.testing.assert_allclose(whole.values, grid.values, rtol=rtol)
    np.testing.assert_allclose(slabbed.values, whole.values, rtol=1e-12)
    # atoms sit where the grid saw them (a CHGCAR of a box moves both by -origin)
    np.testing.assert_allclose(whole.atoms.positions - whole.origin, grid.atoms.positions - grid.origin, atol=1e-5)


def test_the_table_reads_what_the_format_functions_read(tmp_path):
    crystal = bulk("Si", "diamond", a=5.43)
    grid = DensityGrid.for_cell(crystal, (4, 5, 6), values=np.random.default_rng(1).uniform(size=(4, 5, 6)))
    write_volumetric(tmp_path / "CHGCAR", grid)
    write_volumetric(tmp_path / "si.cube", grid)
    np.testing.assert_array_equal(read_volumetric(tmp_path / "CHGCAR").values, read_chgcar(tmp_path / "CHGCAR").values)
    np.testing.assert_array_equal(read_volumetric(tmp_path / "si.cube").values, read_cube(tmp_path / "si.cube").values)
    molecule_grid = DensityGrid.around(molecule("CO"), spacing=0.4, padding=1.0)
    write_volumetric(tmp_path / "co.npz", molecule_grid.with_values(np.ones(molecule_grid.shape)))
    assert read_npz(tmp_path / "co.npz").integrate() == pytest.approx(np.prod(molecule_grid.shape) * molecule_grid.voxel_volume)
