"""Structures in: labelled frames read and checked, data-set statistics, trajectories, and labels made here.

- :mod:`.frames`, :mod:`.labels` — extxyz/ASE-db frames with energy, forces and stress, checked
  and split (:func:`read_labelled_frames`, :class:`LabelledFrame`);
- :mod:`.statistics` — per-species statistics a model is normalised with;
- :mod:`.trajectory` — frames of a trajectory one at a time (:func:`iterate_frames`);
- :mod:`.emt` — the built-in EMT copper data sets of the examples and tests;
- :mod:`.scf`, :mod:`.dft_labels` — Kohn-Sham DFT of molecules with PySCF (the ``[dft]`` extra)
  and resumable labelling of structures with it.
"""

from .emt import LIQUID_COPPER_DENSITY, emt_copper_dataset, emt_liquid_copper, emt_liquid_copper_dataset
from .frames import (
    LabelKeys,
    LabelledFrame,
    frames_fingerprint,
    label_frames,
    read_isolated_atom_energies,
    read_labelled_frames,
    split_frames,
)
from .labels import read_energy, read_forces, read_stress
from .statistics import DatasetStatistics, dataset_statistics
from .trajectory import iterate_frames

__all__ = [
    "DatasetStatistics",
    "LabelKeys",
    "LabelledFrame",
    "dataset_statistics",
    "LIQUID_COPPER_DENSITY",
    "emt_copper_dataset",
    "emt_liquid_copper",
    "emt_liquid_copper_dataset",
    "frames_fingerprint",
    "iterate_frames",
    "label_frames",
    "read_energy",
    "read_forces",
    "read_isolated_atom_energies",
    "read_labelled_frames",
    "read_stress",
    "split_frames",
]
