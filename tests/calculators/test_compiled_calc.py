"""``compile=True``: the torch.compile path gives the eager model's results, on any structure size."""

import copy

import numpy as np
import pytest
from ase.build import bulk, molecule

from asetools.calculators import MTSCalc, PotentialCalc
from asetools.models import Potential

from tests.conftest import small_allegro, small_message_passing


@pytest.fixture(scope="module")
def model():
    return small_allegro(species=("H", "C", "O", "Cu"), r_max=3.5)


def structures():
    copper = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    copper.rattle(0.05, seed=1)
    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.02, seed=2)
    bigger = copper.repeat((2, 1, 1))  # another atom and edge count: no recompilation for sizes
    bigger.rattle(0.05, seed=3)
    return [copper, ethanol, bigger]


def test_compiled_matches_eager_energy_forces_and_stress(model):
    eager = PotentialCalc(model, dtype="float64")
    compiled = PotentialCalc(model, dtype="float64", compile=True)
    assert compiled.potential.compile and not eager.potential.compile
    for atoms in structures():
        properties = ["energy", "forces"] + (["stress"] if atoms.pbc.all() else [])
        eager.calculate(atoms, properties)
        expected = dict(eager.results)
        compiled.calculate(atoms, properties)
        assert compiled.results["energy"] == pytest.approx(expected["energy"], abs=1e-10)
        np.testing.assert_allclose(compiled.results["energies"], expected["energies"], atol=1e-10)
        np.testing.assert_allclose(compiled.results["forces"], expected["forces"], atol=1e-10)
        assert np.abs(expected["forces"]).max() > 1e-3  # a real comparison, not of zeros
        if "stress" in properties:
            np.testing.assert_allclose(compiled.results["stress"], expected["stress"], atol=1e-12)
    assert "local_energies" in compiled.potential._compiled  # the compiled path did run
    # Copies (a calculator copies the Potential it is given) compile afresh instead of sharing.
    duplicate = copy.deepcopy(compiled.potential)
    assert duplicate.compile and duplicate._compiled == {}


def test_compile_setting_kept_from_a_potential_and_passed_to_both_mts_parts(model, tmp_path):
    assert PotentialCalc(Potential(model, compile=True)).potential.compile
    assert not PotentialCalc(Potential(model, compile=True), compile=False).potential.compile
    calc = MTSCalc(PotentialCalc(model, compile=True), PotentialCalc(small_allegro(species=("H", "C", "O", "Cu"))))
    assert calc.fast.potential.compile and not calc.slow.potential.compile


def test_compile_refuses_a_model_that_is_not_strictly_local():
    with pytest.raises(ValueError, match="strictly local"):
        PotentialCalc(small_message_passing("nequip"), compile=True)
