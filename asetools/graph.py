"""AtomicGraph: one batch of structures as tensors plus their neighbour list.

The graph is what every model consumes. It is built from ASE ``Atoms`` by
:func:`build_graph`, which takes the neighbour list from
``matscipy.neighbours.neighbour_list`` and checks the input on the way in.
Edge vectors are *not* stored: :meth:`AtomicGraph.edge_vectors` recomputes them
from ``positions`` and ``cell`` so that autograd reaches both (forces, stress).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from matscipy.neighbours import neighbour_list
from scipy.spatial import cKDTree

__all__ = ["AtomicGraph", "MIN_DISTANCE", "batch_graphs", "build_graph", "checked_geometry", "neighbour_pairs", "species_index_table"]

#: Default closest allowed approach of two atoms, in Å. Closer atoms are an error.
MIN_DISTANCE = 0.1


@dataclass(frozen=True)
class AtomicGraph:
    """A batch of ``B`` structures with ``N`` atoms and ``E`` directed edges in total.

    Atoms and edges are grouped by structure, in structure order (as
    :func:`build_graph` makes them): ``batch`` and ``batch[edge_index[0]]`` are
    non-decreasing.

    Attributes:
        positions: ``[N, 3]`` Cartesian positions in Å (float).
        species: ``[N]`` index of each atom's element in the model's species list (long).
        cell: ``[B, 3, 3]`` cell vectors as rows, in Å (zeros for a non-periodic structure).
        pbc: ``[B, 3]`` periodic boundary flags (bool).
        batch: ``[N]`` index of the structure each atom belongs to (long).
        edge_index: ``[2, E]``; row 0 is the centre atom ``i``, row 1 the neighbour ``j``.
            Every pair appears in both directions.
        edge_shift: ``[E, 3]`` integer cell shifts ``S`` (stored in the float dtype), so that
            the edge vector is ``r_j - r_i + S @ cell``.
        n_atoms: ``[B]`` number of atoms in each structure (long).
    """

    positions: torch.Tensor
    species: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    batch: torch.Tensor
    edge_index: torch.Tensor
    edge_shift: torch.Tensor
    n_atoms: torch.Tensor

    @property
    def num_graphs(self) -> int:
        """Number of structures ``B`` in the batch."""
        return int(self.n_atoms.shape[0])

    @property
    def num_atoms(self) -> int:
        """Total number of atoms ``N``."""
        return int(self.positions.shape[0])

    @property
    def num_edges(self) -> int:
        """Total number of directed edges ``E``."""
        return int(self.edge_index.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    @property
    def device(self) -> torch.device:
        return self.positions.device

    def edge_vectors(self) -> torch.Tensor:
        """Edge vectors ``r_j - r_i + S @ cell`` in Å, shape ``[E, 3]``, differentiable."""
        centre, neighbour = self.edge_index[0], self.edge_index[1]
        if self.num_graphs == 1:
            edges_per_structure = [self.num_edges]
        else:
            edges_per_structure = torch.bincount(self.batch[centre], minlength=self.num_graphs).tolist()
        differentiable = torch.is_grad_enabled() and (self.positions.requires_grad or self.cell.requires_grad)
        if not differentiable:
            # In place, one [E, 3] array at a time: for a large system these are the
            # biggest arrays of an evaluation.
            vectors = self.positions[neighbour]
            vectors -= self.positions[centre]
            first = 0
            for count, cell in zip(edges_per_structure, self.cell):
                vectors[first:first + count].addmm_(self.edge_shift[first:first + count], cell)
                first += count
            return vectors
        # One matmul per structure over its contiguous block of edges. Gathering a
        # cell per edge ([E, 3, 3]) instead makes the backward to the cell (stress)
        # an accumulating scatter that is ~10x slower.
        blocks = torch.split(self.edge_shift, edges_per_structure)
        shift = torch.cat([block @ cell for block, cell in zip(blocks, self.cell)])
        return self.positions[neighbour] - self.positions[centre] + shift

    def replace(self, **changes: torch.Tensor) -> AtomicGraph:
        """Return a copy with some fields replaced (e.g. strained positions and cell)."""
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> AtomicGraph:
        """Move to ``device`` and cast the floating-point fields to ``dtype``."""
        changes = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value.is_floating_point():
                changes[field.name] = value.to(device=device, dtype=dtype)
            else:
                changes[field.name] = value.to(device=device)
        return dataclasses.replace(self, **changes)


def batch_graphs(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """Join graphs (each of one or more structures) into one batch, in the given order.

    Gives the same graph as :func:`build_graph` on the concatenated list of
    structures, without searching neighbours again (training builds each structure's
    graph once and batches them every epoch).
    """
    if not graphs:
        raise ValueError("batch_graphs: need at least one graph")
    atom_offsets = np.cumsum([0] + [g.num_atoms for g in graphs[:-1]])
    structure_offsets = np.cumsum([0] + [g.num_graphs for g in graphs[:-1]])
    return AtomicGraph(
        positions=torch.cat([g.positions for g in graphs]),
        species=torch.cat([g.species for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        pbc=torch.cat([g.pbc for g in graphs]),
        batch=torch.cat([g.batch + int(offset) for g, offset in zip(graphs, structure_offsets)]),
        edge_index=torch.cat([g.edge_index + int(offset) for g, offset in zip(graphs, atom_offsets)], dim=1),
        edge_shift=torch.cat([g.edge_shift for g in graphs]),
        n_atoms=torch.cat([g.n_atoms for g in graphs]),
    )


def species_index_table(species: Sequence[str]) -> np.ndarray:
    """Lookup table ``[119]`` from atomic number to species index (-1 for unknown)."""
    table = np.full(len(chemical_symbols), -1, dtype=np.int64)
    for index, symbol in enumerate(species):
        if symbol not in atomic_numbers:
            raise ValueError(f"{symbol!r} in the species list is not a chemical element symbol")
        table[atomic_numbers[symbol]] = index
    return table


def build_graph(
    atoms: Atoms | Sequence[Atoms],
    cutoff: float,
    species: Sequence[str],
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    min_distance: float | None = MIN_DISTANCE,
) -> AtomicGraph:
    """Build an :class:`AtomicGraph` from one ``Atoms`` or a list of them.

    Args:
        atoms: a structure or a batch of structures; periodic, non-periodic or mixed
            boundary conditions, any (also triclinic, also smaller-than-cutoff) cell.
        cutoff: neighbour cutoff radius in Å (pairs with distance < cutoff are edges).
        species: the model's element symbols; ``species[k]`` gets index ``k``.
        dtype: floating-point dtype of positions, cell and shifts.
        device: where the tensors live.
        min_distance: raise if two atoms are closer than this (Å); ``None`` disables.

    Raises:
        ValueError: unknown element, NaN/inf positions or cell, a periodic direction
            with a degenerate cell, or two atoms closer than ``min_distance``.
    """
    frames = [atoms] if isinstance(atoms, Atoms) else list(atoms)
    if not frames:
        raise ValueError("build_graph needs at least one structure")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    table = species_index_table(species)

    positions, species_idx, cells, pbcs, batch = [], [], [], [], []
    centres, neighbours, edge_shift = [], [], []
    offset = 0
    for frame_no, frame in enumerate(frames):
        where = f"structure {frame_no}: " if len(frames) > 1 else ""
        pos, cell, pbc = checked_geometry(frame, where)
        idx = _species_indices(frame, table, species, where)
        i, j, shifts, distances = neighbour_pairs(pos, cell, pbc, cutoff)
        if min_distance is not None and len(i):
            _check_min_distance(i, j, distances, min_distance, where)
        positions.append(pos)
        species_idx.append(idx)
        cells.append(cell)
        pbcs.append(pbc)
        batch.append(np.full(len(frame), frame_no, dtype=np.int64))
        if offset:
            i, j = i + offset, j + offset
        centres.append(i)
        neighbours.append(j)
        edge_shift.append(shifts)
        del distances
        offset += len(frame)

    def floats(arrays):
        return torch.as_tensor(np.concatenate(arrays), dtype=dtype, device=device)

    def longs(arrays):
        return torch.as_tensor(np.concatenate(arrays), dtype=torch.long, device=device)

    # Edge arrays are converted row by row from matscipy's compact integers: the neighbour
    # list of a large system is the biggest thing built here, so no wider copy is made.
    edge_index = torch.empty((2, sum(len(i) for i in centres)), dtype=torch.long, device=device)
    edge_index[0] = longs(centres)
    edge_index[1] = longs(neighbours)
    del centres, neighbours

    return AtomicGraph(
        positions=floats(positions),
        species=longs(species_idx),
        cell=torch.as_tensor(np.stack(cells), dtype=dtype, device=device),
        pbc=torch.as_tensor(np.stack(pbcs), dtype=torch.bool, device=device),
        batch=longs(batch),
        edge_index=edge_index,
        edge_shift=floats(edge_shift),
        n_atoms=torch.as_tensor([len(f) for f in frames], dtype=torch.long, device=device),
    )


def checked_geometry(frame: Atoms, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``frame``'s positions ``[N,3]`` (Å), cell ``[3,3]`` (Å) and pbc ``[3]`` as float64/bool arrays.

    Raises ``ValueError`` (its message starting with ``where``) for non-finite positions or
    cell, or a periodic direction whose cell vectors have no volume.
    """
    pos = np.asarray(frame.positions, dtype=np.float64)
    cell = np.asarray(frame.cell.array, dtype=np.float64)
    pbc = np.asarray(frame.pbc, dtype=bool)
    bad = ~np.isfinite(pos).all(axis=1)
    if bad.any():
        first = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(
            f"{where}positions contain NaN or inf (atom indices {first}"
            f"{', ...' if bad.sum() > 5 else ''}); check the structure that produced them"
        )
    if not np.isfinite(cell).all():
        raise ValueError(f"{where}the cell contains NaN or inf: {cell.tolist()}")
    periodic = cell[pbc]
    if pbc.any():
        singular = np.linalg.matrix_rank(periodic, tol=1e-6) < pbc.sum()
        if singular:
            axes = [axis for axis in range(3) if pbc[axis]]
            raise ValueError(
                f"{where}pbc is True along axes {axes} but the cell vectors along them are zero or "
                f"linearly dependent (zero volume): cell = {cell.tolist()}. Set a proper cell with "
                "atoms.set_cell(...) or switch those directions off with atoms.pbc = False"
            )
    return pos, cell, pbc


