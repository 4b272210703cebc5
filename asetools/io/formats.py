"""One table from a volumetric file format's name and file names to its reader and writer.

As :mod:`ase.io.formats` does for structures, callers name a path and, when they wish, a
format; nobody else looks at suffixes::

    grid = read_volumetric("CHGCAR")                   # chgcar, by the file's name
    write_volumetric("rho.cube", grid)                 # cube, by the suffix
    write_volumetric("density.dat", grid, format="cube")

A file's format is the one whose suffix it has (``.cube``), or whose VASP-style name it starts
with (``CHGCAR``, ``AECCAR0``, ... in any case: ``CHGCAR_relaxed`` is a CHGCAR). A writer takes
the values as consecutive slabs along the format's ``slab_axis`` (the axis its file runs
slowest along), so a grid larger than memory can be written piece by piece.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .chgcar import read_chgcar, write_chgcar
from .cube import read_cube, write_cube
from .grid import DensityGrid
from .npz import read_npz, write_npz

__all__ = ["VOLUMETRIC_FORMATS", "VolumetricFormat", "read_volumetric", "volumetric_format", "write_volumetric"]


@dataclasses.dataclass(frozen=True)
class VolumetricFormat:
    """A volumetric file format.

    Attributes:
        name: what ``format=`` calls it.
        description: a few words for messages and ``--help``.
        suffixes: lower-case file suffixes that mean this format.
        name_prefixes: upper-case file names (or their starts) that mean this format.
        read: ``read(path) -> DensityGrid``.
        write: ``write(path, grid, comment="", slabs=None)``.
        slab_axis: the grid axis a writer's ``slabs`` run along.
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    name_prefixes: tuple[str, ...]
    read: Callable[..., DensityGrid]
    write: Callable[..., None]
    slab_axis: int

    def matches(self, path: Path) -> bool:
        """True when ``path``'s suffix or name says this format."""
        return path.suffix.lower() in self.suffixes or path.name.upper().startswith(self.name_prefixes)


#: Every volumetric format asetools reads and writes, by name.
VOLUMETRIC_FORMATS: dict[str, VolumetricFormat] = {
    fmt.name: fmt
    for fmt in (
        VolumetricFormat("cube", "Gaussian cube", (".cube", ".cub"), (), read_cube, write_cube, slab_axis=0),
        VolumetricFormat(
            "chgcar",
            "VASP CHGCAR",
            (".vasp", ".chgcar"),
            ("CHGCAR", "CHG", "PARCHG", "AECCAR0", "AECCAR1", "AECCAR2"),
            read_chgcar,
            write_chgcar,
            slab_axis=2,
        ),
        VolumetricFormat("npz", "asetools density .npz", (".npz",), (), read_npz, write_npz, slab_axis=0),
    )
}


def volumetric_format(path: str | os.PathLike, format: str | None = None) -> VolumetricFormat:
    """The format named ``format``, or else the one ``path``'s suffix or name says.

    Raises:
        ValueError: ``format`` is not a known name, or ``path`` says no format; the message
            lists the formats and how to name one.
    """
    if format is not None:
        try:
            return VOLUMETRIC_FORMATS[format.lower()]
        except KeyError:
            raise ValueError(
                f"unknown volumetric format {format!r}; use one of {', '.join(VOLUMETRIC_FORMATS)}"
            ) from None
    path = Path(path)
    for fmt in VOLUMETRIC_FORMATS.values():
        if fmt.matches(path):
            return fmt
    known = "; ".join(
        f"{fmt.name} ({', '.join(fmt.suffixes + tuple(name + '*' for name in fmt.name_prefixes))})"
        for fmt in VOLUMETRIC_FORMATS.values()
    )
    raise ValueError(f"cannot tell the format of {path} from its name; name it with format= ({known})")


def read_volumetric(path: str | os.PathLike, format: str | None = None) -> DensityGrid:
    """Read the grid in ``path`` (format by name or from the path, see :func:`volumetric_format`)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"volumetric file {path} does not exist")
    return volumetric_format(path, format).read(path)


def write_volumetric(
    path: str | os.PathLike,
    grid: DensityGrid,
    format: str | None = None,
    comment: str = "",
    slabs: Iterable[np.ndarray] | None = None,
) -> VolumetricFormat:
    """Write ``grid`` to ``path`` atomically and return the format used.

    ``slabs``, when given, are the values as consecutive slabs along the format's ``slab_axis``
    (``grid``'s own values are then not read).
    """
    fmt = volumetric_format(path, format)
    fmt.write(path, grid, comment=comment, slabs=slabs)
    return fmt
