"""Tests of analysis.connectome: agreement with nilearn, reference fitting, segregation."""

from __future__ import annotations

import numpy as np
import pytest
from nilearn.connectome import ConnectivityMeasure, sym_matrix_to_vec
from scipy.linalg import expm, logm
from sklearn.covariance import LedoitWolf
from sklearn.metrics import adjusted_rand_score

from analysis.connectome import (
    ConnectivityFeatures,
    CovarianceStack,
    connectivity_features,
    find_communities,
    geometric_mean,
    log_euclidean_mean,
    shrunk_covariances,
    system_segregation,
    unvectorize,
    vectorize,
)


def _series(rng, n_scans=10, n_time=50, n_rois=7):
    mixing = [np.eye(n_rois) + 0.4 * rng.standard_normal((n_rois, n_rois)) for _ in range(n_scans)]
    return [rng.standard_normal((n_time, n_rois)) @ m for m in mixing]


def _nilearn(kind, series):
    measure = ConnectivityMeasure(
        kind=kind, cov_estimator=LedoitWolf(store_precision=False), vectorize=True,
        discard_diagonal=True,
    )
    return measure.fit_transform(series)


@pytest.mark.parametrize("kind", ["correlation", "partial correlation"])
def test_matches_nilearn_exactly(rng, kind):
    series = _series(rng)
    np.testing.assert_allclose(connectivity_features(series, kind), _nilearn(kind, series), atol=1e-12)


def test_tangent_geometric_reference_matches_nilearn(rng):
    series = _series(rng)
    mine = connectivity_features(series, "tangent", reference="geometric")
    np.testing.assert_allclose(mine, _nilearn("tangent", series), atol=1e-5)


def test_tangent_log_euclidean_differs_only_by_reference(rng):
    """Same whitening/log path: using nilearn's mean as reference reproduces nilearn."""
    series = _series(rng)
    nilearn_measure = ConnectivityMeasure(kind="tangent", cov_estimator=LedoitWolf(store_precision=False))
    nilearn_measure.fit(series)
    default = ConnectivityFeatures("tangent").fit(series)
    difference = np.abs(default.mean_ - nilearn_measure.mean_).max()
    assert 0 < difference < 0.1 * np.abs(nilearn_measure.mean_).max()
    default.whitening_ = nilearn_measure.whitening_
    expected = sym_matrix_to_vec(nilearn_measure.transform(series), discard_diagonal=True)
    np.testing.assert_allclose(default.transform(series), expected, atol=1e-10)


def test_log_euclidean_mean_is_closed_form(rng):
    covs = shrunk_covariances(_series(rng, n_scans=5)).covariances
    expected = expm(np.mean([logm(c).real for c in covs], axis=0))
    np.testing.assert_allclose(log_euclidean_mean(covs), expected, atol=1e-10)


def test_geometric_mean_of_commuting_matrices(rng):
    values = rng.uniform(0.5, 3.0, size=(6, 4))
    covs = np.stack([np.diag(v) for v in values])
    np.testing.assert_allclose(geometric_mean(covs), np.diag(np.exp(np.log(values).mean(0))), atol=1e-9)


def test_covariances_stream_and_match_sklearn(rng):
    series = _series(rng, n_scans=4)
    stack = shrunk_covariances(iter(series))
    for cov, x in zip(stack.covariances, series):
        np.testing.assert_allclose(cov, LedoitWolf().fit(x).covariance_, atol=1e-12)
    assert len(stack) == 4 and stack[1:3].shape == (2, 7, 7) and stack[2].shape == (1, 7, 7)


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("standardize", [False, True])
def test_a_source_read_on_threads_gives_the_serial_loops_bits(rng, monkeypatch, workers, standardize):
    """Blocks of a SeriesSource on threads: every covariance is the one-at-a-time loop's, bit for bit."""
    from analysis import connectome
    from analysis.connectome import NamedSeries, SeriesSource

    monkeypatch.setattr(connectome, "SOURCE_BLOCK", 3)  # several blocks on 70 scans
    monkeypatch.setenv("BRAINCLOCK_N_JOBS", workers)
    series = _series(rng, n_scans=70)
    reads = []
    source = SeriesSource(len(series), lambda i: reads.append(i) or series[i])
    serial = shrunk_covariances(iter(series), standardize=standardize)
    for given in (source, NamedSeries(source, None)):
        reads.clear()
        stack = shrunk_covariances(given, standardize=standardize)
        assert np.array_equal(stack.covariances, serial.covariances) and stack.standardized == standardize
        assert sorted(reads) == list(range(70))  # each scan read once
    assert len(list(source)) == 70 and np.array_equal(next(iter(source)), series[0])


