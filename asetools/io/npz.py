"""The ``.npz`` layout of asetools density data sets (``shared/data/density_g2``): a grid and its molecule.

Arrays: ``numbers``, ``positions`` Å, ``origin`` Å, ``voxel`` Å (rows), ``shape``, ``cell`` Å (the
box the grid spans), ``density`` float32 e/Å³ in C order, and ``energy_eV`` when the file records
the structure's DFT energy. The layout holds boxes around molecules (``periodic`` False).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
from ase import Atoms

from .._files import atomic_path
from .grid import DensityGrid

__all__ = ["read_npz", "write_npz"]


def write_npz(
    path: str | os.PathLike,
    grid: DensityGrid,
    comment: str = "",
    slabs: Iterable[np.ndarray] | None = None,
    energy: float | None = None,
) -> None:
    """Write ``grid`` (with its atoms) atomically in the ``.npz`` layout.

    ``slabs`` gives the values as consecutive x-slabs ``[k, n1, n2]`` instead of ``grid.values``;
    they are joined in memory (the format has no streaming). ``energy`` (eV) is stored as
    ``energy_eV`` when given; ``comment`` is not stored (the layout has no place for it).
    """
    if grid.atoms is None:
        raise ValueError("an .npz density file needs the structure: build the grid with atoms")
    values = grid.values if slabs is None else np.concatenate([np.asarray(slab).reshape(-1, *grid.shape[1:]) for slab in slabs])
    if values.shape != grid.shape:
        raise ValueError(f"the slabs hold values of shape {values.shape}; the grid has {grid.shape}")
    arrays = dict(
        numbers=np.asarray(grid.atoms.numbers, dtype=np.int64),
        positions=np.asarray(grid.atoms.positions, dtype=np.float64),
        origin=np.asarray(grid.origin, dtype=np.float64),
        voxel=np.asarray(grid.voxel, dtype=np.float64),
        shape=np.asarray(grid.shape, dtype=np.int64),
        cell=grid.cell,
        density=np.asarray(values, dtype=np.float32),
    )
    if energy is not None:
        arrays["energy_eV"] = np.float64(energy)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)


def read_npz(path: str | os.PathLike) -> DensityGrid:
    """Read an ``.npz`` density file into a (non-periodic) :class:`DensityGrid`; values in e/Å³."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"density file {path} does not exist")
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in ("numbers", "positions", "origin", "voxel", "density")}
    except KeyError as error:
        raise ValueError(f"{path}: missing array {error} (expected numbers, positions, origin, voxel, density)") from error
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from error
    density = np.asarray(arrays["density"])
    if not np.all(np.isfinite(density)):
        raise ValueError(f"{path}: the density contains NaN or infinite values")
    atoms = Atoms(numbers=arrays["numbers"], positions=arrays["positions"])
    return DensityGrid(values=density, origin=arrays["origin"], voxel=arrays["voxel"], atoms=atoms, periodic=False)
