"""Correlations and partial correlations with bootstrap confidence intervals."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps

from analysis.stats._checks import _check_columns
from analysis.stats.resampling import bootstrap_ci, bootstrap_indices, percentile_interval

__all__ = ["correlation", "partial_correlation"]

_CORR_METHODS = ("pearson", "spearman")


def _rank(a: np.ndarray) -> np.ndarray:
    """Average ranks from 1 (as ``scipy.stats.rankdata(a)``, ties averaged), without its per-call
    overhead, which dominated the bootstrap of a Spearman correlation."""
    a = np.asarray(a, dtype=float)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    new_value = np.r_[True, s[1:] != s[:-1]]
    bounds = np.r_[np.flatnonzero(new_value), a.size]
    average = (bounds[:-1] + bounds[1:] + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks = np.empty(a.size)
    ranks[order] = average[np.cumsum(new_value) - 1]
    return ranks


def _corr(x: np.ndarray, y: np.ndarray, method: str) -> float:
    if method == "spearman":
        x, y = _rank(x), _rank(y)
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt(np.sum(xc**2) * np.sum(yc**2))
    return float(np.sum(xc * yc) / denom) if denom > 0 else np.nan


def _corr_rows(X: np.ndarray, Y: np.ndarray, method: str) -> np.ndarray:
    """:func:`_corr` of each row of ``X`` with the same row of ``Y``."""
    if method == "spearman":
        X, Y = _sps.rankdata(X, axis=1), _sps.rankdata(Y, axis=1)
    Xc, Yc = X - X.mean(axis=1, keepdims=True), Y - Y.mean(axis=1, keepdims=True)
    denom = np.sqrt(np.sum(Xc**2, axis=1) * np.sum(Yc**2, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.sum(Xc * Yc, axis=1) / denom, np.nan)


def _corr_p(r: float, n: int, k: int = 0) -> float:
    """Two-sided p of a (partial) correlation via the t statistic with n - 2 - k df."""
    df = n - 2 - k
    if df < 1 or not np.isfinite(r):
        return np.nan
    if abs(r) >= 1:
        return 0.0
    t = r * np.sqrt(df / (1 - r**2))
    return float(2 * _sps.t.sf(abs(t), df))


def correlation(
    data: pd.DataFrame,
    x: str,
    y: str,
    *,
    method: str = "pearson",
    n_boot: int = 2000,
    confidence: float = 0.95,
    ci_method: str = "percentile",
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Pearson or Spearman correlation with a bootstrap CI (resampling people).

    Parameters
    ----------
    data : DataFrame
        One row per unit; rows missing ``x`` or ``y`` are dropped.
    x, y : str
        Column names.
    method : {"pearson", "spearman"}
        Correlation coefficient.
    n_boot, confidence, ci_method, random_state
        Passed to :func:`bootstrap_ci`.

    Returns
    -------
    DataFrame
        One row indexed by ``method``: ``n, r, ci_low, ci_high, p`` (``p`` from the t test of
        the coefficient, as :func:`scipy.stats.pearsonr`/``spearmanr``).
    """
    if method not in _CORR_METHODS:
        raise ValueError(f"method must be one of {_CORR_METHODS}, got {method!r}")
    _check_columns(data, [x, y])
    d = data[[x, y]].dropna()
    xv, yv = d[x].to_numpy(float), d[y].to_numpy(float)
    r = _corr(xv, yv, method)
    if ci_method == "percentile":  # all resamples at once: the same resamples as bootstrap_ci
        idx = bootstrap_indices(len(d), n_boot, random_state)
        ci = percentile_interval(r, _corr_rows(xv[idx], yv[idx], method), confidence)
    else:
        ci = bootstrap_ci((xv, yv), lambda a, b: _corr(a, b, method), n_boot=n_boot, confidence=confidence,
                          method=ci_method, random_state=random_state)
    out = pd.DataFrame(
        {"n": [len(d)], "r": [r], "ci_low": [ci.ci_low], "ci_high": [ci.ci_high], "p": [_corr_p(r, len(d))]},
        index=pd.Index([method], name="method"),
    )
    return out


def _residualize(values: np.ndarray, Z: np.ndarray) -> np.ndarray:
    beta, *_ = np.linalg.lstsq(Z, values, rcond=None)
    return values - Z @ beta


def _covariate_matrix(data: pd.DataFrame, covariates: Sequence[str]) -> np.ndarray:
    Z = pd.get_dummies(data[list(covariates)], drop_first=True, dtype=float)
    return np.column_stack([np.ones(len(data)), Z.to_numpy(float)])


def partial_correlation(
    data: pd.DataFrame,
    x: str,
    y: str,
    covariates: Sequence[str],
    *,
    method: str = "pearson",
    n_boot: int = 2000,
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Partial correlation of ``x`` and ``y`` given covariates, with a bootstrap CI.

    Both variables are residualised on an intercept and the covariates (non-numeric covariates
    are dummy-coded) by least squares, and the residuals are correlated; Spearman ranks ``x``,
    ``y`` and numeric covariates first. ``p`` uses ``n - 2 - k`` degrees of freedom (``k``
    covariate columns). The bootstrap resamples rows and redoes the residualisation.

    Returns
    -------
    DataFrame
        One row indexed by ``method``: ``n, r, ci_low, ci_high, p, covariates``.
    """
    if method not in _CORR_METHODS:
        raise ValueError(f"method must be one of {_CORR_METHODS}, got {method!r}")
    covariates = list(covariates)
    if not covariates:
        raise ValueError("covariates must name at least one column; use correlation() otherwise")
    _check_columns(data, [x, y, *covariates])
    d = data[[x, y, *covariates]].dropna().reset_index(drop=True)
    if method == "spearman":
        d = d.copy()
        for c in [x, y, *covariates]:
            if pd.api.types.is_numeric_dtype(d[c]):
                d[c] = _sps.rankdata(d[c])
    Z = _covariate_matrix(d, covariates)
    xv, yv = d[x].to_numpy(float), d[y].to_numpy(float)

    def stat(idx: np.ndarray) -> float:
        Zi = Z[idx]
        return _corr(_residualize(xv[idx], Zi), _residualize(yv[idx], Zi), "pearson")

    r = stat(np.arange(len(d)))
    # all resamples at once (the same resamples as bootstrap_ci): batched least squares
    idx = bootstrap_indices(len(d), n_boot, random_state)
    Zb = Z[idx]
    pinv = np.linalg.pinv(np.einsum("bnk,bnl->bkl", Zb, Zb))

    def residuals(v: np.ndarray) -> np.ndarray:
        vb = v[idx]
        beta = np.einsum("bkl,bl->bk", pinv, np.einsum("bnk,bn->bk", Zb, vb))
        return vb - np.einsum("bnk,bk->bn", Zb, beta)

    ci = percentile_interval(r, _corr_rows(residuals(xv), residuals(yv), "pearson"), confidence)
    k = Z.shape[1] - 1
    return pd.DataFrame(
        {
            "n": [len(d)],
            "r": [r],
            "ci_low": [ci.ci_low],
            "ci_high": [ci.ci_high],
            "p": [_corr_p(r, len(d), k)],
            "covariates": [", ".join(covariates)],
        },
        index=pd.Index([method], name="method"),
    )


