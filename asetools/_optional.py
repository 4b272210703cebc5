"""Imports of optional dependencies with a message that says how to install them."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

__all__ = ["optional_import", "progress_bar"]


def optional_import(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ImportError naming the ``asetools[extra]`` that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        raise ImportError(
            f"this feature needs the optional package {package!r}: pip install 'asetools[{extra}]' "
            f"(or pip install {package})"
        ) from error


def progress_bar(items: Iterable, total: int | None, description: str, unit: str) -> Iterable:
    """``items`` under a tqdm progress bar, or ``items`` themselves when tqdm is not installed.

    The bar is a convenience, so its absence is not an error.
    """
    try:
        tqdm = optional_import("tqdm.auto", extra="progress").tqdm
    except ImportError:
        return items
    return tqdm(items, total=total, desc=description, unit=unit, leave=False)
