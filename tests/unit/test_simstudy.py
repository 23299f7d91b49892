"""Tests of the simulation study: fast mixed model, measurement model, operating characteristics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import simstudy
from analysis.simstudy import MeasurementModel
from analysis.trial import TrialAssumptions


def _clustered_data(rng, n_groups=120, tau=1.5, sigma=1.0):
    sizes = rng.integers(1, 4, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    n = len(groups)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n), rng.normal(size=n)])
    y = X @ [1.0, 0.5, -0.3, 0.0] + rng.normal(0, tau, n_groups)[groups] + rng.normal(0, sigma, n)
    return y, X, groups


def test_fast_reml_matches_statsmodels(rng):
    import statsmodels.api as sm

    y, X, groups = _clustered_data(rng)
    fast = simstudy.fit_random_intercept(y, X, groups)
    ref = sm.MixedLM(y, X, groups=groups).fit(reml=True)
    np.testing.assert_allclose(fast.params, ref.fe_params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(fast.cov)), ref.bse_fe, rtol=5e-3)
    assert fast.sigma2 == pytest.approx(ref.scale, rel=1e-4)
    assert fast.tau2 == pytest.approx(float(np.asarray(ref.cov_re)[0, 0]), rel=1e-3)


def _fast_world(rng):
    """One fast-path trial: its scans, Beheshti-scale gaps and the fast path's own contrasts."""
    scans = simstudy.simulate_scans(TrialAssumptions(), MeasurementModel(), rng)
    gap = MeasurementModel().gap(scans["predicted"], scans["age"], "beheshti")
    return scans, gap, simstudy.primary_contrasts(gap, scans)


def test_fast_reml_matches_the_books_mixed_model(rng):
    """The fast path fits exactly the model analysis.stats reports (same formula, same contrasts)."""
    from analysis.stats import mixed_model

    scans, gap, ours = _fast_world(rng)
    data = pd.DataFrame({
        "gap": gap, "pid": scans["person"], "arm": np.array(simstudy.ARMS)[scans["arm"]],
        "month": scans["month"], "age": scans["age"], "female": scans["female"], "fd": scans["mean_fd_mm"],
    })
    fit = mixed_model(data, "gap ~ C(arm, Treatment('CON')) * C(month) + age + female + fd", "pid")
    term = "C(arm, Treatment('CON'))[T.HRT]:C(month)[T.12]"
    assert ours[0, 0] == pytest.approx(fit.fixed.loc[term, "estimate"], abs=1e-4)
    assert ours[0, 1] == pytest.approx(fit.fixed.loc[term, "se"], rel=1e-2)


def test_fast_reml_boundary_and_errors(rng):
    y, X, groups = _clustered_data(rng, tau=0.0)
    fit = simstudy.fit_random_intercept(y, X, np.arange(len(y)))  # singletons: tau not identified
    np.testing.assert_allclose(fit.params, np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-6)
    with pytest.raises(ValueError, match="y must be 1-D"):
        simstudy.fit_random_intercept(y[:-1], X, groups)


def test_lockstep_brent_takes_scipys_steps(rng):
    """The vectorised bounded Brent search is SciPy's, element for element: same minimiser, same count."""
    from scipy import optimize

    from analysis.stats import random_intercept as ri

    centres, widths = rng.uniform(-11, 7, 40), rng.uniform(0.2, 5.0, 40)
    centres[:3] = [-12.5, 9.0, 0.0]  # minima outside the interval (at a bound) and a flat-ish one
    widths[2] = 1e-3
    calls = np.zeros(len(centres), dtype=int)

    def curve(x, rows):
        return np.log1p(((x - centres[rows]) / widths[rows]) ** 2) + 0.01 * np.sin(3 * x)

    def batch(x, rows):
        calls[rows] += 1
        return curve(x, rows)

    x, fun = ri._bounded_brent(batch, len(centres), (-12.0, 8.0), 1e-7, 500)
    for k in range(len(centres)):
        ref = optimize.minimize_scalar(lambda v: float(curve(np.array([v]), np.array([k]))[0]),
                                       bounds=(-12.0, 8.0), method="bounded", options={"xatol": 1e-7})
        # each problem stops when it converges: evaluated exactly as often as SciPy evaluates it
        assert (x[k], fun[k], calls[k]) == (ref.x, ref.fun, ref.nfev), k
    assert len(set(calls)) > 1


