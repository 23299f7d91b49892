"""Repeated K-fold evaluation of a clock, with a permutation test."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold

from analysis._paths import atomic_write, cache_dir, cache_lock, code_digest
from analysis._threads import parallel_map
from analysis.clock.estimator import BrainAgeClock, _check_age, _n_samples, _take, clock_metrics
from analysis.connectome import CovarianceStack

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


def _fit_fold(task) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``clock`` on one training fold; (predicted, corrected) ages of its test fold."""
    clock, X, target, train, test, correct = task
    fitted = clone(clock).fit(_take(X, train), target[train])
    predicted = fitted.predict(_take(X, test))
    corrected = fitted.correct(predicted, target[test]) + target[test] if correct else predicted
    return predicted, corrected


def _run_folds(jobs: list) -> list:
    """Fit every (clock, X, target, splits, correct) job's folds in one parallel pass.

    All folds of all jobs go to :func:`~analysis._threads.parallel_map` together (the cores
    stay busy even with 3 folds); each fold's result depends only on its inputs, so the output
    is identical to fitting them one after the other. Returns, per job, the tuple of
    :func:`_cv_predict`.
    """
    tasks = [(clock, X, target, train, test, correct)
             for clock, X, target, splits, correct in jobs for train, test in splits]
    results = iter(parallel_map(_fit_fold, tasks, threads=True))
    out = []
    for _, _, target, splits, _ in jobs:
        predicted, corrected, baseline = (np.empty_like(target) for _ in range(3))
        fold_of = []
        for fold, (train, test) in enumerate(splits):
            predicted[test], corrected[test] = next(results)
            baseline[test] = target[train].mean()
            fold_of.append((fold, test))
        out.append((predicted, corrected, baseline, fold_of))
    return out


def _cv_predict(clock, X, age, splits) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    return _run_folds([(clock, X, age, list(splits), True)])[0]


def _check_evaluation(X, age, n_splits: int) -> np.ndarray:
    n = _n_samples(X)
    age = _check_age(age, n)
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2; got {n_splits!r}")
    if n < 2 * n_splits:
        raise ValueError(f"too few subjects for {n_splits}-fold CV: got {n}")
    return age


#: Package files whose code fixes a validation study's result (the key of the study cache).
STUDY_CODE = ("_paths.py", "_threads.py", "atlas.py", "trial/*.py", "connectome.py", "clock/*.py", "stats/*.py")


def _study_key(name: str, parts) -> str:
    text = "|".join(map(str, parts))
    return hashlib.sha256(f"{name}|{text}|{code_digest(STUDY_CODE)}".encode()).hexdigest()[:32]


def _array_digest(*arrays) -> str:
    """sha256 of the arrays' shapes, dtypes and bytes; an array given twice is read once.

    The bytes are hashed in place (a memory view: no copy of a mapped 164 MB stack, whose pages
    need not stay resident either).
    """
    digest, seen = hashlib.sha256(), {}
    for array in arrays:
        if id(array) in seen:
            digest.update(f"same as {seen[id(array)]}".encode())
            continue
        seen[id(array)] = len(seen)
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _input_arrays(X) -> list:
    """The arrays of a clock's input (scans, a covariance stack or features), for :func:`_array_digest`."""
    if isinstance(X, CovarianceStack):
        return [X.covariances]
    if isinstance(X, np.ndarray):
        return [X]
    return [np.asarray(x) for x in X]


def cached_study(name: str, parts, compute):
    """``compute()``, kept in ``data/cache/studies`` under a key of ``name``, ``parts`` and the code.

    ``parts`` must determine the result (content digests of the inputs, every argument); the code
    of :data:`STUDY_CODE` joins the key, so an edit computes it again. Studies that do not depend on
    the trial or reference (the open-data validations) are then computed once for every build
    and test run on this machine. Processes asking for the same study at once compute it once
    (:func:`~analysis._paths.cache_lock`); the file is named ``<name>-<key>.pkl``.
    """
    path = cache_dir("studies") / f"{name}-{_study_key(name, parts)}.pkl"
    with cache_lock(path):
        if path.exists():
            return pickle.loads(path.read_bytes())
        result = compute()
        atomic_write(path, lambda tmp: tmp.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)))
        return result


