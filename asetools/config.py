"""Typed configuration: dataclasses built from plain dictionaries or YAML files.

Every configuration object in asetools is a dataclass. :func:`from_dict` turns a
dictionary (from YAML or from a checkpoint) into one, and rejects unknown fields,
missing fields and values of the wrong type with a message that names the field.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["from_dict", "to_dict", "load_yaml", "read_yaml_mapping", "relative_to"]


def to_dict(config: Any) -> dict[str, Any]:
    """Return a configuration dataclass as a dictionary of plain Python values."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return dataclasses.asdict(config)


def load_yaml(cls: type[T], path: str | os.PathLike) -> T:
    """Load a configuration dataclass of type ``cls`` from a YAML file."""
    return from_dict(cls, read_yaml_mapping(path), context=os.fspath(path))


def read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level mapping of the YAML file at ``path`` (an empty file gives ``{}``)."""
    import yaml

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"configuration file {path!r} does not exist")
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of option names to values at the top level")
    return data


def relative_to(base: str, path: str) -> str:
    """``path`` as given when absolute, else joined to the directory ``base`` (a configuration file's)."""
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def from_dict(cls: type[T], data: dict[str, Any], context: str | None = None) -> T:
    """Build the dataclass ``cls`` from ``data``, checking names and types.

    Args:
        cls: a dataclass type whose fields carry type annotations.
        data: field name -> value.
        context: a prefix for error messages (a file name, or an outer field name).

    Raises:
        ValueError: an unknown or missing field, or a value of the wrong type;
            the message names the field.
    """
    prefix = f"{context}: " if context else ""
    if not isinstance(data, dict):
        raise ValueError(f"{prefix}expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"{prefix}unknown field(s) {', '.join(unknown)} for {cls.__name__}; "
            f"valid fields are {', '.join(fields)}"
        )
    kwargs = {}
    for name, field in fields.items():
        if name not in data:
            has_default = (
                field.default is not dataclasses.MISSING
                or field.default_factory is not dataclasses.MISSING
            )
            if not has_default:
                raise ValueError(f"{prefix}missing required field {name!r} for {cls.__name__}")
            continue
        kwargs[name] = _convert(data[name], hints[name], _join(context, name))
    return cls(**kwargs)


def _join(context: str | None, name: str) -> str:
    return f"{context}.{name}" if context else name


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against ``annotation`` and convert lists/nested dataclasses."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [option for option in args if option is not type(None)]
        if len(options) == 1:  # an optional value: its own error names what is wrong
            return _convert(value, options[0], where)
        errors = []
        for option in args:
            try:
                return _convert(value, option, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(f"{where}: {value!r} matches none of {annotation}")
    if annotation is type(None):
        if value is None:
            return None
        raise ValueError(f"{where}: expected null, got {value!r}")
    if dataclasses.is_dataclass(annotation):
        if dataclasses.is_dataclass(value) and isinstance(value, annotation):
            return value
        return from_dict(annotation, value, context=where)
    if origin in (list, tuple, typing.Sequence) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ValueError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{k}]") for k, (v, a) in enumerate(zip(value, args)))
        items = [_convert(v, item_type, f"{where}[{k}]") for k, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        key_type, value_type = args if args else (Any, Any)
        return {
            _convert(k, key_type, where): _convert(v, value_type, f"{where}[{k!r}]")
            for k, v in value.items()
        }
    if origin is typing.Literal:
        if value in args:
            return value
        raise ValueError(f"{where}: expected one of {list(args)}, got {value!r}")
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        raise ValueError(f"{where}: expected {annotation.__name__}, got {value!r}")
    return value