def test_fast_reml_batch_is_bitwise_the_single_fit(rng):
    """A problem fitted among others, in any batch, gives the bits of its fit alone."""
    from analysis.stats import fit_random_intercepts

    problems = [_clustered_data(rng, tau=tau) for tau in (0.0, 0.5, 1.5, 3.0)]
    problems.append((problems[1][0], problems[1][1], np.arange(len(problems[1][0]))))  # singletons only
    together = fit_random_intercepts(problems)
    reversed_ = fit_random_intercepts(problems[::-1])[::-1]
    for problem, a, b in zip(problems, together, reversed_):
        alone = simstudy.fit_random_intercept(*problem)
        for fit in (a, b):
            assert np.array_equal(fit.params, alone.params) and np.array_equal(fit.cov, alone.cov)
            assert (fit.sigma2, fit.tau2) == (alone.sigma2, alone.tau2)
    assert together[3].tau2 > together[1].tau2 > together[0].tau2
    with pytest.raises(ValueError, match="problem 1 has 3"):
        fit_random_intercepts([problems[0], (problems[1][0], problems[1][1][:, :3], problems[1][2])])
    assert fit_random_intercepts([]) == []


def test_measurement_model_fit_recovers_parameters(rng):
    n_people = 1500
    person = np.repeat(np.arange(n_people), 3)
    latent = rng.normal(66, 4, n_people)[person] + rng.normal(0, 1, len(person))
    fd = rng.lognormal(np.log(0.15), 0.3, len(person))
    truth = MeasurementModel(intercept=20.0, slope=0.7, sd_person=2.0, sd_scan=3.0, motion_slope=4.0)
    predicted = (truth.intercept + truth.slope * latent + truth.motion_slope * fd
                 + rng.normal(0, 2.0, n_people)[person] + rng.normal(0, 3.0, len(person)))
    fitted = MeasurementModel.fit(latent, predicted, person, mean_fd_mm=fd, correction=truth.correction)
    assert fitted.slope == pytest.approx(0.7, abs=0.05)
    assert fitted.sd_person == pytest.approx(2.0, abs=0.3)
    assert fitted.sd_scan == pytest.approx(3.0, abs=0.2)
    assert fitted.motion_slope == pytest.approx(4.0, abs=1.5)


def test_with_error_sd_keeps_within_person_correlation():
    model = MeasurementModel(sd_person=3.0, sd_scan=4.0)
    scaled = model.with_error_sd(10.0)
    assert scaled.error_sd == pytest.approx(10.0)
    assert scaled.icc == pytest.approx(model.icc)
    with pytest.raises(ValueError, match="error_sd"):
        model.with_error_sd(-1)
    with pytest.raises(ValueError, match="sd_scan"):
        MeasurementModel(sd_scan=-2.0)


def test_correction_from_table_is_exact(rng):
    from analysis.clock import apply_correction, fit_correction

    age_train = rng.uniform(20, 90, 300)
    correction = fit_correction(0.6 * age_train + 20 + rng.normal(0, 5, 300), age_train)
    age = rng.uniform(62, 72, 50)
    predicted = 0.6 * age + 20 + rng.normal(0, 5, 50)
    table = pd.DataFrame({"age": age, "predicted_age": predicted})
    for method in ("none", "beheshti", "cole"):
        table[f"gap_{method}"] = apply_correction(predicted, age, correction, method)
    recovered = simstudy.correction_from_table(table)
    for key, value in recovered.items():
        assert value == pytest.approx(correction[key], rel=1e-8, abs=1e-8)


def test_null_rejection_rate_and_coverage_are_nominal():
    result = simstudy.run_simulation(600, assumptions=TrialAssumptions.null(), seed=11)
    summary = result.summary()
    # pooled over six correlated contrasts: 3,600 tests; MC SE of a 5% rate < 1 point
    rejection = summary["rejection"].mean()
    coverage = summary["coverage"].mean()
    assert 0.03 < rejection < 0.07
    assert 0.93 < coverage < 0.97
    fdr = simstudy.fdr_summary(result.replicates)
    assert fdr["fwer_fdr"] <= 0.08  # BH controls FWER under the global null


def test_estimates_are_unbiased_on_the_stated_scale():
    model = MeasurementModel(slope=0.6, correction={**MeasurementModel().correction, "cole_slope": 0.6})
    for scale, factor in (("beheshti", 0.6), ("cole", 1.0)):
        summary = simstudy.run_simulation(300, measurement=model, scale=scale, seed=3).summary()
        row = summary.loc["HRT-CON 12m"]
        assert row["truth"] == pytest.approx(-1.40 * factor)
        assert abs(row["bias"]) < 4 * row["bias_mcse"]
        # model-based SEs match the spread of the estimates
        assert row["mean_se"] == pytest.approx(row["empirical_sd"], rel=0.15)


