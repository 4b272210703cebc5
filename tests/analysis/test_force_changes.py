"""RMS of forces and of their change with lag, against analytic signals."""

import numpy as np
import pytest

from asetools.analysis.force_changes import force_changes, force_split_report, plot_force_changes


def sinusoidal_forces(amplitude, period_fs, interval_fs, frames, atoms=5, seed=0):
    """F(t) = A sin(2π t / P + φ) with a random phase per atom and component."""
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, size=(atoms, 3))
    times = np.arange(frames) * interval_fs
    return amplitude * np.sin(2 * np.pi * times[:, None, None] / period_fs + phases)


def test_a_sinusoid_changes_by_sqrt2_a_sin_half_the_phase_step():
    # RMS over whole periods of A sin(ωt + ωτ) − A sin(ωt) is √2 A |sin(ωτ/2)|; RMS of A sin is A/√2.
    amplitude, period, interval = 0.7, 20.0, 0.25
    forces = sinusoidal_forces(amplitude, period, interval, frames=1 + int(40 * period / interval))
    result = force_changes(forces, interval, lags_fs=(1.0, 2.0, 4.0))
    expected = np.sqrt(2) * amplitude * np.abs(np.sin(np.pi * np.array([1.0, 2.0, 4.0]) / period))
    np.testing.assert_allclose(result.change_rms, expected, rtol=2e-3)
    assert result.rms == pytest.approx(amplitude / np.sqrt(2), rel=2e-3)
    np.testing.assert_allclose(result.lags_fs, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(result.relative_change, result.change_rms / result.rms)


def test_lags_round_to_whole_frames_and_bad_input_is_named():
    forces = np.zeros((10, 2, 3))
    assert force_changes(forces, 0.4, lags_fs=(1.1,)).lags_fs.tolist() == [pytest.approx(1.2)]
    with pytest.raises(ValueError, match="lags from 0.4 to 3.6 fs"):
        force_changes(forces, 0.4, lags_fs=(5.0,))
    with pytest.raises(ValueError, match="lags from"):
        force_changes(forces, 0.4, lags_fs=(0.1,))
    with pytest.raises(ValueError, match="shape"):
        force_changes(np.zeros((10, 3)), 0.4)
    with pytest.raises(ValueError, match="interval_fs"):
        force_changes(forces, 0.0)


def test_report_and_plot(tmp_path):
    fast = force_changes(sinusoidal_forces(1.0, 10.0, 0.5, 200), 0.5)
    slow = force_changes(sinusoidal_forces(0.1, 200.0, 0.5, 200, seed=1), 0.5)
    report = force_split_report(fast, slow)
    assert "slow/fast" in report and len(report.splitlines()) == 2 + 4
    pytest.importorskip("matplotlib")
    plot_force_changes(fast, slow, tmp_path / "changes.png")
    assert (tmp_path / "changes.png").read_bytes()[:4] == b"\x89PNG"
