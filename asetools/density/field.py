"""The density of an orbital expansion at points and on grids, in bounded memory.

An :class:`OrbitalExpansion` is what a density model predicts: centres (atoms and virtual sites),
their basis kinds and coefficients. ``ρ(r) = Σ_centres Σ_lkm c·φ_lkm(r − R)``, with periodic
images of the centres in periodic directions.

Two evaluators:
- :func:`density_at_points` — any points, differentiable in the coefficients and exponents
  (training on sampled probe points). Pairs within each orbital's radius are found with a k-d
  tree; points are processed ``chunk_size`` at a time.
- :func:`density_on_grid` — a whole :class:`~asetools.io.grid.DensityGrid`. On grids
  whose voxel vectors lie along x, y, z it uses the separability of Gaussians,
  ``exp(−α|r−R|²) = exp(−α(x−X)²)·exp(−α(y−Y)²)·exp(−α(z−Z)²)``, with the solid harmonics
  written as monomials: each orbital costs about (l+1) operations per point of the box it
  reaches. Other grids go through the point evaluator.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import torch
from e3nn import o3
from scipy.spatial import cKDTree

from .basis import OrbitalBasis, solid_harmonic_monomials

__all__ = [
    "OrbitalExpansion", "density_at_points", "density_on_grid", "density_slabs", "electron_count", "periodic_images",
]

#: Default number of points evaluated together by the point evaluator.
DEFAULT_CHUNK_POINTS = 100_000


@dataclasses.dataclass(frozen=True, eq=False)
class OrbitalExpansion:
    """A field as a sum of orbitals on centres.

    Attributes:
        positions: [C, 3] Å, centre positions.
        kinds: [C] long, kind index of each centre in the basis.
        coefficients: [C, num_coefficients], in the basis's irreps layout.
        cell: [3, 3] Å, rows are cell vectors (ignored along non-periodic directions).
        pbc: [3] bool, periodic directions.
        exponent_scale: [C] positive factors on each centre's exponents, or None.
    """

    positions: torch.Tensor
    kinds: torch.Tensor
    coefficients: torch.Tensor
    cell: torch.Tensor | None = None
    pbc: tuple[bool, bool, bool] = (False, False, False)
    exponent_scale: torch.Tensor | None = None

    def __post_init__(self) -> None:
        count = self.positions.shape[0]
        if self.positions.shape != (count, 3):
            raise ValueError(f"centre positions must be [C, 3], got {tuple(self.positions.shape)}")
        if self.kinds.shape != (count,) or self.coefficients.shape[0] != count:
            raise ValueError("kinds and coefficients must have one row per centre")
        if not torch.isfinite(self.positions).all():
            raise ValueError("centre positions contain NaN or infinite values")
        if any(self.pbc) and self.cell is None:
            raise ValueError("a periodic expansion needs its cell")


def electron_count(basis: OrbitalBasis, expansion: OrbitalExpansion) -> torch.Tensor:
    """∫ρ d³r of ``expansion`` (electrons, a scalar tensor), from the orbitals' analytic integrals."""
    return basis.integrals(expansion.coefficients, expansion.kinds, expansion.exponent_scale).sum()


