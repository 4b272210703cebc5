"""MTSPair: a fast and a slow local model as one potential, and the calculators over it."""

import numpy as np
import pytest
from ase.build import bulk
from tests.conftest import small_allegro

from asetools.calculators import MTSCalc, PotentialCalc
from asetools.checkpoint import load_checkpoint, save_checkpoint
from asetools.models import MTSPair, WithinCutoff
from asetools.testing import check_forces_fd, check_invariance, check_stress_fd, compare_calculators


def pair(seed=0):
    fast = small_allegro(l_max=1, seed=seed, r_max=3.0, num_layers=1)
    slow = small_allegro(l_max=2, seed=seed + 1, r_max=5.0, per_species_energy_shifts=[0.0, 0.0])
    return MTSPair.from_parts(fast.double(), slow.double())


@pytest.fixture
def alloy():
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True) * (2, 2, 2)
    atoms.rattle(0.1, seed=5)
    atoms.symbols[[0, 5, 11]] = "Au"
    return atoms


def test_pair_is_the_sum_of_its_parts_each_within_its_cutoff(alloy):
    model = pair()
    assert model.cutoff == 5.0 and model.species == ["Cu", "Au"]
    whole = PotentialCalc(model, dtype="float64")
    parts = MTSCalc(PotentialCalc(model.fast, dtype="float64"), PotentialCalc(model.slow, dtype="float64"))
    compare_calculators(whole, parts, alloy, rtol=1e-10)
    # The fast model on the pair's 5 Å graph, restricted to its own 3 Å, is the fast model itself.
    compare_calculators(PotentialCalc(WithinCutoff(model.fast), dtype="float64"), parts.fast, alloy, rtol=1e-10)


def test_pair_forces_stress_and_symmetries(alloy):
    calc = PotentialCalc(pair(), dtype="float64")
    check_forces_fd(calc, alloy, atol=1e-6)
    check_stress_fd(calc, alloy, atol=1e-6)
    check_invariance(calc, alloy, atol=1e-9)


def test_checkpoint_holds_both_models(tmp_path, alloy):
    model = pair(seed=3)
    path = save_checkpoint(model, tmp_path / "pair.pt", {"note": "test"})
    loaded = load_checkpoint(path)
    assert isinstance(loaded, MTSPair) and loaded.fast.cutoff == 3.0 and loaded.slow.cutoff == 5.0
    compare_calculators(PotentialCalc(loaded, dtype="float64"), PotentialCalc(model, dtype="float64"), alloy)
    calc = MTSCalc.from_checkpoint(path, dtype="float64")
    alloy.calc = calc
    reference = PotentialCalc(model.fast, dtype="float64").get_forces(alloy)
    np.testing.assert_allclose(calc.get_property("fast_forces", alloy), reference, atol=1e-12)
    assert calc.fast.cutoff == 3.0 and calc.slow.cutoff == 5.0
    assert alloy.get_potential_energy() == pytest.approx(
        PotentialCalc(model, dtype="float64").get_potential_energy(alloy), abs=1e-10
    )


def test_single_model_checkpoint_is_not_a_pair(tmp_path):
    path = save_checkpoint(small_allegro(), tmp_path / "one.pt")
    with pytest.raises(ValueError, match="holds one allegro model, not a fast/slow pair"):
        MTSCalc.from_checkpoint(path)


def test_parts_must_share_species():
    with pytest.raises(ValueError, match="same species"):
        MTSPair.from_parts(small_allegro(species=("Cu", "Au")), small_allegro(species=("Au", "Cu")))


def message_passing_pair(seed=0):
    from tests.conftest import small_message_passing

    fast = small_allegro(l_max=1, seed=seed, r_max=3.0, num_layers=1)
    slow = small_message_passing("nequip", seed=seed + 1, r_max=4.0, per_species_energy_shifts=[0.0, 0.0])
    return MTSPair.from_parts(fast.double(), slow.double())


def test_message_passing_slow_part(tmp_path, alloy):
    """A NequIP slow part: the pair is the sum of its parts, exact gradients, whole-graph evaluation only."""
    import torch

    from asetools.graph import build_graph
    from asetools.lammps.domain import DomainEvaluator
    from asetools.models import Potential
    from asetools.models.local import LocalEnvironments, is_strictly_local

    model = message_passing_pair()
    assert not is_strictly_local(model) and is_strictly_local(pair())
    whole = PotentialCalc(model, dtype="float64")
    parts = MTSCalc(PotentialCalc(model.fast, dtype="float64"), PotentialCalc(model.slow, dtype="float64"))
    compare_calculators(whole, parts, alloy, rtol=1e-10)
    check_forces_fd(whole, alloy, atol=1e-6)
    check_stress_fd(whole, alloy, atol=1e-6)
    check_invariance(whole, alloy, atol=1e-9)
    with pytest.raises(TypeError, match="passes messages"):
        model.local_energies(LocalEnvironments.from_graph(build_graph(alloy, model.cutoff, model.species)))
    with pytest.raises(TypeError, match="not strictly local"):
        DomainEvaluator(Potential(model))
    with torch.no_grad(), pytest.raises(ValueError, match="strictly local"):
        Potential(model)(build_graph(alloy, model.cutoff, model.species), compute_atom_virials=True)
    path = save_checkpoint(model, tmp_path / "pair.pt")
    calc = MTSCalc.from_checkpoint(path, dtype="float64")
    alloy.calc = calc
    assert alloy.get_potential_energy() == pytest.approx(whole.get_potential_energy(alloy), abs=1e-10)
    assert type(calc.slow.model).__name__ == "NequIP"


def test_fast_part_must_be_strictly_local():
    from tests.conftest import small_message_passing

    with pytest.raises(TypeError, match="fast part"):
        MTSPair.from_parts(small_message_passing("botnet", r_max=3.0), small_allegro(2))
