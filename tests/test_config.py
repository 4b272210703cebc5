"""Typed configuration from dictionaries and YAML, with errors that name the field."""

from dataclasses import dataclass, field

import pytest

from asetools.config import from_dict, load_yaml, to_dict


@dataclass
class Inner:
    width: int
    depth: int = 2


@dataclass
class Outer:
    species: list[str]
    cutoff: float
    inner: Inner
    dtype: str = "float32"
    onset: float | None = None
    weights: dict[str, float] = field(default_factory=dict)


def test_nested_round_trip():
    config = from_dict(Outer, {"species": ["H"], "cutoff": 4, "inner": {"width": 8}, "weights": {"forces": 1}})
    assert config.cutoff == 4.0 and isinstance(config.cutoff, float)
    assert config.inner == Inner(width=8, depth=2)
    assert from_dict(Outer, to_dict(config)) == config


@pytest.mark.parametrize(
    "data, message",
    [
        ({"species": ["H"], "cutoff": 4.0}, "missing required field 'inner'"),
        ({"species": ["H"], "cutoff": "4", "inner": {"width": 1}}, "cutoff: expected a number"),
        ({"species": ["H"], "cutoff": 4.0, "inner": {"width": 1.5}}, r"inner\.width: expected an integer"),
        ({"species": "H", "cutoff": 4.0, "inner": {"width": 1}}, "species: expected a list"),
        ({"species": ["H"], "cutoff": 4.0, "inner": {"width": 1}, "cutof": 1}, "unknown field.*cutof"),
        ({"species": ["H"], "cutoff": 4.0, "inner": {"width": 1}, "onset": "x"}, "onset"),
    ],
)
def test_errors_name_the_field(data, message):
    with pytest.raises(ValueError, match=message):
        from_dict(Outer, data)


def test_yaml_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("species: [H, O]\ncutoff: 5.0\ninner:\n  width: 16\n")
    config = load_yaml(Outer, path)
    assert config.species == ["H", "O"] and config.inner.width == 16
    path.write_text("species: [H]\ncutoff: 5.0\ninner: {width: 1}\nbogus: 3\n")
    with pytest.raises(ValueError, match=f"{path}: unknown field"):
        load_yaml(Outer, path)
    with pytest.raises(FileNotFoundError):
        load_yaml(Outer, tmp_path / "absent.yaml")
