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
