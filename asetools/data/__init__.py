"""Labelled structures: reading labels, data-set statistics and built-in example data."""

from .emt import emt_copper_dataset
from .labels import read_energy, read_forces
from .statistics import DatasetStatistics, dataset_statistics

__all__ = ["DatasetStatistics", "dataset_statistics", "emt_copper_dataset", "read_energy", "read_forces"]
