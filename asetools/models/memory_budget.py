"""Choosing the block size of the blocked evaluation from a memory budget.

A block of centre atoms costs memory in proportion to its neighbour slots
(``atoms x widest neighbour count``: Allegro's per-edge latents and tensor
features) plus a little per centre atom (its summed environment). Both costs
are measured once per model, dtype and device on two synthetic blocks: the
bytes of every tensor autograd keeps for the backward pass are counted with
:func:`torch.autograd.graph.saved_tensors_hooks` (the model's own parameters
excepted). The backward pass then holds gradients of about the same size as
the tensors it consumes, so a block is budgeted at
``BACKWARD_FACTOR x saved bytes``; ``benchmarks/large_systems.py`` checks the
measured peak against the budget.

The rest of a step's memory grows with the whole system, not with the block:
the neighbour graph (at what building it took) and the per-edge vectors
(:func:`system_bytes`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import torch

from ..graph import AtomicGraph
from .local import LocalEnergyModel, LocalEnvironments

__all__ = [
    "BlockCost", "available_memory", "edges_per_block_for_budget", "measure_block_cost", "memory_budget", "parse_memory",
    "saved_bytes", "system_bytes",
]

#: Budgeted bytes of a block per byte autograd saves in its forward pass.
BACKWARD_FACTOR = 2.0

#: Peak bytes per edge of building a graph (matscipy's search and output, then the graph's
#: own tensors), measured with ``benchmarks/large_systems.py``. The allocator keeps most of
#: it for reuse instead of returning it, so it stays resident through the evaluation.
NEIGHBOUR_SEARCH_BYTES_PER_EDGE = 64

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}


def parse_memory(value: int | float | str) -> int:
    """Bytes in ``value``: a number of bytes, or a string such as ``"4 GiB"``, ``"500MB"`` or ``"2g"``."""
    if isinstance(value, bool):
        raise TypeError(f"a memory size must be a number of bytes or a string like '4 GiB', got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if match is None or match.group(2).lower() not in _UNITS:
            raise ValueError(
                f"cannot read {value!r} as a memory size; write a number of bytes or a size with a unit, "
                f"such as '4 GiB', '500 MB' or '2g'"
            )
        number, unit = float(match.group(1)), match.group(2).lower()
    size = number * _UNITS[unit]
    if not math.isfinite(size) or size <= 0:
        raise ValueError(f"a memory size must be positive, got {value!r}")
    return int(size)


def memory_budget(max_memory: int | float | str, device: torch.device | str) -> int:
    """Bytes ``max_memory`` allows: a size (see :func:`parse_memory`), or ``"auto"`` for 90 % of what
    ``device`` has free now (:func:`available_memory`)."""
    if max_memory == "auto":
        return available_memory(device) * 9 // 10
    return parse_memory(max_memory)


def available_memory(device: torch.device | str) -> int:
    """Bytes that can be allocated now on ``device``: free GPU memory, or the host's ``MemAvailable``."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _format(size: float) -> str:
    if size < 1024**2:
        return f"{size / 1024:.0f} KiB"
    return f"{size / 1024**2:.0f} MiB" if size < 1024**3 else f"{size / 1024**3:.2f} GiB"


@dataclass(frozen=True)
class BlockCost:
    """Working memory of one block of a model, in bytes.

    Attributes:
        per_slot: bytes per neighbour slot (a block of ``n`` atoms whose widest
            neighbour count is ``w`` has ``n * w`` slots).
        per_atom: bytes per centre atom.
    """

    per_slot: float
    per_atom: float

    def block_bytes(self, atoms: int, slots: int) -> float:
        """Budgeted bytes of a block of ``atoms`` centre atoms with ``slots`` neighbour slots."""
        return self.per_slot * slots + self.per_atom * atoms


def _probe(model: LocalEnergyModel, num_atoms: int, neighbours: int, dtype: torch.dtype, device: torch.device) -> int:
    """Bytes autograd saves evaluating ``num_atoms`` synthetic centres with ``neighbours`` edges each."""
    generator = torch.Generator().manual_seed(0)
    num_species = len(model.species)
    directions = torch.nn.functional.normalize(torch.randn(num_atoms * neighbours, 3, generator=generator), dim=1)
    radii = model.cutoff * (0.4 + 0.55 * torch.rand(num_atoms * neighbours, 1, generator=generator))
    vectors = (directions * radii).to(device=device, dtype=dtype).requires_grad_(True)
    environments = LocalEnvironments(
        centre_species=torch.randint(num_species, (num_atoms,), generator=generator).to(device),
        edge_centre=torch.arange(num_atoms).repeat_interleave(neighbours).to(device),
        edge_vectors=vectors,
        neighbour_species=torch.randint(num_species, (num_atoms * neighbours,), generator=generator).to(device),
    )
    return saved_bytes(model, environments)