def evaluate_clock(
    clock: BrainAgeClock,
    X,
    age,
    *,
    n_splits: int = 5,
    n_repeats: int = 1,
    n_permutations: int = 0,
    random_state: int | None = 0,
    cache: bool = False,
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
    cache : bool, default=False
        Keep the result in ``data/cache/studies``, keyed by the content of ``X`` and ``age``, the
        clock's parameters, the arguments and the code (:func:`cached_study`).

    Returns
    -------
    ClockEvaluation
    """
    if cache:
        parts = [_array_digest(np.asarray(age, float), *_input_arrays(X)), sorted(clock.get_params().items()),
                 n_splits, n_repeats, n_permutations, random_state]
        return cached_study("evaluation", parts, lambda: evaluate_clock(
            clock, X, age, n_splits=n_splits, n_repeats=n_repeats, n_permutations=n_permutations,
            random_state=random_state))
    age = _check_evaluation(X, age, n_splits)
    rng = np.random.default_rng(random_state)
    plan = _evaluation_plan(age, n_splits, n_repeats, n_permutations, rng)
    return _evaluations([(clock, X, age, plan)])[0]


def _evaluation_plan(age, n_splits, n_repeats, n_permutations, rng) -> tuple[list, list]:
    """Splits of every repeat and (shuffled ages, splits) of every permutation.

    Drawn from ``rng`` in the order the serial implementation drew them, so the folds and
    permutations (and therefore the results) do not depend on how the fits are scheduled.
    """
    repeats = []
    for _ in range(n_repeats):
        seed = int(rng.integers(2**31))
        repeats.append(list(KFold(n_splits, shuffle=True, random_state=seed).split(age)))
    permutations = []
    for _ in range(n_permutations):
        shuffled = rng.permutation(age)
        seed = int(rng.integers(2**31))
        permutations.append((shuffled, list(KFold(n_splits, shuffle=True, random_state=seed).split(age))))
    return repeats, permutations


def _evaluations(items: list) -> list[ClockEvaluation]:
    """:func:`evaluate_clock` for several (clock, X, age, plan) at once: all fits in one pass."""
    jobs = []
    for clock, X, age, (repeats, permutations) in items:
        jobs += [(clock, X, age, splits, True) for splits in repeats]
        jobs += [(clock, X, shuffled, splits, False) for shuffled, splits in permutations]
    results = iter(_run_folds(jobs))
    return [_assemble(age, [next(results) for _ in repeats],
                      [(shuffled, next(results)[0]) for shuffled, _ in permutations])
            for _, _, age, (repeats, permutations) in items]


def _assemble(age, repeat_results: list, permutation_results: list) -> ClockEvaluation:
    fold_rows, prediction_frames, pooled = [], [], []
    for repeat, (predicted, corrected, baseline, folds) in enumerate(repeat_results):
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
    null = np.array([np.mean(np.abs(predicted - shuffled))
                     for shuffled, predicted in permutation_results], dtype=float)
    observed = summary.loc["uncorrected", "mae"]
    p_value = float((1 + np.sum(null <= observed)) / (1 + len(null))) if len(null) else float("nan")
    return ClockEvaluation(pd.DataFrame(fold_rows), pd.concat(prediction_frames, ignore_index=True),
                           summary, null, p_value)


def _permutation_mae(clock, X, age, n_splits, n_permutations, rng) -> np.ndarray:
    """Uncorrected CV MAE under ``n_permutations`` permutations of ``age`` (drawn from ``rng``)."""
    _, permutations = _evaluation_plan(age, n_splits, 0, n_permutations, rng)
    jobs = [(clock, X, shuffled, splits, False) for shuffled, splits in permutations]
    return np.array([np.mean(np.abs(result[0] - shuffled))
                     for (shuffled, _), result in zip(permutations, _run_folds(jobs))], dtype=float)