def test_a_named_source_is_read_once_for_both_variants(rng, monkeypatch, tmp_path):
    """Raw and standardised covariances of a named source: streamed to the cache in one read, the
    bits of the in-memory computation, the second variant then read from disk."""
    from analysis import _paths, connectome
    from analysis.connectome import NamedSeries, SeriesSource

    monkeypatch.setattr(connectome, "SOURCE_BLOCK", 4)
    monkeypatch.setattr(_paths, "cache_dir", lambda kind: tmp_path)
    monkeypatch.setattr(connectome, "cache_dir", lambda kind: tmp_path)
    series = _series(rng, n_scans=23)
    reads = []
    source = SeriesSource(len(series), lambda i: reads.append(i) or series[i])
    raw = shrunk_covariances(NamedSeries(source, "cohort-a"))
    assert sorted(reads) == list(range(23)) and len(list(tmp_path.glob("*.npy"))) == 2
    standardised = shrunk_covariances(NamedSeries(source, "cohort-a"), standardize=True)
    assert len(reads) == 23  # from disk
    for stack, std in ((raw, False), (standardised, True)):
        assert stack.standardized == std and not stack.covariances.flags.writeable  # read-only map of the file
        assert np.array_equal(stack.covariances, shrunk_covariances(iter(series), standardize=std).covariances)
    assert not list(tmp_path.glob("*.tmp.npy"))


def test_a_source_reports_the_first_bad_scan(rng, monkeypatch):
    from analysis import connectome
    from analysis.connectome import SeriesSource

    monkeypatch.setattr(connectome, "SOURCE_BLOCK", 2)
    series = _series(rng, n_scans=9)
    for i in (7, 4):
        series[i] = series[i].copy()
        series[i][3, 2] = np.inf
    with pytest.raises(ValueError, match="time series 4 contains NaN or infinite"):
        shrunk_covariances(SeriesSource(9, series.__getitem__))
    series[6] = rng.standard_normal((50, 6))
    series[4] = series[5]
    with pytest.raises(ValueError, match="time series 6 has 6 ROIs but earlier ones have 7"):
        shrunk_covariances(SeriesSource(9, series.__getitem__))


@pytest.mark.parametrize("kind", ["tangent", "correlation", "partial correlation"])
def test_rows_of_a_stack_fit_and_transform_as_their_copy(rng, monkeypatch, kind):
    """fit_rows / transform_rows give the bits of fit / transform on the copied subset."""
    from analysis import connectome

    monkeypatch.setattr(connectome, "CHUNK", 8)  # several partial sums, several pieces per sum
    monkeypatch.setattr(connectome, "MAP_CHUNK", 3)
    stack = shrunk_covariances(_series(rng, n_scans=40))
    rows = rng.permutation(40)[:29]
    copied = ConnectivityFeatures(kind).fit(stack[rows])
    taken = ConnectivityFeatures(kind).fit_rows(stack, rows)
    assert np.array_equal(copied.mean_, taken.mean_)
    assert np.array_equal(copied.transform(stack[rows[:7]]), taken.transform_rows(stack, rows[:7]))
    if kind == "tangent":  # and the chunked mean is still the log-Euclidean mean
        np.testing.assert_allclose(taken.mean_, expm(np.mean([logm(c) for c in stack.covariances[rows]], axis=0)),
                                   rtol=1e-10)


def test_reference_fitted_on_training_scans_only(rng):
    series = _series(rng, n_scans=12)
    train, test = series[:8], series[8:]
    fitted = ConnectivityFeatures().fit(train)
    np.testing.assert_allclose(fitted.mean_, log_euclidean_mean(shrunk_covariances(train).covariances))
    refit = ConnectivityFeatures().fit(series)
    assert not np.allclose(fitted.transform(test), refit.transform(test))


