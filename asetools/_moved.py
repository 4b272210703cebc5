"""Names that moved to another package and still resolve at their old place, with a warning.

A package whose names moved keeps its users' imports working with::

    __getattr__ = moved_names(__name__, {"DensityModel": "asetools.density"})

``from asetools.models import DensityModel`` then imports the name from its new home on first
use and warns (``DeprecationWarning``) where to import it from instead. Nothing is imported
until an old name is asked for, so no package imports the one its names moved to.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved_names"]


def moved_names(package: str, new_homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that finds each name of ``new_homes`` in its new module."""
    new_homes = dict(new_homes)

    def __getattr__(name: str) -> Any:
        if name not in new_homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        home = new_homes[name]
        warnings.warn(
            f"{package}.{name} has moved to {home}; import it as 'from {home} import {name}'",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), name)

    return __getattr__
