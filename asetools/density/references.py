"""Reference electron densities for training density models: readers and splits.

A :class:`DensityFrame` is one structure with its density on a grid. Frames come from any
volumetric file of :mod:`asetools.io` (its one format table decides the format):

- the ``.npz`` layout of ``shared/data/density_g2`` (:mod:`asetools.io.npz`), listed by an
  ``index.json``;
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

from ..io import VOLUMETRIC_FORMATS, DensityGrid, read_volumetric, write_npz

__all__ = ["DensityFrame", "read_density_dataset", "read_density_frame", "split_by_molecule", "write_density_npz"]

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


def read_density_frame(path: str | os.PathLike, format: str | None = None) -> DensityFrame:
    """Read one frame from a volumetric file (``.npz``, cube or CHGCAR-type; see :func:`asetools.io.read_volumetric`)."""
    path = Path(path)
    grid = read_volumetric(path, format)  # FileNotFoundError for a missing file
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
            if any(fmt.matches(file) for fmt in VOLUMETRIC_FORMATS.values()):
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
    """Write ``frame`` atomically in the ``.npz`` layout (:mod:`asetools.io.npz`), with ``energy`` (eV) when given."""
    write_npz(path, frame.grid, energy=energy)
