"""Data-parallel training over processes with ``torch.distributed``.

Every process holds the whole training set and the same model, draws the same
batch order, and takes its own share of each global batch. The loss terms of a
share are normalised by the counts of the *global* batch, so the gradients summed
over processes equal the gradient one process would compute on the whole batch;
after that sum every process takes the same optimiser step. Training with ``P``
processes therefore follows the single-process run with the same ``batch_size``
(to floating-point round-off) while each process does ``1/P`` of the work.

Launch with ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...)::

    torchrun --standalone --nproc_per_node 2 -m asetools train config.yaml

or ``asetools train config.yaml --nproc 2``, which does that for you. The CPU
backend is gloo, CUDA uses NCCL with one GPU per process (``LOCAL_RANK``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = ["ProcessGroup", "SINGLE_PROCESS", "current_group", "initialise_from_environment", "leave_process_group", "process_device"]

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessGroup:
    """The processes training one model together.

    Attributes:
        rank: this process's index, 0 to ``world_size - 1``.
        world_size: number of processes (1: no communication at all).
    """

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and logs (rank 0)."""
        return self.rank == 0

    def share(self, items: Sequence[T]) -> list[T]:
        """This process's contiguous part of ``items`` (parts differ in length by at most one; some may be empty)."""
        size, extra = divmod(len(items), self.world_size)
        start = self.rank * size + min(self.rank, extra)
        return list(items[start : start + size + (self.rank < extra)])

    def sum_gradients(self, parameters: Iterable[torch.nn.Parameter], loss: float = 0.0) -> float:
        """Sum the gradients, and this process's ``loss``, over processes in one collective call.

        A parameter keeps ``grad=None`` only if it has no gradient on every process,
        as it would in a single process; otherwise missing gradients count as zero.

        Returns:
            the loss summed over processes.
        """
        if self.world_size == 1:
            return loss
        parameters = [p for p in parameters if p.requires_grad]
        reference = parameters[0]
        pieces = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in parameters]
        extras = torch.tensor(
            [loss] + [p.grad is not None for p in parameters], dtype=reference.dtype, device=reference.device
        )
        flat = torch.cat([*pieces, extras])
        dist.all_reduce(flat)
        summed = flat[-len(extras) :].tolist()
        offset = 0
        for p, has_gradient in zip(parameters, summed[1:]):
            size = p.numel()
            p.grad = flat[offset : offset + size].view_as(p).clone() if has_gradient else None
            offset += size
        return summed[0]

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (picklable), in rank order, on every process."""
        if self.world_size == 1:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` (picklable) on every process."""
        if self.world_size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.world_size > 1:
            dist.barrier()


SINGLE_PROCESS = ProcessGroup()


def leave_process_group() -> None:
    """Wait for every process, then shut the default process group down.

    A process that exits while the others still use the group can take gloo's
    threads down with an abort; leaving together avoids that.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def current_group() -> ProcessGroup:
    """The default process group if ``torch.distributed`` is initialised, else :data:`SINGLE_PROCESS`."""
    if dist.is_available() and dist.is_initialized():
        return ProcessGroup(dist.get_rank(), dist.get_world_size())
    return SINGLE_PROCESS


def process_device(device: str) -> str:
    """The device of this process: ``cuda`` becomes ``cuda:LOCAL_RANK`` under a multi-process launch."""
    if device == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def initialise_from_environment(device: str = "cpu") -> ProcessGroup:
    """Join the process group that ``torchrun`` describes in the environment.

    Without ``WORLD_SIZE`` (or with 1) nothing is initialised and
    :data:`SINGLE_PROCESS` is returned. The backend is NCCL for CUDA devices and
    gloo otherwise.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return current_group()
    if not dist.is_initialized():
        missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
        if missing:
            raise RuntimeError(
                f"WORLD_SIZE={world_size} but {', '.join(missing)} not set; launch with "
                "torchrun --nproc_per_node N (or asetools train --nproc N)"
            )
        cuda = torch.device(process_device(device)).type == "cuda"
        if cuda:
            torch.cuda.set_device(torch.device(process_device(device)))
        dist.init_process_group("nccl" if cuda else "gloo")
    return current_group()
