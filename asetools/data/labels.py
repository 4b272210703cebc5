"""Reference labels (energy, forces) of training structures, with clear errors."""

from __future__ import annotations

import numpy as np
from ase import Atoms

__all__ = ["read_energy", "read_forces"]


def _describe(index: int | None) -> str:
    return "structure" if index is None else f"structure {index}"


def _lookup(atoms: Atoms, key: str, store_name: str, what: str, index: int | None):
    """``atoms.calc.results[key]``, else ``atoms.<store_name>[key]``, else a ValueError."""
    results = getattr(atoms.calc, "results", None) or {}
    if key in results:
        return results[key]
    store = getattr(atoms, store_name)
    if key in store:
        return store[key]
    raise ValueError(
        f"{_describe(index)} has no reference {what} {key!r} (looked in the attached calculator's "
        f"results and in atoms.{store_name}, which has {sorted(store)}); label it or set the {what} key"
    )


def read_energy(atoms: Atoms, key: str = "energy", index: int | None = None) -> float:
    """Reference energy in eV: ``atoms.calc.results[key]`` or ``atoms.info[key]``."""
    value = float(np.asarray(_lookup(atoms, key, "info", "energy", index)).reshape(()))
    if not np.isfinite(value):
        raise ValueError(f"{_describe(index)}: the reference energy {key!r} is {value}")
    return value


def read_forces(atoms: Atoms, key: str = "forces", index: int | None = None) -> np.ndarray:
    """Reference forces ``[N, 3]`` in eV/Å: ``atoms.calc.results[key]`` or ``atoms.arrays[key]``."""
    forces = np.asarray(_lookup(atoms, key, "arrays", "forces", index), dtype=float)
    if forces.shape != (len(atoms), 3):
        raise ValueError(f"{_describe(index)}: forces {key!r} have shape {forces.shape}, expected ({len(atoms)}, 3)")
    if not np.all(np.isfinite(forces)):
        raise ValueError(f"{_describe(index)}: forces {key!r} contain NaN or infinite values")
    return forces