def test_results_do_not_depend_on_n_jobs():
    one = simstudy.run_simulation(12, seed=5, n_jobs=1).replicates
    two = simstudy.run_simulation(12, seed=5, n_jobs=2).replicates
    pd.testing.assert_frame_equal(one, two)
    other = simstudy.run_simulation(12, seed=6).replicates
    assert not np.allclose(one["estimate"], other["estimate"])


def test_power_grid_agrees_with_analytic_power():
    grid = simstudy.power_grid([60, 200], [3.0, 8.0], n_replicates=150, seed=2)
    assert list(grid.columns[:3]) == ["n_per_arm", "error_sd", "power"]
    assert np.all(np.abs(grid["power"] - grid["analytic_power"]) < 4 * grid["power_mcse"] + 0.03)
    small_noisy = grid.query("n_per_arm == 60 and error_sd == 8.0")["power"].item()
    big_precise = grid.query("n_per_arm == 200 and error_sd == 3.0")["power"].item()
    assert big_precise > small_noisy


def test_parameter_errors():
    with pytest.raises(ValueError, match="n_replicates"):
        simstudy.run_simulation(0)
    with pytest.raises(ValueError, match="scale"):
        simstudy.run_simulation(2, scale="smith-ish")
    with pytest.raises(ValueError, match="n_per_arm"):
        simstudy.run_simulation(2, n_per_arm=3)
    with pytest.raises(ValueError, match="se"):
        simstudy.analytic_power(1.0, 0.0)


def test_cli_runs(capsys, tmp_path):
    out = tmp_path / "sim.csv"
    assert simstudy.main(["--replicates", "8", "--clock", "default", "--out", str(out)]) == 0
    assert "HRT-CON 12m" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == 8 * len(simstudy.CONTRASTS)


def test_fast_path_reproduces_the_books_arm_effects(rng):
    """Same model, same estimand as analysis.trial_analysis (the book's primary analysis)."""
    from analysis.trial_analysis import arm_effects, arm_model

    scans, gap, ours = _fast_world(rng)
    table = pd.DataFrame({
        "brain_age_gap": gap, "participant_id": scans["person"], "arm": np.array(simstudy.ARMS)[scans["arm"]],
        "month": scans["month"], "age": scans["age"], "sex": np.where(scans["female"] == 1, "F", "M"),
        "mean_fd_mm": scans["mean_fd_mm"],
    })
    book = arm_effects(arm_model(table), 12).set_index("comparison")
    assert ours[0, 0] == pytest.approx(book.loc["HRT - CON", "estimate"], abs=1e-4)
    assert ours[1, 0] == pytest.approx(book.loc["MIT - CON", "estimate"], abs=1e-4)
    assert ours[0, 1] == pytest.approx(book.loc["HRT - CON", "se"], rel=1e-2)


def test_truncated_normal_matches_scipy_truncnorm():
    """The fast path's age draws are scipy's truncnorm draws (same uniforms, same inversion)."""
    from scipy import stats

    a = TrialAssumptions()
    ours = simstudy.fast._truncated_normal(np.random.default_rng(7), a.age_mean, a.age_sd, a.age_min, a.age_max, 4000)
    ref = stats.truncnorm.rvs((a.age_min - a.age_mean) / a.age_sd, (a.age_max - a.age_mean) / a.age_sd,
                              loc=a.age_mean, scale=a.age_sd, size=4000, random_state=np.random.default_rng(7))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)
    assert ours.min() >= a.age_min and ours.max() <= a.age_max


def test_fast_reml_unbalanced_groups_match_row_level_gls(rng):
    """The sufficient-statistic REML criterion equals the row-level quasi-demeaned one at any ratio."""
    from analysis.stats import random_intercept as ri

    y, X, groups = _clustered_data(rng)
    _, codes = np.unique(groups, return_inverse=True)
    counts = np.bincount(codes).astype(float)
    Z = np.column_stack([X, y])
    problems = ri._Problems.build([(y, X, groups)])
    means = np.stack([np.bincount(codes, weights=c) for c in Z.T], axis=1) / counts[:, None]
    for lam in (0.0, 0.3, 5.0):
        shrink = 1.0 - 1.0 / np.sqrt(1.0 + counts * lam)
        W = Z - shrink[codes, None] * means[codes]
        cross = problems.cross(np.array([lam]), np.array([0]))[0]
        np.testing.assert_allclose(cross, W.T @ W, rtol=1e-10, atol=1e-9)
