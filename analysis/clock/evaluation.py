"""Repeated K-fold evaluation of a clock, with a permutation test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold

from analysis.clock.estimator import BrainAgeClock, _check_age, _n_samples, _take, clock_metrics

__all__ = ["ClockEvaluation", "evaluate_clock"]


@dataclass
class ClockEvaluation:
    """Result of :func:`evaluate_clock`.

    Attributes
    ----------
    folds : DataFrame
        One row per repeat x fold x estimate (``uncorrected``, ``corrected``, ``mean_age``):
        ``mae, rmse, r, r2``.
    predictions : DataFrame
        One row per repeat x person: ``repeat, index, age, predicted_age, predicted_corrected``.
    summary : DataFrame
        Indexed by estimate; mean of the per-repeat pooled metrics.
    permutation_mae : ndarray
        Uncorrected MAE under permuted ages (empty without permutations).
    p_value : float
        Permutation p-value of the uncorrected MAE (NaN without permutations).
    """

    folds: pd.DataFrame
    predictions: pd.DataFrame
    summary: pd.DataFrame
    permutation_mae: np.ndarray
    p_value: float

    def metric(self, name: str, estimate: str = "uncorrected") -> float:
        """One summary number, e.g. ``metric("mae", "corrected")``."""
        return float(self.summary.loc[estimate, name])


def _cv_predict(clock, X, age, splits) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    predicted, corrected, baseline = (np.empty_like(age) for _ in range(3))
    fold_of = []
    for fold, (train, test) in enumerate(splits):
        fitted = clone(clock).fit(_take(X, train), age[train])
        predicted[test] = fitted.predict(_take(X, test))
        corrected[test] = fitted.correct(predicted[test], age[test]) + age[test]
        baseline[test] = age[train].mean()
        fold_of.append((fold, test))
    return predicted, corrected, baseline, fold_of


def _check_evaluation(X, age, n_splits: int) -> np.ndarray:
    n = _n_samples(X)
    age = _check_age(age, n)
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2; got {n_splits!r}")
    if n < 2 * n_splits:
        raise ValueError(f"too few subjects for {n_splits}-fold CV: got {n}")
    return age


def evaluate_clock(
    clock: BrainAgeClock,
    X,
    age,
    *,
    n_splits: int = 5,
    n_repeats: int = 1,
    n_permutations: int = 0,
    random_state: int | None = 0,
) -> ClockEvaluation:
    """Repeated K-fold evaluation of a clock, everything refitted inside each training fold.

    Parameters
    ----------
    clock : BrainAgeClock
        Unfitted clock (cloned for every fold).
    X : list of ndarray, CovarianceStack or ndarray
        Scans or features, as the clock expects.
    age : array-like of shape (n_samples,)
        Chronological age.
    n_splits, n_repeats : int
        K and the number of repeats of the shuffled K-fold split.
    n_permutations : int, default=0
        Number of age permutations for a p-value of the uncorrected MAE against the null of no
        age information (each permutation reruns one repeat of the CV).
    random_state : int or None, default=0
        Seed of the splits and the permutations.

    Returns
    -------
    ClockEvaluation
    """
    age = _check_evaluation(X, age, n_splits)
    rng = np.random.default_rng(random_state)
    fold_rows, prediction_frames, pooled = [], [], []
    for repeat in range(n_repeats):
        seed = int(rng.integers(2**31))
        splits = list(KFold(n_splits, shuffle=True, random_state=seed).split(age))
        predicted, corrected, baseline, folds = _cv_predict(clock, X, age, splits)
        estimates = {"uncorrected": predicted, "corrected": corrected, "mean_age": baseline}
        for fold, test in folds:
            for name, values in estimates.items():
                fold_rows.append({"repeat": repeat, "fold": fold, "estimate": name,
                                  **clock_metrics(values[test], age[test])})
        for name, values in estimates.items():
            pooled.append({"repeat": repeat, "estimate": name, **clock_metrics(values, age)})
        prediction_frames.append(pd.DataFrame({
            "repeat": repeat, "index": np.arange(len(age)), "age": age,
            "predicted_age": predicted, "predicted_corrected": corrected,
        }))
    summary = pd.DataFrame(pooled).groupby("estimate")[["mae", "rmse", "r", "r2"]].mean()
    summary = summary.loc[["uncorrected", "corrected", "mean_age"]]
    null = _permutation_mae(clock, X, age, n_splits, n_permutations, rng)
    observed = summary.loc["uncorrected", "mae"]
    p_value = float((1 + np.sum(null <= observed)) / (1 + len(null))) if len(null) else float("nan")
    return ClockEvaluation(pd.DataFrame(fold_rows), pd.concat(prediction_frames, ignore_index=True),
                           summary, null, p_value)


def _permutation_mae(clock, X, age, n_splits, n_permutations, rng) -> np.ndarray:
    null = np.empty(n_permutations)
    for i in range(n_permutations):
        shuffled = rng.permutation(age)
        seed = int(rng.integers(2**31))
        splits = KFold(n_splits, shuffle=True, random_state=seed).split(age)
        predicted = _cv_predict(clock, X, shuffled, splits)[0]
        null[i] = np.mean(np.abs(predicted - shuffled))
    return null


