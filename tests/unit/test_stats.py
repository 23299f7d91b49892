"""Tests of analysis.stats against R (lme4) reference values and independent computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
from scipy import stats as sps

from analysis import stats

DIETOX = Path(statsmodels.__file__).parent / "regression" / "tests" / "results" / "dietox.csv"


#: "Agrees to 4 significant digits": relative error below half a unit in the 4th digit.
RTOL_4SIG = 5e-4


@pytest.fixture(scope="module")
def dietox() -> pd.DataFrame:
    return pd.read_csv(DIETOX)


# lme4 values quoted in statsmodels' own test suite (statsmodels/regression/tests/test_lme.py),
# from lmer(Weight ~ Time + (1 | Pig)) and lmer(Weight ~ Time + (1 + Time | Pig)), REML and ML.
R_DIETOX = {
    ("intercept", True): dict(fe=[15.723523, 6.942505], se=[0.78805374, 0.03338727], scale=11.36692,
                              cov_re=[40.39395], llf=-2404.775),
    ("intercept", False): dict(fe=[15.723517, 6.942506], se=[0.7829397, 0.0333661], scale=11.35251,
                               cov_re=[39.82097], llf=-2402.932),
    ("slope", True): dict(fe=[15.738650, 6.939014], se=[0.5501253, 0.0798254], scale=6.03745,
                          cov_re=[19.4934552, 0.2938323, 0.2938323, 0.4160620], llf=-2217.047),
    ("slope", False): dict(fe=[15.73863, 6.93902], se=[0.54629282, 0.07926954], scale=6.037441,
                           cov_re=[19.190922, 0.293568, 0.293568, 0.409695], llf=-2215.753),
}


@pytest.mark.parametrize("structure,reml", list(R_DIETOX))
def test_mixed_model_reproduces_lme4_on_dietox(dietox, structure, reml):
    ref = R_DIETOX[(structure, reml)]
    re_formula = "1 + Time" if structure == "slope" else None
    fit = stats.mixed_model(dietox, "Weight ~ Time", "Pig", re_formula=re_formula, reml=reml)
    assert fit.converged
    assert (fit.n_obs, fit.n_groups) == (861, 72)
    close = dict(rtol=RTOL_4SIG, atol=0)
    np.testing.assert_allclose(fit.fixed["estimate"], ref["fe"], **close)
    np.testing.assert_allclose(fit.fixed["se"], ref["se"], **close)
    np.testing.assert_allclose(fit.result.scale, ref["scale"], **close)
    np.testing.assert_allclose(fit.result.cov_re.to_numpy().ravel(), ref["cov_re"], **close)
    # variance components also in the tidy table
    np.testing.assert_allclose(fit.random.loc["scale", "variance"], ref["scale"], **close)
    np.testing.assert_allclose(fit.llf, ref["llf"], **close)
    # tidy table: Wald interval and normal p built from the same estimate and se
    row = fit.fixed.loc["Time"]
    assert row["ci_low"] == pytest.approx(row["estimate"] - 1.959964 * row["se"], rel=1e-6)
    assert row["ci_high"] == pytest.approx(row["estimate"] + 1.959964 * row["se"], rel=1e-6)
    assert list(fit.fixed.columns) == ["estimate", "se", "ci_low", "ci_high", "p"]


def test_mixed_model_drops_incomplete_rows_and_reports_counts(dietox):
    data = dietox.copy()
    data.loc[data.index[:5], "Weight"] = np.nan
    fit = stats.mixed_model(data, "Weight ~ Time", "Pig")
    assert fit.n_obs == len(dietox) - 5


def test_mixed_model_errors_name_the_parameter(dietox):
    with pytest.raises(KeyError, match="Pigs"):
        stats.mixed_model(dietox, "Weight ~ Time", "Pigs")
    with pytest.raises(ValueError, match="formula"):
        stats.mixed_model(dietox, "Weight", "Pig")


def _arm_visit_data(rng, n_per_arm=40):
    """Balanced arm x visit data with a random intercept and no covariates."""
    rows = []
    effects = {("A", 12): -1.5, ("B", 12): -0.5}
    pid = 0
    for arm in ("A", "B", "C"):
        for _ in range(n_per_arm):
            u = rng.normal(0, 2)
            for month in (0, 12):
                rows.append(
                    dict(pid=pid, arm=arm, month=month,
                         y=u + effects.get((arm, month), 0.0) + 0.3 * (month == 12) + rng.normal(0, 1))
                )
            pid += 1
    return pd.DataFrame(rows)


def test_difference_at_equals_difference_in_cell_means_in_a_balanced_design(rng):
    data = _arm_visit_data(rng)
    fit = stats.mixed_model(data, "y ~ C(arm, Treatment('C')) * C(month)", "pid")
    got = stats.difference_at(fit, {"arm": "A", "month": 12}, {"arm": "C", "month": 12})
    means = data.groupby(["arm", "month"])["y"].mean()
    # saturated mean model, balanced and complete: fitted cell means are the observed means
    assert got["estimate"].iloc[0] == pytest.approx(means["A", 12] - means["C", 12], abs=1e-6)
    # its SE is that of a difference of two independent means with variance tau2 + sigma2
    total = fit.result.cov_re.iloc[0, 0] + fit.result.scale
    assert got["se"].iloc[0] == pytest.approx(np.sqrt(2 * total / 40), rel=1e-3)
    # same contrast written by hand from the coefficient names
    terms = fit.fixed.index
    by_hand = stats.contrast(
        fit,
        {t: 1.0 for t in terms if "T.A]" in t},  # arm A main effect + A:12 interaction
    )
    assert by_hand["estimate"].iloc[0] == pytest.approx(got["estimate"].iloc[0], abs=1e-8)
    assert by_hand["se"].iloc[0] == pytest.approx(got["se"].iloc[0], rel=1e-8)


def test_contrast_matches_numpy_ols_closed_form(rng):
    n = 80
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = X @ np.array([1.0, 2.0, -0.5]) + rng.normal(size=n)
    data = pd.DataFrame({"y": y, "x1": X[:, 1], "x2": X[:, 2]})
    _, fit = stats.ols(data, "y ~ x1 + x2")
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    sigma2 = resid @ resid / (n - 3)
    V = sigma2 * np.linalg.inv(X.T @ X)
    w = np.array([0.0, 1.0, -1.0])
    got = stats.contrast(fit, {"x1": 1.0, "x2": -1.0})
    est, se = w @ beta, np.sqrt(w @ V @ w)
    assert got["estimate"].iloc[0] == pytest.approx(est, rel=1e-10)
    assert got["se"].iloc[0] == pytest.approx(se, rel=1e-10)
    assert got["p"].iloc[0] == pytest.approx(2 * sps.t.sf(abs(est / se), n - 3), rel=1e-8)
    # array form and multi-contrast dict form agree with the single dict
    arr = stats.contrast(fit, w)
    multi = stats.contrast(fit, {"d": {"x1": 1.0, "x2": -1.0}, "x1": {"x1": 1.0}})
    assert arr["estimate"].iloc[0] == pytest.approx(est, rel=1e-10)
    assert multi.loc["x1", "estimate"] == pytest.approx(beta[1], rel=1e-10)
    with pytest.raises(KeyError, match="x3"):
        stats.contrast(fit, {"x3": 1.0})


def test_ancova_matches_lstsq_adjusted_difference(rng):
    n = 90
    group = np.repeat(["CON", "HRT", "MIT"], n // 3)
    baseline = rng.normal(0, 3, n)
    age = rng.normal(66, 2.5, n)
    shift = pd.Series({"CON": 0.0, "HRT": -1.4, "MIT": -1.0})[group].to_numpy()
    outcome = 0.7 * baseline + 0.1 * age + shift + rng.normal(0, 1, n)
    data = pd.DataFrame(dict(g=group, b=baseline, age=age, y=outcome))
    got = stats.ancova(data, "y", "g", "b", ["age"], reference="CON")
    X = np.column_stack([np.ones(n), group == "HRT", group == "MIT", baseline, age]).astype(float)
    beta, *_ = np.linalg.lstsq(X, outcome, rcond=None)
    resid = outcome - X @ beta
    V = resid @ resid / (n - 5) * np.linalg.inv(X.T @ X)
    assert list(got.index) == ["HRT - CON", "MIT - CON", "HRT - MIT"]
    assert got.loc["HRT - CON", "estimate"] == pytest.approx(beta[1], rel=1e-10)
    assert got.loc["MIT - CON", "se"] == pytest.approx(np.sqrt(V[2, 2]), rel=1e-10)
    w = np.array([0, 1, -1, 0, 0.0])
    assert got.loc["HRT - MIT", "estimate"] == pytest.approx(beta[1] - beta[2], rel=1e-10)
    assert got.loc["HRT - MIT", "se"] == pytest.approx(np.sqrt(w @ V @ w), rel=1e-10)
    assert (got["n"] == n).all()
    with pytest.raises(ValueError, match="reference='XXX'"):
        stats.ancova(data, "y", "g", "b", reference="XXX")


def test_ancova_without_baseline_imbalance_equals_difference_of_means():
    # Balanced design where the baseline has identical means in both groups: the adjusted
    # difference is exactly the difference of outcome means.
    data = pd.DataFrame(
        dict(g=["a"] * 4 + ["b"] * 4, b=[1.0, 2, 3, 4] * 2, y=[2.0, 3, 5, 6, 1, 1, 3, 2])
    )
    got = stats.ancova(data, "y", "g", "b", reference="a")
    assert got.loc["b - a", "estimate"] == pytest.approx(1.75 - 4.0, abs=1e-12)


def test_fdr_bh_hand_worked_example():
    # m = 5, sorted p = .01 .02 .03 .04 .20 -> m p / rank = .05 .05 .05 .05 .20, then cumulative min
    # from the top: all four first become .05; one unsorted input to check the order is restored.
    p = np.array([0.04, 0.01, 0.20, 0.03, 0.02])
    np.testing.assert_allclose(stats.fdr_bh(p), [0.05, 0.05, 0.20, 0.05, 0.05])
    # Benjamini & Hochberg's monotonicity step: .01*3/1=.03, .04*3/2=.06, .045*3/3=.045 -> .03 .045 .045
    np.testing.assert_allclose(stats.fdr_bh([0.01, 0.04, 0.045]), [0.03, 0.045, 0.045])


def test_fdr_bh_agrees_with_scipy_and_keeps_nan_and_index(rng):
    # scipy's false_discovery_control is an implementation independent of statsmodels (used inside)
    from scipy.stats import false_discovery_control

    p = rng.uniform(0, 0.2, 30)
    np.testing.assert_allclose(stats.fdr_bh(p), false_discovery_control(p, method="bh"), rtol=1e-12)
    s = pd.Series([0.01, np.nan, 0.04], index=["a", "b", "c"])
    out = stats.fdr_bh(s)
    assert list(out.index) == ["a", "b", "c"] and np.isnan(out["b"])
    np.testing.assert_allclose(out[["a", "c"]], [0.02, 0.04])
    with pytest.raises(ValueError, match="pvalues"):
        stats.fdr_bh([0.5, 1.5])


def test_holm_hand_worked_example():
    # sorted p = .01 .02 .03 .04 with m = 4: (m - i + 1) p = .04 .06 .06 .04 -> running max .04 .06 .06 .06
    p = np.array([0.03, 0.01, 0.04, 0.02])
    np.testing.assert_allclose(stats.holm(p), [0.06, 0.04, 0.06, 0.06])
    out = stats.holm(pd.Series([0.5, np.nan, 0.01], index=["a", "b", "c"]))
    np.testing.assert_allclose(out[["a", "c"]], [0.5, 0.02])
    assert np.isnan(out["b"])


def test_own_bca_interval_matches_scipy_bootstrap():
    """The hand-written BCa (kept: it resamples paired arrays and DataFrames alike) agrees with
    scipy.stats.bootstrap's BCa on a skewed sample, up to Monte Carlo error of the endpoints."""
    from scipy.stats import bootstrap

    sample = np.random.default_rng(3).lognormal(0.0, 0.8, 60)
    ours = stats.bootstrap_ci(sample, np.mean, n_boot=20000, method="bca", random_state=1)
    ref = bootstrap((sample,), np.mean, n_resamples=20000, method="BCa", random_state=2).confidence_interval
    width = ref.high - ref.low
    assert abs(ours.ci_low - ref.low) < 0.03 * width and abs(ours.ci_high - ref.high) < 0.03 * width
    # and BCa is not the percentile interval here (skewed data): the check can tell them apart
    pct = stats.bootstrap_ci(sample, np.mean, n_boot=20000, method="percentile", random_state=1)
    assert abs(pct.ci_high - ref.high) > abs(ours.ci_high - ref.high)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_ci_covers_true_mean_at_nominal_rate(method):
    rng = np.random.default_rng(7)
    covered = 0
    reps = 200
    for _ in range(reps):
        sample = rng.normal(10.0, 2.0, 40)
        ci = stats.bootstrap_ci(sample, np.mean, n_boot=300, method=method, random_state=rng)
        covered += ci.ci_low <= 10.0 <= ci.ci_high
    assert 0.90 <= covered / reps <= 0.99


