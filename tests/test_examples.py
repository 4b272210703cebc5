"""Every example runs (in its short CI mode) and reports sensible numbers."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, *args):
    env = {**os.environ, "CI": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_lj_argon_md_conserves_energy():
    out = run_example("lj_argon_md.py", "--steps", "40")
    drift = float(re.search(r"drift \(max \|\.\|\)\s+(\S+) meV/atom", out).group(1))
    speed = float(re.search(r"speed\s+(\S+) atom-steps/s", out).group(1))
    assert drift < 0.05  # meV/atom over 200 fs with a smooth cutoff in float64
    assert speed > 0


def test_allegro_quickstart_trains_and_runs_md(tmp_path):
    out = run_example("allegro_cu_quickstart.py", "--out", str(tmp_path))
    assert (tmp_path / "cu_allegro.pt").is_file()
    trained, untrained = map(float, re.search(r"force MAE (\S+) meV/Å \(untrained: (\S+) meV/Å\)", out).groups())
    assert trained < 0.25 * untrained
    fluctuation = float(re.search(r"total-energy range (\S+) meV/atom", out).group(1))
    assert fluctuation < 1.0  # NVE at 2 fs, float32: well under 1 meV/atom over 100 fs
    assert float(re.search(r"speed (\S+) atom-steps/s", out).group(1)) > 0
    md_error = float(re.search(r"along the trajectory (\S+) meV/Å", out).group(1))
    assert md_error < 0.25 * untrained
    peak, neighbours = map(float, re.search(r"first peak at (\S+) Å .*, (\S+) neighbours within 3.0", out).groups())
    assert abs(peak - 3.61 / 2**0.5) < 0.1 and neighbours == pytest.approx(12.0)  # fcc nearest neighbours
    assert "no diffusive regime" in out
    spearman = float(re.search(r"score and force error: atoms (\S+),", out).group(1))
    assert spearman > 0.2
    training, md, stretched = map(
        float, re.search(r"training atoms 99% (\S+), MD frames up to (\S+), crystal stretched by 10 % (\S+)", out).groups()
    )
    assert stretched > max(training, md) + 100  # far outside the training data: a much higher NLL
    lowest, short = map(float, re.search(r"force error (\S+) meV/Å at its lowest, (\S+) meV/Å at 1.8 Å", out).groups())
    assert short > 2 * lowest  # squeezing a bond well below anything trained on: larger expected errors
    assert (tmp_path / "uq_map.csv").is_file()
    assert (tmp_path / "rdf.csv").is_file() and (tmp_path / "msd.csv").is_file()
    if (EXAMPLES.parent.parent / "shared" / "data" / "density_g2" / "index.json").is_file():
        validation, baseline = map(
            float, re.search(r"validation NMAPE (\S+) % after training \(spherical atoms and bond sites alone: (\S+) %\)", out).groups()
        )
        assert validation < baseline < 30  # two short epochs already improve on the fitted spherical centres
        assert float(re.search(r"held-out molecules .*: NMAPE (\S+) %", out).group(1)) < 30
        cube = re.search(r"wrote (\S+\.cube) and", out).group(1)
        from asetools.io import read_cube

        grid = read_cube(cube)
        assert grid.values.max() > 1.0 and (tmp_path / "CHGCAR").is_file()


ETHANOL = EXAMPLES.parent.parent / "shared" / "data" / "botnet" / "ethanol"


@pytest.mark.skipif(not (ETHANOL / "train.xyz").is_file(), reason="needs ../shared/data/botnet/ethanol")
@pytest.mark.parametrize("fast", ["allegro", "valence"])
def test_ethanol_mts_md_writes_its_outputs_and_keeps_the_molecule(tmp_path, fast):
    out = run_example("ethanol_mts_md.py", "--fast", fast, "--out", str(tmp_path))
    if fast == "valence":
        assert (tmp_path / "valence.json").stat().st_size > 0
    for name in ("ethanol_mts.traj", "ethanol_mts.log", "ethanol_mts_energy.png", "ethanol_mts_geometry.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    fast_calls, slow_calls = map(int, re.search(r"evaluations: fast (\d+), slow (\d+)", out).groups())
    assert slow_calls == 100 + 1  # one per outer step, plus the first evaluation
    assert fast_calls == 4 * 100 + 1
    temperature = float(re.search(r"mean temperature (\S+) K", out).group(1))
    assert 150 < temperature < 500  # 9 atoms fluctuate a lot around 300 K over 200 fs
    carbon_carbon = float(re.search(r"C-C\s+MD\s+(\S+)", out).group(1))
    oxygen_hydrogen = float(re.search(r"H-O\s+MD\s+(\S+)", out).group(1))
    assert 1.40 < carbon_carbon < 1.65 and 0.9 < oxygen_hydrogen < 1.1  # still ethanol
