"""Checkpoint round trip, atomic writes, and clear errors for damaged files."""

import os

import numpy as np
import pytest
import torch

from asetools.calculators import PotentialCalc
from asetools.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from asetools.models import LennardJones
from tests.conftest import rattled_argon


@pytest.fixture
def model():
    return LennardJones(species=["Ar", "Kr"], sigma=[3.4, 3.6], epsilon=[0.0104, 0.014], cutoff=8.0, smooth=True)


def test_round_trip_gives_identical_results(tmp_path, model):
    path = save_checkpoint(model, tmp_path / "lj.pt", metadata={"dataset": "none", "epochs": 0})
    atoms = rattled_argon()
    atoms.symbols[::2] = "Kr"
    results = []
    for source in (model, path):
        atoms.calc = PotentialCalc(source, dtype="float64")
        results.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert loaded.checkpoint_metadata == {"dataset": "none", "epochs": 0}
    header = read_checkpoint(path)
    assert header["kind"] == "lennard_jones" and header["species"] == ["Ar", "Kr"] and header["cutoff"] == 8.0


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, model, monkeypatch):
    path = tmp_path / "model.pt"
    save_checkpoint(model, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash while writing")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(LennardJones(species=["Ar"]), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PotentialCalc(tmp_path / "nope.pt")


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    with pytest.raises(ValueError, match="not a readable checkpoint|not an asetools checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not an asetools checkpoint"):
        load_checkpoint(other)


def test_truncated_file(tmp_path, model):
    path = save_checkpoint(model, tmp_path / "model.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_unknown_kind_and_damaged_contents(tmp_path, model):
    path = save_checkpoint(model, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "kind": "Hologram"}, path)
    with pytest.raises(ValueError, match="unknown kind 'Hologram'.*knows allegro.*lennard_jones"):
        load_checkpoint(path)
    torch.save({k: v for k, v in payload.items() if k != "state_dict"}, path)
    with pytest.raises(ValueError, match="missing state_dict"):
        load_checkpoint(path)
    torch.save({**payload, "config": {**payload["config"], "cutoff": "far"}}, path)
    with pytest.raises(ValueError, match="invalid lennard_jones config.*cutoff"):
        load_checkpoint(path)
    torch.save({**payload, "format_version": 99}, path)
    with pytest.raises(ValueError, match="upgrade asetools"):
        load_checkpoint(path)


def test_weights_from_another_version_name_both_versions(tmp_path):
    from tests.conftest import small_allegro

    path = save_checkpoint(small_allegro(1, species=("Cu",)), tmp_path / "allegro.pt")
    payload = torch.load(path, weights_only=True)
    state = dict(payload["state_dict"])
    # an older layout: a channel-mixing matrix instead of per-path weights
    state["layers.0.tensor_product.mixing.0"] = state.pop("layers.0.tensor_product.weights")
    torch.save({**payload, "state_dict": state, "asetools_version": "0.1.0"}, path)
    with pytest.raises(ValueError, match=r"do not fit the allegro config \(written by asetools 0\.1\.0.*retraining"):
        load_checkpoint(path)


def _as_version_1(path):
    """Rewrite the checkpoint at ``path`` as version 1 wrote it: no ``normalize_activation`` anywhere."""
    payload = torch.load(path, weights_only=True)

    def strip(config):
        config = {k: v for k, v in config.items() if k != "normalize_activation"}
        for part in ("fast", "slow"):
            if isinstance(config.get(part), dict):
                config[part] = {**config[part], "config": strip(config[part]["config"])}
        return config

    torch.save({**payload, "format_version": 1, "config": strip(payload["config"])}, path)


def test_version_1_allegro_loads_with_the_plain_silu_it_was_trained_with(tmp_path):
    from tests.conftest import small_allegro

    atoms = rattled_argon()
    atoms.set_chemical_symbols(["Cu"] * len(atoms))
    plain = small_allegro(1, species=("Cu",), normalize_activation=False).double()
    path = save_checkpoint(plain, tmp_path / "old.pt")
    _as_version_1(path)
    assert "normalize_activation" not in torch.load(path, weights_only=True)["config"]
    loaded = load_checkpoint(path)
    assert loaded.config.normalize_activation is False
    expected = PotentialCalc(plain).get_potential_energy(atoms)
    assert PotentialCalc(loaded).get_potential_energy(atoms) == pytest.approx(expected, abs=1e-12)
    # the same weights under the new default would give another energy: the flag matters
    scaled = small_allegro(1, species=("Cu",)).double()
    scaled.load_state_dict(plain.state_dict())
    assert abs(PotentialCalc(scaled).get_potential_energy(atoms) - expected) > 1e-3


def test_version_1_mts_pair_parts_load_with_plain_silu(tmp_path):
    from asetools.models import MTSPair
    from tests.conftest import small_allegro

    fast = small_allegro(1, species=("Cu",), r_max=3.0, normalize_activation=False)
    slow = small_allegro(1, species=("Cu",), normalize_activation=False)
    path = save_checkpoint(MTSPair.from_parts(fast, slow), tmp_path / "pair.pt")
    _as_version_1(path)
    config = read_checkpoint(path)["config"]
    assert config["fast"]["config"]["normalize_activation"] is False
    assert config["slow"]["config"]["normalize_activation"] is False
    loaded = load_checkpoint(path)
    assert not loaded.fast.config.normalize_activation and not loaded.slow.config.normalize_activation


def test_new_checkpoints_keep_the_normalised_activation(tmp_path):
    from tests.conftest import small_allegro

    path = save_checkpoint(small_allegro(1, species=("Cu",)), tmp_path / "new.pt")
    assert read_checkpoint(path)["format_version"] == 2
    assert load_checkpoint(path).config.normalize_activation is True
