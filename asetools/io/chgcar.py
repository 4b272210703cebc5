"""VASP CHGCAR files: a POSCAR block, the grid counts and ρ·V_cell with x running fastest.

Grid point ``(i, j, k)`` is at fractional position ``(i/N1, j/N2, k/N3)`` of the cell, so the sum of
the stored values divided by the number of points is the number of electrons. VESTA divides the
values by the cell volume; :func:`read_chgcar` does too and returns e/Å³.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable

import numpy as np
from ase import Atoms
from ase.io import read as ase_read
from ase.io import write as ase_write

from .._files import atomic_path
from ._text import format_values, parse_values
from .grid import DensityGrid

__all__ = ["read_chgcar", "write_chgcar"]

#: VASP writes the grid as E18.11, five to a line.
CHGCAR_VALUE_FORMAT = " %17.11E"
_PER_LINE = 5


def write_chgcar(
    path: str | os.PathLike, grid: DensityGrid, comment: str = "", slabs: Iterable[np.ndarray] | None = None
) -> None:
    """Write the density ``grid`` (e/Å³) to a CHGCAR file at ``path``, atomically.

    ``slabs`` gives the values as consecutive z-slabs ``[n0, n1, k]`` instead of ``grid.values``
    (the file's own order: x runs fastest), so a grid larger than memory can be written piece by
    piece.

    A periodic grid (:meth:`DensityGrid.for_cell`) is written in its own cell. A box grid around
    a molecule (:meth:`DensityGrid.around`) is written as a cell equal to the box, with the atoms
    moved by ``-origin`` so that they sit where the grid saw them. No PAW augmentation is
    written: VASP warns when it reads such a file, and VESTA and pymatgen do not mind.
    """
    if grid.atoms is None or len(grid.atoms) == 0:
        raise ValueError("a CHGCAR file needs the structure: build the grid with atoms")
    if grid.periodic and not np.allclose(grid.origin, 0.0, atol=1e-9):
        raise ValueError(
            f"a CHGCAR grid starts at the cell origin, but this periodic grid starts at {grid.origin}; "
            "resample it onto DensityGrid.for_cell"
        )
    cell = grid.cell
    atoms = Atoms(
        symbols=grid.atoms.get_chemical_symbols(),
        positions=np.asarray(grid.atoms.positions) - grid.origin,
        cell=cell,
        pbc=True,
    )
    volume = abs(float(np.linalg.det(cell)))
    poscar = io.StringIO()
    ase_write(poscar, atoms, format="vasp", direct=True, vasp5=True)
    _, poscar_body = poscar.getvalue().split("\n", 1)
    title = " ".join(comment.split()) or f"{atoms.get_chemical_formula()} density (asetools)"
    nx, ny, nz = grid.shape
    with atomic_path(path) as temporary, open(temporary, "w", encoding="ascii") as handle:
        handle.write(title + "\n" + poscar_body)
        handle.write(f"\n{nx:5d}{ny:5d}{nz:5d}\n")
        # x runs fastest: walk the z-planes in order, carrying the values that did not fill a line.
        carry = np.empty(0)
        written = 0
        if slabs is None:
            planes_per_write = max(1, 1_000_000 // (nx * ny))
            slabs = (grid.values[:, :, start : start + planes_per_write] for start in range(0, nz, planes_per_write))
        for planes in slabs:
            planes = np.asarray(planes, dtype=np.float64)
            if planes.ndim != 3 or planes.shape[:2] != (nx, ny):
                raise ValueError(f"a CHGCAR slab has shape {planes.shape}; expected [{nx}, {ny}, k]")
            written += planes.shape[2]
            chunk = np.concatenate([carry, planes.ravel(order="F") * volume])
            whole = (chunk.size // _PER_LINE) * _PER_LINE
            handle.write(format_values(chunk[:whole], CHGCAR_VALUE_FORMAT, per_line=_PER_LINE))
            carry = chunk[whole:]
        if carry.size:
            handle.write(format_values(carry, CHGCAR_VALUE_FORMAT, per_line=_PER_LINE))
        if written != nz:
            raise ValueError(f"the slabs hold {written} z-planes; the grid has {nz}")


def read_chgcar(path: str | os.PathLike) -> DensityGrid:
    """Read the total density of a CHGCAR (or CHG, PARCHG, AECCAR) file; values in e/Å³.

    Augmentation occupancies and a second (magnetisation) block of spin-polarised files are
    skipped. The result is a periodic :class:`DensityGrid` in the file's cell.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"CHGCAR file {path!r} does not exist")
    with open(path, encoding="ascii", errors="replace") as handle:
        text = handle.read()
    lines = text.split("\n")
    header_end = _poscar_length(lines, path)
    try:
        atoms = ase_read(io.StringIO("\n".join(lines[:header_end]) + "\n"), format="vasp")
    except Exception as error:  # ASE raises several types for a malformed POSCAR block
        raise ValueError(f"{path}: the POSCAR block of the CHGCAR file could not be read ({error})") from error
    line_index = header_end
    while line_index < len(lines) and not lines[line_index].strip():
        line_index += 1
    try:
        shape = tuple(int(x) for x in lines[line_index].split()[:3])
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except (IndexError, ValueError) as error:
        raise ValueError(f"{path}: expected the grid counts NGX NGY NGZ after the POSCAR block") from error
    expected = int(np.prod(shape))
    body = "\n".join(lines[line_index + 1 :])
    tokens = body.split(None, expected)
    values = parse_values(" ".join(tokens[:expected]), path)
    if values.size != expected:
        raise ValueError(
            f"{path}: the CHGCAR header promises {shape[0]}x{shape[1]}x{shape[2]} = {expected} values, "
            f"the file holds {values.size}; it is truncated or corrupt"
        )
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    values = values.reshape(shape, order="F") / volume
    return DensityGrid.for_cell(atoms, shape, values=np.ascontiguousarray(values))


def _poscar_length(lines: list[str], path: str) -> int:
    """Number of lines of the POSCAR block at the top of a CHGCAR file."""
    malformed = f"{path}: not a CHGCAR file (the POSCAR block at its top is malformed)"
    try:
        first_field = lines[5].split()[0]
    except IndexError as error:
        raise ValueError(malformed) from error
    if first_field.lstrip("-").replace(".", "", 1).isdigit():
        raise ValueError(
            f"{path}: this CHGCAR has no element line (VASP 4 format); add the element symbols "
            "as line 6 of the file"
        )
    try:
        natoms = sum(int(x) for x in lines[6].split())
        index = 7
        if lines[index].strip()[:1] in ("S", "s"):  # Selective dynamics
            index += 1
        return index + 1 + natoms
    except (IndexError, ValueError) as error:
        raise ValueError(malformed) from error
