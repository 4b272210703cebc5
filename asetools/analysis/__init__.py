"""Trajectory analysis: radial distribution functions, diffusivities, uncertainty maps, force changes."""

from .force_changes import ForceChanges, force_changes, force_split_report, plot_force_changes

__all__ = ["ForceChanges", "force_changes", "force_split_report", "plot_force_changes"]
