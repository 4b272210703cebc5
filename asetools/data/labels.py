"""Reference labels (energy, forces) of training structures, with clear errors."""

from __future__ import annotations

import numpy as np
from ase import Atoms

__all__ = ["read_energy", "read_forces"]


def _describe(index: int | None) -> str:
    return "structure" if index is None else f"structure {index}"


def read_energy(atoms: Atoms, key: str = "energy", index: int | None = None) -> float:
    """Reference energy in eV: ``atoms.calc.results[key]`` or ``atoms.info[key]``."""
    results = getattr(atoms.calc, "results", None) or {}
    if key in results:
        value = results[key]
    elif key in atoms.info:
        value = atoms.info[key]
    else:
        raise ValueError(
            f"{_describe(index)} has no reference energy {key!r} (looked in the attached calculator's "
            f"results and in atoms.info, which has {sorted(atoms.info)}); label it or set the energy key"
        )
    value = float(np.asarray(value).reshape(()))
    if not np.isfinite(value):
        raise ValueError(f"{_describe(index)}: the reference energy {key!r} is {value}")
    return value


def read_forces(atoms: Atoms, key: str = "forces", index: int | None = None) -> np.ndarray:
    """Reference forces ``[N, 3]`` in eV/Å: ``atoms.calc.results[key]`` or ``atoms.arrays[key]``."""
    results = getattr(atoms.calc, "results", None) or {}
    if key in results:
        value = results[key]
    elif key in atoms.arrays:
        value = atoms.arrays[key]
    else:
        raise ValueError(
            f"{_describe(index)} has no reference forces {key!r} (looked in the attached calculator's "
            f"results and in atoms.arrays, which has {sorted(atoms.arrays)}); label it or set the forces key"
        )
    forces = np.asarray(value, dtype=float)
    if forces.shape != (len(atoms), 3):
        raise ValueError(f"{_describe(index)}: forces {key!r} have shape {forces.shape}, expected ({len(atoms)}, 3)")
    if not np.all(np.isfinite(forces)):
        raise ValueError(f"{_describe(index)}: forces {key!r} contain NaN or infinite values")
    return forces
