"""Benchmark: fit the tangent + ridge brain-age clock on the 2,433-person reference cohort.

Reports wall time and peak memory of the whole fit (covariances streamed from the time series,
tangent embedding, ridge with internal CV, inner CV for the bias correction) against the goal
(< 60 s, < 2 GB on 2 cores), the same fit by the old (reference) path -- scikit-learn's
``ledoit_wolf`` per scan, every step serial -- with the ratio new/old (goal <= 0.3), and the speed-up of the batched tangent embedding over nilearn's
per-subject ``ConnectivityMeasure(kind="tangent")`` measured on a subset and extrapolated
linearly (running nilearn on all 2,433 people takes minutes).

Run: ``python benchmarks/bench_clock.py`` (``make bench`` runs every ``bench_*.py``).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc

GOAL_SECONDS = 60.0
GOAL_MB = 2048.0
N_REFERENCE = 2433
N_SUBSET = 100


def _reference(n: int):
    """The synthetic reference cohort: ids, ages and a time-series reader."""
    from analysis.trial import simulate_reference

    reference = simulate_reference(n=n, seed=0)
    ids = list(reference.participants["participant_id"])
    return ids, reference.participants["age"].to_numpy(float), reference.timeseries


def _source(ids, timeseries):
    """The scans as the package's cohorts give them (readable in any order, never disk-cached)."""
    from analysis.connectome import SeriesSource

    return SeriesSource(len(ids), lambda i: timeseries(ids[i]))


def _report(what: str, seconds: float, peak_mb: float | None, goal: str, passed: bool) -> None:
    memory = "       - MB" if peak_mb is None else f"{peak_mb:8.0f} MB"
    print(f"{what:<58} {seconds:8.1f} s {memory}  goal {goal:<18} {'PASS' if passed else 'FAIL'}")


def _reference_covariances(series):
    """The old path's covariances: scikit-learn's ``ledoit_wolf`` on each scan."""
    import numpy as np
    from sklearn.covariance import ledoit_wolf

    from analysis._threads import single_threaded_blas
    from analysis.connectome import CovarianceStack

    with single_threaded_blas():
        return CovarianceStack(np.stack([ledoit_wolf(s)[0] for s in series]))


def _fit_seconds(ids, age, timeseries, *, old: bool) -> tuple[float, float, float, object]:
    """Wall time, CPU time of the covariance step and traced peak of one full clock fit."""
    import os

    from analysis._threads import N_JOBS_ENV
    from analysis.clock import BrainAgeClock
    from analysis.connectome import shrunk_covariances

    saved = os.environ.get(N_JOBS_ENV)
    if old:
        os.environ[N_JOBS_ENV] = "1"  # the old code ran every step serially
    try:
        tracemalloc.start()
        start = time.perf_counter()
        if old:  # one scan after the other, as the old code read them
            stack = _reference_covariances(timeseries(pid) for pid in ids)
        else:  # the cohort's series source: blocks of scans read on the available cores
            stack = shrunk_covariances(_source(ids, timeseries))
        covariance_seconds = time.perf_counter() - start
        clock = BrainAgeClock(random_state=0).fit(stack, age)
        seconds = time.perf_counter() - start
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    finally:
        if saved is None:
            os.environ.pop(N_JOBS_ENV, None)
        else:
            os.environ[N_JOBS_ENV] = saved
    return seconds, covariance_seconds, peak_mb, clock


def bench_fit(compare_old: bool = True) -> bool:
    """Fit time and peak traced memory of the full clock on the reference cohort, old vs new.

    "old" is the reference path kept for this comparison (scikit-learn's ``ledoit_wolf`` per
    scan, every step serial: what the code did before the performance work); "new" is the
    package's path (lean bit-identical Ledoit-Wolf, tangent eigendecompositions on the
    available cores). Both include simulating the time series, as a real fit includes reading
    them. The two fits must give identical predictions; the goal is new <= 0.3 x old.
    """
    import numpy as np

    ids, age, timeseries = _reference(N_REFERENCE)
    seconds, covariance_seconds, peak_mb, clock = _fit_seconds(ids, age, timeseries, old=False)
    print(f"  new: {seconds:.1f} s (of which reading the series + Ledoit-Wolf covariances, on threads: {covariance_seconds:.1f} s)")
    passed = seconds < GOAL_SECONDS and peak_mb < GOAL_MB
    _report(f"fit tangent+ridge clock, n={N_REFERENCE} (traced peak)", seconds, peak_mb,
            "<60 s, <2048 MB", passed)
    if not compare_old:
        return passed
    old_seconds, old_cov, _, old_clock = _fit_seconds(ids, age, timeseries, old=True)
    same = np.array_equal(clock.oof_predictions_, old_clock.oof_predictions_)
    print(f"  old: {old_seconds:.1f} s (of which covariances: {old_cov:.1f} s); "
          f"identical out-of-sample predictions: {same}")
    ratio = seconds / old_seconds
    _report(f"clock fit new/old = {ratio:.2f}", seconds, None, "<= 0.3 x old", ratio <= 0.3)
    return passed and same


def bench_speedup() -> bool:
    """Batched tangent embedding vs nilearn's per-subject ConnectivityMeasure on a subset."""
    from nilearn.connectome import ConnectivityMeasure
    from sklearn.covariance import LedoitWolf

    from analysis._threads import single_threaded_blas
    from analysis.connectome import ConnectivityFeatures

    ids, _, timeseries = _reference(N_SUBSET)
    series = [timeseries(pid) for pid in ids]
    start = time.perf_counter()
    ConnectivityFeatures("tangent").fit_transform(series)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    with single_threaded_blas():  # same BLAS setting as ours: threads only slow small matrices
        ConnectivityMeasure(kind="tangent", cov_estimator=LedoitWolf(store_precision=False),
                            vectorize=True, discard_diagonal=True).fit_transform(series)
    theirs = time.perf_counter() - start
    scale = N_REFERENCE / N_SUBSET
    print(f"  nilearn {theirs:.1f} s vs batched {ours:.1f} s on {N_SUBSET} people; "
          f"extrapolated to {N_REFERENCE}: {theirs * scale:.0f} s vs {ours * scale:.0f} s")
    _report(f"speed-up of batched tangent vs nilearn: x{theirs / ours:.1f}", ours, None,
            "faster than nilearn", ours < theirs)
    return ours < theirs


def main() -> int:
    """Run the benchmarks; exit status 1 if a goal is missed."""
    print(f"bench_clock: {time.strftime('%Y-%m-%d %H:%M:%S')}")
    results = [bench_fit(), bench_speedup()]
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  process peak RSS (includes simulating the cohort): {peak_rss:.0f} MB")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
