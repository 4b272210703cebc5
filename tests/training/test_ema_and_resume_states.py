"""The training package's shared pieces: the moving average, the resume states and the CSV history."""

from __future__ import annotations

import copy

import numpy as np
import torch

from asetools.training.ema import ExponentialMovingAverage, ema_rate
from asetools.training.log import write_history_csv
from asetools.training.resume import (
    numpy_random_state,
    optimisation_state,
    restore_numpy_random_state,
    restore_optimisation_state,
    restore_torch_random_state,
    torch_random_state,
)


def _linear(weight: float) -> torch.nn.Linear:
    layer = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        layer.weight.fill_(weight)
    return layer


def _set(layer: torch.nn.Linear, weight: float) -> None:
    with torch.no_grad():
        layer.weight.fill_(weight)


def test_the_average_is_the_hand_computed_one():
    model = _linear(1.0)
    copying, from_initial = ExponentialMovingAverage(model, 0.9), ExponentialMovingAverage(model, 0.9, from_initial=True)
    by_hand_copying, by_hand_initial = None, 1.0
    for step, weight in enumerate([2.0, 4.0, 8.0, 16.0]):
        _set(model, weight)
        copying.update_parameters(model)
        from_initial.update_parameters(model)
        if by_hand_copying is None:  # the AveragedModel way: the first update copies
            by_hand_copying = weight
        else:
            rate = min(0.9, (1 + step) / (10 + step))
            by_hand_copying = rate * by_hand_copying + (1 - rate) * weight
        rate = min(0.9, (1 + step) / (10 + step))
        by_hand_initial = rate * by_hand_initial + (1 - rate) * weight
        assert copying.module.weight.item() == float(torch.tensor(by_hand_copying, dtype=torch.float64))
        torch.testing.assert_close(from_initial.module.weight.item(), by_hand_initial, rtol=1e-15, atol=0)
    assert from_initial.updates == copying.updates == 4
    assert ema_rate(0.9, 0) == 0.1 and ema_rate(0.9, 10_000) == 0.9
    with from_initial.swapped_in(model):
        assert model.weight.item() == from_initial.module.weight.item()
    assert model.weight.item() == 16.0


def test_the_average_and_optimiser_resume_to_the_same_steps():
    def train(model, optimiser, ema, steps):
        for _ in range(steps):
            optimiser.zero_grad()
            (model.weight**2).sum().backward()
            optimiser.step()
            ema.update_parameters(model)

    model = _linear(1.0)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.1)
    ema = ExponentialMovingAverage(model, 0.5, from_initial=True)
    train(model, optimiser, ema, 3)
    state = copy.deepcopy(optimisation_state(optimiser, ema))  # as written to a checkpoint, not live tensors
    weights = model.weight.detach().clone()
    train(model, optimiser, ema, 2)
    again = _linear(0.0)
    with torch.no_grad():
        again.weight.copy_(weights)
    again_optimiser = torch.optim.Adam(again.parameters(), lr=0.1)
    again_ema = ExponentialMovingAverage(again, 0.5, from_initial=True)
    restore_optimisation_state(state, again_optimiser, again_ema)
    train(again, again_optimiser, again_ema, 2)
    assert torch.equal(again.weight, model.weight)
    assert torch.equal(again_ema.module.weight, ema.module.weight) and again_ema.updates == ema.updates == 5


def test_captured_random_states_draw_the_same_numbers_again():
    generator, numbers = torch.Generator().manual_seed(3), np.random.default_rng(4)
    torch.manual_seed(5)
    states = torch_random_state(generator), torch_random_state(), numpy_random_state(numbers)
    assert isinstance(states[2], str)  # plain text in the checkpoint
    first = torch.rand(3, generator=generator), torch.rand(3), numbers.random(3)
    restore_torch_random_state(states[0], generator)
    restore_torch_random_state(states[1])
    restore_numpy_random_state(states[2], numbers)
    second = torch.rand(3, generator=generator), torch.rand(3), numbers.random(3)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    np.testing.assert_array_equal(first[2], second[2])


def test_the_history_csv_leaves_unmeasured_values_empty(tmp_path):
    columns = {"epoch": ("epoch", 1), "loss_meV": ("loss", 1e3), "nmape": ("nmape", 1.0)}
    write_history_csv([{"epoch": 1, "loss": 0.0123456789}, {"epoch": 2, "loss": 0.01, "nmape": 2.5}], tmp_path / "h.csv", columns, "\n")
    assert (tmp_path / "h.csv").read_text() == "epoch,loss_meV,nmape\n1,12.3457,\n2,10,2.5\n"
