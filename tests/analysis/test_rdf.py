"""Radial distribution functions against ASE, analytic cases and crystal shells."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.geometry.rdf import get_rdf
from ase.io import write

from asetools.analysis import plot_rdf, rdf


def _rattled_frames(atoms, n, amplitude=0.15, strain=0.01):
    """Rattled copies whose cell also changes from frame to frame (as in NPT)."""
    frames = []
    for k in range(n):
        frame = atoms.copy()
        frame.rattle(amplitude, seed=k)
        frame.set_cell(frame.cell * (1 + strain * k), scale_atoms=True)
        frames.append(frame)
    return frames


@pytest.fixture
def salt_frames():
    return _rattled_frames(bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (3, 3, 3), 4)


def test_total_and_partials_equal_ase(salt_frames):
    result = rdf(salt_frames, rmax=8.0, nbins=80)
    g, r = get_rdf(salt_frames, 8.0, 80)
    np.testing.assert_allclose(result.r, r, atol=1e-12)
    np.testing.assert_allclose(result.g, g, atol=1e-10)
    for pair in [("Na", "Cl"), ("Cl", "Na"), ("Na", "Na"), ("Cl", "Cl")]:
        np.testing.assert_allclose(result.partial[pair], get_rdf(salt_frames, 8.0, 80, elements=pair, no_dists=True), atol=1e-10)
    # the total is the fraction-weighted sum of the partials
    weighted = sum(0.25 * result.partial[pair] for pair in [("Na", "Na"), ("Na", "Cl"), ("Cl", "Na"), ("Cl", "Cl")])
    np.testing.assert_allclose(result.g, weighted, atol=1e-12)


def test_triclinic_cell_equals_ase():
    frames = _rattled_frames(bulk("Cu", "fcc", a=3.6) * (6, 6, 6), 3)  # primitive (triclinic) cell
    rmax = 0.49 * min(frames[0].cell.volume / np.linalg.norm(np.cross(*np.roll(frames[0].cell, -k, axis=0)[1:])) for k in range(3))
    np.testing.assert_allclose(rdf(frames, rmax, 60).g, get_rdf(frames, rmax, 60)[0], atol=1e-10)


def test_rmax_beyond_half_the_cell_uses_periodic_images():
    """A small cell with a large rmax gives the g(r) of a supercell large enough for ASE's check."""
    small = bulk("Cu", "fcc", a=3.6) * (2, 2, 2)
    small.rattle(0.1, seed=3)
    rmax = 7.0
    heights = small.cell.volume / np.linalg.norm(np.cross(small.cell[1], small.cell[2]))
    assert rmax > heights / 2
    large = small * (4, 4, 4)
    np.testing.assert_allclose(rdf(small, rmax, 70).g, get_rdf(large, rmax, 70)[0], atol=1e-10)


def test_fcc_shells_and_coordination():
    a = 3.6
    crystal = bulk("Cu", "fcc", a=a, cubic=True) * (4, 4, 4)
    result = rdf(crystal, rmax=5.0, nbins=100)
    position, _ = result.first_peak()
    assert abs(position - a / np.sqrt(2)) < result.edges[1]
    shells = {a / np.sqrt(2): 12, a: 6, a * np.sqrt(1.5): 24}
    running = 0
    for distance, count in shells.items():
        running += count
        just_after = np.searchsorted(result.edges[1:], distance + 0.05)
        assert result.total_coordination[just_after] == pytest.approx(running)
        assert result.coordination[("Cu", "Cu")][just_after] == pytest.approx(running)


