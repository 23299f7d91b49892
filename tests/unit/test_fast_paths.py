"""The fast paths equal the reference (slow) ones: bit for bit where the arithmetic is the
same, to rounding where a BLAS product replaces a scalar loop."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.covariance import ledoit_wolf
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from analysis import connectome
from analysis._threads import N_JOBS_ENV, parallel_map
from analysis.clock import BrainAgeClock, evaluate_clock
from analysis.clock.models import ScaleRBFSVR, rbf_scale_kernel
from analysis.connectome import ConnectivityFeatures, CovarianceStack, shrunk_covariances


@pytest.mark.parametrize("shape", [(250, 16), (40, 30), (12, 5)])
@pytest.mark.parametrize("standardize", [False, True])
def test_lean_ledoit_wolf_is_bit_identical_to_sklearn(rng, shape, standardize):
    series = [rng.standard_normal(shape) @ rng.standard_normal((shape[1],) * 2) + 3 for _ in range(4)]
    stack = shrunk_covariances(series, standardize=standardize)
    expected = [ledoit_wolf(connectome._zscore(s) if standardize else s)[0] for s in series]
    assert np.array_equal(stack.covariances, np.stack(expected))


def _square(x):
    return x * x


def test_parallel_map_equals_the_serial_loop(monkeypatch):
    items = list(range(7))
    for jobs in ("1", "2"):
        monkeypatch.setenv(N_JOBS_ENV, jobs)
        assert parallel_map(_square, items) == [x * x for x in items]
        assert parallel_map(_square, items, threads=True) == [x * x for x in items]


@pytest.mark.parametrize("kind", ["tangent", "correlation", "partial correlation"])
def test_threaded_connectivity_is_identical_to_serial(rng, monkeypatch, kind):
    x = rng.standard_normal((300, 40, 8))
    stack = CovarianceStack(np.swapaxes(x, 1, 2) @ x / 40 + 0.1 * np.eye(8))
    monkeypatch.setenv(N_JOBS_ENV, "1")
    serial = ConnectivityFeatures(kind).fit_transform(stack)
    monkeypatch.setenv(N_JOBS_ENV, "2")
    assert np.array_equal(ConnectivityFeatures(kind).fit_transform(stack), serial)


def test_named_cohort_covariances_come_from_the_cache(tmp_path, monkeypatch):
    from analysis import _paths
    from analysis.trial import simulate_reference

    monkeypatch.setattr(_paths, "data_dir", lambda: tmp_path)
    reference = simulate_reference(12, seed=5)
    plain = shrunk_covariances(reference.timeseries(p) for p in reference.participants["participant_id"])
    first = shrunk_covariances(reference.iter_timeseries())
    assert len(list((tmp_path / "cache" / "covariances").glob("*.npy"))) == 2  # raw and standardised, one read
    second = shrunk_covariances(reference.iter_timeseries())
    assert np.array_equal(first.covariances, plain.covariances)
    assert np.array_equal(second.covariances, plain.covariances)


def test_rbf_scale_kernel_svr_matches_sklearn_rbf(rng):
    X = StandardScaler().fit_transform(rng.standard_normal((80, 50)))
    y = 3 * X[:, :5].sum(axis=1) + 50 + rng.standard_normal(80)
    new = rng.standard_normal((20, 50))
    for C in (1.0, 100.0):
        expected = SVR(kernel="rbf", gamma="scale", epsilon=1.0, C=C).fit(X, y).predict(new)
        fast = SVR(kernel=rbf_scale_kernel, epsilon=1.0, C=C).fit(X, y).predict(new)
        np.testing.assert_allclose(fast, expected, rtol=0, atol=1e-8)


def test_scale_rbf_svr_is_the_grid_searched_rbf_svr(rng):
    """Same chosen C as an explicit search, and then the same model as sklearn's own RBF SVR."""
    X = StandardScaler().fit_transform(rng.standard_normal((120, 40)))
    y = 4 * X[:, :6].sum(axis=1) + 60 + rng.standard_normal(120)
    new = rng.standard_normal((25, 40))
    model = ScaleRBFSVR(Cs=(0.1, 10.0, 1000.0), random_state=3).fit(X, y)
    gamma = 1.0 / (X.shape[1] * X.var())
    scores = {}
    for C in (0.1, 10.0, 1000.0):
        errors = []
        for train, test in KFold(3, shuffle=True, random_state=3).split(X):
            fit = SVR(kernel="rbf", gamma=gamma, epsilon=1.0, C=C).fit(X[train], y[train])
            errors.append(np.mean(np.abs(fit.predict(X[test]) - y[test])))
        scores[C] = np.mean(errors)
    best = min(scores, key=scores.get)
    assert model.search_.best_params_["C"] == best
    expected = SVR(kernel="rbf", gamma="scale", epsilon=1.0, C=best).fit(X, y).predict(new)
    np.testing.assert_allclose(model.predict(new), expected, rtol=0, atol=1e-8)
    with pytest.raises(ValueError, match="39 features; the SVR was fitted on 40"):
        model.predict(new[:, :39])


