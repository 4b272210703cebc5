"""Gaussian cube files: the volumetric format VESTA, VMD, ASE and PySCF read.

Layout: two comment lines; ``natoms x0 y0 z0`` (origin, Bohr); three lines ``n_i vx vy vz``
(voxel vectors, Bohr); one line ``Z charge x y z`` per atom (Bohr); then the values, x slowest and
z fastest, each z-row on lines of six. Densities are stored in e/Bohr³; :func:`write_cube` converts
from e/Å³ and :func:`read_cube` back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
from ase import Atoms
from ase.units import Bohr

from .._files import atomic_path
from ._text import format_values, parse_values
from .grid import DensityGrid

__all__ = ["read_cube", "write_cube"]

#: Significant digits of the values in a cube file (Gaussian writes E13.5).
CUBE_VALUE_FORMAT = " %12.5E"
_HEADER_NUMBER = "{:12.6f}"


def write_cube(
    path: str | os.PathLike,
    grid: DensityGrid,
    comment: str = "",
    density: bool = True,
    slabs: Iterable[np.ndarray] | None = None,
) -> None:
    """Write ``grid`` to a cube file at ``path``, atomically, one x-slab at a time.

    Args:
        path: the file to write.
        grid: the field; its atoms are written with it (a grid without atoms gets none).
        comment: text for the first line.
        density: True (default) for a density in e/Å³, stored in e/Bohr³ as the format expects;
            False writes the values unchanged (for fields without a length unit).
        slabs: the values as consecutive x-slabs ``[k, n1, n2]`` instead of ``grid.values``, so
            that a grid larger than memory can be computed and written piece by piece (the
            grid's own values are then not read).
    """
    atoms = grid.atoms if grid.atoms is not None else Atoms()
    scale = Bohr**3 if density else 1.0
    first_line = " ".join(comment.split()) or "asetools density"
    with atomic_path(path) as temporary, open(temporary, "w", encoding="ascii") as handle:
        handle.write(first_line + "\n")
        handle.write("OUTER LOOP: X, MIDDLE LOOP: Y, INNER LOOP: Z" + (" (e/Bohr^3)" if density else "") + "\n")
        handle.write(_header_line(len(atoms), grid.origin / Bohr))
        for count, step in zip(grid.shape, grid.voxel):
            handle.write(_header_line(count, step / Bohr))
        for number, position in zip(atoms.numbers, atoms.positions):
            handle.write(f"{int(number):5d}{float(number):12.6f}" + "".join(_HEADER_NUMBER.format(x) for x in position / Bohr) + "\n")
        nz = grid.shape[2]
        written = 0
        for slab in grid.values if slabs is None else slabs:
            slab = np.asarray(slab, dtype=np.float64)
            if slab.ndim == 2:
                slab = slab[None]
            if slab.shape[1:] != grid.shape[1:]:
                raise ValueError(f"a cube slab has shape {slab.shape}; expected [k, {grid.shape[1]}, {grid.shape[2]}]")
            handle.write(format_values(slab * scale, CUBE_VALUE_FORMAT, per_line=6, row_length=nz))
            written += slab.shape[0]
        if written != grid.shape[0]:
            raise ValueError(f"the slabs hold {written} x-planes; the grid has {grid.shape[0]}")


def read_cube(path: str | os.PathLike, density: bool = True) -> DensityGrid:
    """Read a cube file into a :class:`DensityGrid` (Å; e/Å³ when ``density``).

    Files whose voxel counts are negative (Å units in some writers' convention) are read in Å.
    Orbital cube files (a negative atom count, with an extra line of orbital indices) are read
    as well; their first orbital's values are returned.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"cube file {path!r} does not exist")
    with open(path, encoding="ascii", errors="replace") as handle:
        text = handle.read()
    lines = text.split("\n", 6)
    try:
        count_line = lines[2].split()
        natoms = int(count_line[0])
        origin = np.array([float(x) for x in count_line[1:4]])
        axes = [lines[3 + a].split() for a in range(3)]
        counts = [int(axis[0]) for axis in axes]
        voxel = np.array([[float(x) for x in axis[1:4]] for axis in axes])
    except (IndexError, ValueError) as error:
        raise ValueError(f"{path}: not a cube file (the header's first six lines are malformed)") from error
    in_angstrom = counts[0] < 0
    counts = [abs(n) for n in counts]
    unit = 1.0 if in_angstrom else Bohr
    orbital_file = natoms < 0
    natoms = abs(natoms)
    rest = text.split("\n", 6 + natoms + (1 if orbital_file else 0))
    atom_lines = rest[6 : 6 + natoms]
    try:
        atom_rows = np.array([[float(x) for x in line.split()[:5]] for line in atom_lines]).reshape(natoms, 5)
    except ValueError as error:
        raise ValueError(f"{path}: the atom lines of the cube header are malformed") from error
    body = rest[-1] if len(rest) > 6 + natoms + (1 if orbital_file else 0) else ""
    expected = int(np.prod(counts))
    values = parse_values(body, path)
    if orbital_file and values.size > expected and values.size % expected == 0:
        values = values.reshape(counts + [-1])[..., 0].ravel()
    if values.size != expected:
        raise ValueError(
            f"{path}: the cube header promises {counts[0]}x{counts[1]}x{counts[2]} = {expected} values, "
            f"the file holds {values.size}; it is truncated or corrupt"
        )
    values = values.reshape(counts)
    if density and not in_angstrom:
        values = values / Bohr**3
    atoms = Atoms(numbers=atom_rows[:, 0].astype(int), positions=atom_rows[:, 2:5] * unit)
    return DensityGrid(values=values, origin=origin * unit, voxel=voxel * unit, atoms=atoms, periodic=False)


def _header_line(count: int, vector: np.ndarray) -> str:
    return f"{int(count):5d}" + "".join(_HEADER_NUMBER.format(float(x)) for x in vector) + "\n"
