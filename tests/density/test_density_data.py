"""Reading reference densities: the G2 .npz layout, cube and CHGCAR files, and splits by molecule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, molecule

from asetools.density.references import read_density_dataset, read_density_frame, split_by_molecule
from asetools.io import write_chgcar, write_cube
from asetools.io.grid import DensityGrid

G2 = Path(__file__).resolve().parents[3] / "shared" / "data" / "density_g2"
needs_g2 = pytest.mark.skipif(not (G2 / "index.json").is_file(), reason="needs ../shared/data/density_g2")


def _small_dataset(tmp_path: Path) -> Path:
    """Three molecules, two geometries each, in the G2 layout."""
    entries = []
    for name in ("H2O", "NH3", "CH4"):
        for copy in range(2):
            atoms = molecule(name)
            atoms.rattle(0.02, seed=copy)
            grid = DensityGrid.around(atoms, spacing=0.4, padding=1.0)
            frame_id = f"{name}_{copy}"
            np.savez(
                tmp_path / f"{frame_id}.npz", numbers=atoms.numbers, positions=atoms.positions, origin=grid.origin,
                voxel=grid.voxel, shape=np.array(grid.shape), density=np.full(grid.shape, 0.5, dtype=np.float32),
            )
            entries.append({"id": frame_id, "molecule": name, "natoms": len(atoms), "n_electrons": 10})
    (tmp_path / "index.json").write_text(json.dumps({"frames": entries}))
    return tmp_path


def test_dataset_from_index_and_molecule_split(tmp_path):
    frames = read_density_dataset(_small_dataset(tmp_path))
    assert len(frames) == 6 and {f.molecule for f in frames} == {"H2O", "NH3", "CH4"}
    assert all(f.n_electrons == 10 for f in frames)
    assert frames[0].grid.values.dtype == np.float32 and frames[0].grid.values.mean() == pytest.approx(0.5)
    train, validation, test = split_by_molecule(frames, (0.34, 0.33, 0.33), seed=1)
    molecules = [{f.molecule for f in part} for part in (train, validation, test)]
    assert all(len(m) == 1 for m in molecules) and set.union(*molecules) == {"H2O", "NH3", "CH4"}
    assert sum(len(part) for part in (train, validation, test)) == 6
    only = read_density_dataset(tmp_path / "index.json", molecules=["NH3"])
    assert [f.name for f in only] == ["NH3_0", "NH3_1"]
    with pytest.raises(ValueError, match="no density frames"):
        read_density_dataset(tmp_path, molecules=["C6H6"])
    with pytest.raises(ValueError, match="summing to 1"):
        split_by_molecule(frames, (0.5, 0.1, 0.1))


def test_cube_and_chgcar_frames(tmp_path):
    water = molecule("H2O")
    grid = DensityGrid.around(water, spacing=0.3, padding=1.0)
    write_cube(tmp_path / "water.cube", grid.with_values(np.ones(grid.shape)))
    frame = read_density_frame(tmp_path / "water.cube")
    assert frame.molecule == "H2O" and frame.n_electrons == 10 and frame.grid.values.mean() == pytest.approx(1.0, rel=1e-5)
    silicon = bulk("Si")
    write_chgcar(tmp_path / "CHGCAR", DensityGrid.for_cell(silicon, (6, 6, 6), values=np.full((6, 6, 6), 2.0)))
    frame = read_density_frame(tmp_path / "CHGCAR")
    assert frame.grid.periodic and frame.n_electrons == 28
    assert frame.grid.integrate() == pytest.approx(2.0 * silicon.get_volume())
    with pytest.raises(ValueError, match="cannot tell the format"):
        (tmp_path / "density.txt").write_text("1 2 3")
        read_density_frame(tmp_path / "density.txt")


def test_corrupt_npz_is_named(tmp_path):
    np.savez(tmp_path / "bad.npz", numbers=np.array([1]), positions=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="missing array"):
        read_density_frame(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable"):
        read_density_frame(tmp_path / "junk.npz")


@needs_g2
def test_g2_frames_match_their_index():
    frames = read_density_dataset(G2, molecules=["CH3CHO"])
    assert [f.name for f in frames] == ["CH3CHO_0", "CH3CHO_1", "CH3CHO_2"]
    frame = frames[0]
    assert frame.n_electrons == 24 and len(frame.atoms) == 7
    np.testing.assert_allclose(frame.grid.voxel, np.eye(3) * 0.2)
    # the box reaches 2.5 Å beyond the atoms, as the dataset's README says
    points = frame.grid.points()
    assert np.all(points.min(axis=0) <= frame.atoms.positions.min(axis=0) - 2.5 + 1e-6)
    # the density peaks at the heavy atoms: the highest grid value lies within a voxel of C or O
    peak = points[np.argmax(frame.grid.values)]
    heavy = frame.atoms.positions[frame.atoms.numbers > 1]
    assert np.min(np.linalg.norm(heavy - peak, axis=1)) < 0.2