def saved_bytes(model: LocalEnergyModel, environments: LocalEnvironments) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``model`` on ``environments``.

    Each storage is counted once; the model's parameters and buffers are not counted.
    """
    own = {tensor.untyped_storage().data_ptr() for tensor in (*model.parameters(), *model.buffers())}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in own:
            saved[storage.data_ptr()] = max(saved.get(storage.data_ptr(), 0), storage.nbytes())
        return tensor

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.local_energies(environments).sum()
    return sum(saved.values())


def measure_block_cost(model: LocalEnergyModel, dtype: torch.dtype, device: torch.device | str) -> BlockCost:
    """The :class:`BlockCost` of ``model`` on ``device`` in ``dtype``, measured on two synthetic blocks.

    The two blocks have the same number of slots and different numbers of atoms, which
    separates the per-slot from the per-atom cost.
    """
    device = torch.device(device)
    few_wide = _probe(model, 8, 64, dtype, device)
    many_narrow = _probe(model, 32, 16, dtype, device)
    per_atom = max(many_narrow - few_wide, 0) / (32 - 8)
    per_slot = max(few_wide - 8 * per_atom, 0) / (8 * 64)
    return BlockCost(per_slot=BACKWARD_FACTOR * per_slot, per_atom=BACKWARD_FACTOR * per_atom)


def system_bytes(graph: AtomicGraph, sorted_edges: bool) -> int:
    """Bytes of a step that grow with the system: the graph, the per-edge vectors and the outputs.

    The graph is counted at least at :data:`NEIGHBOUR_SEARCH_BYTES_PER_EDGE`, what
    building it took. ``sorted_edges=False`` adds the sorted copies of the edge list
    the blocked evaluation makes when the graph's edges are not grouped by centre atom.
    """
    itemsize = torch.empty((), dtype=graph.dtype).element_size()
    tensors = (graph.positions, graph.species, graph.cell, graph.pbc, graph.batch, graph.edge_index, graph.edge_shift)
    held = max(sum(t.numel() * t.element_size() for t in tensors), NEIGHBOUR_SEARCH_BYTES_PER_EDGE * graph.num_edges)
    per_edge = 3 * itemsize + 8  # edge vectors, and the per-edge degree bookkeeping
    if not sorted_edges:
        per_edge += 2 * 8 + 3 * itemsize + 8
    per_atom = 3 * itemsize + itemsize + 3 * 8  # forces, atom energies, degree / order bookkeeping
    return held + graph.num_edges * per_edge + graph.num_atoms * per_atom


def edges_per_block_for_budget(
    budget: int, graph: AtomicGraph, cost: BlockCost, sorted_edges: bool = True, degree: torch.Tensor | None = None
) -> int:
    """The largest edges-per-block that keeps one step of ``graph`` within ``budget`` bytes.

    ``degree`` is the number of edges of each atom, if the caller has it already.
    The block's slot count is taken as its edges times the graph's widest over mean
    neighbour count (exact for uniform systems, conservative for surfaces and gas).

    Raises:
        MemoryError: when the system's own arrays plus the smallest block (one atom)
            do not fit, with the sizes and what to do.
    """
    fixed = system_bytes(graph, sorted_edges)
    if degree is None:
        degree = torch.bincount(graph.edge_index[0], minlength=graph.num_atoms)
    active = int((degree > 0).sum())
    widest = int(degree.max()) if graph.num_edges else 0
    mean = graph.num_edges / active if active else 1.0
    smallest = cost.block_bytes(1, widest)
    if fixed + smallest > budget:
        raise MemoryError(
            f"max_memory={_format(budget)} is too small for this system ({graph.num_atoms} atoms, "
            f"{graph.num_edges} edges): the neighbour graph and per-edge arrays alone take {_format(fixed)} and "
            f"a block of one atom {_format(smallest)}. Give at least {_format(fixed + smallest)}, or spread the "
            f"system over MPI ranks with `asetools lammps-md`"
        )
    if widest == 0:
        return max(graph.num_edges, 1)
    bytes_per_edge = cost.per_slot * widest / mean + cost.per_atom / mean
    return max(int((budget - fixed) / bytes_per_edge), widest)