def test_bootstrap_ci_is_seeded_and_matches_the_normal_width(rng):
    sample = rng.normal(0, 1, 400)
    a = stats.bootstrap_ci(sample, np.mean, n_boot=1000, random_state=3)
    b = stats.bootstrap_ci(sample, np.mean, n_boot=1000, random_state=3)
    assert a == b
    assert a.estimate == pytest.approx(sample.mean())
    # bootstrap SE of a mean ~ s / sqrt(n)
    assert a.se == pytest.approx(sample.std(ddof=1) / 20, rel=0.1)
    with pytest.raises(ValueError, match="method"):
        stats.bootstrap_ci(sample, np.mean, method="normal")


def test_correlation_matches_scipy_and_ci_contains_estimate(rng):
    x = rng.normal(size=150)
    y = 0.5 * x + rng.normal(size=150)
    data = pd.DataFrame({"x": x, "y": y})
    for method, ref in (("pearson", sps.pearsonr), ("spearman", sps.spearmanr)):
        got = stats.correlation(data, "x", "y", method=method, n_boot=500, random_state=1)
        r, p = ref(x, y)
        assert got.loc[method, "r"] == pytest.approx(r, rel=1e-10)
        assert got.loc[method, "p"] == pytest.approx(p, rel=1e-6)
        assert got.loc[method, "ci_low"] < r < got.loc[method, "ci_high"]
        assert got.loc[method, "n"] == 150
    with pytest.raises(ValueError, match="kendall"):
        stats.correlation(data, "x", "y", method="kendall")


