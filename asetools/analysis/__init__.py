"""Trajectory analysis: radial distribution functions, diffusivities, uncertainty maps."""

__all__: list[str] = []
