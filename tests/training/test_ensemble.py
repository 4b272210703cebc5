"""`asetools train CONFIG --ensemble N`: members with their own seeds and directories."""

import ase.io
import numpy as np
import yaml

from asetools.calculators import EnsembleCalc
from asetools.checkpoint import read_checkpoint
from asetools.cli import main
from asetools.training import load_train_config
from asetools.training.ensemble import member_config
from tests.training.test_train_command import write_config


def test_member_configs_differ_in_seed_and_directory_only(tmp_path, data_file):
    config = load_train_config(write_config(tmp_path, data_file))
    first, second = member_config(config, 0), member_config(config, 1)
    assert (first.training.seed, second.training.seed) == (config.training.seed, config.training.seed + 1)
    assert second.output.directory.endswith("member_1")
    assert second.data == config.data and second.model == config.model
    assert config.output.directory.endswith("run")  # the original is not changed


def test_train_an_ensemble_and_use_it(tmp_path, data_file, capsys):
    config = write_config(tmp_path, data_file)
    assert main(["train", str(config), "--ensemble", "2", "--epoch-log"]) == 0
    out = capsys.readouterr().out
    assert "member 0:" in out and "member 1:" in out and "EnsembleCalc.from_directory" in out
    weights = [read_checkpoint(tmp_path / "run" / f"member_{i}" / "best.pt")["state_dict"] for i in range(2)]
    assert any(not np.allclose(weights[0][k].numpy(), weights[1][k].numpy()) for k in weights[0])
    calc = EnsembleCalc.from_directory(tmp_path / "run")
    atoms = ase.io.read(data_file, index=0)
    atoms.calc = calc
    atoms.get_forces()
    assert calc.results["force_uncertainty"] > 0
    # Starting again would overwrite member 0: refused; --resume continues every member.
    assert main(["train", str(config), "--ensemble", "2"]) == 2
    capsys.readouterr()
    text = yaml.safe_load(config.read_text())
    text["training"]["epochs"] = 3
    config.write_text(yaml.safe_dump(text))
    assert main(["train", str(config), "--ensemble", "2", "--resume", "--epoch-log"]) == 0
    for index in range(2):
        rows = (tmp_path / "run" / f"member_{index}" / "metrics.csv").read_text().splitlines()
        assert len(rows) == 1 + 3


def test_ensemble_needs_two_members(tmp_path, data_file, capsys):
    config = write_config(tmp_path, data_file)
    assert main(["train", str(config), "--ensemble", "1"]) == 2
    assert "at least 2 members" in capsys.readouterr().err
