"""The calculators' exact-equality system-change check against ASE's compare_atoms."""

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.calculator import compare_atoms

from asetools.calculators import ValenceCalc
from asetools.calculators._state import system_changes
from asetools.valence import fit_valence_force_field


@pytest.mark.parametrize(
    "change",
    [
        lambda atoms: None,
        lambda atoms: atoms.set_momenta(np.ones((len(atoms), 3))),  # not a system change for ASE
        lambda atoms: atoms.positions.__setitem__((0, 0), atoms.positions[0, 0] + 1e-12),
        lambda atoms: atoms.set_initial_charges(np.arange(len(atoms), dtype=float)),
        lambda atoms: atoms.set_initial_magnetic_moments(np.ones(len(atoms))),
        lambda atoms: atoms.set_cell(atoms.cell.array * 1.01),
        lambda atoms: atoms.set_pbc([True, False, True]),
        lambda atoms: atoms.set_atomic_numbers(np.roll(atoms.numbers, 1)),
    ],
)
def test_system_changes_name_what_ase_names(change):
    atoms = bulk("NaCl", "rocksalt", a=5.6, cubic=True)
    changed = atoms.copy()
    change(changed)
    assert sorted(system_changes(atoms, changed)) == sorted(compare_atoms(atoms, changed))


def test_a_calculator_recomputes_only_after_a_change():
    atoms = molecule("CH3CH2OH")
    atoms.calc = None
    frames = []
    for shift in (0.0, 0.02, -0.02):
        frame = atoms.copy()
        frame.positions[0, 0] += shift
        frames.append(frame)
    forces = [np.zeros((len(atoms), 3)) for _ in frames]
    calc = ValenceCalc(fit_valence_force_field(frames, {"bond": 2, "angle": 2}, forces=forces))
    atoms.calc = calc
    atoms.get_forces()
    assert calc.check_state(atoms) == []
    atoms.set_momenta(np.ones((len(atoms), 3)))
    assert calc.check_state(atoms) == []
    atoms.positions[3, 1] += 1e-12
    assert calc.check_state(atoms) == ["positions"]
