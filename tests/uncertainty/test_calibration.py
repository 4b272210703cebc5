"""The monotone score-to-error map and the calibration report."""

import numpy as np
import pytest
import torch
from scipy.optimize import isotonic_regression

from asetools.uncertainty import ErrorCalibration, calibration_report


def test_noiseless_monotone_data_are_reproduced():
    scores = np.linspace(-5.0, 5.0, 101)
    errors = 0.1 + 0.02 * np.exp(0.4 * scores)
    calibration = ErrorCalibration.fit(scores[::-1], errors[::-1])  # input order does not matter
    np.testing.assert_allclose(calibration(torch.tensor(scores)).numpy(), errors, rtol=1e-12)
    middle = torch.tensor([0.05], dtype=torch.float64)
    expected = np.interp(0.05, scores, errors)
    assert calibration(middle).item() == pytest.approx(expected, rel=1e-12)


def test_noisy_data_give_a_non_decreasing_map_that_matches_isotonic_regression():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.0, 10.0, size=2000)
    errors = 0.05 * scores + rng.exponential(0.2, size=scores.size)
    calibration = ErrorCalibration.fit(scores, errors)
    grid = torch.linspace(-3.0, 13.0, 500, dtype=torch.float64)
    mapped = calibration(grid).numpy()
    assert np.all(np.diff(mapped) >= -1e-15)
    order = np.argsort(scores)
    reference = isotonic_regression(errors[order]).x
    # Constant beyond the data: the lowest and highest fitted values.
    assert mapped[0] == pytest.approx(reference[0])
    assert mapped[-1] == pytest.approx(reference[-1])
    # Close to the true conditional mean 0.05 s + 0.2 in the bulk of the data.
    bulk = torch.linspace(2.0, 8.0, 7, dtype=torch.float64)
    np.testing.assert_allclose(calibration(bulk).numpy(), 0.05 * bulk.numpy() + 0.2, atol=0.08)


def test_knots_must_be_monotone():
    with pytest.raises(ValueError, match="non-decreasing"):
        ErrorCalibration(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 1.0]))


def test_report_of_a_perfect_prediction():
    rng = np.random.default_rng(1)
    owners = np.repeat(np.arange(20), 5)
    scores = rng.normal(size=100)
    observed = np.exp(scores)
    report = calibration_report(scores, observed, observed, owners, bins=5)
    assert report.spearman_atoms == pytest.approx(1.0)
    assert report.spearman_structures == pytest.approx(1.0)
    assert report.relative_calibration_error == pytest.approx(0.0, abs=1e-12)
    assert report.counts.sum() == 100 and len(report.counts) == 5
    assert "predicted" in report.table()


def test_report_of_a_biased_prediction():
    owners = np.arange(50)
    observed = np.linspace(0.1, 1.0, 50)
    report = calibration_report(observed, 2 * observed, observed, owners, bins=5)
    assert report.relative_calibration_error == pytest.approx(1.0)
