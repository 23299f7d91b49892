"""A fast REML fit of the random-intercept linear mixed model (profiled likelihood).

Used where the same model is fitted thousands of times (the simulation study); it reproduces
statsmodels' ``MixedLM`` for a random intercept (``tests/unit/test_stats.py``) in about a
millisecond. The trial pages use :func:`analysis.stats.mixed_model` (statsmodels) itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

__all__ = ["RandomInterceptFit", "fit_random_intercept"]


@dataclass(frozen=True)
class RandomInterceptFit:
    """Fixed effects of a random-intercept linear mixed model.

    Attributes
    ----------
    params : ndarray of shape (p,)
        Fixed-effect estimates.
    cov : ndarray of shape (p, p)
        Their covariance, ``sigma2 * (X' V^-1 X)^-1``.
    sigma2 : float
        Residual (within-person) variance.
    tau2 : float
        Random-intercept (between-person) variance.
    """

    params: np.ndarray
    cov: np.ndarray
    sigma2: float
    tau2: float

    def contrast(self, weights: np.ndarray) -> tuple[float, float]:
        """Estimate and standard error of ``weights @ params``."""
        weights = np.asarray(weights, dtype=float)
        return float(weights @ self.params), float(np.sqrt(weights @ self.cov @ weights))


def _group_means(values: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-group column means of a 2-D array (groups coded 0..G-1)."""
    G = len(counts)
    sums = np.zeros((G, values.shape[1]))
    np.add.at(sums, codes, values)
    return sums / counts[:, None]


def _reml_pieces(lam: float, Z: np.ndarray, means: np.ndarray, codes, counts):
    """Quasi-demeaned data for variance ratio ``lam`` and its REML ingredients."""
    shrink = 1.0 - 1.0 / np.sqrt(1.0 + counts * lam)
    W = Z - shrink[codes, None] * means[codes]
    X, y = W[:, 1:], W[:, 0]
    xtx = X.T @ X
    beta = np.linalg.solve(xtx, X.T @ y)
    rss = float(np.sum((y - X @ beta) ** 2))
    return beta, xtx, rss


def _neg_reml(log_lam: float, Z, means, codes, counts) -> float:
    lam = np.exp(log_lam)
    _, xtx, rss = _reml_pieces(lam, Z, means, codes, counts)
    n, p = Z.shape[0], Z.shape[1] - 1
    logdet = np.linalg.slogdet(xtx)[1]
    return 0.5 * ((n - p) * np.log(rss / (n - p)) + np.sum(np.log1p(counts * lam)) + logdet)


def fit_random_intercept(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> RandomInterceptFit:
    """REML fit of ``y = X beta + u_group + e`` with ``u ~ N(0, tau2)``, ``e ~ N(0, sigma2)``.

    For a variance ratio ``lam = tau2 / sigma2`` the GLS transform of a group with ``n_i`` rows
    is quasi-demeaning by ``1 - 1/sqrt(1 + n_i lam)``; the REML criterion is then profiled over
    ``sigma2`` and ``beta`` in closed form and minimised over ``log lam`` by Brent's method.
    Gives the estimates, standard errors and variance components of statsmodels'
    ``MixedLM(..., groups).fit(reml=True)`` for a random intercept, in about a millisecond.

    Parameters
    ----------
    y : ndarray of shape (n,)
        Outcome.
    X : ndarray of shape (n, p)
        Fixed-effects design (full column rank; include the intercept column).
    groups : array-like of shape (n,)
        Group (person) label of each row.

    Returns
    -------
    RandomInterceptFit
    """
    y, X = np.asarray(y, dtype=float), np.asarray(X, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"y must be 1-D with one value per row of X; got y {y.shape}, X {X.shape}")
    if X.shape[0] <= X.shape[1]:
        raise ValueError(f"need more rows than columns in X; got X with shape {X.shape}")
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    counts = np.bincount(codes).astype(float)
    Z = np.column_stack([y, X])
    means = _group_means(Z, codes, counts)
    args = (Z, means, codes, counts)
    best = optimize.minimize_scalar(_neg_reml, bounds=(-12.0, 8.0), args=args, method="bounded",
                                    options={"xatol": 1e-7})
    log_lam = best.x if best.fun < _neg_reml(-12.0, *args) else -np.inf
    lam = float(np.exp(log_lam))
    beta, xtx, rss = _reml_pieces(lam, *args)
    sigma2 = rss / (X.shape[0] - X.shape[1])
    return RandomInterceptFit(beta, sigma2 * np.linalg.inv(xtx), sigma2, lam * sigma2)