def _serial_permutation_null(clock, X, age, n_splits, n_repeats, n_permutations, random_state):
    """The old serial implementation of evaluate_clock's permutation test, verbatim in effect."""
    rng = np.random.default_rng(random_state)
    for _ in range(n_repeats):
        rng.integers(2**31)
    null = np.empty(n_permutations)
    for i in range(n_permutations):
        shuffled = rng.permutation(age)
        seed = int(rng.integers(2**31))
        predicted = np.empty_like(age)
        for train, test in KFold(n_splits, shuffle=True, random_state=seed).split(age):
            predicted[test] = clone(clock).fit(X[train], shuffled[train]).predict(X[test])
        null[i] = np.mean(np.abs(predicted - shuffled))
    return null


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_permutation_test_is_identical_to_the_serial_path(rng, monkeypatch, jobs):
    monkeypatch.setenv(N_JOBS_ENV, jobs)
    age = rng.uniform(20, 80, 40)
    X = np.column_stack([age + 5 * rng.standard_normal(40) for _ in range(6)] + [rng.standard_normal((40, 10))])
    clock = BrainAgeClock(connectivity=None, random_state=0)
    result = evaluate_clock(clock, X, age, n_splits=4, n_repeats=2, n_permutations=5, random_state=3)
    expected = _serial_permutation_null(clock, X, age, 4, 2, 5, 3)
    assert np.array_equal(result.permutation_mae, expected)
    assert result.p_value == (1 + np.sum(expected <= result.metric("mae"))) / 6


def _compute_once(path, log, delay):
    """What every cached product does: compute under the entry's lock only if still missing."""
    import time
    from pathlib import Path

    from analysis._paths import cache_lock

    path, log = Path(path), Path(log)
    with cache_lock(path):
        if not path.exists():
            with open(log, "a") as handle:
                handle.write("computed\n")
            time.sleep(delay)
            np.save(path.with_suffix(".tmp.npy"), np.arange(5.0))
            path.with_suffix(".tmp.npy").replace(path)


def test_parallel_processes_asking_for_one_cache_entry_compute_it_once(tmp_path):
    import multiprocessing

    path, log = tmp_path / "entry.npy", tmp_path / "log.txt"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_compute_once, args=(str(path), str(log), 0.5)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert log.read_text().splitlines() == ["computed"]
    np.testing.assert_array_equal(np.load(path), np.arange(5.0))


def test_a_cohorts_cache_identity_names_its_atlas():
    """Two synthetic cohorts of one seed and size on different ROI sets never share cached covariances."""
    from tests.unit._small_reference import small_reference

    ten, twelve = small_reference(n=8, n_rois=10), small_reference(n=8, n_rois=12)
    assert ten.iter_timeseries().cache_identity != twelve.iter_timeseries().cache_identity
    assert small_reference(n=8, n_rois=10).iter_timeseries().cache_identity == ten.iter_timeseries().cache_identity


