"""Block sizes chosen from a memory budget (Potential / AllegroCalc ``max_memory``)."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from asetools.calculators import AllegroCalc
from asetools.graph import build_graph
from asetools.models import Potential
from asetools.models.local import LocalEnvironments
from asetools.models.memory_budget import (
    BACKWARD_FACTOR,
    available_memory,
    edges_per_block_for_budget,
    measure_block_cost,
    parse_memory,
    saved_bytes,
    system_bytes,
)
from asetools.models.neighbour_slots import neighbour_slots
from tests.conftest import mixed_cu_au_batch, small_allegro

MiB = 1024**2


@pytest.mark.parametrize(
    "text, size",
    [("4 GiB", 4 * 1024**3), ("500MB", 500 * 1000**2), ("2g", 2 * 1000**3), ("1.5 kib", 1536), (2048, 2048), ("64", 64)],
)
def test_memory_sizes_are_read_with_their_units(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["lots", "4 GiBs", "-1 GB", "0", True, float("nan")])
def test_unreadable_memory_sizes_are_refused(text):
    with pytest.raises((ValueError, TypeError), match="memory size"):
        parse_memory(text)


def copper_graph(repeat=3, dtype=torch.float64):
    model = small_allegro(1, species=("Cu",), seed=2, r_max=4.5).to(dtype)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=1)
    return model, build_graph(atoms, model.cutoff, model.species, dtype=dtype)


def test_the_block_cost_predicts_what_a_real_block_saves():
    """The two-probe linear model against autograd's saved bytes on blocks of a real crystal."""
    model, graph = copper_graph()
    cost = measure_block_cost(model, graph.dtype, graph.device)
    assert cost.per_slot > 0 and cost.per_atom > 0
    centre, neighbour = graph.edge_index
    order = torch.argsort(centre, stable=True)
    centre, neighbour, vectors = centre[order], neighbour[order], graph.edge_vectors()[order]
    for num_atoms in (5, 40):
        keep = centre < num_atoms
        environments = LocalEnvironments(
            centre_species=graph.species[:num_atoms],
            edge_centre=centre[keep],
            edge_vectors=vectors[keep].detach().requires_grad_(True),
            neighbour_species=graph.species[neighbour[keep]],
        )
        slots = neighbour_slots(centre[keep], num_atoms)
        predicted = cost.block_bytes(num_atoms, num_atoms * slots.width) / BACKWARD_FACTOR
        assert saved_bytes(model, environments) == pytest.approx(predicted, rel=0.15)


def test_a_budget_gives_smaller_blocks_and_the_same_results():
    model, graph = copper_graph()
    cost = measure_block_cost(model, graph.dtype, graph.device)
    fixed = system_bytes(graph, sorted_edges=True)
    sizes = [edges_per_block_for_budget(fixed + extra, graph, cost) for extra in (2 * MiB, 8 * MiB, 32 * MiB)]
    assert sizes[0] < sizes[1] < sizes[2]
    # The chosen block fits: its slots at the graph's widest neighbour count, within the budget.
    degree = torch.bincount(graph.edge_index[0])
    atoms_per_block = sizes[0] / degree.float().mean()
    assert fixed + cost.block_bytes(atoms_per_block, atoms_per_block * int(degree.max())) <= fixed + 2 * MiB + 1

    reference = Potential(model)(graph, compute_forces=True, compute_stress=True, create_graph=True)
    budgeted = Potential(model, max_memory=fixed + 2 * MiB)
    with torch.no_grad():
        budgeted(graph, compute_forces=False)  # measures the block cost once
    calls = []
    original = model.local_energies
    model.local_energies = lambda environments: calls.append(environments.num_centres) or original(environments)
    with torch.no_grad():
        output = budgeted(graph, compute_forces=True, compute_stress=True)
    assert len(calls) > 3 and sum(calls) == graph.num_atoms
    for name in ("energy", "atom_energies", "forces", "stress"):
        np.testing.assert_allclose(
            getattr(output, name).numpy(), getattr(reference, name).detach().numpy(), rtol=0, atol=1e-10, err_msg=name
        )


def test_a_budget_never_makes_blocks_larger_than_edges_per_block():
    model, graph = copper_graph()
    potential = Potential(model, edges_per_block=100, max_memory="16 GiB")
    assert potential._edges_per_block(graph, sorted_edges=True) == 100


def test_a_budget_too_small_for_the_system_says_how_much_it_needs():
    model, graph = copper_graph()
    with pytest.raises(MemoryError, match=r"too small for this system \(108 atoms.*Give at least"):
        with torch.no_grad():
            Potential(model, max_memory="100 kB")(graph, compute_forces=True)


def test_calculator_with_a_budget_matches_the_default(tmp_path):
    model = small_allegro(2, seed=3)
    batch = mixed_cu_au_batch()
    default = AllegroCalc(model, dtype="float64")
    budgeted = AllegroCalc(model, dtype="float64", max_memory="auto")
    assert budgeted.potential.max_memory == "auto"
    for atoms in batch:
        for name in ("energy", "forces") + (("stress",) if atoms.cell.rank == 3 else ()):
            np.testing.assert_allclose(
                budgeted.get_property(name, atoms.copy()), default.get_property(name, atoms.copy()),
                rtol=0, atol=1e-10, err_msg=name,
            )
    tight = AllegroCalc(model, max_memory=1000)
    with pytest.raises(MemoryError, match="max_memory"):
        tight.get_forces(batch[0].copy())


def test_available_memory_is_a_positive_byte_count():
    assert 0 < available_memory("cpu") < 1 << 50
