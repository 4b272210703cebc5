"""The asetools rdf and msd commands."""

import argparse

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.io import write

from asetools.analysis import diffusivity, msd, rdf
from asetools.cli import main
from asetools.cli.analysis import parse_duration


def test_durations_are_read_in_ase_units():
    assert parse_duration("2fs") == pytest.approx(2 * units.fs)
    assert parse_duration("0.5 ps") == pytest.approx(500 * units.fs)
    assert parse_duration("10") == pytest.approx(10 * units.fs)
    for bad in ("-1fs", "2 minutes", "", "0"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_duration(bad)


def test_rdf_command_writes_the_library_result(tmp_path, capsys):
    frames = []
    for k in range(3):
        frame = bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (2, 2, 2)
        frame.rattle(0.1, seed=k)
        frames.append(frame)
    write(tmp_path / "salt.extxyz", frames)
    prefix = tmp_path / "out" / "salt"
    prefix.parent.mkdir()
    code = main(["rdf", str(tmp_path / "salt.extxyz"), "--rmax", "5", "--nbins", "25", "--output", str(prefix), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "3 frames" in out and "Na-Cl" in out
    table = np.genfromtxt(f"{prefix}.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["g"], rdf(frames, 5.0, 25).g, rtol=1e-7)
    pytest.importorskip("matplotlib")
    assert (tmp_path / "out" / "salt.png").exists()


def test_msd_command_fits_each_species(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = rng.normal(scale=0.1, size=(400, 8, 3)).cumsum(axis=0) + 5.0
    frames = [Atoms("Ar4Kr4", positions=p, cell=[10, 10, 10], pbc=True) for p in path]
    for frame in frames:
        frame.wrap()
    write(tmp_path / "walk.traj", frames)
    code = main(["msd", str(tmp_path / "walk.traj"), "--dt", "2fs", "--no-plot", "--quiet", "--output", str(tmp_path / "walk")])
    assert code == 0
    out = capsys.readouterr().out
    expected = diffusivity(msd(frames, 2 * units.fs), "Ar")
    assert f"D(Ar, xyz) = {expected.D:.4g}" in out and "D(Kr, xyz)" in out and "D(all, xyz)" in out
    assert (tmp_path / "walk.csv").exists() and not (tmp_path / "walk.png").exists()


def test_commands_report_bad_input(tmp_path, capsys):
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    write(tmp_path / "water.xyz", [water, water])
    assert main(["rdf", str(tmp_path / "water.xyz"), "--rmax", "3", "--quiet"]) == 2
    assert "volume=" in capsys.readouterr().err
    assert main(["msd", str(tmp_path / "absent.xyz"), "--dt", "1fs", "--quiet"]) == 2
    assert "no trajectory" in capsys.readouterr().err
