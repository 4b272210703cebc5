"""The ``asetools fit-uncertainty`` command."""

import pytest
from ase.io import write

from asetools.calculators import AllegroCalc
from asetools.checkpoint import read_checkpoint, save_checkpoint
from asetools.cli import main
from asetools.data.emt import emt_copper_dataset
from tests.conftest import small_allegro


@pytest.fixture
def files(tmp_path):
    frames = emt_copper_dataset(24, seed=2)
    write(tmp_path / "train.xyz", frames[:16])
    write(tmp_path / "valid.xyz", frames[16:])
    save_checkpoint(small_allegro(species=("Cu",)), tmp_path / "model.pt", metadata={"epochs": 3})
    return tmp_path, frames


def test_fit_uncertainty_adds_a_calibrated_head_to_the_checkpoint(files, capsys):
    tmp_path, frames = files
    code = main(
        ["fit-uncertainty", str(tmp_path / "model.pt"), str(tmp_path / "train.xyz"),
         "--validation", str(tmp_path / "valid.xyz"), "--max-components", "4"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "components: BIC" in out and "Spearman" in out and "relative calibration error" in out
    payload = read_checkpoint(tmp_path / "model.pt")
    assert payload["metadata"] == {"epochs": 3}
    assert payload["uncertainty"]["info"]["training_structures"] == 16
    assert (tmp_path / "model_uncertainty.png").stat().st_size > 0
    calc = AllegroCalc(tmp_path / "model.pt")
    atoms = frames[20].copy()
    atoms.calc = calc
    atoms.get_forces()
    assert calc.results["force_uncertainty"] > 0
    assert main(["info", str(tmp_path / "model.pt")]) == 0
    assert "calibrated to force errors" in capsys.readouterr().out


def test_fit_uncertainty_to_another_file_without_validation(files, capsys):
    tmp_path, _ = files
    code = main(
        ["fit-uncertainty", str(tmp_path / "model.pt"), str(tmp_path / "train.xyz"), "--components", "2",
         "--output", str(tmp_path / "uq.pt"), "--plot", str(tmp_path / "scores.png")]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "not calibrated" in out
    assert "uncertainty" not in read_checkpoint(tmp_path / "model.pt")
    assert read_checkpoint(tmp_path / "uq.pt")["uncertainty"]["info"]["num_components"] == 2
    assert (tmp_path / "scores.png").exists()


def test_fit_uncertainty_reports_bad_input(files, capsys):
    tmp_path, _ = files
    assert main(["fit-uncertainty", str(tmp_path / "model.pt"), str(tmp_path / "absent.xyz")]) == 2
    assert "absent.xyz" in capsys.readouterr().err
    write(tmp_path / "unlabelled.xyz", emt_copper_dataset(4, seed=9)[0].copy())
    code = main(
        ["fit-uncertainty", str(tmp_path / "model.pt"), str(tmp_path / "train.xyz"),
         "--validation", str(tmp_path / "unlabelled.xyz")]
    )
    assert code == 2
    assert "unlabelled.xyz frame 0" in capsys.readouterr().err
