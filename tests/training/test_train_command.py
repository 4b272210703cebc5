"""`asetools train config.yaml` and `asetools evaluate model.pt data.xyz` end to end."""

import ase.io
import numpy as np
import pytest
import yaml

from asetools.calculators import AllegroCalc
from asetools.cli import main
from asetools.config import to_dict
from asetools.training.config import load_train_config


def write_config(directory, data_file, **training):
    config = {
        "data": {
            "train_file": str(data_file),
            "validation_fraction": 0.25,
            "keys": {"energy": "REF_energy", "forces": "REF_forces"},
        },
        "model": {
            "options": {
                "r_max": 4.0, "num_layers": 1, "num_scalar_features": 8, "num_tensor_features": 2,
                "two_body_mlp_hidden": [8], "latent_mlp_hidden": [8], "readout_mlp_hidden": [8],
            }
        },
        "training": {"epochs": 2, "batch_size": 3, **training},
        "output": {"directory": "run"},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_resume_and_evaluate(tmp_path, data_file, capsys, monkeypatch):
    config = write_config(tmp_path, data_file)
    assert main(["train", str(config), "--epoch-log"]) == 0
    out = capsys.readouterr().out
    assert "kept epoch" in out and "forces on Cu" in out
    for name in ("best.pt", "last.pt", "metrics.csv", "learning_curves.png", "config.yaml"):
        assert (tmp_path / "run" / name).exists(), name
    # The run's config.yaml gives the same run back, read from anywhere.
    monkeypatch.chdir(tmp_path / "run")
    assert to_dict(load_train_config("config.yaml")) == to_dict(load_train_config(config))
    monkeypatch.chdir(tmp_path)
    # A second start would overwrite the run: refused; --resume continues it.
    assert main(["train", str(config)]) == 2
    assert "--resume" in capsys.readouterr().err
    write_config(tmp_path, data_file, epochs=3)
    assert main(["train", str(config), "--resume", "--epoch-log"]) == 0
    capsys.readouterr()
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3

    predictions = tmp_path / "predictions.xyz"
    model = tmp_path / "run" / "best.pt"
    args = ["evaluate", str(model), str(data_file), "--energy-key", "REF_energy", "--forces-key", "REF_forces"]
    assert main(args + ["--output", str(predictions), "--dtype", "float64"]) == 0
    report = capsys.readouterr().out
    force_mae = float(report.split("forces  MAE")[1].split()[0])

    # Independent check: the calculator's forces on the same frames give the same error.
    calc = AllegroCalc(str(model), dtype="float64")
    errors, written = [], ase.io.read(predictions, ":")
    for atoms, saved in zip(ase.io.read(data_file, ":"), written):
        reference = atoms.arrays["REF_forces"]
        atoms.calc = calc
        errors.append(np.abs(atoms.get_forces() - reference))
        np.testing.assert_allclose(saved.get_forces(), atoms.get_forces(), atol=1e-6)
        np.testing.assert_allclose(saved.arrays["REF_forces"], reference, atol=1e-7)
    assert force_mae == pytest.approx(1e3 * np.mean(np.concatenate(errors)), abs=2e-3)


def test_config_errors_name_the_field(tmp_path, data_file, capsys):
    config = write_config(tmp_path, data_file, learning_rat=0.1)
    assert main(["train", str(config)]) == 2
    assert "unknown field(s) learning_rat" in capsys.readouterr().err
    config = write_config(tmp_path, data_file)
    text = yaml.safe_load(config.read_text())
    text["model"]["options"]["l_max"] = 7
    config.write_text(yaml.safe_dump(text))
    assert main(["train", str(config)]) == 2
    assert "l_max" in capsys.readouterr().err


def test_the_example_configuration_is_valid():
    from pathlib import Path

    from asetools.training import load_train_config

    path = Path(__file__).parents[2] / "examples" / "configs" / "ethanol_allegro.yaml"
    config = load_train_config(path)
    assert config.model.options["l_max"] == 2 and config.training.early_stopping_patience == 50
    assert config.data.train_file.endswith("shared/data/botnet/ethanol/train.xyz")
    assert Path(config.output.directory) == path.parents[2] / "runs" / "ethanol"


@pytest.mark.parametrize("kind", ["nequip", "botnet"])
def test_message_passing_kinds_train_through_the_same_pipeline(tmp_path, data_file, capsys, kind):
    from asetools.calculators import PotentialCalc
    from asetools.checkpoint import load_checkpoint
    from asetools.models import MODEL_CLASSES

    config = write_config(tmp_path, data_file, epochs=3, learning_rate=5e-3)
    settings = yaml.safe_load(config.read_text())
    settings["model"] = {"kind": kind, "options": {"r_max": 4.0, "num_layers": 2, "l_max": 1, "num_features": 4,
                                                   "radial_mlp_hidden": [8]}}
    config.write_text(yaml.safe_dump(settings))
    assert main(["train", str(config), "--epoch-log"]) == 0
    capsys.readouterr()
    model = load_checkpoint(tmp_path / "run" / "best.pt")
    assert type(model) is MODEL_CLASSES[kind]
    # The training statistics normalised it: neighbours within 4 Å of fcc Cu (12 at 2.55 Å, 6 at 3.6 Å).
    assert 15 < model.config.avg_num_neighbors < 21
    rows = [line.split(",") for line in (tmp_path / "run" / "metrics.csv").read_text().splitlines()]
    assert len(rows) == 1 + 3
    args = ["evaluate", str(tmp_path / "run" / "best.pt"), str(data_file), "--energy-key", "REF_energy",
            "--forces-key", "REF_forces"]
    assert main(args) == 0
    assert "forces  MAE" in capsys.readouterr().out
    atoms = ase.io.read(data_file, 0)
    atoms.calc = PotentialCalc(tmp_path / "run" / "best.pt", dtype="float64")
    assert np.isfinite(atoms.get_forces()).all()