def test_a_synthetic_trials_scans_are_named_for_the_cache_and_real_ones_are_not():
    from analysis.simstudy.fast import scaled_assumptions
    from analysis.trial import TrialAssumptions, simulate_trial

    trial = simulate_trial(3, assumptions=scaled_assumptions(TrialAssumptions(), 10))
    name = trial.scans_identity()
    assert name is not None and name == simulate_trial(3, assumptions=scaled_assumptions(TrialAssumptions(), 10)).scans_identity()
    assert name != simulate_trial(4, assumptions=scaled_assumptions(TrialAssumptions(), 10)).scans_identity()
    assert name != trial.scans_identity(trial.scans.iloc[1:])  # other scans, other name
    trial.source = "real"
    assert trial.scans_identity() is None


def test_rbf_kernel_in_row_blocks_has_the_bits_of_the_one_piece_product(rng, monkeypatch):
    from analysis import _threads
    from analysis.clock.models import _rbf

    X, Y = rng.normal(size=(301, 57)), rng.normal(size=(40, 57))
    with _threads.single_threaded_blas():  # the claim: the bits of the single-threaded one-piece product
        norms_x, norms_y = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Y, Y)
        one_piece = np.exp(-0.01 * (norms_x[:, None] + norms_y[None, :] - 2.0 * (X @ Y.T)))
    monkeypatch.setenv(_threads.N_JOBS_ENV, "2")
    np.testing.assert_array_equal(_rbf(X, Y, 0.01), one_piece)
    monkeypatch.setenv(_threads.N_JOBS_ENV, "3")  # any number of blocks
    np.testing.assert_array_equal(_rbf(X, Y, 0.01), one_piece)
    assert _threads.row_blocks(lambda rows: np.arange(10)[rows], 10).tolist() == list(range(10))  # one block


@pytest.mark.parametrize("n_rows", [7, 256, 257, 600])
def test_row_blocks_cover_every_row_once_in_order(n_rows, monkeypatch):
    from analysis import _threads

    for workers in ("1", "2", "3"):
        monkeypatch.setenv(N_JOBS_ENV, workers)
        seen = _threads.row_blocks(lambda rows: np.arange(n_rows)[rows], n_rows)
        assert seen.tolist() == list(range(n_rows))
    with pytest.raises(ValueError, match="block_rows"):
        _threads.row_blocks(lambda rows: rows, 10, block_rows=0)


def test_leave_one_out_ridge_has_the_same_bits_on_any_number_of_cores(rng, monkeypatch):
    """The ridge's Gram matrix is a row-block product: its bits must not follow the worker count.

    Blocks of one per worker made them differ (one block: BLAS ``syrk``; two or three ``gemm``
    blocks at other row offsets), so a clock's last digits depended on the machine's cores.
    """
    from analysis.clock.models import LeaveOneOutRidge

    n = 1001  # rows that one block per worker splits at offsets where the product's bits move
    X = StandardScaler().fit_transform(rng.normal(size=(n, 2500)) + rng.normal(size=(n, 1)))
    y = X[:, :20].sum(axis=1) + rng.normal(size=n)
    fits = {}
    for workers in ("1", "2", "3"):
        monkeypatch.setenv(N_JOBS_ENV, workers)
        fits[workers] = LeaveOneOutRidge().fit(X, y)
    for workers in ("2", "3"):
        assert fits[workers].alpha_ == fits["1"].alpha_
        np.testing.assert_array_equal(fits[workers].cv_results_, fits["1"].cv_results_)
        np.testing.assert_array_equal(fits[workers].coef_, fits["1"].coef_)


def test_atomic_write_replaces_whole_files_and_a_failed_write_leaves_the_old_one(tmp_path):
    import os
    import stat

    from analysis._paths import atomic_write

    path = tmp_path / "features.npy"
    atomic_write(path, lambda tmp: np.save(tmp, np.arange(3)))  # np.save keeps a name ending in .npy
    assert np.load(path).tolist() == [0, 1, 2] and os.listdir(tmp_path) == ["features.npy"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

    def broken(tmp):
        tmp.write_bytes(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert np.load(path).tolist() == [0, 1, 2] and os.listdir(tmp_path) == ["features.npy"]  # nothing left over
    seen = []
    atomic_write(tmp_path / "table.pkl", lambda tmp: seen.append(tmp.name) or tmp.write_bytes(b"x"))
    assert seen[0].startswith(".table.pkl.") and seen[0].endswith(".tmp.pkl")  # hidden from *.pkl listings
