"""An ASE calculator that predicts electron densities with a trained :class:`~asetools.density.DensityModel`.

    >>> from asetools.density import DensityCalculator
    >>> calc = DensityCalculator("best.pt")
    >>> grid = calc.get_density(atoms, spacing=0.1)          # DensityGrid, e/Å³
    >>> calc.write_density("density.cube", atoms, spacing=0.1)  # streamed to disk, for VESTA

Grids: a structure periodic in all three directions gets the grid of its cell (CHGCAR layout,
origin at the cell origin); a molecule (no periodic direction) a box around it, ``padding`` Å
beyond the outermost atoms. Partly periodic structures are not supported.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from ..calculators.potential_calc import parse_dtype
from ..io import DensityGrid, grid_shape_for_spacing, volumetric_format, write_volumetric
from ..models.memory_budget import memory_budget, parse_memory
from .field import (
    DEFAULT_CHUNK_POINTS,
    density_at_points,
    density_on_grid,
    density_slabs,
    electron_count,
)
from .model import DensityModel

__all__ = ["DensityCalculator"]

#: Bytes per grid point while a grid is evaluated: the float64 result and the evaluator's work arrays.
BYTES_PER_GRID_POINT = 24


class DensityCalculator(Calculator):
    """Electron densities of structures from a density model.

    Args:
        model: a :class:`~asetools.density.DensityModel` or the path of its checkpoint.
        device: torch device of the model and the evaluation.
        dtype: ``"float32"`` or ``"float64"`` for the network (grids are accumulated in float64).
        chunk_size: points evaluated together by the point evaluator (bounds its memory).
        max_memory: largest grid held in memory, bytes or a string such as ``"4 GiB"``; ``"auto"``
            (default) is 90 % of the memory available now. Larger grids raise a MemoryError from
            :meth:`get_density`; :meth:`write_density` streams them to disk instead.

    Results: ``calc.results["electrons"]`` (the analytic integral of the predicted density).
    """

    implemented_properties = ["electrons"]

    def __init__(
        self,
        model: DensityModel | str | os.PathLike,
        device: str = "cpu",
        dtype: str = "float32",
        chunk_size: int = DEFAULT_CHUNK_POINTS,
        max_memory: int | str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(model, (str, os.PathLike)):
            from .model import load_density_model

            model = load_density_model(model)
        if not isinstance(model, DensityModel):
            raise TypeError(f"DensityCalculator needs a DensityModel or its checkpoint path, got {type(model).__name__}")
        self.device = torch.device(device)
        self.model = model.to(device=self.device, dtype=parse_dtype(dtype)).eval()
        self.chunk_size = int(chunk_size)
        self.max_memory = max_memory if max_memory == "auto" else parse_memory(max_memory)
        self._expansion = None

    # -- ASE protocol --------------------------------------------------------------------------
    def calculate(self, atoms: Atoms | None = None, properties=("electrons",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        _check_structure(self.atoms)
        with torch.no_grad():
            self._expansion = self.model.expansion(self.atoms)
            electrons = electron_count(self.model.basis, self._expansion)
        self.results = {"electrons": float(electrons)}

    def _expansion_of(self, atoms: Atoms | None):
        self.get_property("electrons", atoms)
        return self._expansion

    # -- densities -----------------------------------------------------------------------------
    def grid_for(
        self, atoms: Atoms, spacing: float = 0.1, shape: tuple[int, int, int] | None = None, padding: float = 2.5
    ) -> DensityGrid:
        """The empty grid :meth:`get_density` fills for ``atoms`` (values are a zero-stride placeholder)."""
        _check_structure(atoms)
        if atoms.pbc.all():
            shape = tuple(shape) if shape is not None else grid_shape_for_spacing(atoms.cell.array, spacing)
            return DensityGrid.for_cell(atoms, shape)
        if shape is not None:
            raise ValueError("a grid shape can be given for periodic structures only; use spacing and padding for molecules")
        return DensityGrid.around(atoms, spacing, padding)

    def get_density(
        self,
        atoms: Atoms | None = None,
        spacing: float = 0.1,
        shape: tuple[int, int, int] | None = None,
        padding: float = 2.5,
    ) -> DensityGrid:
        """The predicted density (e/Å³) on a grid: the cell's for crystals, a padded box for molecules.

        Args:
            atoms: the structure (default: the calculator's).
            spacing: largest grid step, Å.
            shape: points along each cell vector (periodic structures only; overrides spacing).
            padding: box margin around a molecule, Å.
        """
        atoms = self._atoms_or_own(atoms)
        grid = self.grid_for(atoms, spacing, shape, padding)
        self._check_memory(grid)
        values = density_on_grid(self.model.basis, self._expansion_of(atoms), grid, chunk_size=self.chunk_size)
        return grid.with_values(values)

    def get_pseudo_density(self, atoms: Atoms | None = None, spin=None, pad: bool = True) -> np.ndarray:
        """ASE's name for the density array of DFT calculators: :meth:`get_density` values at 0.1 Å (e/Å³)."""
        if spin is not None:
            raise ValueError("the density model predicts the total density only; call without spin")
        return self.get_density(atoms).values

    def density_at(self, points: np.ndarray, atoms: Atoms | None = None) -> np.ndarray:
        """The predicted density (e/Å³) at ``points`` [P, 3] (Å)."""
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must be an array [P, 3] in Å, got shape {points.shape}")
        if not np.all(np.isfinite(points)):
            raise ValueError("points contain NaN or infinite values")
        expansion = self._expansion_of(self._atoms_or_own(atoms))
        with torch.no_grad():
            tensor = torch.as_tensor(points, dtype=expansion.coefficients.dtype, device=self.device)
            return density_at_points(self.model.basis, expansion, tensor, self.chunk_size).cpu().numpy().astype(np.float64)

    def write_density(
        self,
        path: str | os.PathLike,
        atoms: Atoms | None = None,
        spacing: float = 0.1,
        shape: tuple[int, int, int] | None = None,
        padding: float = 2.5,
        format: str | None = None,
        points_per_slab: int = 4_000_000,
    ) -> DensityGrid:
        """Write the predicted density to a cube or CHGCAR file, computed and written slab by slab.

        ``format`` names a format of :data:`asetools.io.VOLUMETRIC_FORMATS` (``"cube"``,
        ``"chgcar"``, ``"npz"``); by default the path says it (``.cube``, ``CHGCAR``, ...). The
        file appears atomically when complete. Returns the (value-less) grid that was written.
        """
        atoms = self._atoms_or_own(atoms)
        fmt = volumetric_format(path, format)  # a bad format fails before any work
        grid = self.grid_for(atoms, spacing, shape, padding)
        expansion = self._expansion_of(atoms)
        slabs = density_slabs(self.model.basis, expansion, grid, fmt.slab_axis, points_per_slab, self.chunk_size)
        comment = f"{atoms.get_chemical_formula()} electron density predicted by asetools"
        write_volumetric(path, grid, fmt.name, comment=comment, slabs=slabs)
        return grid

    def _atoms_or_own(self, atoms: Atoms | None) -> Atoms:
        if atoms is not None:
            return atoms
        if self.atoms is None:
            raise ValueError("no structure: pass atoms, or attach the calculator with atoms.calc = calc")
        return self.atoms

    def _check_memory(self, grid: DensityGrid) -> None:
        budget = memory_budget(self.max_memory, self.device)
        needed = grid.num_points * BYTES_PER_GRID_POINT
        if needed > budget:
            raise MemoryError(
                f"a {grid.shape[0]}x{grid.shape[1]}x{grid.shape[2]} grid needs about {needed / 2**30:.2f} GiB, "
                f"more than the {budget / 2**30:.2f} GiB allowed; use a coarser spacing, or write_density() "
                "(asetools density), which streams the grid to disk"
            )


def _check_structure(atoms: Atoms) -> None:
    if atoms is None or len(atoms) == 0:
        raise ValueError("the structure has no atoms")
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError("the structure's positions contain NaN or infinite values")
    if atoms.pbc.any() and not atoms.pbc.all():
        raise ValueError(
            f"densities of partly periodic structures (pbc={atoms.pbc.tolist()}) are not supported; "
            "make the structure fully periodic (add vacuum) or a molecule (pbc=False)"
        )
