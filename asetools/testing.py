"""Physics checks shared by the tests of every model kind.

Each check takes an ASE calculator and a structure, raises ``AssertionError``
with a message saying what disagreed and by how much, and returns the largest
deviations it saw so a test can report them. References are independent of the
code under test: ASE's finite-difference routines, exact rotations and
permutations, and ASE's own calculators.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.stress import voigt_6_to_full_3x3_stress
from scipy.spatial.transform import Rotation

__all__ = [
    "random_rotation",
    "check_invariance",
    "check_forces_fd",
    "check_stress_fd",
    "compare_calculators",
]


def random_rotation(seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """A uniformly random proper rotation matrix ``[3, 3]``."""
    return Rotation.random(random_state=np.random.default_rng(seed)).as_matrix()


#: Invariant results compared when a calculator gives them: per-atom arrays, and per-structure numbers.
_PER_ATOM_INVARIANTS = ("energies", "energies_uncertainty", "atom_force_uncertainty")
_STRUCTURE_INVARIANTS = ("energy", "uncertainty", "uncertainty_mean", "force_uncertainty")


def _evaluate(calc: Calculator, atoms: Atoms, stress: bool) -> dict[str, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = calc
    out = {
        "energy": np.array(atoms.get_potential_energy()),
        "forces": atoms.get_forces(),
        "energies": atoms.get_potential_energies(),
    }
    if stress:
        out["stress"] = voigt_6_to_full_3x3_stress(atoms.get_stress())
    for key in _PER_ATOM_INVARIANTS + _STRUCTURE_INVARIANTS:
        if key not in out and key in calc.results:
            out[key] = np.asarray(calc.results[key], dtype=float)
    return out


def _invariants(name: str, result: dict, reference: dict, atol: float, rtol: float, order=None) -> dict[str, float]:
    """Compare the invariant results (per-atom ones in the permuted ``order``) after a transformation."""
    errors = {}
    for key in _PER_ATOM_INVARIANTS + _STRUCTURE_INVARIANTS:
        if key in reference:
            expected = reference[key][order] if order is not None and key in _PER_ATOM_INVARIANTS else reference[key]
            errors[f"{name}/{key}"] = _assert_close(f"{key} after {name}", result[key], expected, atol, rtol)
    return errors


def _assert_close(name: str, actual, expected, atol: float, rtol: float) -> float:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    error = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol, err_msg=name)
    return error


def check_invariance(
    calc: Calculator,
    atoms: Atoms,
    seed: int = 0,
    atol: float = 1e-10,
    rtol: float = 1e-10,
    reflection: bool = True,
) -> dict[str, float]:
    """Check rotation, reflection, translation and permutation symmetry of ``calc`` on ``atoms``.

    Under a random rotation ``R`` (applied to positions and cell) the energy and
    per-atom energies (and uncertainties, when the calculator gives them) must be
    unchanged, forces must rotate (``F R^T``) and stress must transform as
    ``R sigma R^T``. A random translation must change nothing.
    A random permutation of the atoms must permute forces and per-atom energies
    and leave the energy unchanged. With ``reflection`` the same holds for a random
    improper rotation (a rotation times a mirror), as it must for any energy that does
    not tell a structure from its mirror image.

    Returns:
        the largest absolute deviation of every compared quantity.
    """
    rng = np.random.default_rng(seed)
    has_stress = atoms.cell.rank == 3
    reference = _evaluate(calc, atoms, has_stress)
    errors: dict[str, float] = {}

    transforms = {"rotation": random_rotation(rng)}
    if reflection:
        transforms["reflection"] = random_rotation(rng) @ np.diag([-1.0, 1.0, 1.0])
    for name, rotation in transforms.items():
        rotated = atoms.copy()
        rotated.positions = atoms.positions @ rotation.T
        rotated.cell = atoms.cell.array @ rotation.T
        result = _evaluate(calc, rotated, has_stress)
        errors.update(_invariants(name, result, reference, atol, rtol))
        errors[f"{name}/forces"] = _assert_close(
            f"forces must follow the {name} of the structure",
            result["forces"],
            reference["forces"] @ rotation.T,
            atol,
            rtol,
        )
        if has_stress:
            errors[f"{name}/stress"] = _assert_close(
                f"stress must transform as R s R^T under {name}",
                result["stress"],
                rotation @ reference["stress"] @ rotation.T,
                atol,
                rtol,
            )

    translated = atoms.copy()
    translated.positions = atoms.positions + rng.normal(scale=3.0, size=3)
    result = _evaluate(calc, translated, has_stress)
    for key in reference:
        errors[f"translation/{key}"] = _assert_close(f"{key} after translation", result[key], reference[key], atol, rtol)

    order = rng.permutation(len(atoms))
    permuted = atoms[order]
    result = _evaluate(calc, permuted, has_stress)
    errors["permutation/forces"] = _assert_close(
        "forces must follow the permutation", result["forces"], reference["forces"][order], atol, rtol
    )
    errors.update(_invariants("permutation", result, reference, atol, rtol, order))
    return errors


def check_forces_fd(
    calc: Calculator,
    atoms: Atoms,
    delta: float = 1e-5,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    indices: Sequence[int] | None = None,
) -> float:
    """Compare forces with ASE's central finite differences of the energy.

    Args:
        delta: displacement in Å.
        indices: atoms to check (all by default).

    Returns:
        the largest absolute force difference in eV/Å.
    """
    atoms = atoms.copy()
    atoms.calc = calc
    forces = atoms.get_forces()
    numeric = calculate_numerical_forces(atoms, eps=delta, iatoms=indices)
    rows = slice(None) if indices is None else list(indices)
    return _assert_close("forces vs finite differences", forces[rows], numeric[rows], atol, rtol)


def check_stress_fd(
    calc: Calculator, atoms: Atoms, delta: float = 1e-6, atol: float = 1e-8, rtol: float = 1e-5
) -> float:
    """Compare the stress with ASE's finite-difference strain derivative of the energy.

    Returns:
        the largest absolute stress difference in eV/Å³.
    """
    atoms = atoms.copy()
    atoms.calc = calc
    stress = atoms.get_stress()
    numeric = calculate_numerical_stress(atoms, eps=delta)
    return _assert_close("stress vs finite differences", stress, numeric, atol, rtol)


def compare_calculators(
    calc: Calculator,
    reference: Calculator,
    atoms: Atoms,
    properties: Sequence[str] = ("energy", "forces", "stress", "energies"),
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> dict[str, float]:
    """Assert that ``calc`` and ``reference`` agree on ``properties`` for ``atoms``.

    Relative tolerances are taken against the largest magnitude of each reference
    property, so components near zero do not demand impossible precision.

    Returns:
        the largest absolute difference of every property.
    """
    errors = {}
    results = {}
    for label, calculator in (("calc", calc), ("reference", reference)):
        copy = atoms.copy()
        copy.calc = calculator
        results[label] = {name: np.asarray(copy.get_properties([name])[name], float) for name in properties}
    for name in properties:
        actual, expected = results["calc"][name], results["reference"][name]
        if actual.shape != expected.shape:
            raise AssertionError(f"{name}: shape {actual.shape} differs from the reference's {expected.shape}")
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        errors[name] = _assert_close(f"{name} vs reference", actual, expected, atol + rtol * scale, 0.0)
    return errors

