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


def _sufficient_statistics(Z: np.ndarray, codes: np.ndarray, counts: np.ndarray):
    """What the REML criterion needs from the data, whatever the variance ratio.

    For a group of ``n_i`` rows with column means ``m_i``, quasi-demeaning by ``s_i`` gives
    ``W'W = Z'Z - sum_i n_i (2 s_i - s_i^2) m_i m_i'`` and ``2 s - s^2 = 1 - 1/(1 + n lam)``
    depends on the group only through its size. So ``W'W(lam) = Z'Z - sum_k c_k(lam) B_k`` with
    ``B_k = sum_{i: n_i = k} n_i m_i m_i'``: one small matrix per distinct group size, computed
    once, instead of re-weighting every row at every step of the search (measured: 5x faster on
    the simulation study's fits; same optimum to the search's tolerance).
    """
    sums = np.stack([np.bincount(codes, weights=col, minlength=len(counts)) for col in Z.T], axis=1)
    sizes, size_code = np.unique(counts, return_inverse=True)
    scaled = sums / np.sqrt(counts)[:, None]  # sqrt(n_i) m_i
    B = np.stack([scaled[size_code == k].T @ scaled[size_code == k] for k in range(len(sizes))])
    n_groups = np.bincount(size_code).astype(float)
    return Z.T @ Z, sizes, B, n_groups


def _cross_products(lam: float, gram: np.ndarray, sizes: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``W'W`` of the quasi-demeaned data ``[X, y]`` for variance ratio ``lam``."""
    weight = 1.0 - 1.0 / (1.0 + sizes * lam)
    return gram - (weight @ B.reshape(len(weight), -1)).reshape(gram.shape)


def _neg_reml(log_lam: float, gram, sizes, B, n_groups, n: int, p: int) -> float:
    lam = np.exp(log_lam)
    chol = np.linalg.cholesky(_cross_products(lam, gram, sizes, B))  # columns [X, y]: rss = chol[p, p]^2
    diag = np.diag(chol)
    rss = diag[p] ** 2
    logdet = 2.0 * np.sum(np.log(diag[:p]))
    return 0.5 * ((n - p) * np.log(rss / (n - p)) + n_groups @ np.log1p(sizes * lam) + logdet)


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
    n, p = X.shape
    gram, sizes, B, n_groups = _sufficient_statistics(np.column_stack([X, y]), codes, counts)
    args = (gram, sizes, B, n_groups, n, p)
    best = optimize.minimize_scalar(_neg_reml, bounds=(-12.0, 8.0), args=args, method="bounded",
                                    options={"xatol": 1e-7})
    log_lam = best.x if best.fun < _neg_reml(-12.0, *args) else -np.inf
    lam = float(np.exp(log_lam))
    cross = _cross_products(lam, gram, sizes, B)
    xtx = cross[:p, :p]
    beta = np.linalg.solve(xtx, cross[:p, p])
    sigma2 = float(np.linalg.cholesky(cross)[p, p] ** 2) / (n - p)
    return RandomInterceptFit(beta, sigma2 * np.linalg.inv(xtx), sigma2, lam * sigma2)
