"""The orbital basis and the density evaluators: normalisation, electron counts, symmetry, chunking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule
from e3nn import o3

from asetools.density.basis import OrbitalBasis, OrbitalBasisConfig, solid_harmonic_monomials
from asetools.density.field import OrbitalExpansion, density_at_points, density_on_grid
from asetools.io.grid import DensityGrid

KINDS = {"H": 0, "C": 1, "N": 2, "O": 3}


@pytest.fixture
def basis() -> OrbitalBasis:
    return OrbitalBasis(["H", "C", "N", "O", "virtual"]).double()


def _slots(basis: OrbitalBasis, l: int, k: int) -> slice:
    offset = sum(count * (2 * degree + 1) for degree, count in enumerate(basis.counts_per_l[:l]))
    start = offset + k * (2 * l + 1)
    return slice(start, start + 2 * l + 1)


def _smooth_coefficients(basis, kinds, max_exponent, seed, scale=1.0):
    """Random coefficients on the orbitals with exponents up to ``max_exponent`` (resolvable on a grid)."""
    generator = torch.Generator().manual_seed(seed)
    coefficients = torch.randn(len(kinds), basis.num_coefficients, generator=generator, dtype=torch.float64) * scale
    exponents = basis.exponents()[kinds]
    keep = (exponents <= max_exponent)[:, basis.slot_radial]
    return basis.masked(coefficients * keep, kinds)


def _wigner_matrix(irreps: o3.Irreps, rotation: torch.Tensor) -> torch.Tensor:
    """Block-diagonal Wigner matrices of ``irreps`` fitted from Y(R x) = D Y(x) in float64.

    (e3nn's ``D_from_matrix`` goes through float32 angles and is good to only ~1e-7.)
    """
    points = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    blocks = []
    for multiplicity, irrep in irreps:
        harmonics = o3.spherical_harmonics(irrep.l, points, normalize=False, normalization="integral")
        rotated = o3.spherical_harmonics(irrep.l, points @ rotation.T, normalize=False, normalization="integral")
        block = torch.linalg.lstsq(harmonics, rotated).solution.T
        blocks += [block] * multiplicity
    return torch.block_diag(*blocks)


def test_layout_follows_the_config(basis):
    config = basis.config
    assert basis.counts_per_l[0] == config.counts_of("O")[0]
    assert basis.irreps.lmax == 4 and str(basis.irreps).endswith("x4e")
    h_mask = basis.slot_mask()[0]
    assert not h_mask[_slots(basis, 3, 0)].any() and h_mask[_slots(basis, 2, 0)].all()
    exponents = basis.exponents()[1]
    ratios = exponents[1 : basis.counts_per_l[0]] / exponents[: basis.counts_per_l[0] - 1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, config.beta), rtol=1e-6, atol=0)  # float32 parameters
    with pytest.raises(ValueError, match="beta"):
        OrbitalBasisConfig(beta=1.0)
    with pytest.raises(ValueError, match="one tightest exponent per l"):
        OrbitalBasis(["C"], OrbitalBasisConfig(exponent_max={"C": [10.0, 5.0]}))


@pytest.mark.parametrize("l", [0, 1, 2, 3, 4])
def test_orbitals_are_normalised(basis, l):
    """∫ φ² d³r = 1 for any unit combination of the m components, by integration on a fine grid."""
    k = 1 if l else 2  # exponents 1 and 2 Å⁻²: resolved by a 0.06 Å grid
    coefficients = torch.zeros(1, basis.num_coefficients, dtype=torch.float64)
    direction = torch.randn(2 * l + 1, generator=torch.Generator().manual_seed(l), dtype=torch.float64)
    coefficients[0, _slots(basis, l, k)] = direction / direction.norm()
    expansion = OrbitalExpansion(torch.zeros(1, 3, dtype=torch.float64), torch.tensor([1]), coefficients)
    grid = DensityGrid(values=np.zeros((121, 121, 121)), origin=np.full(3, -3.6), voxel=np.eye(3) * 0.06)
    values = density_on_grid(basis, expansion, grid)
    assert np.sum(values**2) * grid.voxel_volume == pytest.approx(1.0, abs=2e-4)


def test_solid_harmonic_monomials_reproduce_e3nn():
    points = torch.randn(50, 3, dtype=torch.float64)
    for l in range(5):
        powers, matrix = solid_harmonic_monomials(l)
        monomials = np.prod(points.numpy()[:, None, :] ** powers[None], axis=2)
        expected = o3.spherical_harmonics(l, points, normalize=False, normalization="integral").numpy()
        np.testing.assert_allclose(monomials @ matrix.T, expected, atol=1e-10)


def test_electron_count_of_a_hand_built_density():
    """Analytic integrals of the expansion equal the grid integral; l > 0 orbitals carry no charge.

    Orbitals are kept to 1e-12 here so that their cut tails do not blur the comparison.
    """
    basis = OrbitalBasis(["H", "C", "N", "O"], OrbitalBasisConfig(tolerance=1e-12, cutoff=8.0)).double()
    atoms = molecule("H2O")
    kinds = torch.tensor([KINDS[s] for s in atoms.get_chemical_symbols()])
    coefficients = _smooth_coefficients(basis, kinds, max_exponent=4.0, seed=1)
    expansion = OrbitalExpansion(torch.tensor(atoms.positions), kinds, coefficients)
    grid = DensityGrid.around(atoms, spacing=0.1, padding=8.0)
    values = density_on_grid(basis, expansion, grid)
    analytic = float(basis.integrals(coefficients, kinds).sum().detach())
    assert abs(analytic) > 0.5
    assert grid.with_values(values).integrate() == pytest.approx(analytic, rel=1e-9)
    only_l_above_0 = coefficients.clone()
    only_l_above_0[:, : basis.counts_per_l[0]] = 0
    assert float(basis.integrals(only_l_above_0, kinds).detach().abs().sum()) == 0.0
    values = density_on_grid(basis, OrbitalExpansion(expansion.positions, kinds, only_l_above_0), grid)
    assert abs(grid.with_values(values).integrate()) < 1e-6


def test_density_is_equivariant_under_rotation(basis):
    """Rotating the centres and transforming the coefficients with the Wigner matrices rotates the field."""
    atoms = molecule("CH3OH")
    kinds = torch.tensor([KINDS[s] for s in atoms.get_chemical_symbols()])
    coefficients = _smooth_coefficients(basis, kinds, max_exponent=1e6, seed=2)
    positions = torch.tensor(atoms.positions)
    points = positions[torch.randint(0, len(atoms), (400,))] + 0.8 * torch.randn(400, 3, dtype=torch.float64)
    rotation = o3.rand_matrix(dtype=torch.float64)
    wigner = _wigner_matrix(basis.irreps, rotation)
    before = density_at_points(basis, OrbitalExpansion(positions, kinds, coefficients), points)
    rotated = OrbitalExpansion(positions @ rotation.T, kinds, coefficients @ wigner.T)
    after = density_at_points(basis, rotated, points @ rotation.T)
    torch.testing.assert_close(after, before, atol=1e-9, rtol=1e-9)
    assert before.abs().max() > 1e-2


def test_evaluators_agree_and_chunking_changes_nothing(basis):
    atoms = molecule("CH3CH2OH")
    kinds = torch.tensor([KINDS[s] for s in atoms.get_chemical_symbols()])
    coefficients = _smooth_coefficients(basis, kinds, max_exponent=1e6, seed=3, scale=0.1)
    expansion = OrbitalExpansion(torch.tensor(atoms.positions), kinds, coefficients)
    grid = DensityGrid.around(atoms, spacing=0.35, padding=2.0)
    separable = density_on_grid(basis, expansion, grid, method="separable")
    separable_slabs = density_on_grid(basis, expansion, grid, method="separable", chunk_size=1)
    points = density_on_grid(basis, expansion, grid, method="points", chunk_size=997)
    points_whole = density_on_grid(basis, expansion, grid, method="points", chunk_size=10**7)
    np.testing.assert_allclose(separable_slabs, separable, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(points, points_whole, rtol=1e-12, atol=1e-14)
    # the evaluators cut the orbitals on a sphere and a box: they differ by at most the tolerance
    tolerance = basis.config.tolerance * float(coefficients.abs().sum())
    np.testing.assert_allclose(points, separable, atol=tolerance)
    assert np.abs(separable).max() > 0.1


def test_periodic_density_repeats_and_integrates():
    """A periodic expansion repeats with the cell, and its periodic grid integrates to the analytic count."""
    from ase import Atoms

    basis = OrbitalBasis(["H", "C", "N", "O"], OrbitalBasisConfig(tolerance=1e-12, cutoff=8.0)).double()
    cell = np.array([[4.0, 0.0, 0.0], [1.3, 3.8, 0.0], [0.4, 0.7, 4.2]])  # triclinic, shorter than the orbitals
    atoms = Atoms("CO", positions=[[0.1, 0.2, 0.1], [1.2, 3.5, 3.9]], cell=cell, pbc=True)
    kinds = torch.tensor([1, 3])
    coefficients = _smooth_coefficients(basis, kinds, max_exponent=4.0, seed=4)
    expansion = OrbitalExpansion(
        torch.tensor(atoms.positions), kinds, coefficients, cell=torch.tensor(cell), pbc=(True, True, True)
    )
    points = torch.rand(50, 3, dtype=torch.float64) @ torch.tensor(cell)
    shifted = points + torch.tensor([2, -1, 1], dtype=torch.float64) @ torch.tensor(cell)
    torch.testing.assert_close(density_at_points(basis, expansion, shifted), density_at_points(basis, expansion, points))
    grid = DensityGrid.for_cell(atoms, (40, 40, 42))
    values = density_on_grid(basis, expansion, grid)
    analytic = float(basis.integrals(coefficients, kinds).sum().detach())
    assert grid.with_values(values).integrate() == pytest.approx(analytic, rel=1e-10)


def test_orthorhombic_periodic_grid_uses_images_in_both_evaluators(basis):
    from ase import Atoms

    atoms = Atoms("N", positions=[[0.3, 3.0, 2.9]], cell=[3.1, 3.3, 3.0], pbc=True)
    kinds = torch.tensor([2])
    coefficients = _smooth_coefficients(basis, kinds, max_exponent=1e6, seed=5)
    expansion = OrbitalExpansion(
        torch.tensor(atoms.positions), kinds, coefficients, cell=torch.tensor(atoms.cell.array), pbc=(True, True, True)
    )
    grid = DensityGrid.for_cell(atoms, (12, 13, 11))
    separable = density_on_grid(basis, expansion, grid, method="separable")
    points = density_on_grid(basis, expansion, grid, method="points")
    np.testing.assert_allclose(points, separable, atol=basis.config.tolerance * float(coefficients.abs().sum()))


def test_gradients_reach_coefficients_exponents_and_positions(basis):
    atoms = molecule("H2O")
    kinds = torch.tensor([KINDS[s] for s in atoms.get_chemical_symbols()])
    coefficients = _smooth_coefficients(basis, kinds, max_exponent=50.0, seed=6).requires_grad_(True)
    positions = torch.tensor(atoms.positions, requires_grad=True)
    scale = torch.ones(len(atoms), dtype=torch.float64, requires_grad=True)
    points = torch.tensor(atoms.positions)[torch.arange(30) % 3] + 0.5 * torch.randn(30, 3, dtype=torch.float64)

    def total(c, p, s):
        return density_at_points(basis, OrbitalExpansion(p, kinds, c, exponent_scale=s), points).sum()

    assert torch.autograd.gradcheck(total, (coefficients, positions, scale), eps=1e-6, atol=1e-6)
    total(coefficients, positions, scale).backward()
    assert basis.log_exponents.grad is not None and basis.log_exponents.grad.abs().sum() > 0


def test_bad_input_is_named(basis):
    with pytest.raises(ValueError, match="NaN"):
        OrbitalExpansion(torch.full((1, 3), float("nan")), torch.tensor([0]), torch.zeros(1, basis.num_coefficients))
    with pytest.raises(ValueError, match="needs its cell"):
        OrbitalExpansion(torch.zeros(1, 3), torch.tensor([0]), torch.zeros(1, basis.num_coefficients), pbc=(True, True, True))
    expansion = OrbitalExpansion(torch.zeros(1, 3, dtype=torch.float64), torch.tensor([0]), torch.zeros(1, basis.num_coefficients, dtype=torch.float64))
    grid = DensityGrid(values=np.zeros((2, 2, 2)), origin=np.zeros(3), voxel=[[0.1, 0.1, 0], [0, 0.1, 0], [0, 0, 0.1]])
    with pytest.raises(ValueError, match="along x, y and z"):
        density_on_grid(basis, expansion, grid, method="separable")
    with pytest.raises(ValueError, match="unknown density evaluation method"):
        density_on_grid(basis, expansion, grid, method="fast")
