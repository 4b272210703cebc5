"""The fast slot-layout evaluation of Allegro against the plain per-path edge-list one."""

import numpy as np
import pytest
import torch

from asetools.graph import build_graph
from asetools.models import Potential
from asetools.models.neighbour_slots import neighbour_slots
from tests.conftest import mixed_cu_au_batch, small_allegro


def outputs(model, graph):
    result = Potential(model)(graph, compute_forces=True, compute_stress=True)
    return result.atom_energies, result.forces, result.stress


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("l_max, parity", [(1, True), (2, True), (2, False), (3, True)])
def test_fast_path_matches_reference_path_in_float64(l_max, parity, num_layers):
    model = small_allegro(l_max, parity, num_layers=num_layers, seed=7).double()
    graph = build_graph(mixed_cu_au_batch(), model.cutoff, model.species, dtype=torch.float64)
    assert not model.reference_path
    fast = outputs(model, graph)
    model.reference_path = True
    reference = outputs(model, graph)
    for got, want in zip(fast, reference):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=0, atol=1e-10)
    assert fast[0].abs().max() > 1e-3  # the comparison is not between zeros


def test_fast_path_does_not_depend_on_edge_order():
    model = small_allegro(2, True, seed=1).double()
    # one structure: a graph keeps each structure's edges together, in any order within it
    graph = build_graph(mixed_cu_au_batch()[:1], model.cutoff, model.species, dtype=torch.float64)
    order = torch.randperm(graph.num_edges, generator=torch.Generator().manual_seed(0))
    shuffled = graph.replace(edge_index=graph.edge_index[:, order], edge_shift=graph.edge_shift[order])
    np.testing.assert_allclose(model(shuffled).detach().numpy(), model(graph).detach().numpy(), rtol=0, atol=1e-12)


def test_float32_fast_path_close_to_float64_reference():
    model = small_allegro(2, True, seed=2).double()
    atoms = mixed_cu_au_batch()[:1]
    model.reference_path = True
    reference = outputs(model, build_graph(atoms, model.cutoff, model.species, dtype=torch.float64))
    model.reference_path = False
    model.float()
    fast = outputs(model, build_graph(atoms, model.cutoff, model.species, dtype=torch.float32))
    np.testing.assert_allclose(fast[0].detach().double().numpy(), reference[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(fast[1].detach().double().numpy(), reference[1].detach().numpy(), atol=1e-4)


class TestNeighbourSlots:
    def test_layout_of_unsorted_edges(self):
        centre = torch.tensor([2, 0, 2, 2, 0])
        slots = neighbour_slots(centre, num_atoms=4)
        assert slots.width == 3
        values = torch.tensor([20.0, 0.0, 21.0, 22.0, 1.0])
        laid_out = slots.scatter(values, -1.0)
        expected = [[0.0, 1.0, -1.0], [-1.0, -1.0, -1.0], [20.0, 21.0, 22.0], [-1.0, -1.0, -1.0]]
        assert laid_out.tolist() == expected
        assert slots.mask.tolist() == [[True, True, False], [False] * 3, [True] * 3, [False] * 3]

    def test_trailing_dimensions_and_gradient(self):
        centre = torch.tensor([1, 1, 0])
        slots = neighbour_slots(centre, num_atoms=2)
        values = torch.arange(6.0).view(3, 2).requires_grad_()
        laid_out = slots.scatter(values, torch.tensor([7.0, 8.0]))
        assert laid_out.shape == (2, 2, 2)
        assert laid_out[0, 1].tolist() == [7.0, 8.0]  # padding
        (laid_out * torch.arange(8.0).view(2, 2, 2)).sum().backward()
        # edge 0 -> slot (1, 0), edge 1 -> slot (1, 1), edge 2 -> slot (0, 0)
        assert values.grad.tolist() == [[4.0, 5.0], [6.0, 7.0], [0.0, 1.0]]

    def test_no_edges(self):
        slots = neighbour_slots(torch.zeros(0, dtype=torch.long), num_atoms=3)
        assert slots.width == 0
        assert slots.scatter(torch.zeros(0, 3), 0.0).shape == (3, 0, 3)
