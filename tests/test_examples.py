"""Every example runs (in its short CI mode) and reports sensible numbers."""

import os
import re
import subprocess
import sys
from pathlib import Path

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
