"""Gaussian mixtures: densities against scipy, EM recovery, BIC choice of the size."""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from asetools.uncertainty import GaussianMixture, select_mixture_by_bic


def _random_covariance(rng, dim, scale=1.0):
    a = rng.normal(size=(dim, dim))
    return scale * (a @ a.T / dim + 0.2 * np.eye(dim))


def _known_mixture(rng, dim=4):
    weights = np.array([0.5, 0.3, 0.2])
    means = rng.normal(scale=3.0, size=(3, dim))
    covariances = np.stack([_random_covariance(rng, dim, s) for s in (0.5, 1.0, 2.0)])
    return weights, means, covariances


def _sample(rng, weights, means, covariances, n):
    labels = rng.choice(len(weights), size=n, p=weights)
    points = np.stack([rng.multivariate_normal(means[k], covariances[k]) for k in labels])
    return points, labels


def test_log_density_matches_scipy_multivariate_normal():
    rng = np.random.default_rng(0)
    weights, means, covariances = _known_mixture(rng)
    mixture = GaussianMixture.from_covariances(torch.tensor(weights), torch.tensor(means), torch.tensor(covariances))
    points = rng.normal(scale=4.0, size=(5000, 4))  # more than one scoring chunk
    expected = logsumexp(
        [np.log(w) + multivariate_normal(m, c).logpdf(points) for w, m, c in zip(weights, means, covariances)], axis=0
    )
    actual = mixture(torch.tensor(points)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mixture.covariances.numpy(), covariances, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mixture.negative_log_likelihood(torch.tensor(points)).numpy(), -expected, rtol=1e-10)


def test_bic_is_minus_two_log_likelihood_plus_parameter_penalty():
    rng = np.random.default_rng(1)
    weights, means, covariances = _known_mixture(rng, dim=3)
    mixture = GaussianMixture.from_covariances(torch.tensor(weights), torch.tensor(means), torch.tensor(covariances))
    points, _ = _sample(rng, weights, means, covariances, 300)
    # 3 components in 3D: 2 weights + 9 mean values + 3 * 6 covariance entries.
    assert mixture.num_parameters == 2 + 9 + 18
    log_likelihood = mixture(torch.tensor(points)).sum().item()
    assert mixture.bic(torch.tensor(points)) == pytest.approx(-2 * log_likelihood + 29 * math.log(300))


def test_em_recovers_the_mixture_that_generated_the_data():
    rng = np.random.default_rng(2)
    weights, means, covariances = _known_mixture(rng)
    points, _ = _sample(rng, weights, means, covariances, 6000)
    fitted = GaussianMixture.fit(torch.tensor(points), 3, seed=0)
    assert fitted.converged
    order = [int(np.argmin(np.linalg.norm(fitted.means.numpy() - m, axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(np.exp(fitted.log_weights.numpy())[order], weights, atol=0.03)
    np.testing.assert_allclose(fitted.means.numpy()[order], means, atol=0.15)
    np.testing.assert_allclose(fitted.covariances.numpy()[order], covariances, atol=0.25)
    # The fit is at least as likely as the truth on the data it was fitted to.
    truth = GaussianMixture.from_covariances(torch.tensor(weights), torch.tensor(means), torch.tensor(covariances))
    assert fitted(torch.tensor(points)).mean() >= truth(torch.tensor(points)).mean() - 1e-6


@pytest.mark.parametrize("true_components", [1, 3, 5])
def test_bic_picks_the_true_number_of_components(true_components):
    rng = np.random.default_rng(10 + true_components)
    dim = 5
    means = rng.normal(scale=6.0, size=(true_components, dim))
    covariances = np.stack([_random_covariance(rng, dim) for _ in range(true_components)])
    weights = np.full(true_components, 1.0 / true_components)
    points, _ = _sample(rng, weights, means, covariances, 400 * true_components)
    selection = select_mixture_by_bic(torch.tensor(points), max_components=10, seed=0)
    assert selection.mixture.num_components == true_components
    assert min(selection.bic, key=selection.bic.get) == true_components
    assert max(selection.bic) >= true_components + 1  # the scan looked past the answer


def test_flat_feature_directions_stay_invertible():
    rng = np.random.default_rng(3)
    points = np.zeros((200, 3))
    points[:, 0] = rng.normal(size=200)  # two directions never vary
    mixture = GaussianMixture.fit(torch.tensor(points), 2, reg_covar=1e-6)
    assert torch.isfinite(mixture(torch.tensor(points))).all()


def test_bad_inputs_are_clear_errors():
    points = torch.randn(10, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="between 1 and the number of points"):
        GaussianMixture.fit(points, 11)
    broken = points.clone()
    broken[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture.fit(broken, 2)
    mixture = GaussianMixture.fit(points, 1)
    with pytest.raises(ValueError, match=r"\[M, 2\]"):
        mixture(torch.randn(4, 3))
