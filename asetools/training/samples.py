"""Training samples: each labelled structure's graph and labels as tensors, built once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from ..data.frames import LabelKeys, LabelledFrame, label_frames
from ..graph import AtomicGraph, batch_graphs, build_graph

__all__ = ["Sample", "make_samples", "collate"]


@dataclass
class Sample:
    """One labelled structure, or a batch of ``B`` of them.

    Attributes:
        graph: the structures with their neighbour lists.
        energy: ``[B]`` reference energies, eV.
        forces: ``[N, 3]`` reference forces, eV/Å.
        stress: ``[B, 3, 3]`` reference stresses, eV/Å³ (zero where there is none).
        has_stress: ``[B]`` bool, whether a structure has a reference stress.
    """

    graph: AtomicGraph
    energy: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    has_stress: torch.Tensor


def make_samples(
    frames: Sequence[Atoms | LabelledFrame],
    cutoff: float,
    species: Sequence[str],
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    keys: LabelKeys | None = None,
) -> list[Sample]:
    """Check ``frames``, build every graph once and hold the labels as tensors (errors name the frame)."""
    samples = []
    for frame in label_frames(frames, keys, species):
        try:
            graph = build_graph(frame.atoms, cutoff, species, dtype=dtype, device=device)
        except ValueError as error:
            raise ValueError(f"{frame.source}: {error}") from None
        stress = np.zeros((3, 3)) if frame.stress is None else frame.stress
        samples.append(
            Sample(
                graph=graph,
                energy=torch.tensor([frame.energy], dtype=dtype, device=device),
                forces=torch.as_tensor(frame.forces, dtype=dtype, device=device),
                stress=torch.as_tensor(stress, dtype=dtype, device=device)[None],
                has_stress=torch.tensor([frame.stress is not None], device=device),
            )
        )
    return samples


def collate(samples: Sequence[Sample]) -> Sample:
    """Join samples into one batch sample."""
    return Sample(
        graph=batch_graphs([s.graph for s in samples]),
        energy=torch.cat([s.energy for s in samples]),
        forces=torch.cat([s.forces for s in samples]),
        stress=torch.cat([s.stress for s in samples]),
        has_stress=torch.cat([s.has_stress for s in samples]),
    )
