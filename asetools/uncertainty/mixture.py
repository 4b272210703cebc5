"""A full-covariance Gaussian mixture in torch: fit by EM, pick the size by BIC, score points.

The mixture holds, for ``K`` components in ``F`` dimensions, the log weights ``[K]``,
the means ``[K, F]`` and the *precision factors* ``[K, F, F]``: lower-triangular
``P_k`` with ``P_k^T P_k = Sigma_k^-1`` (the inverse of the covariance's Cholesky
factor). Scoring a point is then one matrix product per component:
``log N(x | mu_k, Sigma_k) = -F/2 log 2 pi + sum(log diag P_k) - |P_k (x - mu_k)|^2 / 2``.

Fitting follows the usual recipe (as in scikit-learn's ``GaussianMixture``):
k-means++ seeding and a few Lloyd steps, then expectation-maximisation until the mean
log-likelihood per point changes by less than ``tol``, with ``reg_covar`` added to
every covariance's diagonal so that flat directions stay invertible. All fitting is
done in float64.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["GaussianMixture", "MixtureSelection", "select_mixture_by_bic"]

logger = logging.getLogger(__name__)

#: Points scored at once; bounds the ``[chunk, K, F]`` intermediate.
_SCORE_CHUNK = 4096


class GaussianMixture(torch.nn.Module):
    """A Gaussian mixture with full covariances; ``forward(x)`` gives the log density ``[M]``.

    Args:
        log_weights: ``[K]`` log mixing weights (they are renormalised).
        means: ``[K, F]`` component means.
        precision_factors: ``[K, F, F]`` lower-triangular ``P_k`` with
            ``P_k^T P_k`` the inverse covariance of component ``k``.
    """

    def __init__(self, log_weights: torch.Tensor, means: torch.Tensor, precision_factors: torch.Tensor):
        super().__init__()
        means = torch.as_tensor(means)
        num_components, num_features = means.shape
        if precision_factors.shape != (num_components, num_features, num_features):
            raise ValueError(
                f"precision_factors must be [K, F, F] = [{num_components}, {num_features}, {num_features}], "
                f"got {list(precision_factors.shape)}"
            )
        if log_weights.shape != (num_components,):
            raise ValueError(f"log_weights must be [K] = [{num_components}], got {list(log_weights.shape)}")
        self.register_buffer("log_weights", torch.log_softmax(torch.as_tensor(log_weights), dim=0))
        self.register_buffer("means", means)
        self.register_buffer("precision_factors", torch.tril(precision_factors))

    @classmethod
    def from_covariances(cls, weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor) -> GaussianMixture:
        """Build from weights ``[K]``, means ``[K, F]`` and covariances ``[K, F, F]`` (positive definite)."""
        weights = torch.as_tensor(weights, dtype=torch.float64)
        covariances = torch.as_tensor(covariances, dtype=torch.float64)
        return cls(torch.log(weights), torch.as_tensor(means, dtype=torch.float64), _precision_factors(covariances))

    @property
    def num_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.means.shape[1])

    @property
    def num_parameters(self) -> int:
        """Free parameters: weights (K - 1), means (K F) and covariances (K F (F + 1) / 2)."""
        k, f = self.num_components, self.num_features
        return (k - 1) + k * f + k * f * (f + 1) // 2

    @property
    def covariances(self) -> torch.Tensor:
        """``[K, F, F]`` component covariances."""
        factors = self.precision_factors
        identity = torch.eye(self.num_features, dtype=factors.dtype, device=factors.device).expand_as(factors)
        cholesky = torch.linalg.solve_triangular(factors, identity, upper=False)  # P^-1 = L, Sigma = L L^T
        return cholesky @ cholesky.transpose(1, 2)

    def component_log_densities(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, K]``: ``log w_k + log N(x_m | mu_k, Sigma_k)`` for points ``x`` ``[M, F]``."""
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"points must be [M, {self.num_features}], got {list(x.shape)}")
        x = x.to(self.means.dtype)
        factors = self.precision_factors
        shifted_means = torch.einsum("kgf,kf->kg", factors, self.means)  # P_k mu_k
        constant = (
            self.log_weights
            + torch.log(torch.diagonal(factors, dim1=1, dim2=2)).sum(dim=1)
            - 0.5 * self.num_features * math.log(2.0 * math.pi)
        )
        pieces = []
        for start in range(0, x.shape[0], _SCORE_CHUNK):
            chunk = x[start : start + _SCORE_CHUNK]
            whitened = torch.einsum("mf,kgf->mkg", chunk, factors) - shifted_means  # [m, K, F]
            pieces.append(constant - 0.5 * whitened.pow(2).sum(dim=2))
        if not pieces:
            return x.new_zeros((0, self.num_components))
        return torch.cat(pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[M]`` log density of each point of ``x`` ``[M, F]`` under the mixture."""
        return torch.logsumexp(self.component_log_densities(x), dim=1)

    def negative_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """``[M]`` negative log density of each point (higher: less like the fitted data)."""
        return -self(x)

    def bic(self, x: torch.Tensor) -> float:
        """Bayesian information criterion ``-2 log L + p ln M`` of the points ``x`` ``[M, F]``."""
        total = float(self(x).double().sum())
        return -2.0 * total + self.num_parameters * math.log(x.shape[0])

    @classmethod
    def fit(
        cls,
        x: torch.Tensor,
        num_components: int,
        max_iterations: int = 200,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        num_inits: int = 1,
        seed: int = 0,
    ) -> GaussianMixture:
        """Fit ``num_components`` components to the points ``x`` ``[M, F]`` by EM (float64).

        ``num_inits`` independent starts are run and the one with the highest
        likelihood is kept. The result carries ``converged`` (bool),
        ``num_iterations`` and ``mean_log_likelihood`` attributes.
        """
        x = torch.as_tensor(x).to(torch.float64)
        if x.ndim != 2:
            raise ValueError(f"points must be a [M, F] array, got shape {list(x.shape)}")
        if not 1 <= num_components <= x.shape[0]:
            raise ValueError(f"num_components must be between 1 and the number of points ({x.shape[0]}), got {num_components}")
        if not torch.isfinite(x).all():
            raise ValueError("points contain NaN or infinite values; the features of some structure are broken")
        generator = torch.Generator(device="cpu").manual_seed(seed)
        best = None
        for _ in range(num_inits):
            labels = _kmeans_labels(x, num_components, generator)
            responsibilities = torch.nn.functional.one_hot(labels, num_components).to(x.dtype)
            mixture = _maximisation(x, responsibilities, reg_covar)
            previous = -math.inf
            converged = False
            for iteration in range(1, max_iterations + 1):
                log_densities = mixture.component_log_densities(x)
                log_norm = torch.logsumexp(log_densities, dim=1)
                current = float(log_norm.mean())
                mixture = _maximisation(x, torch.exp(log_densities - log_norm[:, None]), reg_covar)
                if abs(current - previous) < tol:
                    converged = True
                    break
                previous = current
            final = float(mixture(x).mean())
            mixture.converged, mixture.num_iterations, mixture.mean_log_likelihood = converged, iteration, final
            if not converged:
                logger.warning("Gaussian mixture with %d components did not converge in %d EM steps", num_components, max_iterations)
            if best is None or final > best.mean_log_likelihood:
                best = mixture
        return best


def _precision_factors(covariances: torch.Tensor) -> torch.Tensor:
    """``[K, F, F]`` lower-triangular ``P`` with ``P^T P = Sigma^-1``, from covariances ``[K, F, F]``."""
    cholesky, info = torch.linalg.cholesky_ex(covariances)
    if bool((info > 0).any()):
        raise ValueError(
            "a mixture component's covariance is not positive definite; increase reg_covar "
            "or fit fewer components"
        )
    identity = torch.eye(covariances.shape[-1], dtype=covariances.dtype).expand_as(covariances)
    return torch.linalg.solve_triangular(cholesky, identity, upper=False)


def _maximisation(x: torch.Tensor, responsibilities: torch.Tensor, reg_covar: float) -> GaussianMixture:
    """The M step: weights, means and regularised covariances from ``[M, K]`` responsibilities."""
    counts = responsibilities.sum(dim=0) + 10.0 * torch.finfo(x.dtype).eps  # [K]
    means = (responsibilities.T @ x) / counts[:, None]
    covariances = []
    for k in range(responsibilities.shape[1]):
        centred = x - means[k]
        covariance = (responsibilities[:, k : k + 1] * centred).T @ centred / counts[k]
        covariance.diagonal().add_(reg_covar)
        covariances.append(covariance)
    return GaussianMixture(torch.log(counts / counts.sum()), means, _precision_factors(torch.stack(covariances)))


def _kmeans_labels(x: torch.Tensor, k: int, generator: torch.Generator, steps: int = 20) -> torch.Tensor:
    """``[M]`` cluster labels from k-means++ seeding and a few Lloyd iterations."""
    m = x.shape[0]
    centres = [x[torch.randint(m, (1,), generator=generator)].squeeze(0)]
    nearest = torch.cdist(x, centres[0][None]).squeeze(1).pow(2)
    for _ in range(1, k):
        total = float(nearest.sum())
        if total > 0:
            choice = torch.multinomial(nearest / total, 1, generator=generator)
        else:  # every point sits on a centre already
            choice = torch.randint(m, (1,), generator=generator)
        centres.append(x[choice].squeeze(0))
        nearest = torch.minimum(nearest, torch.cdist(x, centres[-1][None]).squeeze(1).pow(2))
    centres = torch.stack(centres)
    labels = torch.cdist(x, centres).argmin(dim=1)
    for _ in range(steps):
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        occupied = counts > 0
        centres[occupied] = sums[occupied] / counts[occupied, None]
        new_labels = torch.cdist(x, centres).argmin(dim=1)
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return labels


@dataclass
class MixtureSelection:
    """The outcome of :func:`select_mixture_by_bic`.

    Attributes:
        mixture: the fitted mixture with the lowest BIC.
        bic: BIC of every size tried, ``{K: value}``.
    """

    mixture: GaussianMixture
    bic: dict[int, float]


def select_mixture_by_bic(
    x: torch.Tensor,
    max_components: int = 50,
    patience: int = 3,
    progress: Callable[[int, float], None] | None = None,
    **fit_options,
) -> MixtureSelection:
    """Fit mixtures of 1, 2, ... components and keep the one with the lowest BIC.

    The scan stops at ``max_components`` (or the number of points), or once
    ``patience`` consecutive sizes have failed to lower the best BIC so far.
    ``progress(K, bic)`` is called after each fit. ``fit_options`` go to
    :meth:`GaussianMixture.fit`.
    """
    x = torch.as_tensor(x).to(torch.float64)
    if max_components < 1:
        raise ValueError(f"max_components must be at least 1, got {max_components}")
    bic: dict[int, float] = {}
    best, best_k, worse = None, 0, 0
    for k in range(1, min(max_components, x.shape[0]) + 1):
        mixture = GaussianMixture.fit(x, k, **fit_options)
        bic[k] = mixture.bic(x)
        if progress is not None:
            progress(k, bic[k])
        if best is None or bic[k] < bic[best_k]:
            best, best_k, worse = mixture, k, 0
        else:
            worse += 1
            if worse >= patience:
                break
    return MixtureSelection(mixture=best, bic=bic)
