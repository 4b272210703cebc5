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
    calibration = ErrorCalibration.fit(scores, errors, extrapolate=False)
    grid = torch.linspace(-3.0, 13.0, 500, dtype=torch.float64)
    mapped = calibration(grid).numpy()
    assert np.all(np.diff(mapped) >= -1e-15)
    order = np.argsort(scores)
    reference = isotonic_regression(errors[order]).x
    # Without extrapolation, constant beyond the data: the lowest and highest fitted values.
    assert mapped[0] == pytest.approx(reference[0])
    assert mapped[-1] == pytest.approx(reference[-1])
    # Close to the true conditional mean 0.05 s + 0.2 in the bulk of the data.
    bulk = torch.linspace(2.0, 8.0, 7, dtype=torch.float64)
    np.testing.assert_allclose(calibration(bulk).numpy(), 0.05 * bulk.numpy() + 0.2, atol=0.08)


def test_knots_must_be_monotone():
    with pytest.raises(ValueError, match="non-decreasing"):
        ErrorCalibration(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 1.0]))


def power_law_data(exponent: float, size: int = 4000, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Scores in [0, 100] and errors 0.01 s^exponent with mean-one log-normal noise."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.0, 100.0, size=size)
    noise = rng.lognormal(-0.5 * 0.3**2, 0.3, size=size)
    return scores, 0.01 * scores**exponent * noise


def test_tail_extrapolates_a_power_law_far_beyond_the_data():
    scores, errors = power_law_data(0.5)
    calibration = ErrorCalibration.fit(scores, errors)
    origin, scale, exponent = calibration.tail_parameters
    assert origin == pytest.approx(scores.min())
    assert exponent == pytest.approx(0.5, abs=0.05)
    far = torch.tensor([1e4, 1e6, 1e8], dtype=torch.float64)
    np.testing.assert_allclose(calibration(far).numpy(), 0.01 * far.numpy() ** 0.5, rtol=0.3)
    # Inside the data the tail changes nothing: the isotonic fit still holds.
    flat = ErrorCalibration.fit(scores, errors, extrapolate=False)
    inside = torch.linspace(-10.0, float(flat.score_knots[-1]), 300, dtype=torch.float64)
    np.testing.assert_array_equal(calibration(inside).numpy(), flat(inside).numpy())


def test_tail_is_continuous_and_never_falls():
    scores, errors = power_law_data(0.4)
    calibration = ErrorCalibration.fit(scores, errors)
    last = float(calibration.score_knots[-1])
    below, above = calibration(torch.tensor([last - 1e-9, last + 1e-9], dtype=torch.float64)).numpy()
    assert above == pytest.approx(below, abs=1e-9)
    grid = torch.cat([torch.linspace(-50.0, 200.0, 2000), torch.logspace(2.5, 15.0, 200)]).double()
    mapped = calibration(grid).numpy()
    assert np.all(np.diff(mapped) >= 0.0) and np.all(np.isfinite(mapped))
    assert mapped[-1] > 100 * float(calibration.error_knots[-1])  # keeps rising, no cap at the data
    # Float32 scores far from the data keep their order (the tail is evaluated in float64).
    huge = calibration(torch.tensor([1e9, 2e9, 4e9], dtype=torch.float32))
    assert huge.dtype == torch.float32 and bool((torch.diff(huge) > 0).all())


def test_tail_exponent_is_clipped_to_zero_and_one():
    scores = np.linspace(0.0, 10.0, 1000)
    steep = ErrorCalibration.fit(scores, 1e-3 * np.exp(scores))  # faster than any power law
    assert steep.tail_parameters[2] == ErrorCalibration.MAX_TAIL_EXPONENT
    falling = ErrorCalibration.fit(scores, 1.0 / (1.0 + scores))  # errors fall with the score
    assert falling.tail_parameters[1:] == (0.0, 0.0)
    beyond = torch.tensor([10.0, 1e3, 1e9], dtype=torch.float64)
    np.testing.assert_allclose(falling(beyond).numpy(), float(falling.error_knots[-1]))
    tied = ErrorCalibration.fit(np.ones(10), np.linspace(0.1, 0.2, 10))  # one knot, no spread to fit
    assert tied.tail_parameters[1:] == (0.0, 0.0)
    assert tied(torch.tensor([5.0], dtype=torch.float64)).item() == pytest.approx(0.15)


def test_bad_tail_parameters_are_refused():
    knots, values = torch.tensor([0.0, 1.0]), torch.tensor([0.1, 0.2])
    with pytest.raises(ValueError, match="exponent"):
        ErrorCalibration(knots, values, tail_origin=0.0, tail_scale=1.0, tail_exponent=1.5)
    with pytest.raises(ValueError, match="scale >= 0"):
        ErrorCalibration(knots, values, tail_origin=0.0, tail_scale=-1.0, tail_exponent=0.5)
    with pytest.raises(ValueError, match="origin"):
        ErrorCalibration(knots, values, tail_origin=2.0, tail_scale=1.0, tail_exponent=0.5)
    with pytest.raises(ValueError, match="finite"):
        ErrorCalibration(knots, values, tail_origin=float("nan"))


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
