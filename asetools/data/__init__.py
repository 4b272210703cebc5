"""Labelled structures: reading and checking data files, statistics and built-in example data."""

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
    "label_frames",
    "read_energy",
    "read_forces",
    "read_isolated_atom_energies",
    "read_labelled_frames",
    "read_stress",
    "split_frames",
]
