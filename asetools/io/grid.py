"""A scalar field sampled on a regular grid: the value type of density calculators and files.

Grid point ``(i, j, k)`` sits at ``origin + i*voxel[0] + j*voxel[1] + k*voxel[2]`` (Å). Values
are stored C-ordered (the last index, along ``voxel[2]``, runs fastest), which is the order of
Gaussian cube files; CHGCAR files store the transpose and their readers convert.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from ase import Atoms

__all__ = ["DensityGrid", "grid_shape_for_spacing"]


@dataclasses.dataclass(frozen=True, eq=False)
class DensityGrid:
    """Values of a field on a regular grid, with the structure it belongs to.

    Attributes:
        values: [n0, n1, n2] field values; for electron densities e/Å³.
        origin: [3] Å, position of grid point (0, 0, 0).
        voxel: [3, 3] Å, the step vectors of the grid as rows.
        atoms: the structure (positions in Å), or None.
        periodic: True when the grid tiles a periodic cell: ``voxel[i] * n_i`` is cell vector
            ``i`` and point ``n_i`` along axis ``i`` would repeat point 0 (the CHGCAR layout).
            False for a box around a molecule, whose last points lie on the box's far faces
            only if the caller built it so.
    """

    values: np.ndarray
    origin: np.ndarray
    voxel: np.ndarray
    atoms: Atoms | None = None
    periodic: bool = False

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        origin = np.asarray(self.origin, dtype=np.float64).reshape(-1)
        voxel = np.asarray(self.voxel, dtype=np.float64)
        if values.ndim != 3:
            raise ValueError(f"grid values must be a 3-D array, got shape {values.shape}")
        if min(values.shape) < 1:
            raise ValueError(f"grid values must have at least one point per axis, got shape {values.shape}")
        if origin.shape != (3,):
            raise ValueError(f"grid origin must have 3 components, got shape {origin.shape}")
        if voxel.shape != (3, 3):
            raise ValueError(f"grid voxel vectors must be a [3, 3] array of rows, got shape {voxel.shape}")
        if not (np.all(np.isfinite(origin)) and np.all(np.isfinite(voxel))):
            raise ValueError("grid origin and voxel vectors must be finite")
        if abs(np.linalg.det(voxel)) < 1e-12:
            raise ValueError("grid voxel vectors are linearly dependent (zero voxel volume)")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "voxel", voxel)

    @classmethod
    def for_cell(cls, atoms: Atoms, shape: tuple[int, int, int], values: np.ndarray | None = None) -> DensityGrid:
        """The periodic grid of ``shape`` points spanning the cell of ``atoms`` (origin at 0).

        ``values`` defaults to a read-only zero placeholder that takes no memory.
        """
        shape = _checked_shape(shape)
        cell = np.asarray(atoms.cell.array, dtype=np.float64)
        if abs(np.linalg.det(cell)) < 1e-9:
            raise ValueError("a periodic grid needs a structure with a three-dimensional cell; set atoms.cell")
        voxel = cell / np.asarray(shape, dtype=np.float64)[:, None]
        data = _placeholder(shape) if values is None else np.asarray(values)
        return cls(values=data, origin=np.zeros(3), voxel=voxel, atoms=atoms.copy(), periodic=True)

    @classmethod
    def around(
        cls, atoms: Atoms, spacing: float, padding: float = 2.5, values: np.ndarray | None = None
    ) -> DensityGrid:
        """An axis-aligned box grid around a molecule, ``padding`` Å beyond the outermost atoms.

        The spacing is ``spacing`` Å along x, y and z; the box is rounded up to whole steps and
        centred on the atoms' bounding box. ``values`` defaults to a read-only zero placeholder.
        """
        if not spacing > 0:
            raise ValueError(f"grid spacing must be positive, got {spacing}")
        if padding < 0:
            raise ValueError(f"grid padding must not be negative, got {padding}")
        positions = np.asarray(atoms.positions, dtype=np.float64)
        if len(positions) == 0:
            raise ValueError("cannot build a grid around a structure with no atoms")
        low, high = positions.min(axis=0) - padding, positions.max(axis=0) + padding
        steps = np.ceil((high - low) / spacing - 1e-9).astype(int)
        shape = tuple(int(n) + 1 for n in steps)
        centre = (low + high) / 2
        origin = centre - spacing * steps / 2
        data = _placeholder(shape) if values is None else np.asarray(values)
        return cls(values=data, origin=origin, voxel=np.eye(3) * spacing, atoms=atoms.copy(), periodic=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Points along each axis."""
        return tuple(int(n) for n in self.values.shape)

    @property
    def num_points(self) -> int:
        return int(np.prod(self.shape))

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel, Å³."""
        return float(abs(np.linalg.det(self.voxel)))

    @property
    def cell(self) -> np.ndarray:
        """[3, 3] Å: the voxel vectors times the number of points (the periodic cell, or the box)."""
        return self.voxel * np.asarray(self.shape, dtype=np.float64)[:, None]

    @property
    def is_orthogonal(self) -> bool:
        """True when the voxel vectors are along x, y and z (a rectilinear grid)."""
        return bool(np.allclose(self.voxel - np.diag(np.diag(self.voxel)), 0.0, atol=1e-12))

    def axis_coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For an orthogonal grid: the x, y and z coordinates (Å) of the grid planes."""
        if not self.is_orthogonal:
            raise ValueError("axis coordinates exist only for grids whose voxel vectors are along x, y, z")
        return tuple(self.origin[a] + self.voxel[a, a] * np.arange(n) for a, n in enumerate(self.shape))

    def points(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """[P, 3] Å: positions of the grid points with flat (C-order) indices ``start:stop``."""
        stop = self.num_points if stop is None else min(stop, self.num_points)
        return self.points_at(np.arange(start, stop))

    def points_at(self, flat: np.ndarray) -> np.ndarray:
        """[P, 3] Å: positions of the grid points with the flat (C-order) indices ``flat`` [P]."""
        ijk = np.stack(np.unravel_index(flat, self.shape), axis=1).astype(np.float64)
        return self.origin + ijk @ self.voxel

    def integrate(self) -> float:
        """Sum of values times the voxel volume: for a density in e/Å³, the number of electrons.

        Exact for a periodic grid of a smooth periodic field; a box grid around a molecule
        includes only what lies inside the box.
        """
        return float(np.sum(self.values, dtype=np.float64) * self.voxel_volume)

    def slab(self, axis: int, start: int, count: int) -> DensityGrid:
        """The grid of ``count`` planes from plane ``start`` along ``axis``, with placeholder values."""
        if not (0 <= start and count >= 1 and start + count <= self.shape[axis]):
            raise ValueError(f"planes {start}..{start + count - 1} are outside axis {axis} of a {self.shape} grid")
        shape = list(self.shape)
        shape[axis] = count
        return dataclasses.replace(
            self, values=_placeholder(tuple(shape)), origin=self.origin + start * self.voxel[axis]
        )

    def with_values(self, values: np.ndarray) -> DensityGrid:
        """A copy of this grid with other values of the same shape."""
        values = np.asarray(values)
        if values.shape != self.shape:
            raise ValueError(f"new values have shape {values.shape}, the grid has {self.shape}")
        return dataclasses.replace(self, values=values)


def grid_shape_for_spacing(cell: np.ndarray, spacing: float) -> tuple[int, int, int]:
    """Points per cell vector so that the step along each is at most ``spacing`` Å."""
    if not spacing > 0:
        raise ValueError(f"grid spacing must be positive, got {spacing}")
    lengths = np.linalg.norm(np.asarray(cell, dtype=np.float64), axis=1)
    return tuple(max(1, math.ceil(length / spacing - 1e-9)) for length in lengths)


def _placeholder(shape: tuple[int, int, int]) -> np.ndarray:
    """Zeros of ``shape`` as a read-only zero-stride view: a grid's geometry without its memory."""
    return np.broadcast_to(np.float64(0.0), tuple(shape))


def _checked_shape(shape) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"grid shape must be three positive integers, got {shape}")
    return shape
