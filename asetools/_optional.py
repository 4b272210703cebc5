"""Imports of optional dependencies with a message that says how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["optional_import"]


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
