"""Block-by-block evaluation of strictly local models against the whole-graph autograd path."""

import numpy as np
import pytest
import torch

from asetools.graph import build_graph
from asetools.models import LennardJones, Potential
from asetools.models.local import LocalEnergyModel
from asetools.models.potential import _blocks
from tests.conftest import ARGON, argon_cluster, mixed_cu_au_batch, small_allegro, triclinic_argon


def whole_graph(potential, graph):
    """Forces and stress by autograd through positions and strain (what training uses)."""
    return potential(graph, compute_forces=True, compute_stress=True, create_graph=True)


def blocked(potential, graph, edges_per_block, **flags):
    potential.edges_per_block = edges_per_block
    with torch.no_grad():
        return potential(graph, **({"compute_forces": True, "compute_stress": True} | flags))


def assert_same(got, want, atol):
    for name in ("energy", "atom_energies", "forces", "stress", "virial"):
        a, b = getattr(got, name), getattr(want, name)
        assert not a.requires_grad
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=atol, err_msg=name)


def allegro_case():
    model = small_allegro(2, True, seed=5).double()
    return Potential(model), build_graph(mixed_cu_au_batch(), model.cutoff, model.species, dtype=torch.float64)


def lennard_jones_case():
    model = LennardJones(species=["Ar"], **ARGON, smooth=True).double()
    atoms = [triclinic_argon(), argon_cluster()]
    return Potential(model), build_graph(atoms, model.cutoff, model.species, dtype=torch.float64)


@pytest.mark.parametrize("case", [allegro_case, lennard_jones_case])
@pytest.mark.parametrize("edges_per_block", [1, 37, 500, 10**6])
def test_blocks_equal_the_whole_graph_in_float64(case, edges_per_block):
    potential, graph = case()
    assert isinstance(potential.model, LocalEnergyModel)
    reference = whole_graph(potential, graph)
    assert_same(blocked(potential, graph, edges_per_block), reference, atol=1e-10)
    assert reference.forces.abs().max() > 1e-3  # not a comparison of zeros
    assert torch.isfinite(reference.stress[0]).all()


def test_edge_order_within_the_graph_does_not_matter():
    potential, graph = allegro_case()
    order = torch.randperm(graph.num_edges, generator=torch.Generator().manual_seed(1))
    # keep each structure's edges together, as AtomicGraph requires, but shuffle within
    order = order[torch.argsort(graph.batch[graph.edge_index[0, order]], stable=True)]
    shuffled = graph.replace(edge_index=graph.edge_index[:, order], edge_shift=graph.edge_shift[order])
    assert_same(blocked(potential, shuffled, 40), whole_graph(potential, graph), atol=1e-10)


def test_energy_only_and_forces_only():
    potential, graph = allegro_case()
    reference = whole_graph(potential, graph)
    energy_only = blocked(potential, graph, 50, compute_forces=False, compute_stress=False)
    assert energy_only.forces is None and energy_only.stress is None
    np.testing.assert_allclose(energy_only.energy.numpy(), reference.energy.detach().numpy(), atol=1e-10)
    forces_only = blocked(potential, graph, 50, compute_stress=False)
    assert forces_only.stress is None
    np.testing.assert_allclose(forces_only.forces.numpy(), reference.forces.detach().numpy(), atol=1e-10)


def test_training_keeps_the_energy_differentiable_in_the_parameters():
    potential, graph = allegro_case()
    potential.edges_per_block = 10
    output = potential(graph, compute_forces=False)
    assert output.energy.requires_grad
    output.energy.sum().backward()
    assert potential.model.readout_mlp[-1].weight.grad.abs().sum() > 0


def test_frozen_parameters_use_blocks_even_with_grad_mode_on():
    potential, graph = allegro_case()
    for parameter in potential.parameters():
        parameter.requires_grad_(False)
    potential.edges_per_block = 25
    calls = []
    original = potential.model.local_energies
    potential.model.local_energies = lambda environments: calls.append(environments.num_centres) or original(environments)
    output = potential(graph, compute_forces=True)
    assert not output.forces.requires_grad
    assert len(calls) > 3 and sum(calls) == graph.num_atoms


def test_block_ranges_respect_the_edge_budget():
    offsets = [0, 3, 3, 10, 12, 30, 31]  # 6 atoms with 3, 0, 7, 2, 18, 1 edges
    assert list(_blocks(offsets, 10)) == [(0, 3), (3, 4), (4, 5), (5, 6)]
    assert list(_blocks(offsets, 1)) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    assert list(_blocks(offsets, 100)) == [(0, 6)]
    with pytest.raises(ValueError, match="edges_per_block"):
        Potential(LennardJones(species=["Ar"], **ARGON), edges_per_block=0)
