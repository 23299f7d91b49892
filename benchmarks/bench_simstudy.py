"""Benchmark of the simulation study (issue 6): fast path vs full pipeline.

Prints one line per measurement: what, seconds, peak MB, goal, pass/fail.

* replicates per second of the fast path (one worker);
* seconds per replicate of the full pipeline (simulate the trial's time series, connectivity,
  clock, correction, mixed model; the clock trained once beforehand) and the fast path's
  speed-up over it (goal >= 20x);
* the book's study: LISA-like world on three scales + null world, 2,000 replicates each, plus the
  power grid, on 2 workers (goal < 3 min).

Run: ``python benchmarks/bench_simstudy.py``.
"""

from __future__ import annotations

import resource
import time

from analysis import simstudy
from analysis.trial import TrialAssumptions

N_WORKERS = 2


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _line(what: str, seconds: float, goal: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("pass" if ok else "FAIL")
    print(f"{what:<58} {seconds:9.2f} s {_peak_mb():8.0f} MB   goal: {goal:<22} {verdict}", flush=True)


def _book_study(measurement: simstudy.MeasurementModel) -> None:
    for scale in ("beheshti", "cole", "none"):
        simstudy.run_simulation(2000, measurement=measurement, scale=scale, seed=1, n_jobs=N_WORKERS)
    simstudy.run_simulation(2000, assumptions=TrialAssumptions.null(), measurement=measurement, seed=2,
                            n_jobs=N_WORKERS)
    simstudy.power_grid([25, 50, 75, 100, 150, 200, 300], [1.0, 2.0, 4.0, 6.0, measurement.error_sd],
                        n_replicates=300, measurement=measurement, seed=3, n_jobs=N_WORKERS)


def main() -> int:
    start = time.perf_counter()
    clock = simstudy.train_clock(600, seed=0)
    _line("train a clock once (600 reference adults; not per replicate)", time.perf_counter() - start, "-", None)
    from analysis.trial import simulate_trial

    start = time.perf_counter()
    measurement = simstudy.measurement_from_clock(clock, simulate_trial(seed=99))
    _line("characterise its measurement model (one trial)", time.perf_counter() - start, "-", None)

    n_fast = 1000
    start = time.perf_counter()
    simstudy.run_simulation(n_fast, measurement=measurement, seed=0, n_jobs=1)
    fast = (time.perf_counter() - start) / n_fast
    _line(f"fast path: {1 / fast:,.0f} replicates/s (1 worker, {n_fast} replicates)", fast * n_fast, "-", None)

    n_full = 2
    start = time.perf_counter()
    for seed in range(n_full):
        simstudy.full_pipeline_replicate(1000 + seed, clock)
    full = (time.perf_counter() - start) / n_full
    speedup = full / fast
    _line(f"full pipeline: seconds per replicate (LISA size, {n_full} replicates)", full, "-", None)
    _line(f"fast-path speed-up over the full pipeline: {speedup:,.0f}x", full, ">= 20x", speedup >= 20)

    start = time.perf_counter()
    _book_study(measurement)
    study = time.perf_counter() - start
    _line(f"book study (4 x 2,000 replicates + power grid, {N_WORKERS} workers)", study, "< 180 s", study < 180)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
