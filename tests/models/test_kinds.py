"""Model kinds: one snake_case name each, and checkpoints and configs with the old names still load."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from ase.build import bulk, molecule

from asetools.checkpoint import load_checkpoint, read_checkpoint
from asetools.density import DensityCalculator, DensityModel, load_density_model
from asetools.graph import build_graph
from asetools.models import LEGACY_KINDS, MODEL_CLASSES, EmbeddedAtom, MTSPair, Potential, WithinCutoff, model_class
from asetools.training.config import ModelSection

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_kinds"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def test_every_kind_is_snake_case():
    kinds = [*MODEL_CLASSES, WithinCutoff.kind, DensityModel.kind]
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", kind) for kind in kinds), kinds
    assert set(LEGACY_KINDS.values()) <= {*MODEL_CLASSES, WithinCutoff.kind}


@pytest.mark.parametrize("old_kind", sorted(EXPECTED["energy_eV"]))
def test_a_checkpoint_written_before_the_rename_loads_and_gives_the_same_energy(old_kind):
    path = FIXTURES / f"{old_kind}.pt"
    assert torch.load(path, weights_only=True)["kind"] == old_kind  # the fixture really has the old name
    model = load_checkpoint(path)
    assert model.kind == LEGACY_KINDS.get(old_kind, old_kind) == read_checkpoint(path)["kind"]
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
    atoms.symbols[[1]] = "Au"
    atoms.rattle(0.05, seed=1)
    graph = build_graph([atoms], model.cutoff, model.species, dtype=torch.float64)
    energy = float(Potential(model)(graph).energy.detach().sum())
    assert energy == pytest.approx(EXPECTED["energy_eV"][old_kind], abs=1e-9)


def test_the_old_mts_pair_keeps_its_old_part_kinds_readable():
    pair = load_checkpoint(FIXTURES / "mts.pt")
    assert isinstance(pair, MTSPair) and isinstance(pair.slow, EmbeddedAtom)
    assert pair.config.slow.kind == "embedded_atom" and pair.config_dict()["slow"]["kind"] == "embedded_atom"


def test_the_density_checkpoint_loads_as_a_density_model():
    model = load_density_model(FIXTURES / "density.pt")
    grid = DensityCalculator(model, dtype="float64").get_density(molecule("H2O"), spacing=0.3)
    assert float(grid.values.sum() * grid.voxel_volume) == pytest.approx(EXPECTED["density_sum"], rel=1e-9)
    with pytest.raises(ValueError, match="charge-density model, not a potential.*asetools.density"):
        load_checkpoint(FIXTURES / "density.pt")


def test_training_configs_may_still_name_the_old_kinds():
    assert ModelSection(kind="eam").kind == "embedded_atom"
    assert model_class("LennardJones") is model_class("lennard_jones") is MODEL_CLASSES["lennard_jones"]
    with pytest.raises(ValueError, match="unknown model kind 'hologram'.*allegro"):
        model_class("hologram")