def test_precomputed_covariances_give_same_features(rng):
    series = _series(rng)
    stack = shrunk_covariances(series)
    np.testing.assert_allclose(
        ConnectivityFeatures().fit(stack).transform(stack[3:]),
        ConnectivityFeatures().fit(series).transform(series[3:]),
    )


def test_vectorize_matches_nilearn_order_and_round_trips(rng):
    matrices = unvectorize(rng.standard_normal((3, 21)), diagonal=1.0)
    assert matrices.shape == (3, 7, 7)
    np.testing.assert_array_equal(vectorize(matrices), sym_matrix_to_vec(matrices, discard_diagonal=True))
    np.testing.assert_array_equal(unvectorize(vectorize(matrices), diagonal=1.0), matrices)


def test_errors_name_the_problem(rng):
    series = _series(rng, n_scans=4)
    with pytest.raises(ValueError, match="ROIs"):
        shrunk_covariances(series + [rng.standard_normal((50, 6))])
    fitted = ConnectivityFeatures().fit(series)
    with pytest.raises(ValueError, match="6 ROIs but the transformer was fitted on 7"):
        fitted.transform(_series(rng, n_rois=6))
    bad = [s.copy() for s in series]
    bad[2][5, 1] = np.nan
    with pytest.raises(ValueError, match="time series 2 contains NaN"):
        ConnectivityFeatures().fit(bad)
    with pytest.raises(ValueError, match="kind must be one of"):
        ConnectivityFeatures(kind="coherence").fit(series)
    with pytest.raises(ValueError, match="2-D array"):
        ConnectivityFeatures().fit(np.zeros((5, 5)))
    with pytest.raises(ValueError, match="empty"):
        shrunk_covariances([])


def test_system_segregation_by_hand():
    labels = [0, 0, 1, 1]
    conn = np.array([[1.0, 0.6, 0.1, 0.2], [0.6, 1.0, 0.3, 0.2], [0.1, 0.3, 1.0, 0.4], [0.2, 0.2, 0.4, 1.0]])
    within, between = 0.5, 0.2
    assert system_segregation(conn, labels) == pytest.approx((within - between) / within)
    weaker = conn.copy()
    weaker[0, 1] = weaker[1, 0] = 0.3
    assert system_segregation(np.stack([conn, weaker]), labels)[1] < system_segregation(conn, labels)
    with pytest.raises(ValueError, match="3 labels"):
        system_segregation(conn, [0, 1, 1])


def test_find_communities_recovers_planted_blocks(rng):
    labels = np.repeat([0, 1, 2], 6)
    conn = np.where(labels[:, None] == labels[None, :], 0.6, 0.05) + 0.03 * rng.standard_normal((18, 18))
    found = find_communities((conn + conn.T) / 2, 3, random_state=0)
    assert adjusted_rand_score(labels, found) == 1.0


def test_non_positive_definite_covariance_is_reported():
    stack = CovarianceStack(np.stack([np.eye(3), np.diag([1.0, 1.0, -1.0])]))
    with pytest.raises(ValueError, match="not positive definite"):
        ConnectivityFeatures().fit(stack)


def test_a_stack_with_logs_gives_the_same_tangent_features(rng):
    """Precomputed matrix logarithms give the reference mean bit for bit (same chunked sum)."""
    from analysis.connectome import ConnectivityFeatures, shrunk_covariances

    series = [rng.normal(size=(60, 8)) @ rng.normal(size=(8, 8)) for _ in range(300)]
    stack = shrunk_covariances(series)
    logged = stack.with_logs()
    assert logged.logs.shape == stack.covariances.shape and logged.with_logs() is logged
    train = rng.permutation(300)[:280]  # more than one chunk of 256
    plain = ConnectivityFeatures().fit(stack[train])
    fast = ConnectivityFeatures().fit(logged[train])
    assert np.array_equal(plain.mean_, fast.mean_)
    assert np.array_equal(plain.transform(stack), fast.transform(logged))
    assert logged[3].logs.shape == (1, 8, 8)
