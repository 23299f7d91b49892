"""Tests of analysis.clock: accuracy, bias correction, leakage, estimator contract, caching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from analysis.clock import (
    BrainAgeClock,
    apply_clock,
    apply_correction,
    clock_metrics,
    evaluate_clock,
    fit_correction,
    trial_brain_age,
)
from analysis.clock import apply as _clock_cache
from analysis.connectome import shrunk_covariances

NOISE_SD = 2.0


def _linear(rng, n=300, n_features=40):
    """Features with a known linear age signal plus Gaussian noise of SD ``NOISE_SD`` on age."""
    X = rng.standard_normal((n, n_features))
    age = 50 + 12 * X[:, 0] - 6 * X[:, 1] + NOISE_SD * rng.standard_normal(n)
    return X, age


def _scans(rng, n=60, n_rois=8, n_time=80):
    """Time series whose network segregation falls with age (two 4-ROI networks)."""
    age = rng.uniform(20, 80, n)
    same = np.repeat([0, 1], n_rois // 2)
    same = same[:, None] == same[None, :]
    series = []
    for a in age:
        cov = np.where(same, 0.7 - 0.008 * (a - 20), 0.05 + 0.004 * (a - 20))
        np.fill_diagonal(cov, 1.0)
        series.append(rng.standard_normal((n_time, n_rois)) @ np.linalg.cholesky(cov).T)
    return series, age


@parametrize_with_checks([BrainAgeClock(connectivity=None, inner_cv=2, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_linear_signal_reaches_noise_floor(rng):
    X, age = _linear(rng)
    result = evaluate_clock(BrainAgeClock(connectivity=None, random_state=0), X, age, random_state=0)
    floor = NOISE_SD * np.sqrt(2 / np.pi)  # MAE of the irreducible Gaussian noise
    assert result.metric("mae") < 1.2 * floor
    assert result.metric("mae", "mean_age") > 5 * floor


def test_connectivity_clock_learns_age_from_time_series(rng):
    series, age = _scans(rng)
    result = evaluate_clock(BrainAgeClock(random_state=0), series, age, n_splits=3, random_state=0)
    assert result.metric("r") > 0.6
    assert result.metric("mae") < 0.7 * result.metric("mae", "mean_age")


@pytest.mark.parametrize("method", ["beheshti", "smith"])
def test_corrected_gap_uncorrelated_with_age_in_training_data(rng, method):
    X, age = _linear(rng, n_features=200)
    clock = BrainAgeClock(connectivity=None, bias_correction=method, random_state=0).fit(X, age)
    raw = clock.oof_predictions_ - age
    assert np.corrcoef(raw, age)[0, 1] < -0.05  # ridge shrinks towards the mean: a real bias
    corrected = clock.correct(clock.oof_predictions_, age)
    assert abs(np.corrcoef(corrected, age)[0, 1]) < 1e-10


def test_cole_correction_rescales_predictions_to_unit_slope(rng):
    age = rng.uniform(20, 80, 200)
    predicted = 0.7 * age + 15 + rng.standard_normal(200)
    correction = fit_correction(predicted, age)
    corrected = apply_correction(predicted, age, correction, "cole") + age
    assert np.polyfit(age, corrected, 1)[0] == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(apply_correction(predicted, age, correction, "none"), predicted - age)


def test_shuffled_age_gives_chance_accuracy(rng):
    X, age = _linear(rng)
    shuffled = rng.permutation(age)
    result = evaluate_clock(BrainAgeClock(connectivity=None, random_state=0), X, shuffled,
                            n_permutations=9, random_state=0)
    assert result.metric("mae") > 0.95 * result.metric("mae", "mean_age")
    assert abs(result.metric("r")) < 0.2
    assert result.p_value > 0.1


def test_real_signal_beats_permutations(rng):
    X, age = _linear(rng, n=120)
    result = evaluate_clock(BrainAgeClock(connectivity=None, random_state=0), X, age,
                            n_permutations=9, random_state=0)
    assert result.p_value == pytest.approx(0.1)  # (1 + 0) / (1 + 9): every null MAE is worse
    assert result.permutation_mae.min() > result.metric("mae")


def test_test_fold_ages_never_reach_the_model(rng):
    """Changing one person's age changes nothing about that person's own prediction."""
    series, age = _scans(rng, n=40)
    stack = shrunk_covariances(series)
    changed = age.copy()
    changed[7] = 500.0
    clock = BrainAgeClock(random_state=0)
    first = evaluate_clock(clock, stack, age, n_splits=4, random_state=1).predictions
    second = evaluate_clock(clock, stack, changed, n_splits=4, random_state=1).predictions
    assert first.loc[7, "predicted_age"] == second.loc[7, "predicted_age"]
    assert not np.allclose(first["predicted_age"], second["predicted_age"])


def test_reference_mean_uses_training_scans_only(rng):
    series, age = _scans(rng, n=40)
    stack = shrunk_covariances(series)
    full = BrainAgeClock(random_state=0).fit(stack, age)
    part = BrainAgeClock(random_state=0).fit(stack[:30], age[:30])
    assert not np.allclose(full.features_.mean_, part.features_.mean_)


def test_same_seed_is_bit_identical(rng):
    X, age = _linear(rng)
    runs = [evaluate_clock(BrainAgeClock(connectivity=None, random_state=3), X, age, n_repeats=2,
                           random_state=5).predictions for _ in range(2)]
    pd.testing.assert_frame_equal(*runs)


@pytest.mark.parametrize("model", ["svr", "hgb"])
def test_non_linear_models_learn_the_signal(rng, model):
    from threadpoolctl import threadpool_limits

    X, age = _linear(rng, n=200, n_features=10)
    with threadpool_limits(limits=1):  # OpenMP threads of HGB crawl on a busy 2-core machine
        result = evaluate_clock(BrainAgeClock(connectivity=None, model=model, random_state=0), X, age,
                                n_splits=3)
    assert result.metric("mae") < 0.5 * result.metric("mae", "mean_age")


def test_clear_errors(rng):
    series, age = _scans(rng, n=20)
    clock = BrainAgeClock(random_state=0).fit(series, age)
    with pytest.raises(ValueError, match="6 ROIs but the transformer was fitted on 8"):
        clock.predict([rng.standard_normal((50, 6)) for _ in range(3)])
    bad = [s.copy() for s in series]
    bad[3][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BrainAgeClock().fit(bad, age)
    with pytest.raises(ValueError, match="NaN"):
        BrainAgeClock().fit(series, np.where(np.arange(20) == 2, np.nan, age))
    with pytest.raises(ValueError, match="too few subjects"):
        BrainAgeClock().fit(series[:6], age[:6])
    with pytest.raises(ValueError, match="age has 19 values but X has 20"):
        BrainAgeClock().fit(series, age[:19])
    with pytest.raises(ValueError, match="bias_correction must be one of .* got 'bogus'"):
        BrainAgeClock(bias_correction="bogus").fit(series, age)
    with pytest.raises(ValueError, match="model must be one of .* got 'lasso'"):
        BrainAgeClock(model="lasso").fit(series, age)
    with pytest.raises(ValueError, match="n_splits"):
        evaluate_clock(BrainAgeClock(), series, age, n_splits=1)


def test_metrics_by_hand():
    metrics = clock_metrics(np.array([1.0, 2.0, 5.0]), np.array([1.0, 3.0, 3.0]))
    assert metrics["mae"] == pytest.approx(1.0)
    assert metrics["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert metrics["r2"] == pytest.approx(1 - 5 / (8 / 3))


# -- trial_brain_age with small stand-ins for analysis.trial objects ----------------------
class _Reference:
    def __init__(self, series, age):
        self._series = series
        self.participants = pd.DataFrame({"participant_id": [f"r{i}" for i in range(len(age))], "age": age})

    def timeseries(self, pid):
        return self._series[int(pid[1:])]


class _Trial:
    source = "synthetic"

    def __init__(self, series, age):
        self._series = series
        n = len(age)
        self.participants = pd.DataFrame({"participant_id": [f"t{i}" for i in range(n)], "age": age})
        self.scans = pd.DataFrame({"participant_id": [f"t{i}" for i in range(n)], "month": 0, "age": age})
        self.visits = self.scans.assign(attended=True)

    def timeseries(self, pid, month):
        return self._series[int(pid[1:])]


@pytest.fixture
def small_world(rng, tmp_path, monkeypatch):
    monkeypatch.setattr(_clock_cache, "cache_dir", lambda name: tmp_path)
    series, age = _scans(rng, n=50)
    return _Reference(series[:40], age[:40]), _Trial(series[40:], age[40:]), tmp_path


def test_trial_brain_age_table_and_cache(small_world, monkeypatch):
    reference, trial, folder = small_world
    table = trial_brain_age(trial, reference=reference, bias_correction="cole")
    assert list(table.columns) == _clock_cache.TRIAL_COLUMNS and len(table) == 10
    np.testing.assert_allclose(table["brain_age_gap"], table["gap_cole"])
    np.testing.assert_allclose(table["brain_age_gap_uncorrected"], table["predicted_age"] - table["age"])
    # table, fitted clock (a pickle: an internal cache), its source and the entry's (empty) lock;
    # no temporary file left behind
    assert sorted(p.name.split(".", 1)[1] for p in folder.iterdir()) == ["clock.pkl", "json", "pkl", "pkl.lock"]

    monkeypatch.setattr(_clock_cache, "_compute", lambda *a, **k: pytest.fail("cache not used"))
    pd.testing.assert_frame_equal(trial_brain_age(trial, reference=reference, bias_correction="cole"), table)
    # the clock read back from the cache predicts the cached ages exactly, and refuses a foreign object
    cached = apply_clock(trial, reference=reference, bias_correction="cole").clock
    np.testing.assert_array_equal(cached.predict(shrunk_covariances(trial._series[i] for i in range(10))),
                                  table["predicted_age"].to_numpy())
    entry = next(folder.glob("*.clock.pkl"))
    entry.write_bytes(__import__("pickle").dumps({"not": "a clock"}))
    with pytest.raises(TypeError, match="not a BrainAgeClock"):
        apply_clock(trial, reference=reference, bias_correction="cole")


def test_trial_brain_age_cache_key_follows_data_and_code(small_world, monkeypatch):
    reference, trial, _ = small_world
    base = _clock_cache._cache_key(trial, reference, 0, {})
    trial._series[0] = trial._series[0] + 1e-9
    assert _clock_cache._cache_key(trial, reference, 0, {}) != base
    trial.scans.loc[0, "age"] += 1
    assert _clock_cache._cache_key(trial, reference, 0, {"connectivity": "tangent"}) != base
    monkeypatch.setattr(_clock_cache, "_code_digest", lambda: "edited")
    assert _clock_cache._cache_key(trial, reference, 0, {}) != base


def test_ridge_training_predictions_are_exact_leave_one_out(rng):
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    X, age = _linear(rng, n=40, n_features=60)
    clock = BrainAgeClock(connectivity=None, random_state=0).fit(X, age)
    Z = StandardScaler().fit_transform(X)
    alpha = clock.model_[-1].alpha_
    for k in (0, 17):
        keep = np.arange(40) != k
        manual = Ridge(alpha=alpha).fit(Z[keep], age[keep]).predict(Z[k:k + 1])[0]
        assert clock.oof_predictions_[k] == pytest.approx(manual, rel=1e-8)


@pytest.mark.parametrize("shape, offset", [((60, 200), 0.0), ((60, 200), 40.0), ((200, 30), 0.0)])
def test_leave_one_out_ridge_is_ridgecvs_model(rng, shape, offset):
    """Penalty, coefficients, intercept and every LOO prediction of RidgeCV, centred or not, n < p or n > p."""
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    from analysis.clock.models import DEFAULT_ALPHAS, LeaveOneOutRidge

    X, age = _linear(rng, n=shape[0], n_features=shape[1])
    X = (StandardScaler().fit_transform(X) if offset == 0 else 3 * X + offset)
    ours = LeaveOneOutRidge().fit(X, age)
    theirs = RidgeCV(alphas=DEFAULT_ALPHAS, store_cv_results=True, scoring="neg_mean_squared_error").fit(X, age)
    assert ours.alpha_ == theirs.alpha_ and ours.alpha_ not in (DEFAULT_ALPHAS[0], DEFAULT_ALPHAS[-1])
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-7, atol=1e-10 * np.abs(theirs.coef_).max())
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-9)
    np.testing.assert_allclose(ours.cv_results_, theirs.cv_results_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X[:5]), theirs.predict(X[:5]), rtol=1e-9)


def test_leave_one_out_ridge_ties_and_errors(rng):
    from analysis.clock.models import LeaveOneOutRidge

    X, age = _linear(rng, n=30, n_features=50)
    assert LeaveOneOutRidge(alphas=[10.0, 10.0, 1e9]).fit(X, age).alpha_ == 10.0  # the first of equals
    with pytest.raises(ValueError, match="alphas must be positive"):
        LeaveOneOutRidge(alphas=[1.0, 0.0]).fit(X, age)
    with pytest.raises(ValueError, match="one row per value of y"):
        LeaveOneOutRidge().fit(X, age[:-1])
    with pytest.raises(ValueError, match="fitted on 50 features"):
        LeaveOneOutRidge().fit(X, age).predict(X[:, :10])


def test_correction_does_not_over_correct_new_people(rng):
    """Gaps of new people, corrected with training-only coefficients, are flat in age."""
    X, age = _linear(rng, n=1400, n_features=300)
    clock = BrainAgeClock(connectivity=None, random_state=0).fit(X[:700], age[:700])
    raw = clock.predict(X[700:]) - age[700:]
    corrected = clock.brain_age_gap(X[700:], age[700:])
    assert np.corrcoef(raw, age[700:])[0, 1] < -0.1
    assert abs(np.corrcoef(corrected, age[700:])[0, 1]) < 0.08


# -- validation studies --------------------------------------------------------------------
def test_site_calibration_removes_a_known_site_offset(rng):
    from analysis.clock import site_calibrated_transfer

    def table(n, site_shift):
        age = rng.uniform(20, 80, n)
        features = np.column_stack([age / 10 + 0.3 * rng.standard_normal(n) for _ in range(5)])
        sites = rng.choice(["a", "b"], n)
        features += np.where(sites == "b", site_shift, 0.0)[:, None]
        return pd.DataFrame(features, columns=list("vwxyz")).assign(age=age, site=sites)

    train, adapt, test = table(300, 0.0), table(60, 2.0), table(200, 2.0)
    _, metrics = site_calibrated_transfer(BrainAgeClock(connectivity=None, random_state=0),
                                          train, adapt, test, list("vwxyz"))
    metrics = metrics.set_index("stage")
    assert metrics.loc["site-calibrated", "mae"] < 0.6 * metrics.loc["uncalibrated", "mae"]


def test_segregation_by_group_detects_planted_difference(rng):
    from analysis.clock import segregation_by_group

    labels = np.repeat([0, 1, 2], 4)
    same = labels[:, None] == labels[None, :]

    def person(within):
        cov = np.where(same, within, 0.1)
        np.fill_diagonal(cov, 1.0)
        return rng.standard_normal((200, 12)) @ np.linalg.cholesky(cov).T

    series = [person(0.6) for _ in range(15)] + [person(0.35) for _ in range(15)]
    groups = ["Younger"] * 15 + ["Older"] * 15
    per_person, summary = segregation_by_group(series, groups, n_communities=3, n_boot=200)
    assert summary["difference"] < 0 and summary["g_ci"][1] < 0 and summary["p"] < 0.01
    assert summary["community_sizes"] == [4, 4, 4] and len(per_person) == 30


def test_group_discrimination_separates_and_respects_chance(rng):
    from analysis.clock import group_discrimination

    series, age = _scans(rng, n=40)
    groups = np.where(age > np.median(age), "Older", "Younger")
    found = group_discrimination(series, groups, n_repeats=2, n_permutations=4, random_state=0)
    assert found["accuracy"] > 0.75 and found["chance"] == 0.5
    shuffled = group_discrimination(series, rng.permutation(groups), n_repeats=2, n_permutations=0)
    assert shuffled["accuracy"] < found["accuracy"]


def test_cached_studies_return_what_they_computed_and_follow_their_inputs(rng, tmp_path, monkeypatch):
    """evaluate_clock / group_discrimination with cache=True: the uncached result, then read back."""
    import pickle

    from analysis import _paths
    from analysis.clock import evaluation, group_discrimination

    monkeypatch.setattr(_paths, "data_dir", lambda: tmp_path)
    X, age = _linear(rng)
    clock = BrainAgeClock(connectivity=None, random_state=0)
    plain = evaluate_clock(clock, X, age, n_splits=3, random_state=0)
    cached = evaluate_clock(clock, X, age, n_splits=3, random_state=0, cache=True)
    pd.testing.assert_frame_equal(cached.predictions, plain.predictions)
    assert cached.metric("mae") == plain.metric("mae")
    series, scan_age = _scans(rng, n=30)
    groups = np.where(scan_age > np.median(scan_age), "Older", "Younger")
    found = group_discrimination(series, groups, n_repeats=1, n_permutations=2, random_state=0, cache=True)
    assert found == group_discrimination(series, groups, n_repeats=1, n_permutations=2, random_state=0)
    assert len(list((tmp_path / "cache" / "studies").glob("*.pkl"))) == 2
    computed = []
    monkeypatch.setattr(evaluation, "_evaluations", lambda items: computed.append(1) or pytest.fail("recomputed"))
    again = evaluate_clock(clock, X, age, n_splits=3, random_state=0, cache=True)  # read back
    pd.testing.assert_frame_equal(again.predictions, plain.predictions)
    assert not computed
    X[0, 0] += 1.0  # other input, other key: computed (here: the stand-in fails loudly)
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        evaluate_clock(clock, X, age, n_splits=3, random_state=0, cache=True)
    assert pickle.loads(next((tmp_path / "cache" / "studies").glob("*.pkl")).read_bytes()) is not None