def test_ideal_gas_approaches_one():
    rng = np.random.default_rng(0)
    n, box = 3000, 30.0
    frames = [Atoms(f"Ar{n}", positions=rng.uniform(0, box, (n, 3)), cell=[box] * 3, pbc=True) for _ in range(4)]
    result = rdf(frames, rmax=8.0, nbins=40)
    tail = result.r > 2.0
    expected = 1 - 1 / n  # an atom is not its own neighbour (ASE and MDAnalysis convention)
    # Poisson error of each bin: 1 / sqrt(expected pair count)
    shells = 4 / 3 * np.pi * (result.edges[1:] ** 3 - result.edges[:-1] ** 3)
    sigma = 1 / np.sqrt(len(frames) * n * (n / box**3) * shells)
    assert np.all(np.abs(result.g[tail] - expected) < 5 * sigma[tail])
    assert abs(np.mean(result.g[tail]) - expected) < 0.01
    # coordination follows the density: n(r) = rho 4/3 pi r^3
    assert result.total_coordination[-1] == pytest.approx(n / box**3 * 4 / 3 * np.pi * 8.0**3, rel=0.02)


def test_non_periodic_needs_a_volume_and_then_equals_ase():
    water = molecule("H2O")
    frames = []
    for k in range(6):
        cluster = Atoms()
        for m in range(8):
            copy = water.copy()
            copy.translate(np.array([m % 2, (m // 2) % 2, m // 4]) * 3.1)
            cluster += copy
        cluster.rattle(0.05, seed=k)
        frames.append(cluster)
    with pytest.raises(ValueError, match="volume="):
        rdf(frames, rmax=4.0, nbins=40)
    result = rdf(frames, rmax=4.0, nbins=40, volume=300.0, pairs=["O-H"])
    np.testing.assert_allclose(result.partial[("O", "H")], get_rdf(frames, 4.0, 40, elements=("O", "H"), volume=300.0, no_dists=True), atol=1e-10)
    # two H within 1.3 Å of each O; and one O within 1.3 Å of an H
    inside = np.searchsorted(result.edges[1:], 1.3)
    assert result.coordination[("O", "H")][inside] == pytest.approx(2.0)
    assert result.coordination[("H", "O")][inside] == pytest.approx(1.0)
    assert set(result.partial) == {("O", "H"), ("H", "O")}


def test_files_streamed_from_disk_give_identical_results(salt_frames, tmp_path):
    in_memory = rdf(salt_frames, rmax=6.0, nbins=50)
    for name in ("frames.traj", "frames.extxyz"):
        write(tmp_path / name, salt_frames)
        from_file = rdf(tmp_path / name, rmax=6.0, nbins=50)
        np.testing.assert_allclose(from_file.g, in_memory.g, atol=1e-12)
        assert from_file.n_frames == len(salt_frames)
    subset = rdf(tmp_path / "frames.traj", rmax=6.0, nbins=50, index="1::2")
    np.testing.assert_allclose(subset.g, rdf(salt_frames[1::2], rmax=6.0, nbins=50).g, atol=1e-12)


def test_bad_input_is_named(salt_frames):
    with pytest.raises(ValueError, match="rmax"):
        rdf(salt_frames, rmax=0.0)
    with pytest.raises(ValueError, match="not in the trajectory"):
        rdf(salt_frames, rmax=5.0, pairs=["Na-K"])
    changed = [salt_frames[0], salt_frames[1][:-1]]
    with pytest.raises(ValueError, match="frame 1"):
        rdf(changed, rmax=5.0)
    broken = salt_frames[0].copy()
    broken.positions[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rdf(broken, rmax=5.0)
    with pytest.raises(ValueError, match="no frames"):
        rdf([], rmax=5.0)


def test_csv_and_plot(salt_frames, tmp_path):
    result = rdf(salt_frames, rmax=6.0, nbins=30)
    result.to_csv(tmp_path / "g.csv")
    table = np.genfromtxt(tmp_path / "g.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["g_NaCl"], result.partial[("Na", "Cl")], rtol=1e-7)
    np.testing.assert_allclose(table["r_angstrom"], result.r, rtol=1e-7)
    pytest.importorskip("matplotlib")
    plot_rdf(result, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