def _species_indices(frame: Atoms, table: np.ndarray, species: Sequence[str], where: str) -> np.ndarray:
    numbers = np.asarray(frame.numbers)
    idx = table[numbers]
    if (idx < 0).any():
        unknown = sorted({chemical_symbols[z] for z in numbers[idx < 0]})
        raise ValueError(
            f"{where}element(s) {', '.join(unknown)} not in the model's species {list(species)}; "
            "use a model trained on these elements or remove those atoms"
        )
    return idx


def neighbour_pairs(
    pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Directed pairs ``(i, j, S, d)`` with ``d = |r_j - r_i + S @ cell| < cutoff`` (integer ``i, j, S``)."""
    if len(pos) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64), np.zeros(0)
    if not pbc.any() and _cell_list_bins(pos, cutoff) > _MAX_BINS_PER_ATOM * len(pos):
        return _sparse_neighbours(pos, cutoff)
    search_cell, origin = _search_box(pos, cell, pbc)
    i, j, shifts, distances = neighbour_list(
        "ijSd",
        positions=pos,
        cell=search_cell,
        pbc=pbc,
        cutoff=float(cutoff),
        numbers=np.zeros(len(pos), dtype=np.int32),
        cell_origin=origin,
    )
    return i, j, shifts, distances


#: A cell-list search bins the atoms' bounding box into cubes of the cutoff's size; past
#: this many bins per atom (a fragment or an atom that flew far away from a molecule in
#: vacuum) its time and memory grow with the box's volume, and a k-d tree is used instead.
_MAX_BINS_PER_ATOM = 8


def _cell_list_bins(pos: np.ndarray, cutoff: float) -> float:
    """Bins a cell-list search of the bounding box of ``pos`` [N, 3] (Å) would use at ``cutoff``."""
    extent = pos.max(axis=0) - pos.min(axis=0)
    return float(np.prod(np.floor(extent / cutoff) + 1.0))


def _sparse_neighbours(pos: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Directed pairs of a non-periodic system from a k-d tree: time and memory grow with N, not with the box."""
    pairs = cKDTree(pos).query_pairs(cutoff, output_type="ndarray").astype(np.int64)
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((j, i))
    i, j = i[order], j[order]
    distances = np.linalg.norm(pos[j] - pos[i], axis=1)
    keep = distances < cutoff
    return i[keep], j[keep], np.zeros((int(keep.sum()), 3), np.int64), distances[keep]


def _search_box(pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A non-singular box for matscipy's cell-list search.

    Periodic cell vectors are kept. Each non-periodic direction gets a vector from
    the orthogonal complement of the periodic ones, long enough to hold every atom;
    the box origin is moved so that all atoms lie inside it. Shifts along
    non-periodic directions are always zero, so the search box never enters an
    edge vector.
    """
    if pbc.all():
        return cell, np.zeros(3)
    periodic = cell[pbc]
    if len(periodic):
        _, _, vt = np.linalg.svd(periodic)
        complement = vt[len(periodic):]
    else:
        complement = np.eye(3)
    box = cell.copy()
    origin = np.zeros(3)
    for axis, direction in zip(np.flatnonzero(~pbc), complement):
        projection = pos @ direction
        low = projection.min() - 1.0
        box[axis] = direction * (projection.max() - low + 1.0)
        origin += low * direction
    if np.linalg.det(box) < 0:
        last = np.flatnonzero(~pbc)[-1]
        origin += box[last]
        box[last] = -box[last]
    return box, origin


def _check_min_distance(
    i: np.ndarray, j: np.ndarray, distances: np.ndarray, min_distance: float, where: str
) -> None:
    closest = int(np.argmin(distances))
    if distances[closest] < min_distance:
        a, b = int(i[closest]), int(j[closest])
        what = f"atom {a} and its own periodic image" if a == b else f"atoms {a} and {b}"
        raise ValueError(
            f"{where}{what} are {distances[closest]:.4f} Å apart, closer than {min_distance} Å: "
            "the structure is unphysical (overlapping atoms, or positions not in Å)"
        )
