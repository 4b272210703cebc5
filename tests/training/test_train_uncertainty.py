"""The ``uncertainty`` section of a training configuration: ``asetools train`` fits the head into best.pt."""

import numpy as np
import pytest
import yaml

from asetools.calculators import AllegroCalc
from asetools.checkpoint import load_potential
from asetools.cli import main
from asetools.data import emt_copper_dataset
from asetools.training.config import UncertaintySection, load_train_config

TINY_ALLEGRO = {
    "r_max": 4.0, "num_layers": 1, "num_scalar_features": 8, "num_tensor_features": 2,
    "two_body_mlp_hidden": [8], "latent_mlp_hidden": [8], "readout_mlp_hidden": [8],
}


def write_config(directory, data_file, validation_fraction=0.34, uncertainty=None, model=None, extra=""):
    config = {
        "data": {
            "train_file": str(data_file),
            "validation_fraction": validation_fraction,
            "keys": {"energy": "REF_energy", "forces": "REF_forces"},
        },
        "model": model or {"options": TINY_ALLEGRO},
        "training": {"epochs": 2, "batch_size": 3},
        "output": {"directory": "run"},
    }
    if uncertainty is not None:
        config["uncertainty"] = uncertainty
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config) + extra)
    return path


def test_train_fits_a_calibrated_uncertainty_into_best_pt(tmp_path, data_file, capsys):
    config = write_config(tmp_path, data_file, uncertainty={"num_components": 2})
    assert main(["train", str(config)]) == 0
    out = capsys.readouterr().out
    assert "uncertainty added to best.pt" in out and "2-component mixture" in out and "Spearman" in out
    run = tmp_path / "run"
    assert (run / "best_uncertainty.png").stat().st_size > 0
    potential = load_potential(run / "best.pt")
    head = potential.uncertainty
    assert head is not None and head.calibrated and head.mixture.num_components == 2
    # Fitted to the training split (8 of 12 frames) and calibrated on the validation split (4).
    assert head.info["training_structures"] == 8 and head.info["validation_structures"] == 4
    assert head.info["training_atoms"] == 8 * 16
    assert "uncertainty" in yaml.safe_load((run / "config.yaml").read_text())
    # The calculator gives per-atom expected force errors from the checkpoint alone.
    calc = AllegroCalc(run / "best.pt", dtype="float64")
    atoms = emt_copper_dataset(1, repeat=(2, 2, 1), max_strain=0.02, seed=11)[0]
    atoms.calc = calc
    atoms.get_forces()
    assert calc.results["atom_force_uncertainty"].shape == (16,)
    assert np.all(calc.results["atom_force_uncertainty"] > 0)


def test_a_bare_section_turns_it_on_with_defaults(tmp_path, data_file):
    assert load_train_config(write_config(tmp_path, data_file, extra="uncertainty:\n")).uncertainty == (
        UncertaintySection()
    )
    assert load_train_config(write_config(tmp_path, data_file, extra="uncertainty: true\n")).uncertainty == (
        UncertaintySection()
    )
    assert load_train_config(write_config(tmp_path, data_file, extra="uncertainty: false\n")).uncertainty is None
    assert load_train_config(write_config(tmp_path, data_file)).uncertainty is None


def test_what_cannot_work_is_refused_before_training(tmp_path, data_file, capsys):
    # 12 frames x 0.25 = 3 validation structures: too few to calibrate.
    config = write_config(tmp_path, data_file, validation_fraction=0.25, uncertainty={})
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "at least 4 validation structures" in err and "validation_fraction" in err
    assert not (tmp_path / "run" / "last.pt").exists()  # no training was done
    lennard_jones = {"kind": "lennard_jones", "options": {"sigma": [[2.3]], "epsilon": [[0.4]], "cutoff": 5.0}}
    config = write_config(tmp_path / "run", data_file, uncertainty={}, model=lennard_jones)
    assert main(["train", str(config)]) == 2
    assert "no per-atom latent features" in capsys.readouterr().err
    with pytest.raises(ValueError, match="num_components"):
        UncertaintySection(num_components=0)
    pair = write_config(tmp_path, data_file, uncertainty={},
                        extra="mts:\n  fast_model:\n    options: {r_max: 3.0}\n")
    with pytest.raises(ValueError, match="multiple-time-step"):
        load_train_config(pair)
