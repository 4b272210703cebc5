"""Labelled frames: structures read from files, checked once, with their labels pulled out.

A :class:`LabelledFrame` holds a structure (without calculator) and its reference
energy, forces and, when present, stress, in eV, eV/Å and eV/Å³. Everything after
this module works on those numbers and never needs to know the label keys again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .labels import read_energy, read_forces, read_stress

logger = logging.getLogger(__name__)

__all__ = [
    "LabelKeys",
    "LabelledFrame",
    "label_frames",
    "read_labelled_frames",
    "read_isolated_atom_energies",
    "split_frames",
    "frames_fingerprint",
]


@dataclass
class LabelKeys:
    """Where the reference labels are stored (calculator results, ``info`` or ``arrays``).

    Attributes:
        energy: key of the total energy in eV (``energy``, ``REF_energy``, ...).
        forces: key of the forces in eV/Å.
        stress: key of the stress in eV/Å³ (ASE sign convention); used when present.
    """

    energy: str = "energy"
    forces: str = "forces"
    stress: str = "stress"


@dataclass
class LabelledFrame:
    """One structure with its reference labels.

    Attributes:
        atoms: the structure (positions, numbers, cell, pbc), no calculator attached.
        energy: total energy, eV.
        forces: ``[N, 3]`` forces, eV/Å.
        stress: ``[3, 3]`` stress in eV/Å³ (ASE's sign convention), or ``None``.
        source: where it came from, e.g. ``"train.xyz frame 12"``, for messages.
    """

    atoms: Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.atoms)


def _check_geometry(atoms: Atoms, where: str, species: Sequence[str] | None) -> None:
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError(f"{where}: positions contain NaN or infinite values")
    if not np.all(np.isfinite(atoms.cell.array)):
        raise ValueError(f"{where}: the cell contains NaN or infinite values")
    if species is not None:
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
        if unknown:
            raise ValueError(
                f"{where}: element(s) {', '.join(unknown)} not in the species list {list(species)}; "
                "add them to the species or remove the frame"
            )


def _label_one(atoms: Atoms, keys: LabelKeys, where: str, species: Sequence[str] | None) -> LabelledFrame:
    _check_geometry(atoms, where, species)
    energy = read_energy(atoms, keys.energy, where)
    forces = read_forces(atoms, keys.forces, where)
    stress = read_stress(atoms, keys.stress, where)
    bare = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return LabelledFrame(atoms=bare, energy=energy, forces=forces, stress=stress, source=where)


def label_frames(
    frames: Sequence[Atoms | LabelledFrame],
    keys: LabelKeys | None = None,
    species: Sequence[str] | None = None,
    source: str | None = None,
    skip_bad: bool = False,
) -> list[LabelledFrame]:
    """Check ``frames`` and pull out their labels.

    Args:
        frames: labelled ``Atoms`` (already labelled frames are passed through).
        keys: label keys (default :class:`LabelKeys`).
        species: if given, an element outside it is an error.
        source: a name for messages (a file name); frames are then called
            ``"<source> frame <i>"``, else ``"structure <i>"``.
        skip_bad: drop a bad frame with a logged warning instead of raising.

    Raises:
        ValueError: a frame without energy or forces, with forces of the wrong shape,
            with NaN positions or labels, or with an unknown element; the message
            names the file and frame index.
    """
    keys = keys or LabelKeys()
    labelled, skipped = [], []
    for index, frame in enumerate(frames):
        if isinstance(frame, LabelledFrame):
            if species is not None:
                _check_geometry(frame.atoms, frame.source, species)
            labelled.append(frame)
            continue
        where = f"{source} frame {index}" if source else f"structure {index}"
        try:
            labelled.append(_label_one(frame, keys, where, species))
        except ValueError as error:
            if not skip_bad:
                raise
            skipped.append(str(error))
    if skipped:
        logger.warning(
            f"skipped {len(skipped)} bad frame(s) of {len(frames)}{f' in {source}' if source else ''}; "
            f"first: {skipped[0]}"
        )
    return labelled


def read_labelled_frames(
    path: str | os.PathLike,
    keys: LabelKeys | None = None,
    species: Sequence[str] | None = None,
    index: str = ":",
    skip_bad: bool = False,
) -> list[LabelledFrame]:
    """Read an extxyz file or ASE database (anything ``ase.io.read`` reads) and check every frame.

    Args:
        path: the file.
        keys: label keys (default ``energy``, ``forces``, ``stress``).
        species: allowed elements (default: any).
        index: which frames, in ``ase.io.read`` syntax (``":"``, ``"::10"``, ``"-100:"``).
        skip_bad: drop bad frames with a warning instead of raising.
    """
    import ase.io

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file {path!r} does not exist")
    try:
        frames = ase.io.read(path, index=index)
    except Exception as error:
        raise ValueError(f"cannot read {path!r} with ase.io ({type(error).__name__}: {error})") from error
    if isinstance(frames, Atoms):
        frames = [frames]
    if not frames:
        raise ValueError(f"{path!r} holds no structures (index {index!r})")
    return label_frames(frames, keys, species, source=os.path.basename(path), skip_bad=skip_bad)


def read_isolated_atom_energies(path: str | os.PathLike, energy_key: str = "energy") -> dict[str, float]:
    """Energies of single atoms in vacuum (eV), by element, from a file of one-atom frames."""
    import ase.io

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"isolated-atom file {path!r} does not exist")
    energies: dict[str, float] = {}
    for index, atoms in enumerate(ase.io.read(path, index=":")):
        where = f"{os.path.basename(path)} frame {index}"
        if len(atoms) != 1:
            raise ValueError(f"{where}: an isolated-atom frame must hold one atom, it holds {len(atoms)}")
        symbol = atoms.get_chemical_symbols()[0]
        if symbol in energies:
            raise ValueError(f"{where}: a second isolated-atom energy for {symbol}")
        energies[symbol] = read_energy(atoms, energy_key, where)
    return energies


def split_frames(
    frames: Sequence[LabelledFrame], validation_fraction: float, seed: int = 0
) -> tuple[list[LabelledFrame], list[LabelledFrame]]:
    """Split into (train, validation) at random, seeded; at least one frame in each part."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction: must be between 0 and 1, got {validation_fraction}")
    if len(frames) < 2:
        raise ValueError(f"cannot split {len(frames)} frame(s) into training and validation sets")
    n_validation = min(len(frames) - 1, max(1, round(validation_fraction * len(frames))))
    order = np.random.default_rng(seed).permutation(len(frames))
    validation = sorted(order[:n_validation].tolist())
    chosen = set(validation)
    return [f for i, f in enumerate(frames) if i not in chosen], [frames[i] for i in validation]


def frames_fingerprint(frames: Sequence[LabelledFrame]) -> str:
    """A SHA-256 over numbers, positions, cells and labels: the same data gives the same string."""
    digest = hashlib.sha256()
    for frame in frames:
        for array in (frame.atoms.numbers, frame.atoms.positions, frame.atoms.cell.array, frame.atoms.pbc):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(np.float64(frame.energy).tobytes())
        digest.update(np.ascontiguousarray(frame.forces, dtype=np.float64).tobytes())
        if frame.stress is not None:
            digest.update(np.ascontiguousarray(frame.stress, dtype=np.float64).tobytes())
    return digest.hexdigest()
