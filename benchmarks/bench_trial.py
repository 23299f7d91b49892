"""Benchmark: simulate the full synthetic LISA trial and reference cohort with every time series.

Goal (issue 3): under 30 s and 1.5 GB on the 2-core build machine. Time series are generated
lazily, one scan at a time, so peak memory stays near the size of one scan plus the tables.
Run: ``.venv/bin/python benchmarks/bench_trial.py``.
"""

from __future__ import annotations

import argparse
import resource
import time

GOAL_SECONDS = 30.0
GOAL_MB = 1500.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _consume(iterator) -> tuple[int, float]:
    n, checksum = 0, 0.0
    for x in iterator:
        n += 1
        checksum += float(x[0, 0])
    return n, checksum


def main() -> list[dict]:
    start = time.perf_counter()
    from analysis.trial import simulate_reference, simulate_trial

    rows = []
    t0 = time.perf_counter()
    trial = simulate_trial(seed=0)
    n_trial, _ = _consume(trial.iter_timeseries())
    t1 = time.perf_counter()
    rows.append({"what": f"trial: 451 people, {n_trial} scans x {trial.assumptions.n_volumes} x 160",
                 "seconds": t1 - t0})
    reference = simulate_reference(n=2433, seed=0)
    n_ref, _ = _consume(reference.iter_timeseries())
    t2 = time.perf_counter()
    rows.append({"what": f"reference: {n_ref} scans x {reference.participants['n_volumes'].iat[0]} x 160",
                 "seconds": t2 - t1})
    total = time.perf_counter() - start
    peak = _peak_mb()
    rows.append({"what": "total (incl. imports, atlas)", "seconds": total})
    ok = total < GOAL_SECONDS and peak < GOAL_MB
    print(f"{'what':<52} {'seconds':>8} {'peak MB':>8}  goal             result")
    for row in rows[:-1]:
        print(f"{row['what']:<52} {row['seconds']:8.1f} {'':>8}")
    print(f"{rows[-1]['what']:<52} {total:8.1f} {peak:8.0f}  <{GOAL_SECONDS:.0f} s, <{GOAL_MB:.0f} MB  "
          f"{'PASS' if ok else 'FAIL'}")
    return rows


def calibration(n: int = 800, seed: int = 1) -> dict:
    """Held-out accuracy of nilearn tangent + RidgeCV on synthetic reference adults.

    The simulator's noise assumptions were tuned so that this quick clock looks like published
    resting-state clocks (MAE about 5-8 y, r about 0.7-0.85; design.md, Moguilner 2024).
    """
    import numpy as np
    from nilearn.connectome import ConnectivityMeasure
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    from analysis.trial import simulate_reference

    t0 = time.perf_counter()
    ref = simulate_reference(n=n, seed=seed)
    series = list(ref.iter_timeseries())
    age = ref.participants["age"].to_numpy()
    train, test = train_test_split(np.arange(n), test_size=0.3, random_state=0)
    with threadpool_limits(limits=1, user_api="blas"):  # much faster on a busy 2-core machine
        conn = ConnectivityMeasure(kind="tangent", vectorize=True, discard_diagonal=True)
        x_train = conn.fit_transform([series[i] for i in train])
        x_test = conn.transform([series[i] for i in test])
        model = RidgeCV(alphas=np.logspace(-1, 4, 20)).fit(x_train, age[train])
        pred = model.predict(x_test)
    mae = float(np.mean(np.abs(pred - age[test])))
    r = float(np.corrcoef(pred, age[test])[0, 1])
    seconds = time.perf_counter() - t0
    ok = 5 <= mae <= 8.5 and 0.7 <= r <= 0.9
    print(f"{'clock check: tangent + RidgeCV, ' + str(len(train)) + ' train / ' + str(len(test)) + ' test':<52} "
          f"{seconds:8.1f} {_peak_mb():8.0f}  MAE 5-8, r .7-.85  MAE={mae:.2f} y r={r:.3f} "
          f"{'PASS' if ok else 'FAIL'}")
    return {"mae": mae, "r": r, "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-calibration", action="store_true", help="skip the clock-accuracy check (~1 min)")
    args = parser.parse_args()
    main()
    if not args.no_calibration:
        calibration()
