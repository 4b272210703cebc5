"""Reference labels (energy, forces, stress) of training structures, with clear errors.

Labels are looked up in the attached calculator's results first (where ``ase.io``
puts ``energy``/``forces``/``stress`` of an extxyz file), then in ``atoms.info``
(energies, stresses) or ``atoms.arrays`` (forces), so ``REF_energy``-style keys work.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

__all__ = ["read_energy", "read_forces", "read_stress"]

Where = int | str | None


def _describe(where: Where) -> str:
    """``None`` -> "structure", ``7`` -> "structure 7", a string is used as it is."""
    if where is None:
        return "structure"
    return f"structure {where}" if isinstance(where, int) else str(where)


def _find(atoms: Atoms, key: str, store_name: str):
    results = getattr(atoms.calc, "results", None) or {}
    if key in results:
        return results[key]
    return getattr(atoms, store_name).get(key)


def _lookup(atoms: Atoms, key: str, store_name: str, what: str, where: Where):
    """``atoms.calc.results[key]``, else ``atoms.<store_name>[key]``, else a ValueError."""
    value = _find(atoms, key, store_name)
    if value is None:
        store = getattr(atoms, store_name)
        raise ValueError(
            f"{_describe(where)} has no reference {what} {key!r} (looked in the attached calculator's "
            f"results and in atoms.{store_name}, which has {sorted(store)}); label it or set the {what} key"
        )
    return value


def read_energy(atoms: Atoms, key: str = "energy", where: Where = None) -> float:
    """Reference energy in eV: ``atoms.calc.results[key]`` or ``atoms.info[key]``."""
    value = float(np.asarray(_lookup(atoms, key, "info", "energy", where)).reshape(()))
    if not np.isfinite(value):
        raise ValueError(f"{_describe(where)}: the reference energy {key!r} is {value}")
    return value


def read_forces(atoms: Atoms, key: str = "forces", where: Where = None) -> np.ndarray:
    """Reference forces ``[N, 3]`` in eV/Å: ``atoms.calc.results[key]`` or ``atoms.arrays[key]``."""
    forces = np.asarray(_lookup(atoms, key, "arrays", "forces", where), dtype=float)
    if forces.shape != (len(atoms), 3):
        raise ValueError(
            f"{_describe(where)}: forces {key!r} have shape {forces.shape}, expected ({len(atoms)}, 3)"
        )
    if not np.all(np.isfinite(forces)):
        raise ValueError(f"{_describe(where)}: forces {key!r} contain NaN or infinite values")
    return forces


def read_stress(atoms: Atoms, key: str = "stress", where: Where = None) -> np.ndarray | None:
    """Reference stress ``[3, 3]`` in eV/Å³ (ASE's sign convention), or ``None`` if absent.

    Accepts Voigt order ``[6]`` (xx, yy, zz, yz, xz, xy), nine numbers or a 3×3 matrix.
    A stress on a structure that is not periodic in all three directions is an error.
    """
    value = _find(atoms, key, "info")
    if value is None:
        return None
    stress = np.asarray(value, dtype=float)
    if stress.shape == (6,):
        stress = voigt_6_to_full_3x3_stress(stress)
    elif stress.size == 9:
        stress = stress.reshape(3, 3)
    else:
        raise ValueError(
            f"{_describe(where)}: stress {key!r} has shape {stress.shape}; expected 6 (Voigt) or 3x3 values"
        )
    if not np.all(np.isfinite(stress)):
        raise ValueError(f"{_describe(where)}: stress {key!r} contains NaN or infinite values")
    if not atoms.pbc.all():
        raise ValueError(
            f"{_describe(where)}: has a stress {key!r} but is not periodic in all directions; "
            "remove the stress or fix the pbc"
        )
    return stress
