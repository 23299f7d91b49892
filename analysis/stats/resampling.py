"""Nonparametric bootstrap confidence intervals (percentile and BCa)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps

from analysis.stats._checks import _check_confidence

__all__ = ["BootstrapCI", "bootstrap_ci", "bootstrap_indices", "percentile_interval"]

_BOOT_METHODS = ("percentile", "bca")


@dataclass(frozen=True)
class BootstrapCI:
    """A statistic with its bootstrap confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    n_boot: int
    method: str


def _rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}")


def bootstrap_indices(n: int, n_boot: int, random_state: int | np.random.Generator | None = None) -> np.ndarray:
    """Row indices of ``n_boot`` bootstrap resamples of ``n`` rows, shape ``(n_boot, n)``.

    The same resamples, in the same order, as :func:`bootstrap_ci` draws with the same
    ``random_state``, so a statistic computed on all resamples at once (vectorised) gives the
    same interval.
    """
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot must be an integer >= 10, got {n_boot!r}")
    if n < 3:
        raise ValueError(f"data needs at least 3 rows for a bootstrap, got {n}")
    rng = _rng(random_state)
    return np.array([rng.integers(0, n, n) for _ in range(int(n_boot))])


def percentile_interval(estimate: float, boots: np.ndarray, confidence: float = 0.95) -> BootstrapCI:
    """Percentile interval of bootstrap replicates ``boots`` (non-finite replicates dropped)."""
    confidence = _check_confidence(confidence)
    boots = np.asarray(boots, dtype=float)
    boots = boots[np.isfinite(boots)]
    alpha = 1 - confidence
    low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(estimate=float(estimate), ci_low=float(low), ci_high=float(high),
                       se=float(np.std(boots, ddof=1)), n_boot=int(boots.size), method="percentile")


def bootstrap_ci(
    data: np.ndarray | pd.DataFrame | Sequence[np.ndarray],
    statistic: Callable[..., float],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    method: str = "percentile",
    random_state: int | np.random.Generator | None = None,
) -> BootstrapCI:
    """Nonparametric bootstrap CI of a statistic, resampling rows (cases) with replacement.

    Parameters
    ----------
    data : array, DataFrame or tuple of arrays
        The sample. A tuple of equal-length arrays is resampled jointly (paired) and passed to
        ``statistic`` as separate arguments; an array or DataFrame is resampled by row.
    statistic : callable
        ``statistic(sample)`` (or ``statistic(*arrays)``) returning a float.
    n_boot : int
        Bootstrap replicates.
    confidence : float
        Coverage of the interval.
    method : {"percentile", "bca"}
        Percentile interval, or bias-corrected and accelerated (acceleration by jackknife).
    random_state : int, Generator or None
        Seed for reproducible resampling.

    Returns
    -------
    BootstrapCI
        ``estimate`` is the statistic on the full sample; ``se`` the bootstrap SD.
    """
    confidence = _check_confidence(confidence)
    if method not in _BOOT_METHODS:
        raise ValueError(f"method must be one of {_BOOT_METHODS}, got {method!r}")
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot must be an integer >= 10, got {n_boot!r}")
    paired = isinstance(data, tuple)
    arrays = [np.asarray(a) if not isinstance(a, pd.DataFrame) else a for a in data] if paired else [data]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"data arrays must have equal lengths, got {[len(a) for a in arrays]}")
    if n < 3:
        raise ValueError(f"data needs at least 3 rows for a bootstrap, got {n}")

    def take(a, idx):
        return a.iloc[idx] if isinstance(a, (pd.DataFrame, pd.Series)) else np.asarray(a)[idx]

    def stat(idx):
        return float(statistic(*[take(a, idx) for a in arrays]))

    rng = _rng(random_state)
    full = np.arange(n)
    estimate = stat(full)
    boots = np.array([stat(rng.integers(0, n, n)) for _ in range(int(n_boot))])
    boots = boots[np.isfinite(boots)]
    alpha = 1 - confidence
    if method == "percentile":
        lo_q, hi_q = alpha / 2, 1 - alpha / 2
    else:
        prop = (np.sum(boots < estimate) + 0.5 * np.sum(boots == estimate)) / boots.size
        z0 = _sps.norm.ppf(np.clip(prop, 1e-10, 1 - 1e-10))
        jack = np.array([stat(np.delete(full, i)) for i in range(n)])
        d = jack.mean() - jack
        denom = 6.0 * np.sum(d**2) ** 1.5
        acc = float(np.sum(d**3) / denom) if denom > 0 else 0.0
        z = _sps.norm.ppf([alpha / 2, 1 - alpha / 2])
        adj = z0 + (z0 + z) / (1 - acc * (z0 + z))
        lo_q, hi_q = _sps.norm.cdf(adj)
    low, high = np.quantile(boots, [lo_q, hi_q])
    return BootstrapCI(
        estimate=estimate,
        ci_low=float(low),
        ci_high=float(high),
        se=float(np.std(boots, ddof=1)),
        n_boot=int(boots.size),
        method=method,
    )


