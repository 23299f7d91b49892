"""Benchmark of the full-pipeline simulation study (analysis.simstudy.full).

Prints, for one replicate at LISA's size (451 randomised, ~900 usable scans), the wall and CPU
seconds of

* the new batched replicate (:func:`analysis.simstudy.full.run_replicate`: simulate the trial, batched
  time series + Ledoit-Wolf covariances, tangent projection at the clock's fixed reference,
  four analyses of the six contrasts), with a breakdown by stage;
* what the existing pipeline costs today for the same work
  (:func:`analysis.simstudy.fast.full_pipeline_replicate`: per-scan time series, scikit-learn
  Ledoit-Wolf, ``BrainAgeClock.predict``, one mixed model).

Goal: <= 2 s per replicate on one core. CPU seconds are the honest measure on a shared machine
(wall time includes waiting for the core). The clock is trained once beforehand (not timed per
replicate); a 300-person reference keeps the set-up short -- prediction cost does not depend on
the reference size.

Run from the repository root: ``OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fullsim.py [--replicates 3]``
(``PYTHONPATH=.`` makes a git worktree import its own ``analysis``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from analysis.clock import BrainAgeClock
from analysis.connectome import CovarianceStack
from analysis.simstudy import fast as simstudy
from analysis.simstudy import full as fullsim
from analysis.trial import simulate_reference, simulate_trial


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def _line(what: str, wall: float, cpu: float, goal: str = "-", ok: bool | None = None) -> None:
    verdict = "n/a" if ok is None else ("pass" if ok else "FAIL")
    print(f"{what:<62} wall {wall:7.2f} s  cpu {cpu:7.2f} s   goal: {goal:<10} {verdict}", flush=True)


def _stages(study: fullsim.Study, seed: int = 123) -> None:
    """Per-stage cost of one replicate (same code path as run_replicate)."""
    a = fullsim.world("alt")
    with threadpool_limits(limits=1):
        with Timer() as t:
            trial = simulate_trial(seed, assumptions=a)
            d = fullsim._person_month(trial)
        _line("  stage: simulate the trial's tables", t.wall, t.cpu)
        person, col = np.nonzero(d["usable"])
        with Timer() as t:
            covs = fullsim.scan_covariances(a, seed, person, col * 12, d["brain_age"][person, col],
                                            d["fd"][person, col], d["prefrontal"][person, col])
        _line(f"  stage: time series + Ledoit-Wolf ({len(person)} scans, batched)", t.wall, t.cpu)
        with Timer() as t:
            predicted = fullsim.predict(study.form, covs)
        _line("  stage: tangent projection + clock (batched eigh)", t.wall, t.cpu)
        with Timer() as t:
            scans = {"person": person, "arm": d["arm"][person], "month": col * 12, "age": d["age"][person, col],
                     "female": d["female"][person], "mean_fd_mm": d["fd"][person, col]}
            for scale in ("beheshti", "cole", "none"):
                simstudy.primary_contrasts(fullsim.apply_correction(predicted, scans["age"], study.form.correction, scale), scans)
        _line("  stage: corrections + three mixed models", t.wall, t.cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--n-reference", type=int, default=300)
    parser.add_argument("--skip-old", action="store_true", help="do not time the existing pipeline")
    args = parser.parse_args(argv)

    with Timer() as t:
        study = fullsim.build_study(args.n_reference)
    _line(f"set-up once per study: clock on {args.n_reference} reference adults + calibration", t.wall, t.cpu)

    fullsim.run_replicate(fullsim.ReplicateKey("baseline", "alt", 999), study)  # warm-up (imports, caches)
    walls, cpus = [], []
    for i in range(args.replicates):
        with Timer() as t:
            frame = fullsim.run_replicate(fullsim.ReplicateKey("baseline", "alt", i), study)
        walls.append(t.wall)
        cpus.append(t.cpu)
    n_scans = int(frame["n_scans"].iat[0])
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    _line(f"NEW full-pipeline replicate (median of {args.replicates}; {n_scans} scans, 4 analyses)",
          wall, cpu, "<= 2 s cpu", cpu <= 2.0)
    _stages(study)

    if not args.skip_old:
        reference = simulate_reference(args.n_reference, seed=0)
        with threadpool_limits(limits=1):
            clock = BrainAgeClock(connectivity="tangent", random_state=0).fit(
                CovarianceStack(np.stack([fullsim._ledoit_wolf(x) for x in reference.iter_timeseries()])),
                reference.participants["age"].to_numpy(float))
        with Timer() as t:
            simstudy.full_pipeline_replicate(1000, clock)
        _line("OLD simstudy.fast.full_pipeline_replicate (1 replicate, 1 analysis)", t.wall, t.cpu)
        print(f"per-replicate cpu: old {t.cpu:.2f} s (1 analysis) vs new {cpu:.2f} s (4 analysis x 6 contrasts); "
              f"speed-up {t.cpu / cpu:.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
