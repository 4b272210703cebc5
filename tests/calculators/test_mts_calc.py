"""MTSCalc: the sum of two ASE calculators, each part evaluated only when asked."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.calculators.mixing import SumCalculator

from asetools.calculators import MTSCalc
from asetools.testing import check_forces_fd


class CountingEMT(EMT):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.evaluations = 0

    def calculate(self, *args, **kwargs):
        self.evaluations += 1
        super().calculate(*args, **kwargs)


def soft_lj():
    return LennardJones(sigma=2.3, epsilon=0.01, rc=5.0, smooth=True)


@pytest.fixture
def copper():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=3)
    return atoms


def test_sum_matches_ase_sum_calculator(copper):
    reference = copper.copy()
    reference.calc = SumCalculator([EMT(), soft_lj()])
    copper.calc = MTSCalc(EMT(), soft_lj())
    assert copper.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(copper.get_forces(), reference.get_forces(), atol=1e-12)
    np.testing.assert_allclose(copper.get_stress(), reference.get_stress(), atol=1e-12)
    np.testing.assert_allclose(
        copper.get_potential_energies(), reference.get_potential_energies(), atol=1e-12
    )
    parts = copper.calc
    fast, slow = EMT(), soft_lj()
    np.testing.assert_allclose(parts.get_property("fast_forces", copper), fast.get_forces(copper), atol=1e-12)
    np.testing.assert_allclose(parts.get_property("slow_forces", copper), slow.get_forces(copper), atol=1e-12)
    assert parts.get_property("slow_energy", copper) == pytest.approx(slow.get_potential_energy(copper))
    assert copper.get_potential_energy(force_consistent=True) == pytest.approx(
        reference.get_potential_energy()
    )


def test_a_part_is_evaluated_only_when_asked(copper):
    fast, slow = CountingEMT(), CountingEMT(asap_cutoff=True)
    calc = MTSCalc(fast, slow)
    copper.calc = calc
    calc.get_property("fast_forces", copper)
    calc.get_property("fast_energy", copper)
    assert (fast.evaluations, slow.evaluations) == (1, 0)
    calc.get_property("slow_forces", copper)
    copper.get_forces()
    copper.get_potential_energy()
    assert (fast.evaluations, slow.evaluations) == (1, 1)
    copper.positions[0, 0] += 0.01
    calc.get_property("fast_forces", copper)
    assert (fast.evaluations, slow.evaluations) == (2, 1)
    copper.get_potential_energy()
    assert (fast.evaluations, slow.evaluations) == (2, 2)


def test_from_total_splits_off_the_difference(copper):
    total = SumCalculator([EMT(), soft_lj()])
    calc = MTSCalc.from_total(EMT(), total)
    copper.calc = calc
    reference = SumCalculator([EMT(), soft_lj()])
    assert copper.get_potential_energy() == pytest.approx(reference.get_potential_energy(copper), abs=1e-12)
    np.testing.assert_allclose(
        calc.get_property("slow_forces", copper), soft_lj().get_forces(copper), atol=1e-10
    )
    np.testing.assert_allclose(
        calc.get_property("slow_energy", copper), soft_lj().get_potential_energy(copper), atol=1e-10
    )
    check_forces_fd(calc, copper, atol=1e-5)


def test_forces_are_gradients_of_the_energy(copper):
    check_forces_fd(MTSCalc(EMT(), soft_lj()), copper, atol=1e-5)


def test_a_missing_property_names_the_part(copper):
    from ase.calculators.lj import LennardJones as Cluster

    copper.pbc = False
    copper.cell = None
    calc = MTSCalc(Cluster(), EMT())
    copper.calc = calc
    with pytest.raises(PropertyNotImplementedError, match="slow calculator of MTSCalc \\(EMT\\)"):
        calc.get_property("slow_stress", copper)


def test_bad_parts_are_refused():
    with pytest.raises(ValueError, match="slow calculator, got None"):
        MTSCalc(EMT(), None)
    with pytest.raises(TypeError, match="fast part of MTSCalc must be an ASE calculator"):
        MTSCalc("emt", EMT())
    emt = EMT()
    with pytest.raises(ValueError, match="two different calculators"):
        MTSCalc(emt, emt)
