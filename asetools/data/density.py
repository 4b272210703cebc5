"""Reference electron densities for training density models: readers and splits.

A :class:`DensityFrame` is one structure with its density on a grid. Frames come from

- the ``.npz`` layout of ``shared/data/density_g2`` (``numbers``, ``positions`` Å, ``origin`` Å,
  ``voxel`` Å, ``shape``, ``density`` e/Å³ in C order), listed by an ``index.json``;
- Gaussian cube files (``.cube``, ``.cub``), and
- VASP CHGCAR-type files (``CHGCAR``, ``AECCAR*``, ``CHG``, ``PARCHG``, or ``.vasp``/``.chgcar``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from .._files import atomic_path
from ..density_grid import DensityGrid
from ..io import read_chgcar, read_cube

__all__ = ["DensityFrame", "read_density_dataset", "read_density_frame", "split_by_molecule", "write_density_npz"]

_CHGCAR_NAMES = ("CHGCAR", "CHG", "PARCHG", "AECCAR0", "AECCAR1", "AECCAR2")


@dataclasses.dataclass(frozen=True, eq=False)
class DensityFrame:
    """A structure with its reference density.

    Attributes:
        grid: the density (e/Å³) on a grid, with ``grid.atoms`` the structure.
        name: an identifier (file stem or index id).
        molecule: the chemical system the frame is a geometry of (frames of one molecule stay in
            one split); the formula when the source does not say.
        n_electrons: electrons of the structure (the sum of atomic numbers unless the source says).
    """

    grid: DensityGrid
    name: str
    molecule: str
    n_electrons: float

    @property
    def atoms(self) -> Atoms:
        return self.grid.atoms


def read_density_frame(path: str | os.PathLike) -> DensityFrame:
    """Read one frame from an ``.npz``, cube or CHGCAR-type file (chosen by the file name)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"density file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        grid = _read_npz(path)
    elif suffix in (".cube", ".cub"):
        grid = read_cube(path)
    elif path.name.upper().startswith(_CHGCAR_NAMES) or suffix in (".vasp", ".chgcar"):
        grid = read_chgcar(path)
    else:
        raise ValueError(
            f"cannot tell the format of {path}: use .npz (asetools density layout), .cube, or a CHGCAR-type name"
        )
    atoms = grid.atoms
    return DensityFrame(
        grid=grid, name=path.stem, molecule=atoms.get_chemical_formula(), n_electrons=float(atoms.numbers.sum())
    )


def read_density_dataset(path: str | os.PathLike, molecules: Sequence[str] | None = None) -> list[DensityFrame]:
    """All frames of a dataset: a directory with an ``index.json``, the index itself, or a directory of files.

    Args:
        path: the dataset's directory or its ``index.json``.
        molecules: keep only frames of these molecules (None keeps all).
    """
    path = Path(path)
    index_path = path if path.suffix == ".json" else path / "index.json"
    wanted = None if molecules is None else set(molecules)
    frames = []
    if index_path.exists():
        with open(index_path, encoding="utf-8") as handle:
            index = json.load(handle)
        entries = index.get("frames") if isinstance(index, dict) else None
        if not isinstance(entries, list):
            raise ValueError(f"{index_path}: expected a 'frames' list in the index")
        for entry in entries:
            if wanted is not None and entry.get("molecule") not in wanted:
                continue
            frame = read_density_frame(index_path.parent / f"{entry['id']}.npz")
            frames.append(
                dataclasses.replace(
                    frame,
                    name=str(entry["id"]),
                    molecule=str(entry.get("molecule", frame.molecule)),
                    n_electrons=float(entry.get("n_electrons", frame.n_electrons)),
                )
            )
    elif path.is_dir():
        for file in sorted(path.iterdir()):
            if file.suffix.lower() in (".npz", ".cube", ".cub") or file.name.upper().startswith(_CHGCAR_NAMES):
                frame = read_density_frame(file)
                if wanted is None or frame.molecule in wanted:
                    frames.append(frame)
    else:
        raise FileNotFoundError(f"density dataset {path} does not exist (expected a directory or an index.json)")
    if not frames:
        raise ValueError(f"no density frames found in {path}" + (f" for molecules {sorted(wanted)}" if wanted else ""))
    return frames


def split_by_molecule(
    frames: Sequence[DensityFrame], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[list[DensityFrame], list[DensityFrame], list[DensityFrame]]:
    """Train, validation and test frames, with all geometries of a molecule in one part.

    Molecules are shuffled with ``seed`` and dealt out by the ``fractions`` of molecules; every
    part with a positive fraction gets at least one molecule when there are enough.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    names = sorted({frame.molecule for frame in frames})
    order = np.random.default_rng(seed).permutation(len(names))
    counts = [int(round(f * len(names))) for f in fractions]
    for part in (1, 2):
        if fractions[part] > 0 and counts[part] == 0 and len(names) >= 3:
            counts[part] = 1
    counts[0] = len(names) - counts[1] - counts[2]
    if counts[0] < 1:
        raise ValueError(f"{len(names)} molecules are too few to split as {fractions}")
    parts, start = [], 0
    for count in counts:
        chosen = {names[i] for i in order[start : start + count]}
        parts.append([frame for frame in frames if frame.molecule in chosen])
        start += count
    return parts[0], parts[1], parts[2]


def write_density_npz(path: str | os.PathLike, frame: DensityFrame, energy: float | None = None) -> None:
    """Write ``frame`` atomically in the ``.npz`` layout :func:`read_density_frame` reads.

    Arrays: ``numbers``, ``positions`` Å, ``origin`` Å, ``voxel`` Å (rows), ``shape``, ``cell`` Å
    (the box the grid spans), ``density`` float32 e/Å³ (C order), and ``energy_eV`` when given.
    """
    grid = frame.grid
    arrays = dict(
        numbers=np.asarray(grid.atoms.numbers, dtype=np.int64),
        positions=np.asarray(grid.atoms.positions, dtype=np.float64),
        origin=np.asarray(grid.origin, dtype=np.float64),
        voxel=np.asarray(grid.voxel, dtype=np.float64),
        shape=np.asarray(grid.shape, dtype=np.int64),
        cell=grid.cell,
        density=np.asarray(grid.values, dtype=np.float32),
    )
    if energy is not None:
        arrays["energy_eV"] = np.float64(energy)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)


def _read_npz(path: Path) -> DensityGrid:
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
