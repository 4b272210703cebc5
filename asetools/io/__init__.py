"""Volumetric data: the grid type and its files, cube, CHGCAR and ``.npz``.

- :mod:`.grid` -- :class:`DensityGrid`, a scalar field on a regular grid with its structure;
- :mod:`.formats` -- the one format table (:func:`read_volumetric`, :func:`write_volumetric`);
- :mod:`.cube`, :mod:`.chgcar`, :mod:`.npz` -- each format's reader and writer, for callers
  that want one.
"""

from .chgcar import read_chgcar, write_chgcar
from .cube import read_cube, write_cube
from .formats import VOLUMETRIC_FORMATS, VolumetricFormat, read_volumetric, volumetric_format, write_volumetric
from .grid import DensityGrid, grid_shape_for_spacing
from .npz import read_npz, write_npz

__all__ = [
    "DensityGrid",
    "VOLUMETRIC_FORMATS",
    "VolumetricFormat",
    "grid_shape_for_spacing",
    "read_chgcar",
    "read_cube",
    "read_npz",
    "read_volumetric",
    "volumetric_format",
    "write_chgcar",
    "write_cube",
    "write_npz",
    "write_volumetric",
]
