"""The minimal fit: it learns, it is reproducible, and it rejects bad data clearly."""

import pytest
import torch
from ase.calculators.singlepoint import SinglePointCalculator

from asetools.data import dataset_statistics, emt_copper_dataset
from asetools.models import Allegro
from asetools.training import fit
from tests.conftest import small_allegro


def tiny_allegro(frames, seed=0) -> Allegro:
    """A one-layer Cu model normalised by the statistics of ``frames``."""
    stats = dataset_statistics(frames, 4.0, ["Cu"])
    return small_allegro(1, species=("Cu",), seed=seed, num_layers=1, **stats.normalisation())


@pytest.fixture(scope="module")
def emt_frames():
    return emt_copper_dataset(16, repeat=(2, 2, 1), max_strain=0.02, seed=1)


def test_fit_reduces_the_force_error(emt_frames):
    train, validation = emt_frames[:12], emt_frames[12:]
    model = tiny_allegro(train)
    result = fit(model, train, validation, epochs=20, batch_size=2, learning_rate=5e-3)
    assert result.final.force_mae < 0.2 * result.initial.force_mae
    assert len(result.history) == 20 and 1 <= result.best_epoch <= 20
    assert result.final.force_mae == pytest.approx(
        min(h["force_mae"] for h in result.history if h["epoch"] == result.best_epoch)
    )


def test_fit_is_reproducible(emt_frames):
    states = []
    for _ in range(2):
        model = tiny_allegro(emt_frames[:6])
        fit(model, emt_frames[:6], epochs=2, batch_size=2, seed=3, dtype="float64")
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_fit_names_a_structure_without_forces(emt_frames):
    frames = [atoms.copy() for atoms in emt_frames[:4]]
    for atoms, original in zip(frames, emt_frames[:4]):
        atoms.calc = SinglePointCalculator(atoms, **original.calc.results)
    frames[2].calc = SinglePointCalculator(frames[2], energy=-1.0)
    with pytest.raises(ValueError, match="structure 2 has no reference forces"):
        fit(tiny_allegro(emt_frames[:2]), frames, epochs=1)


def test_fit_names_a_structure_with_an_unknown_element(emt_frames):
    frames = [atoms.copy() for atoms in emt_frames[:3]]
    frames[1].symbols[0] = "Ag"
    for atoms, original in zip(frames, emt_frames[:3]):
        atoms.calc = SinglePointCalculator(atoms, **original.calc.results)
    with pytest.raises(ValueError, match="structure 1.*Ag"):
        fit(tiny_allegro(emt_frames[:2]), frames, epochs=1)
