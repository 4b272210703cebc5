"""Fixtures shared by the training tests."""

import ase.io
import pytest

from asetools.data import emt_copper_dataset


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cu.xyz"
    frames = emt_copper_dataset(12, repeat=(2, 2, 1), max_strain=0.02, seed=2)
    for atoms in frames:  # REF_-style keys, as in many published data sets
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.arrays["REF_forces"] = atoms.get_forces()
        atoms.calc = None
    ase.io.write(path, frames, format="extxyz")
    return path
