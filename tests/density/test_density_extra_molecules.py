"""The committed extra density-training molecules must never overlap the G2 collection.

Some G2 molecules are held back from the shared density set for independent evaluation and the
density benchmark tests on G2 molecules, so a G2 formula among the extra training molecules
would leak test data into training. These files are written by benchmarks/density_molecules.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.collections import g2
from ase.io import read

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
#: Each committed set and the fewest molecules it holds (a truncated file fails).
FILES = {"density_extra_molecules.xyz": 40, "density_extra_open_shell.xyz": 40, "density_extra_cn_ozone.xyz": 30}


def test_every_committed_set_is_checked():
    assert sorted(FILES) == sorted(path.name for path in DATA.glob("density_extra_*.xyz"))


@pytest.mark.parametrize("name", sorted(FILES))
def test_extra_density_molecules_hold_no_g2_formula_and_sane_geometries(name):
    frames = read(DATA / name, ":")
    g2_formulas = {g2[molecule].get_chemical_formula(mode="hill") for molecule in g2.names}
    assert len(frames) >= FILES[name]
    for atoms in frames:
        label = atoms.info.get("name", atoms.get_chemical_formula())
        assert atoms.get_chemical_formula(mode="hill") not in g2_formulas, label
        assert set(atoms.symbols) <= set("HCNOF"), label
        assert len(atoms) <= 12, label
        if len(atoms) > 1:
            distances = atoms.get_all_distances()
            assert distances[np.triu_indices(len(atoms), k=1)].min() > 0.85, label
            # every atom is bonded to something: no fragment flew apart in the force-field relaxation
            nearest = (distances + np.eye(len(atoms)) * 99).min(axis=1)
            assert nearest.max() < 1.8, label
    names = [atoms.info["name"] for atoms in frames]
    assert len(set(names)) == len(names)