def test_partial_correlation_removes_a_confounder(rng):
    n = 300
    z = rng.normal(size=n)
    sex = rng.choice(["F", "M"], n)
    x = z + rng.normal(size=n)
    y = z + 0.5 * (sex == "M") + rng.normal(size=n)
    data = pd.DataFrame({"x": x, "y": y, "z": z, "sex": sex})
    raw = stats.correlation(data, "x", "y", n_boot=200)
    part = stats.partial_correlation(data, "x", "y", ["z", "sex"], n_boot=200)
    assert raw.loc["pearson", "r"] > 0.3
    assert abs(part.loc["pearson", "r"]) < 0.15  # x and y independent given z
    # equals the correlation of lstsq residuals on [1, z, male]
    Z = np.column_stack([np.ones(n), z, sex == "M"]).astype(float)
    rx = x - Z @ np.linalg.lstsq(Z, x, rcond=None)[0]
    ry = y - Z @ np.linalg.lstsq(Z, y, rcond=None)[0]
    assert part.loc["pearson", "r"] == pytest.approx(np.corrcoef(rx, ry)[0, 1], rel=1e-10)


def test_standardize_effects_divides_by_sd():
    eff = pd.DataFrame({"estimate": [-1.4], "ci_low": [-2.0], "ci_high": [-0.8]})
    out = stats.standardize_effects(eff, 2.0)
    np.testing.assert_allclose(out[["estimate_sd", "ci_low_sd", "ci_high_sd"]].iloc[0], [-0.7, -1.0, -0.4])
    with pytest.raises(ValueError, match="sd"):
        stats.standardize_effects(eff, 0.0)


def test_fdr_bh_rows_is_fdr_bh_per_row_bit_for_bit():
    from analysis.stats import fdr_bh, fdr_bh_rows

    rng = np.random.default_rng(11)
    p = rng.uniform(size=(500, 3)) ** 3
    p[3] = [0.01, 0.01, 0.04]  # ties
    p[4, 1] = np.nan  # a missing p-value leaves its family smaller
    rows = fdr_bh_rows(p)
    expected = np.array([fdr_bh(row) for row in p])
    np.testing.assert_array_equal(rows, expected)
    assert np.isnan(rows[4, 1]) and rows[4, 0] == fdr_bh(p[4, [0, 2]])[0]
    with pytest.raises(ValueError, match="2-D"):
        fdr_bh_rows(p[0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fdr_bh_rows(np.array([[0.5, 1.5]]))
