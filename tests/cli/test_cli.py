"""The asetools command line."""

import pytest

from asetools.checkpoint import save_checkpoint
from asetools.cli import main
from asetools.models import LennardJones


def test_info_describes_a_checkpoint(tmp_path, capsys):
    path = save_checkpoint(LennardJones(species=["Ar", "Kr"], cutoff=7.0), tmp_path / "lj.pt", {"note": "test"})
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "lennard_jones" in out and "Ar Kr" in out and "7.0 Å" in out and "test" in out


def test_info_reports_a_missing_file(tmp_path, capsys):
    assert main(["info", str(tmp_path / "absent.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "asetools" in capsys.readouterr().out
