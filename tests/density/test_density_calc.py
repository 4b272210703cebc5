"""DensityCalculator: grids for molecules and crystals, files for VESTA, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.io.cube import read_cube_data

from asetools.checkpoint import save_checkpoint
from asetools.density import DensityCalculator
from asetools.density.basis import OrbitalBasisConfig
from asetools.density.model import DensityModel, DensityModelConfig
from asetools.io import read_chgcar, read_cube


@pytest.fixture(scope="module")
def model() -> DensityModel:
    torch.manual_seed(0)
    config = DensityModelConfig(
        species=["H", "C", "O"], basis=OrbitalBasisConfig(beta=3.0, l_max={"H": 1}, default_l_max=2),
        channels=4, l_max=2, num_layers=1, radial_hidden=[16],
    )
    model = DensityModel(config)
    with torch.no_grad():
        # s orbitals a 0.1 Å grid resolves (exponents up to 10/Å²) carry the charge
        resolved = model.basis.exponents()[:, : model.basis.counts_per_l[0]] < 10.0
        model.baseline.copy_(torch.rand(model.baseline.shape) * resolved)
        model.output_scale.fill_(1e-3)
    return model


def test_molecule_grid_values_and_electrons(model):
    atoms = molecule("CH3OH")
    calc = DensityCalculator(model, dtype="float64")
    atoms.calc = calc
    with pytest.raises(ValueError, match="no structure"):
        calc.get_density(spacing=0.25)  # nothing calculated yet: the calculator has no atoms
    electrons = atoms.calc.get_property("electrons", atoms)
    grid = calc.get_density(spacing=0.25, padding=2.0)  # now the calculator's own structure
    assert not grid.periodic and grid.voxel[0, 0] == pytest.approx(0.25)
    assert np.all(grid.points().min(axis=0) <= atoms.positions.min(axis=0) - 2.0 + 1e-9)
    # grid values are the point evaluator's values at the grid points
    flat = np.random.default_rng(0).integers(0, grid.num_points, 50)
    np.testing.assert_allclose(calc.density_at(grid.points_at(flat)), grid.values.ravel()[flat], atol=1e-7)
    with torch.no_grad():
        expansion = calc.model.expansion(atoms)
        reference = float(calc.model.basis.integrals(expansion.coefficients, expansion.kinds).sum())
    assert electrons == pytest.approx(reference, rel=1e-12) and electrons > 1.0


def test_periodic_grid_follows_the_cell(model):
    crystal = Atoms("CO", positions=[[0.2, 0.1, 0.3], [1.3, 0.1, 0.3]], cell=[[3.4, 0, 0], [0.8, 3.3, 0], [0, 0, 3.6]], pbc=True)
    calc = DensityCalculator(model, dtype="float64")
    grid = calc.get_density(crystal, spacing=0.3)
    assert grid.periodic and grid.shape == (12, 12, 12)
    np.testing.assert_allclose(grid.cell, crystal.cell.array)
    assert calc.get_density(crystal, shape=(5, 6, 7)).shape == (5, 6, 7)
    # the periodic grid integrates to the analytic electron count (a smooth periodic field)
    fine = calc.get_density(crystal, shape=(40, 40, 42))
    assert fine.integrate() == pytest.approx(calc.get_property("electrons", crystal), rel=1e-4)


@pytest.mark.parametrize("name, reader", [("rho.cube", "cube"), ("CHGCAR", "chgcar")])
def test_written_files_match_the_grid_and_stream_in_slabs(tmp_path, model, name, reader):
    atoms = molecule("CH3OH")
    calc = DensityCalculator(model, dtype="float64")
    expected = calc.get_density(atoms, spacing=0.3)
    path = tmp_path / name
    calc.write_density(path, atoms, spacing=0.3, points_per_slab=700)  # many slabs
    back = read_cube(path) if reader == "cube" else read_chgcar(path)
    np.testing.assert_allclose(back.values, expected.values, rtol=1e-5, atol=1e-12)
    if reader == "cube":
        data, read_atoms = read_cube_data(str(path))  # ASE sees the same atoms and e/Bohr³ values
        np.testing.assert_allclose(read_atoms.positions, atoms.positions, atol=1e-5)
    else:
        np.testing.assert_allclose(back.atoms.positions, atoms.positions - expected.origin, atol=1e-10)


def test_checkpoint_path_and_errors(tmp_path, model):
    path = save_checkpoint(model, tmp_path / "density.pt")
    calc = DensityCalculator(path)
    with pytest.raises(ValueError, match="knows H, C, O"):
        calc.get_density(molecule("NH3"))
    slab = Atoms("CO", positions=[[0, 0, 0], [1.1, 0, 0]], cell=[4, 4, 10], pbc=[True, True, False])
    with pytest.raises(ValueError, match="partly periodic"):
        calc.get_density(slab)
    bad = molecule("CO")
    bad.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        calc.get_density(bad)
    small = DensityCalculator(model, max_memory="1 MiB")
    with pytest.raises(MemoryError, match="streams the grid to disk"):
        small.get_density(molecule("CO"), spacing=0.05)
    with pytest.raises(ValueError, match="format"):
        calc.write_density(tmp_path / "x.cube", molecule("CO"), format="xsf")
    with pytest.raises(ValueError, match="spin"):
        calc.get_pseudo_density(molecule("CO"), spin=0)
