"""Checks shared by the config dataclasses of the trainable energy models.

Each raises ``ValueError`` naming the field, so a bad YAML file points at its own line.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_hidden_widths", "check_normalisation", "check_species"]


def check_species(species: Any) -> list[str]:
    """The element symbols as a list; refuses an empty list and repeated elements."""
    species = list(species)
    if not species:
        raise ValueError("species: give at least one element")
    if len(set(species)) != len(species):
        raise ValueError(f"species: every element must appear once, got {species}")
    return species


def check_hidden_widths(config: Any, *names: str) -> None:
    """Turn each named field into a list of widths, all at least 1."""
    for name in names:
        widths = list(getattr(config, name))
        if any(width < 1 for width in widths):
            raise ValueError(f"{name}: every hidden width must be at least 1, got {widths}")
        setattr(config, name, widths)


def check_normalisation(config: Any) -> None:
    """Check ``avg_num_neighbors`` and fill the per-species energy scales (1) and shifts (0) when unset."""
    if not config.avg_num_neighbors > 0:
        raise ValueError(f"avg_num_neighbors: must be positive, got {config.avg_num_neighbors}")
    n = len(config.species)
    for name, default in (("per_species_energy_scales", 1.0), ("per_species_energy_shifts", 0.0)):
        values = getattr(config, name)
        values = [default] * n if values is None else [float(v) for v in values]
        if len(values) != n:
            raise ValueError(f"{name}: expected one value per species {config.species}, got {len(values)}")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{name}: values must be finite, got {values}")
        setattr(config, name, values)
