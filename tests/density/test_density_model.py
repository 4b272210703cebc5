"""The density model: virtual sites, symmetry of the predicted density, and its configuration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from e3nn import o3

from asetools.density.basis import OrbitalBasisConfig
from asetools.density.field import density_at_points, density_on_grid
from asetools.density.model import DensityModel, DensityModelConfig
from asetools.density.virtual_sites import VirtualSiteConfig, bond_midpoints, with_virtual_sites

SMALL_BASIS = OrbitalBasisConfig(beta=3.0, l_max={"H": 1}, default_l_max=2)


def _model(**changes) -> DensityModel:
    torch.manual_seed(0)
    config = DensityModelConfig(species=["H", "C", "O"], basis=SMALL_BASIS, channels=8, l_max=2, num_layers=2, **changes)
    model = DensityModel(config).double()
    with torch.no_grad():  # a non-trivial model: random baseline and larger outputs
        model.baseline.normal_()
        model.output_scale.fill_(0.5)
    return model


def test_bond_midpoints_of_ethanol_and_across_a_periodic_boundary():
    ethanol = molecule("CH3CH2OH")
    midpoints, pairs = bond_midpoints(ethanol)
    assert len(pairs) == 8  # C-C, C-O, O-H and five C-H bonds
    np.testing.assert_allclose(midpoints, 0.5 * (ethanol.positions[pairs[:, 0]] + ethanol.positions[pairs[:, 1]]))
    centres = with_virtual_sites(ethanol)
    assert len(centres) == 17 and list(centres.numbers[9:]) == [0] * 8
    assert len(with_virtual_sites(ethanol, VirtualSiteConfig(rule="none"))) == 9

    dimer = Atoms("H2", positions=[[0.1, 0.0, 0.0], [2.9, 0.0, 0.0]], cell=[3.0, 5.0, 5.0], pbc=True)
    midpoints, pairs = bond_midpoints(dimer)  # the bond goes through the boundary, 0.2 Å long
    assert len(pairs) == 1
    np.testing.assert_allclose(midpoints[0], [0.0, 0.0, 0.0], atol=1e-12)
    silicon = bulk("Si", "diamond", a=5.43)
    assert len(bond_midpoints(silicon)[0]) == 4  # two atoms, four bonds each, each bond shared


def test_predicted_density_is_invariant_and_equivariant():
    """Rotating and translating the molecule moves its density with it; reordering atoms changes nothing."""
    model = _model()
    atoms = molecule("CH3CH2OH")
    generator = torch.Generator().manual_seed(1)
    points = torch.tensor(atoms.positions)[torch.arange(300) % 9] + torch.randn(300, 3, generator=generator, dtype=torch.float64)
    reference = density_at_points(model.basis, model.expansion(atoms), points)
    assert reference.abs().max() > 0.1

    rotation = o3.rand_matrix(dtype=torch.float64)
    moved = atoms.copy()
    moved.positions = atoms.positions @ rotation.numpy().T + np.array([1.0, -2.0, 0.5])
    rotated = density_at_points(model.basis, model.expansion(moved), points @ rotation.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(rotated, reference, atol=1e-8, rtol=1e-8)

    order = np.random.default_rng(2).permutation(len(atoms))
    permuted = density_at_points(model.basis, model.expansion(atoms[order]), points)
    torch.testing.assert_close(permuted, reference, atol=1e-12, rtol=1e-12)


def test_mirror_image_gives_the_mirrored_density():
    """The coefficients have natural parity, so the density of a mirrored molecule is the mirrored density."""
    model = _model()
    atoms = molecule("CH3CH2OH")
    mirrored = atoms.copy()
    mirrored.positions[:, 2] *= -1
    points = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    flip = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    torch.testing.assert_close(
        density_at_points(model.basis, model.expansion(mirrored), points * flip),
        density_at_points(model.basis, model.expansion(atoms), points),
        atol=1e-8, rtol=1e-8,
    )


def test_exponent_scale_starts_at_one_and_is_bounded():
    model = _model(learn_exponent_scale=True)
    atoms = molecule("H2O")
    expansion = model.expansion(atoms)
    torch.testing.assert_close(expansion.exponent_scale, torch.ones(len(expansion.kinds), dtype=torch.float64))
    with torch.no_grad():
        model.exponent_head.weight.normal_(std=3.0)
    scale = model.expansion(atoms).exponent_scale
    assert torch.all(scale >= 0.5) and torch.all(scale <= 2.0) and scale.std() > 0.01


def test_periodic_structure_gets_a_periodic_density():
    model = _model()
    crystal = Atoms("CO", positions=[[0.0, 0.0, 0.0], [1.13, 0.0, 0.0]], cell=[3.5, 3.2, 3.4], pbc=True)
    expansion = model.expansion(crystal)
    assert expansion.pbc == (True, True, True) and len(expansion.kinds) == 3
    points = torch.rand(20, 3, dtype=torch.float64) * 3.0
    shift = torch.tensor([3.5, -3.2, 6.8], dtype=torch.float64)
    torch.testing.assert_close(density_at_points(model.basis, expansion, points + shift), density_at_points(model.basis, expansion, points))
    from asetools.io.grid import DensityGrid

    values = density_on_grid(model.basis, expansion, DensityGrid.for_cell(crystal, (8, 8, 8)))
    assert np.all(np.isfinite(values))


def test_configuration_errors_name_the_problem():
    with pytest.raises(ValueError, match="X"):
        DensityModelConfig(species=["H", "X"])
    with pytest.raises(ValueError, match="l_max"):
        DensityModel(DensityModelConfig(species=["H"], basis=SMALL_BASIS, l_max=1))
    with pytest.raises(ValueError, match="rule"):
        VirtualSiteConfig(rule="voronoi")
    model = _model()
    with pytest.raises(ValueError, match="N"):
        model.expansion(molecule("NH3"))
    rebuilt = DensityModel.from_config(model.config_dict())
    assert rebuilt.config == model.config
