"""MSD and diffusivity against direct sums and processes with known D."""

import warnings

import numpy as np
import pytest
from ase import Atoms, units
from ase.io import write

from asetools.analysis import diffusivity, msd, plot_msd, unwrap
from asetools.analysis.diffusion import msd_fft

TRICLINIC = np.array([[10.0, 0.0, 0.0], [3.0, 9.0, 0.0], [1.0, 2.0, 11.0]])


def _frames(path: np.ndarray, cell=TRICLINIC, symbols=None, wrap=True) -> list[Atoms]:
    """Atoms along ``path`` ``[T, N, 3]``, wrapped into the cell as most MD codes write them."""
    symbols = symbols or f"Ar{path.shape[1]}"
    frames = []
    for positions in path:
        atoms = Atoms(symbols, positions=positions, cell=cell, pbc=True)
        if wrap:
            atoms.wrap()
        frames.append(atoms)
    return frames


def _random_walk(steps: int, atoms: int, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    moves = rng.normal(scale=sigma, size=(steps, atoms, 3))
    moves[0] = rng.uniform(size=(atoms, 3)) @ TRICLINIC
    return moves.cumsum(axis=0)


def test_fft_msd_equals_the_direct_average():
    x = np.random.default_rng(1).normal(size=(64, 5, 3)).cumsum(axis=0)
    direct = np.array([((x[m:] - x[: len(x) - m]) ** 2).mean(axis=0) for m in range(len(x))])
    np.testing.assert_allclose(msd_fft(x), direct, atol=1e-10)


def test_unwrapping_across_triclinic_boundaries_recovers_the_path():
    path = _random_walk(400, 30, sigma=0.6)
    frames = _frames(path)
    crossed = np.abs(np.diff(np.array([f.get_scaled_positions() for f in frames]), axis=0)) > 0.5
    assert crossed.sum() > 50  # the test really crosses boundaries
    unwrapped, first = unwrap(frames)
    np.testing.assert_allclose(unwrapped - unwrapped[0], path - path[0], atol=1e-10)
    assert len(first) == 30


def test_unwrapping_a_changing_cell():
    """NPT-like: the cell breathes and scales the atoms with it (as barostats do).

    Each unwrapped step must be the atom's own move plus the affine move of its wrapped
    position, the scheme of von Bülow, Bullerjahn and Hummer (J. Chem. Phys. 153, 021101,
    2020) that keeps the diffusive motion unchanged; the cell's image shifts never enter.
    """
    rng = np.random.default_rng(4)
    atoms = Atoms("Ar20", scaled_positions=rng.uniform(size=(20, 3)), cell=TRICLINIC, pbc=True)
    frames, expected = [atoms.copy()], [np.zeros((20, 3))]
    for t in range(1, 300):
        before = atoms.positions.copy()
        atoms.set_cell(TRICLINIC * (1 + 0.02 * np.sin(t / 20)), scale_atoms=True)
        atoms.positions += rng.normal(scale=0.5, size=(20, 3))
        expected.append(expected[-1] + atoms.positions - before)
        atoms.wrap()
        frames.append(atoms.copy())
    unwrapped, _ = unwrap(frames)
    np.testing.assert_allclose(unwrapped - unwrapped[0], np.array(expected), atol=1e-9)
    assert np.abs(np.array(expected)).max() > 2 * np.linalg.norm(TRICLINIC, axis=1).max()  # far outside the cell


def test_an_ambiguous_jump_is_an_error():
    path = _random_walk(3, 4, sigma=0.1)
    path[2, 1] += np.array([4.6, 0, 0])  # 0.46 of the 10 Å cell vector
    with pytest.raises(ValueError, match="frame 2: atom 1 moved 0.4"):
        unwrap(_frames(path))


def test_random_walk_gives_the_analytic_diffusivity():
    sigma, dt = 0.1, 2.0 * units.fs  # Å per axis per frame; D = sigma² / (2 dt)
    path = _random_walk(3000, 120, sigma=sigma, seed=2)
    symbols = "Ar60Kr60"
    result = msd(_frames(path, symbols=symbols), timestep=dt, remove_drift=False)
    exact = sigma**2 / (2 * dt / (1000 * units.fs))  # Å²/ps
    for species in ("Ar", "Kr", "all"):
        fit = diffusivity(result, species)
        assert fit.linear and fit.loglog_slope == pytest.approx(1.0, abs=0.05)
        assert abs(fit.D - exact) < 4 * fit.error
        assert fit.D == pytest.approx(exact, rel=0.05)
        assert fit.D_cm2_s == pytest.approx(fit.D * 1e-4)
    one_axis = diffusivity(result, "all", axes="z")
    assert one_axis.D == pytest.approx(exact, rel=0.08)
    assert result.n_atoms == {"Ar": 60, "Kr": 60, "all": 120}
    np.testing.assert_allclose(result.time_ps[:3], [0, 0.002, 0.004])


def test_ballistic_start_is_left_out_of_the_fit():
    """An Ornstein-Uhlenbeck velocity: ballistic for a few correlation times, then diffusive."""
    rng = np.random.default_rng(5)
    steps, atoms, a, sigma_v = 4000, 100, 0.95, 0.05  # velocity correlation a per frame (Å per frame)
    velocity = rng.normal(scale=sigma_v, size=(atoms, 3))
    path = np.empty((steps, atoms, 3))
    path[0] = rng.uniform(size=(atoms, 3)) @ TRICLINIC
    for t in range(1, steps):
        velocity = a * velocity + np.sqrt(1 - a**2) * rng.normal(scale=sigma_v, size=(atoms, 3))
        path[t] = path[t - 1] + velocity
    dt = 1.0 * units.fs
    fit = diffusivity(msd(_frames(path), timestep=dt, remove_drift=False))
    exact = sigma_v**2 * (1 + a) / (2 * (1 - a)) / 1e-3  # Å² per frame -> Å²/ps with 1 fs frames
    assert fit.fit_ps[0] > 0.02  # after the ballistic part (correlation time 20 frames)
    assert fit.linear
    assert abs(fit.D - exact) < 4 * fit.error
    assert fit.D == pytest.approx(exact, rel=0.1)


def test_drift_removal_cancels_a_uniform_flow():
    path = _random_walk(2000, 50, sigma=0.05, seed=6)
    path = path + np.arange(len(path))[:, None, None] * np.array([0.02, 0.0, 0.0])
    frames = _frames(path)
    still = diffusivity(msd(frames, timestep=units.fs))
    exact = 0.05**2 / 2 / 1e-3
    assert still.D == pytest.approx(exact, rel=0.1)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        drifting = diffusivity(msd(frames, timestep=units.fs, remove_drift=False))
    assert drifting.D > 2 * exact


def test_a_solid_warns_that_there_is_no_diffusive_regime():
    rng = np.random.default_rng(7)
    sites = rng.uniform(size=(40, 3)) @ TRICLINIC
    path = sites + rng.normal(scale=0.1, size=(1000, 40, 3))  # atoms rattling around fixed sites
    result = msd(_frames(path), timestep=units.fs)
    with pytest.warns(UserWarning, match="no linear"):
        fit = diffusivity(result)
    assert not fit.linear
    assert abs(fit.D) < 0.05


def test_user_window_and_bad_arguments():
    path = _random_walk(1000, 20, sigma=0.1, seed=8)
    result = msd(_frames(path), timestep=units.fs, blocks=4)
    fit = diffusivity(result, fit=(10 * units.fs, 100 * units.fs))
    assert fit.fit_ps == pytest.approx((0.01, 0.1))
    with pytest.raises(ValueError, match="beyond a block"):
        diffusivity(result, fit=(10 * units.fs, 400 * units.fs))
    with pytest.raises(ValueError, match="axes"):
        diffusivity(result, axes="w")
    with pytest.raises(ValueError, match="no MSD for 'Cu'"):
        diffusivity(result, "Cu")
    with pytest.raises(ValueError, match="timestep"):
        msd(_frames(path), timestep=0.0)
    with pytest.raises(ValueError, match="too few"):
        msd(_frames(path[:5]), timestep=units.fs)
    frames = _frames(path[:12])
    with pytest.raises(ValueError, match="frame 1: the atoms differ"):
        msd([frames[0], frames[1][:-1]] + frames[2:], timestep=units.fs)
    frames[3].positions[2] = np.nan
    with pytest.raises(ValueError, match="frame 3: positions contain NaN"):
        msd(frames, timestep=units.fs)


def test_file_round_trip_and_outputs(tmp_path):
    path = _random_walk(200, 10, sigma=0.2, seed=9)
    frames = _frames(path)
    write(tmp_path / "walk.extxyz", frames)
    in_memory = msd(frames, timestep=units.fs)
    from_file = msd(tmp_path / "walk.extxyz", timestep=units.fs)
    np.testing.assert_allclose(from_file.total(), in_memory.total(), atol=1e-9)
    in_memory.to_csv(tmp_path / "msd.csv")
    table = np.genfromtxt(tmp_path / "msd.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["msd_Ar"], in_memory.total("Ar"), rtol=1e-7, atol=1e-12)
    pytest.importorskip("matplotlib")
    plot_msd(in_memory, [diffusivity(in_memory)], tmp_path / "msd.png")
    assert (tmp_path / "msd.png").read_bytes()[:4] == b"\x89PNG"
