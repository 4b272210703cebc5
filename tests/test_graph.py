"""AtomicGraph edges against ASE's own neighbour list."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.neighborlist import neighbor_list

from asetools.graph import build_graph
from tests.conftest import argon_cluster, rattled_argon


def edge_set(i, j, shifts):
    return {(int(a), int(b), *map(int, np.rint(s))) for a, b, s in zip(i, j, shifts)}


def assert_same_edges_as_ase(atoms, cutoff):
    symbols = sorted(set(atoms.get_chemical_symbols()))
    graph = build_graph(atoms, cutoff, symbols)
    ours = edge_set(graph.edge_index[0].numpy(), graph.edge_index[1].numpy(), graph.edge_shift.numpy())
    i, j, shifts, vectors = neighbor_list("ijSD", atoms, cutoff)
    assert len(ours) == graph.num_edges, "duplicate edges"
    assert ours == edge_set(i, j, shifts)
    # edge vectors recomputed from positions and cell agree with ASE's distance vectors
    ase_vectors = {(int(a), int(b), *map(int, s)): d for a, b, s, d in zip(i, j, shifts, vectors)}
    ours_vectors = graph.edge_vectors().numpy()
    for key, vector in zip(
        [(int(a), int(b), *map(int, np.rint(s))) for a, b, s in zip(*graph.edge_index.numpy(), graph.edge_shift.numpy())],
        ours_vectors,
    ):
        np.testing.assert_allclose(vector, ase_vectors[key], atol=1e-12)
    return graph


def random_triclinic(seed, natoms=20):
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(5.0, 8.0, 3)) + np.triu(rng.uniform(-2.5, 2.5, (3, 3)), k=1)
    cell = cell @ np.linalg.qr(rng.normal(size=(3, 3)))[0]  # rotate away from upper-triangular form
    atoms = Atoms(
        rng.choice(["Cu", "Au"], natoms), scaled_positions=rng.uniform(size=(natoms, 3)), cell=cell, pbc=True
    )
    return atoms


@pytest.mark.parametrize("seed", range(4))
def test_random_triclinic_cells_match_ase(seed):
    atoms = random_triclinic(seed)
    # some atoms well outside the cell (unwrapped MD coordinates)
    atoms.positions[:3] += atoms.cell.array.sum(axis=0) * 1.7
    assert_same_edges_as_ase(atoms, cutoff=4.5)


def test_small_cell_has_many_images_of_each_neighbour():
    atoms = bulk("Cu", "fcc", a=3.6)  # one atom, every neighbour is an image of itself
    graph = assert_same_edges_as_ase(atoms, cutoff=8.0)
    assert graph.num_edges > 100
    assert (graph.edge_index[0] == graph.edge_index[1]).all()


def test_mixed_pbc_slab_with_zero_vacuum_vector():
    slab = fcc111("Cu", size=(2, 2, 3))  # periodic in x and y, zero cell vector along z
    assert slab.cell.rank == 2 and list(slab.pbc) == [True, True, False]
    graph = assert_same_edges_as_ase(slab, cutoff=5.0)
    assert (graph.edge_shift[:, 2] == 0).all()


def test_wire_periodic_along_one_axis():
    wire = bulk("Cu", "fcc", a=3.6, cubic=True) * (1, 1, 3)
    wire.pbc = [False, False, True]
    wire.cell[0] = wire.cell[1] = 0.0
    assert_same_edges_as_ase(wire, cutoff=4.0)


def test_molecule_without_cell_and_isolated_atom():
    water = molecule("CH3CH2OH")
    water.append("H")
    water.positions[-1] = [20.0, 0.0, 0.0]  # far from everything
    graph = assert_same_edges_as_ase(water, cutoff=3.0)
    last = water.positions.shape[0] - 1
    assert not (graph.edge_index == last).any()
    lone = build_graph(Atoms("Ar"), 5.0, ["Ar"])
    assert lone.num_edges == 0 and lone.num_atoms == 1


def test_fragment_far_away_in_vacuum_matches_all_pairs():
    # An H2 fragment 1.7e5 Å away along the diagonal: the bounding box is too large for a
    # cell-list search, so the graph comes from the k-d tree; it must hold every pair.
    atoms = molecule("CH3CH2OH")
    atoms += Atoms("H2", positions=[[1e5, 1e5, 1e5], [1e5 + 0.74, 1e5, 1e5]])
    graph = build_graph(atoms, 3.0, ["C", "H", "O"])
    distances = atoms.get_all_distances()
    i, j = np.nonzero((distances < 3.0) & ~np.eye(len(atoms), dtype=bool))
    assert edge_set(*graph.edge_index.numpy(), graph.edge_shift.numpy()) == edge_set(i, j, np.zeros((len(i), 3)))
    np.testing.assert_allclose(graph.edge_vectors().norm(dim=1).numpy(), distances[i, j], rtol=1e-12)
    assert graph.edge_index[0].tolist() == sorted(graph.edge_index[0].tolist())


def test_batch_mixing_every_kind_of_structure():
    frames = [
        random_triclinic(7),
        bulk("Cu", "fcc", a=3.6),
        molecule("H2O"),
        fcc111("Cu", size=(2, 2, 2)),
        Atoms("Cu"),
    ]
    species = ["H", "O", "Cu", "Au"]
    cutoff = 4.2
    batch = build_graph(frames, cutoff, species)
    assert batch.num_graphs == len(frames)
    assert batch.n_atoms.tolist() == [len(f) for f in frames]
    assert batch.batch.tolist() == sum(([k] * len(f) for k, f in enumerate(frames)), [])
    offset = 0
    for k, frame in enumerate(frames):
        single = build_graph(frame, cutoff, species)
        mask = batch.batch[batch.edge_index[0]] == k
        ours = edge_set(*(batch.edge_index[:, mask].numpy() - offset), batch.edge_shift[mask].numpy())
        assert ours == edge_set(*single.edge_index.numpy(), single.edge_shift.numpy())
        np.testing.assert_allclose(batch.edge_vectors()[mask].numpy(), single.edge_vectors().numpy(), atol=1e-12)
        offset += len(frame)


def test_species_indices_and_dtype_device():
    atoms = molecule("H2O")
    graph = build_graph(atoms, 2.0, ["O", "H"], dtype=torch.float32)
    assert graph.species.tolist() == [0, 1, 1]
    assert graph.positions.dtype == torch.float32 and graph.cell.dtype == torch.float32
    as64 = graph.to(dtype=torch.float64)
    assert as64.positions.dtype == torch.float64 and as64.species.dtype == torch.long


def test_edge_vectors_are_differentiable_through_positions_and_cell():
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    graph = build_graph(atoms, 3.0, ["Cu"])
    positions = graph.positions.clone().requires_grad_(True)
    cell = graph.cell.clone().requires_grad_(True)
    vectors = graph.replace(positions=positions, cell=cell).edge_vectors()
    vectors.pow(2).sum().backward()
    assert positions.grad is not None and cell.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Atoms("ArXe", positions=[[0, 0, 0], [3, 0, 0]]), r"element\(s\) Xe not in the model's species \['Ar'\]"),
        (lambda: Atoms("Ar2", positions=[[0, 0, 0], [np.nan, 0, 0]]), "NaN or inf"),
        (lambda: Atoms("Ar2", positions=[[0, 0, 0], [3, 0, 0]], pbc=True), "zero volume"),
        (lambda: Atoms("Ar2", positions=[[0, 0, 0], [0.05, 0, 0]]), r"atoms 0 and 1 are 0\.0500 Å apart"),
        (lambda: Atoms("Ar", cell=np.eye(3) * 0.05, pbc=True), "its own periodic image"),
    ],
)
def test_bad_input_raises_a_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        build_graph(make(), 5.0, ["Ar"])


def test_error_in_a_batch_names_the_structure():
    good = Atoms("Ar2", positions=[[0, 0, 0], [3, 0, 0]])
    bad = Atoms("Ar2", positions=[[0, 0, 0], [np.inf, 0, 0]])
    with pytest.raises(ValueError, match="structure 1: positions contain NaN or inf"):
        build_graph([good, bad], 5.0, ["Ar"])


def test_mixed_pbc_with_atoms_far_outside_the_box_along_the_open_axis():
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=4.0)  # full-rank cell, open along z
    slab.pbc = [True, True, False]
    slab.positions[0, 2] -= 15.0  # an adatom far below the box
    slab.positions[1, 2] += 25.0  # and one far above it
    slab.positions[2, :2] += 30.0  # unwrapped along the periodic directions
    assert_same_edges_as_ase(slab, cutoff=5.0)


def test_batch_graphs_equals_building_the_batch_at_once():
    from asetools.graph import batch_graphs

    frames = [rattled_argon(seed=s) for s in range(3)]
    frames[1] = argon_cluster()
    species = ["Ar"]
    joined = batch_graphs([build_graph(f, 6.0, species) for f in frames[:2]] + [build_graph(frames[2:], 6.0, species)])
    direct = build_graph(frames, 6.0, species)
    for name in ("positions", "species", "cell", "pbc", "batch", "edge_index", "edge_shift", "n_atoms"):
        assert torch.equal(getattr(joined, name), getattr(direct, name)), name
