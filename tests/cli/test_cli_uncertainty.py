"""The ``asetools fit-uncertainty`` command."""

import numpy as np
import pytest
from ase.io import read, write

from asetools.calculators import AllegroCalc
from asetools.checkpoint import read_checkpoint, save_checkpoint
from asetools.cli import main
from asetools.data.emt import emt_copper_dataset
from tests.conftest import rattled_molecules, small_allegro


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
    assert "the expected error" in out  # how the calibration behaves above the validation data
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


@pytest.fixture
def molecule_files(tmp_path):
    from ase.build import molecule

    from asetools.models import Potential
    from asetools.uncertainty import fit_uncertainty

    frames = rattled_molecules("CH3CH2OH", 10, seed=5)
    write(tmp_path / "train.xyz", frames)
    write(tmp_path / "ethanol.xyz", molecule("CH3CH2OH"))
    model = small_allegro(species=("H", "C", "O"))
    fit = fit_uncertainty(model, frames, num_components=1)
    save_checkpoint(Potential(model, uncertainty=fit.uncertainty), tmp_path / "model.pt")
    for member in range(2):
        (tmp_path / "ensemble" / f"member_{member}").mkdir(parents=True)
        save_checkpoint(small_allegro(species=("H", "C", "O"), seed=member), tmp_path / "ensemble" / f"member_{member}" / "best.pt")
    return tmp_path


def test_uq_map_writes_a_table_structures_and_a_plot(molecule_files, capsys):
    tmp_path = molecule_files
    code = main(
        ["uq-map", str(tmp_path / "model.pt"), str(tmp_path / "ethanol.xyz"), "--scan", "dihedral:0,1,2,3:-180:180:7",
         "--relax", "--fmax", "0.2", "--steps", "5", "--training", str(tmp_path / "train.xyz"),
         "--output", str(tmp_path / "torsion")]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "7 grid points" in out and "10 training structures projected" in out
    with open(tmp_path / "torsion.csv", encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    assert header[:3] == ["dihedral 0-1-2-3 (°)", "achieved dihedral 0-1-2-3 (°)", "energy (eV)"]
    assert "converged" in header and "uncertainty" in header
    table = np.loadtxt(tmp_path / "torsion.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 0], np.linspace(-180, 180, 7))
    assert len(read(tmp_path / "torsion.xyz", ":")) == 7
    assert (tmp_path / "torsion.png").stat().st_size > 0


def test_uq_map_with_an_ensemble_directory_in_two_dimensions(molecule_files, capsys):
    tmp_path = molecule_files
    code = main(
        ["uq-map", str(tmp_path / "ensemble"), str(tmp_path / "ethanol.xyz"), "--scan", "angle:0,1,2:100:120:3",
         "--scan", "bond:1,2", "--output", str(tmp_path / "grid"), "--no-plot"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "force_uncertainty:" in out and "51 grid points" in out
    assert not (tmp_path / "grid.png").exists()


def test_uq_map_reports_bad_scans(molecule_files, capsys):
    tmp_path = molecule_files
    with pytest.raises(SystemExit):
        main(["uq-map", str(tmp_path / "model.pt"), str(tmp_path / "ethanol.xyz"), "--scan", "twist:0,1"])
    assert "unknown internal coordinate 'twist'" in capsys.readouterr().err
    assert main(["uq-map", str(tmp_path / "model.pt"), str(tmp_path / "ethanol.xyz"), "--scan", "bond:0,40"]) == 2
    assert "out of range for 9 atoms" in capsys.readouterr().err
    assert main(["uq-map", str(tmp_path / "absent"), str(tmp_path / "ethanol.xyz"), "--scan", "bond:0,1"]) == 2
    assert "no model checkpoint" in capsys.readouterr().err
    code = main(["uq-map", str(tmp_path / "model.pt"), str(tmp_path / "ethanol.xyz"), "--scan", "bond:0,1",
                 "--training", str(tmp_path / "absent.xyz")])
    assert code == 2
    assert "absent.xyz" in capsys.readouterr().err
