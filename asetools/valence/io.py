"""The valence force field on disk: a plain-Python form of its parameters, saved as JSON.

:func:`field_to_dict` and :func:`field_arguments` turn a
:class:`~asetools.valence.ValenceForceField` into plain dicts and lists and back into its
constructor's arguments; :func:`write_field` writes the plain form atomically and
:func:`read_field` reads it back, refusing a file that is not a force field. The methods
:meth:`~asetools.valence.ValenceForceField.save` and ``load`` are the usual way in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .._files import atomic_path
from .bonds import DEFAULT_BOND_SCALE

if TYPE_CHECKING:
    from .terms import ValenceForceField

__all__ = ["field_arguments", "field_to_dict", "read_field", "write_field"]

Field = TypeVar("Field")


def field_to_dict(field: ValenceForceField) -> dict:
    """Plain-Python form of ``field`` (for YAML/JSON): energies in eV, references in Å or as
    cosines, coefficients as lists; :func:`field_arguments` reads it back."""
    return {
        "species_energies": dict(field.species_energies),
        "reference": {kind: dict(table) for kind, table in field.reference.items()},
        "coefficients": {
            kind: {name: [float(v) for v in values] for name, values in table.items()}
            for kind, table in field.coefficients.items()
        },
        "bond_scale": field.bond_scale,
        "atom_typing": field.atom_typing,
        "labile_types": list(field.labile_types),
        "hopping_types": list(field.hopping_types),
    }


def field_arguments(data: dict) -> dict[str, Any]:
    """The :class:`~asetools.valence.ValenceForceField` keyword arguments of a plain form
    written by :func:`field_to_dict` (coefficients as ``[order + 1]`` arrays)."""
    coefficients = {
        kind: {name: np.asarray(values, dtype=float) for name, values in table.items()}
        for kind, table in data["coefficients"].items()
    }
    return {
        "species_energies": dict(data["species_energies"]),
        "reference": {kind: dict(table) for kind, table in data["reference"].items()},
        "coefficients": coefficients,
        "bond_scale": float(data.get("bond_scale", DEFAULT_BOND_SCALE)),
        "atom_typing": str(data.get("atom_typing", "species")),
        "labile_types": tuple(str(name) for name in data.get("labile_types", ())),
        "hopping_types": tuple(str(name) for name in data.get("hopping_types", ())),
    }


def write_field(path: str | os.PathLike, data: dict) -> None:
    """Write the plain form ``data`` as JSON to ``path`` (atomically: a failed write leaves the old file)."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=1))


def read_field(path: str | os.PathLike, build: Callable[[dict], Field]) -> Field:
    """``build`` applied to the plain form read from the JSON file at ``path``.

    Raises:
        ValueError: the file is not JSON, or ``build`` refuses what it holds.
    """
    try:
        data = json.loads(Path(path).read_text())
        return build(data)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{os.fspath(path)!r} is not a valence force field written by ValenceForceField.save: {error}") from None
