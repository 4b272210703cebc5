"""Frames of a trajectory, read one at a time from a file or taken from a list of ``Atoms``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ase import Atoms

from .._optional import progress_bar

__all__ = ["iterate_frames"]


def iterate_frames(
    images: str | os.PathLike | Atoms | Iterable[Atoms],
    index: str | int | slice = ":",
    progress: bool = False,
    description: str = "frames",
    same_atoms: bool = False,
) -> Iterator[Atoms]:
    """Yield the frames of ``images`` one by one, so that long trajectories never sit in memory whole.

    Args:
        images: a trajectory file any ``ase.io`` reader streams (extxyz, ``.traj``, ...), one
            ``Atoms``, or an iterable of them (a list, ``ase.io.iread``, a ``Trajectory``).
        index: which frames of a file to read, in ``ase.io`` syntax (e.g. ``"100:"``, ``"::10"``).
            Only used when ``images`` is a path.
        progress: show a tqdm progress bar (needs the optional ``tqdm``).
        description: label of the progress bar.
        same_atoms: raise a ValueError naming the frame when its atoms (number, elements or
            order) differ from those of the first frame.
    """
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if not path.exists():
            raise FileNotFoundError(f"no trajectory at {path}")
        from ase.io import iread

        frames: Iterable[Atoms] = iread(path, index=index)
        total = None
    elif isinstance(images, Atoms):
        frames, total = [images], 1
    else:
        frames = images
        total = len(images) if hasattr(images, "__len__") else None
    if progress:
        frames = progress_bar(frames, total, description, unit="frame")
    first_numbers = None
    for number, atoms in enumerate(frames):
        if same_atoms:
            if first_numbers is None:
                first_numbers = atoms.numbers.copy()
            elif len(atoms) != len(first_numbers) or (atoms.numbers != first_numbers).any():
                raise ValueError(
                    f"frame {number}: the atoms differ from those of frame 0; {description} needs the same atoms, "
                    "in the same order, in every frame"
                )
        yield atoms