def _wrap(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Fractional coordinates of ``positions`` [N, 3] (Å) in ``cell``, wrapped into [0, 1) along periodic axes."""
    fractional = positions @ np.linalg.inv(cell)
    return np.where(pbc, fractional - np.floor(fractional), fractional)


def periodic_images(
    positions: np.ndarray, cell: np.ndarray | None, pbc, reach: float, box_low: np.ndarray, box_high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Images of ``positions`` [C, 3] (Å) that lie within ``reach`` Å of the fractional box.

    The box is ``[box_low, box_high]`` in fractional coordinates of ``cell`` along periodic
    directions (the whole of space along the others). Returns image positions [I, 3] and the
    index of the centre each image is a copy of [I].
    """
    pbc = np.asarray(pbc, dtype=bool)
    positions = np.asarray(positions, dtype=np.float64)
    if not pbc.any():
        return positions, np.arange(len(positions))
    cell = np.asarray(cell, dtype=np.float64)
    volume = abs(np.linalg.det(cell))
    if volume < 1e-9:
        raise ValueError("a periodic expansion needs a cell with non-zero volume")
    heights = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    margin = np.where(pbc, reach / heights, 0.0)
    fractional = _wrap(positions, cell, pbc)
    ranges = [
        np.arange(math.floor(box_low[a] - margin[a]) - 1, math.ceil(box_high[a] + margin[a]) + 1) if pbc[a] else np.zeros(1)
        for a in range(3)
    ]
    shifts = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    shifted = fractional[None, :, :] + shifts[:, None, :]
    keep = np.all(
        ~pbc | ((shifted >= box_low - margin - 1e-12) & (shifted <= box_high + margin + 1e-12)), axis=2
    )
    shift_index, centre_index = np.nonzero(keep)
    return shifted[shift_index, centre_index] @ cell, centre_index


def density_at_points(
    basis: OrbitalBasis,
    expansion: OrbitalExpansion,
    points: torch.Tensor,
    chunk_size: int = DEFAULT_CHUNK_POINTS,
) -> torch.Tensor:
    """ρ at ``points`` [P, 3] (Å), differentiable in coefficients, exponents and scales.

    Returns [P] in the coefficients' dtype (e/Å³ for a density expansion). Memory grows with
    ``chunk_size`` times the centres each point sees, not with P.
    """
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be [P, 3], got {tuple(points.shape)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    evaluator = _PairEvaluator(basis, expansion)
    point_array = points.detach().cpu().to(torch.float64).numpy()
    values = [evaluator(point_array[start : start + chunk_size]) for start in range(0, len(point_array), chunk_size)]
    if not values:
        return torch.zeros(0, dtype=evaluator.dtype, device=evaluator.device)
    return torch.cat(values)


class _PairEvaluator:
    """ρ at chunks of points from (point, centre image) pairs within each orbital's reach.

    The periodic images of the centres and their k-d tree are built once, so a grid evaluated
    chunk by chunk pays for them once.
    """

    def __init__(self, basis: OrbitalBasis, expansion: OrbitalExpansion) -> None:
        self.basis, self.expansion = basis, expansion
        self.dtype, self.device = expansion.coefficients.dtype, expansion.coefficients.device
        self.exponents = basis.centre_exponents(expansion.kinds, expansion.exponent_scale)
        self.radii = basis.radii(self.exponents)
        self.reach = basis.reach(self.radii, expansion.kinds)
        self.pbc = np.asarray(expansion.pbc, dtype=bool)
        self.cell = None if expansion.cell is None else expansion.cell.detach().cpu().to(torch.float64).numpy()
        self.centre_positions = expansion.positions.detach().cpu().numpy()
        images, self.image_centre = periodic_images(
            self.centre_positions, self.cell, self.pbc, self.reach, np.zeros(3), np.ones(3)
        )
        self.offsets = torch.as_tensor(images - self.centre_positions[self.image_centre], dtype=self.dtype, device=self.device)
        self.centre_tree = cKDTree(images)
        self.kinds = expansion.kinds.tolist()
        self.degrees = list(range(basis.l_max + 1))

    def __call__(self, chunk: np.ndarray) -> torch.Tensor:
        """ρ at ``chunk`` [P, 3] (Å, float64 numpy), differentiable; [P] in the coefficients' dtype."""
        if self.pbc.any():
            chunk = _wrap(chunk, self.cell, self.pbc) @ self.cell
        pairs = cKDTree(chunk).sparse_distance_matrix(self.centre_tree, self.reach, output_type="ndarray")
        point_index, image_index = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        centre = self.image_centre[image_index]
        # Pairs grouped by centre, nearest first within each centre.
        order = np.lexsort((pairs["v"], centre))
        point_index, image_index, centre = point_index[order], image_index[order], centre[order]
        bounds = np.searchsorted(centre, np.arange(len(self.centre_positions) + 1))
        point_t = torch.as_tensor(point_index, device=self.device)
        image_t = torch.as_tensor(image_index, device=self.device)
        centre_t = torch.as_tensor(centre, device=self.device)
        wrapped = torch.as_tensor(chunk, dtype=self.dtype, device=self.device)
        # Differentiable in the centre positions: the displacement uses the live tensor.
        expansion = self.expansion
        displacement = wrapped[point_t] - expansion.positions[centre_t].to(self.dtype) - self.offsets[image_t]
        harmonics = o3.spherical_harmonics(self.degrees, displacement, normalize=False, normalization="integral")
        pieces = []
        for c in range(len(self.centre_positions)):
            lo, hi = int(bounds[c]), int(bounds[c + 1])
            if hi > lo:
                pieces.append(
                    self.basis.centre_field(
                        displacement[lo:hi], harmonics[lo:hi], expansion.coefficients[c].to(self.dtype),
                        self.exponents[c].to(self.dtype), self.radii[c].to(self.dtype), int(self.kinds[c]),
                    )
                )
        contribution = torch.cat(pieces) if pieces else torch.zeros(0, dtype=self.dtype, device=self.device)
        return torch.zeros(len(chunk), dtype=self.dtype, device=self.device).index_add(0, point_t, contribution)


def density_on_grid(
    basis: OrbitalBasis,
    expansion: OrbitalExpansion,
    grid,
    chunk_size: int = DEFAULT_CHUNK_POINTS,
    method: str = "auto",
) -> np.ndarray:
    """ρ on every point of ``grid`` (a :class:`~asetools.io.grid.DensityGrid`), [n0, n1, n2].

    Args:
        method: ``"separable"`` (grids along x, y, z only), ``"points"``, or ``"auto"`` (the
            separable evaluator whenever the grid allows it).
        chunk_size: points per step of the point evaluator; the separable evaluator works on
            slabs of about this many points.

    Returns float64 values (e/Å³ for a density expansion). No gradients are kept.
    """
    if method not in ("auto", "separable", "points"):
        raise ValueError(f"unknown density evaluation method {method!r}; use 'auto', 'separable' or 'points'")
    if method == "separable" and not grid.is_orthogonal:
        raise ValueError("the separable evaluator needs a grid whose voxel vectors lie along x, y and z")
    with torch.no_grad():
        if method == "points" or not grid.is_orthogonal:
            values = np.empty(grid.num_points)
            evaluator = _PairEvaluator(basis, expansion)
            for start in range(0, grid.num_points, chunk_size):
                chunk = grid.points(start, start + chunk_size)
                values[start : start + len(chunk)] = evaluator(chunk).cpu().numpy()
            return values.reshape(grid.shape)
        return _separable_density(basis, expansion, grid, chunk_size)


def density_slabs(
    basis: OrbitalBasis,
    expansion: OrbitalExpansion,
    grid,
    axis: int,
    points_per_slab: int = 4_000_000,
    chunk_size: int = DEFAULT_CHUNK_POINTS,
) -> Iterator[np.ndarray]:
    """ρ on ``grid`` as consecutive slabs along ``axis``, each of at most about ``points_per_slab`` points.

    Only one slab is in memory at a time, so grids larger than memory can be written to disk
    (cube files take x-slabs, axis 0; CHGCAR files z-slabs, axis 2). ``grid.values`` is not read.
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"slab axis must be 0, 1 or 2, got {axis}")
    plane = grid.num_points // grid.shape[axis]
    planes_per_slab = max(1, points_per_slab // plane)
    for start in range(0, grid.shape[axis], planes_per_slab):
        slab = grid.slab(axis, start, min(planes_per_slab, grid.shape[axis] - start))
        yield density_on_grid(basis, expansion, slab, chunk_size=chunk_size)


def _separable_density(basis: OrbitalBasis, expansion: OrbitalExpansion, grid, chunk_size: int) -> np.ndarray:
    """The separable evaluator: loops over centres and radial functions, vectorised over points."""
    device = expansion.coefficients.device
    dtype = torch.float64
    exponents = basis.centre_exponents(expansion.kinds, expansion.exponent_scale).to(dtype)
    radii = basis.radii(exponents)
    normalisation = basis.normalisation(exponents)
    reach = basis.reach(radii, expansion.kinds)
    coefficients = expansion.coefficients.to(dtype)
    axes = [torch.as_tensor(coordinates, dtype=dtype, device=device) for coordinates in grid.axis_coordinates()]
    steps = np.diag(grid.voxel)
    pbc = np.asarray(expansion.pbc, dtype=bool)
    cell = None if expansion.cell is None else expansion.cell.detach().cpu().to(torch.float64).numpy()
    if pbc.any():
        corners = np.array([grid.origin, grid.origin + np.diag(grid.cell) - steps])
        fractional = corners @ np.linalg.inv(cell)
        low, high = fractional.min(axis=0), fractional.max(axis=0)
    else:
        low, high = np.zeros(3), np.ones(3)
    images, image_centre = periodic_images(expansion.positions.detach().cpu().numpy(), cell, pbc, reach, low, high)
    # Monomial expansions of the solid harmonics, one per l.
    monomials = [solid_harmonic_monomials(l) for l in range(basis.l_max + 1)]
    monomial_matrix = [torch.tensor(matrix, dtype=dtype, device=device) for _, matrix in monomials]
    monomial_powers = [torch.tensor(powers, dtype=torch.long, device=device) for powers, _ in monomials]
    values = torch.zeros(grid.shape, dtype=dtype, device=device)
    slab = max(1, chunk_size // (grid.shape[1] * grid.shape[2]))
    cutoff = basis.config.cutoff * (1 - 1e-9)
    mask_np = basis.radial_mask[expansion.kinds].cpu().numpy()
    radii_np = radii.cpu().numpy()
    for start in range(0, grid.shape[0], slab):
        stop = min(grid.shape[0], start + slab)
        spans = (axes[0][start:stop], axes[1], axes[2])
        for image, centre in zip(images, image_centre):
            for r in np.flatnonzero(mask_np[centre]):
                radius = radii_np[centre, r]
                ranges = []
                for a, axis in enumerate(spans):
                    first = float(axis[0])
                    low_index = max(0, math.ceil((image[a] - radius - first) / steps[a] - 1e-9))
                    high_index = min(len(axis) - 1, math.floor((image[a] + radius - first) / steps[a] + 1e-9))
                    if high_index < low_index:
                        break
                    ranges.append((low_index, high_index + 1))
                if len(ranges) < 3:
                    continue
                l = basis.radial_l[r]
                alpha = exponents[centre, r]
                first_slot = basis.radial_first_slot[r]
                orbital = coefficients[centre, first_slot : first_slot + 2 * l + 1] @ monomial_matrix[l]
                orbital = orbital * normalisation[centre, r]
                if not bool(orbital.abs().max() > 0):
                    continue
                # per axis: the displacements within reach and x^a·exp(−α x²) for a = 0..l
                displacements = [axis[lo:hi] - float(image[a]) for a, (axis, (lo, hi)) in enumerate(zip(spans, ranges))]
                degrees = torch.arange(l + 1, dtype=dtype, device=device)
                factors = [d[:, None] ** degrees * torch.exp(-alpha * d * d)[:, None] for d in displacements]
                powers = monomial_powers[l]
                # weights[a, b, c] of x^a y^b z^c
                weights = torch.zeros((l + 1, l + 1, l + 1), dtype=dtype, device=device)
                weights[powers[:, 0], powers[:, 1], powers[:, 2]] = orbital
                fx, fy, fz = factors
                partial = torch.einsum("abc,jb,kc->ajk", weights, fy, fz)
                (x0, x1), (y0, y1), (z0, z1) = ranges
                contribution = torch.einsum("ia,ajk->ijk", fx, partial)
                if radius >= cutoff:
                    # Still above the tolerance at the cutoff: cut on the sphere, as the point evaluator does.
                    dx, dy, dz = displacements
                    r2 = dx[:, None, None] ** 2 + dy[None, :, None] ** 2 + dz[None, None, :] ** 2
                    contribution = torch.where(r2 <= radius * radius, contribution, torch.zeros_like(contribution))
                values[start + x0 : start + x1, y0:y1, z0:z1] += contribution
    return values.cpu().numpy()
