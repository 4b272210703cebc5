"""The PySCF density generator against the shared reference densities, symmetry and exact electron counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from scipy.spatial.transform import Rotation

from asetools.cli import main
from asetools.density.references import read_density_dataset, read_density_frame
from asetools.io.grid import DensityGrid

pytest.importorskip("pyscf")

from asetools.density import dft  # noqa: E402
from asetools.density.dft import DFTDensityConfig, dft_density, g2_molecules, generate_density_dataset  # noqa: E402

G2 = Path(__file__).resolve().parents[3] / "shared" / "data" / "density_g2"
needs_g2 = pytest.mark.skipif(not (G2 / "index.json").is_file(), reason="needs ../shared/data/density_g2")

FAST = DFTDensityConfig(basis="sto-3g", spacing=0.25, padding=2.0)


def nmape(predicted: np.ndarray, reference: np.ndarray) -> float:
    return float(100 * np.abs(predicted - reference).sum() / np.abs(reference).sum())


@needs_g2
@pytest.mark.parametrize("frame_id", ["H2O_0", "OH_1"])
def test_reproduces_the_shared_pbe_def2svp_densities(frame_id):
    """The shared G2 set was made with PySCF PBE/def2-SVP; recomputing a frame gives the same numbers."""
    reference = read_density_frame(G2 / f"{frame_id}.npz")
    with np.load(G2 / f"{frame_id}.npz") as stored:
        reference_energy = float(stored["energy_eV"])
    atoms = reference.atoms
    atoms.set_initial_magnetic_moments(g2_molecules()[frame_id.rsplit("_", 1)[0]].get_initial_magnetic_moments())
    result = dft_density(atoms, DFTDensityConfig(xc="PBE", basis="def2-SVP"), grid=reference.grid)
    assert result.spin == (1 if frame_id.startswith("OH") else 0)
    assert nmape(result.frame.grid.values, reference.grid.values) < 1e-4
    assert result.energy == pytest.approx(reference_energy, abs=1e-3)
    assert result.frame.n_electrons == reference.atoms.numbers.sum()


def test_hydrogen_molecule_integrates_to_two_electrons():
    """H2 has no sharp core, so a 0.1 Å grid sum is an accurate integral; grid units are e/Å³."""
    result = dft_density(molecule("H2"), DFTDensityConfig(basis="def2-SVP", spacing=0.1, padding=4.0))
    grid = result.frame.grid
    assert grid.values.dtype == np.float32 and np.all(grid.values >= 0)
    assert grid.integrate() == pytest.approx(2.0, abs=1e-4)
    # the density at the bond centre of H2 is about 0.27 e/Bohr^3 = 1.8 e/Å^3 (far from 0.27 in the wrong unit)
    centre = result.frame.atoms.positions.mean(axis=0)
    nearest = np.argmin(np.linalg.norm(grid.points() - centre, axis=1))
    assert 1.2 < grid.values.reshape(-1)[nearest] < 2.5


def test_density_rotates_with_the_molecule():
    water = molecule("H2O")
    reference = dft_density(water, FAST)
    rotation = Rotation.from_euler("xyz", [0.4, -1.1, 2.3]).as_matrix()
    rotated = water.copy()
    rotated.positions = water.positions @ rotation.T
    grid = reference.frame.grid
    rotated_grid = DensityGrid(
        values=np.zeros(grid.shape), origin=grid.origin @ rotation.T, voxel=grid.voxel @ rotation.T,
        atoms=rotated, periodic=False,
    )
    turned = dft_density(rotated, FAST, grid=rotated_grid)
    assert turned.energy == pytest.approx(reference.energy, abs=1e-4)  # the XC quadrature turns only nearly
    assert nmape(turned.frame.grid.values, grid.values) < 1e-3


def test_spin_from_magnetic_moments_parity_and_config():
    assert dft_density(g2_molecules()["OH"], FAST).spin == 1
    assert dft_density(Atoms("H", positions=[[0, 0, 0]]), FAST).spin == 1
    with pytest.raises(ValueError, match="cannot have 1 unpaired"):
        dft_density(molecule("H2O"), DFTDensityConfig(basis="sto-3g", spin=1))
    cation = dft_density(Atoms("H2", positions=[[0, 0, 0], [0, 0, 1.05]]), DFTDensityConfig(basis="sto-3g", charge=1))
    assert cation.spin == 1 and cation.frame.n_electrons == 1


def test_bad_structures_are_refused():
    crystal = molecule("H2O", vacuum=3.0, pbc=True)
    with pytest.raises(ValueError, match="periodic"):
        dft_density(crystal, FAST)
    broken = molecule("H2O")
    broken.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dft_density(broken, FAST)


def test_missing_pyscf_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyscf", None)
    monkeypatch.setitem(sys.modules, "pyscf.gto", None)
    with pytest.raises(ImportError, match=r"asetools\[dft\]"):
        dft_density(molecule("H2"), FAST)


def test_g2_subset_by_elements():
    molecules = g2_molecules("HCNOF")
    assert {"H2O", "CH4", "OH", "CH3CHO"} <= set(molecules)
    assert all(set(atoms.get_chemical_symbols()) <= set("HCNOF") for atoms in molecules.values())
    assert set(g2_molecules(["H", "O"])) == {"H2O", "OH", "H2O2", "H2", "O2", "O3"}
    assert set(g2_molecules("HO", include_atoms=True)) == {"H2O", "OH", "H2O2", "H2", "O2", "O3", "H", "O"}
    with pytest.raises(ValueError, match="unknown element"):
        g2_molecules("HXx")


def test_dataset_is_readable_resumes_and_keeps_rattled_geometries(tmp_path, monkeypatch):
    molecules = {"H2": molecule("H2"), "OH": g2_molecules()["OH"]}
    index_path = generate_density_dataset(molecules, tmp_path, FAST, rattled=1, rattle_std=0.05, seed=3, progress=False)
    frames = read_density_dataset(tmp_path)
    assert sorted(frame.name for frame in frames) == ["H2_0", "H2_1", "OH_0", "OH_1"]
    by_name = {frame.name: frame for frame in frames}
    assert np.allclose(by_name["H2_0"].atoms.positions, molecules["H2"].positions)
    shift = by_name["H2_1"].atoms.positions - molecules["H2"].positions
    assert 0 < np.abs(shift).max() < 0.3
    index = json.loads(index_path.read_text())
    assert {entry["id"]: entry["spin"] for entry in index["frames"]} == {"H2_0": 0, "H2_1": 0, "OH_0": 1, "OH_1": 1}
    assert {entry["id"]: entry["n_electrons"] for entry in index["frames"]} == {"H2_0": 2, "H2_1": 2, "OH_0": 9, "OH_1": 9}
    assert abs(index["frames"][0]["grid_electrons"] - 2) < 0.01  # H2: no core cusp, the grid sum is close
    with np.load(tmp_path / "OH_0.npz") as stored:
        assert float(stored["energy_eV"]) == pytest.approx(index["frames"][2]["energy_eV"])

    # a second run with one more rattled copy computes only the new frames, with unchanged old geometries
    calls = []
    real = dft.dft_density
    monkeypatch.setattr(dft, "dft_density", lambda atoms, *args, **kwargs: calls.append(kwargs["name"]) or real(atoms, *args, **kwargs))
    generate_density_dataset(molecules, tmp_path, FAST, rattled=2, rattle_std=0.05, seed=3, progress=False)
    assert sorted(calls) == ["H2_2", "OH_2"]
    again = {frame.name: frame for frame in read_density_dataset(tmp_path)}
    assert len(again) == 6
    assert np.array_equal(again["H2_1"].atoms.positions, by_name["H2_1"].atoms.positions)

    with pytest.raises(ValueError, match="write to a new directory"):
        generate_density_dataset(molecules, tmp_path, DFTDensityConfig(basis="def2-SVP", spacing=0.25, padding=2.0),
                                 rattled=1, rattle_std=0.05, seed=3, progress=False)


def test_cli_labels_structure_files_and_g2_names(tmp_path, capsys):
    from ase.io import write

    write(tmp_path / "water.xyz", molecule("H2O"))
    out = tmp_path / "labelled"
    common = ["--basis", "sto-3g", "--spacing", "0.3", "--rattled", "0", "-o", str(out)]
    assert main(["dft-density", str(tmp_path / "water.xyz"), *common]) == 0
    assert main(["dft-density", "--only", "H2", *common]) == 0
    names = {frame.name for frame in read_density_dataset(out)}
    assert names == {"water_0", "H2_0"}
    assert main(["dft-density", "--only", "Unobtainium", *common]) == 2
    assert "not among the molecules" in capsys.readouterr().err
