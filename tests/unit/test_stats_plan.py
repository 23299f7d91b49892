"""Tests of analysis.sap: known answers (hand computations, published tables) and recovery properties.

Simulated data are built here, small and seeded, with labels other than LISA's where the point
is that nothing about one trial's design is built in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from analysis import stats
from analysis import stats as sap

# --- simulated data ----------------------------------------------------------------------------


def _long_trial(rng, *, arms=("HRT", "MIT", "CON"), visits=(0, 12, 24), n_per_arm=60, effects=None,
                sd_u=3.0, sd_slope=0.0, sd_e=1.0, p_missing=0.2):
    """Long table: random intercept (+ optional random slope over visit index), missing follow-ups."""
    effects = effects or {}
    rows = []
    for arm in arms:
        for i in range(n_per_arm):
            u, slope = rng.normal(0, sd_u), rng.normal(0, sd_slope)
            sex = "F" if rng.random() < 0.6 else "M"
            age0 = rng.normal(66, 2.5)
            for j, v in enumerate(visits):
                if j and rng.random() < p_missing:
                    continue
                rows.append(dict(pid=f"{arm}{i:03d}", arm=arm, month=v, sex=sex, age=age0 + v / 12,
                                 gap=u + slope * j + effects.get((arm, v), 0.0) + rng.normal(0, sd_e)))
    return pd.DataFrame(rows)


def _mar_trial(rng, n=2000, effect=-1.0):
    """One row per person; outcome missing more often in the trained arm when the auxiliary is high."""
    arm = rng.choice(["T", "C"], n)
    base = rng.normal(0, 3, n)
    aux = rng.normal(0, 1, n)
    y = 0.7 * base + effect * (arm == "T") + 1.5 * aux + rng.normal(0, 1, n)
    p_missing = 1 / (1 + np.exp(-(-1.0 + 2.0 * aux * (arm == "T"))))
    y_obs = np.where(rng.random(n) < p_missing, np.nan, y)
    return pd.DataFrame(dict(arm=arm, base=base, aux=aux, sex=rng.choice(["F", "M"], n), y=y_obs))


def _compliance_trial(rng, n=800, per_session=-0.5):
    """Compliers train ~3 sessions/week, never-takers ~0.25 and have worse outcomes regardless."""
    arm = rng.choice(["EX", "UC"], n)
    complier = rng.random(n) < 0.7
    sessions = np.where(complier, rng.uniform(2.5, 3.5, n), rng.uniform(0.0, 0.5, n))
    sessions = np.where(arm == "EX", sessions, np.nan)  # controls: not recorded
    base = rng.normal(0, 2, n)
    y = 0.5 * base + np.where(complier, 0.0, 1.5) + per_session * np.nan_to_num(sessions) + rng.normal(0, 1, n)
    return pd.DataFrame(dict(arm=arm, sessions=sessions, base=base, y=y))


# --- 1. multiplicity ---------------------------------------------------------------------------


def test_holm_hand_computed_and_keeps_index_and_missing():
    p = pd.Series([0.01, 0.04, 0.03, np.nan], index=list("abcd"))
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    got = sap.holm(p)
    assert list(got.index) == list("abcd")
    np.testing.assert_allclose(got[["a", "b", "c"]], [0.03, 0.06, 0.06])
    assert np.isnan(got["d"])
    with pytest.raises(ValueError, match="pvalues must lie in"):
        sap.holm([0.2, 1.5])


def test_gatekeeping_hand_computed():
    families = {
        "primary": {"A - C": 0.01, "B - C": 0.04},
        "follow-up": {"A - C": 0.001, "B - C": 0.30},
        "active arms": {"A - B": 0.50},
    }
    got = sap.gatekeeping(families, alpha=0.05)
    assert list(got.columns) == ["family", "order", "hypothesis", "p", "p_within", "p_adj", "rejected"]
    # primary: Holm 0.02, 0.04; follow-up: Holm 0.002, 0.30, raised to the gate 0.04; active: 0.50
    np.testing.assert_allclose(got["p_within"], [0.02, 0.04, 0.002, 0.30, 0.50])
    np.testing.assert_allclose(got["p_adj"], [0.02, 0.04, 0.04, 0.30, 0.50])
    assert got["rejected"].tolist() == [True, True, True, False, False]
    # a primary hypothesis not rejected closes the gate: the tiny follow-up p cannot be rejected
    closed = sap.gatekeeping({"primary": {"A": 0.01, "B": 0.20}, "follow-up": {"A": 0.0001}})
    np.testing.assert_allclose(closed["p_adj"], [0.02, 0.20, 0.20])
    assert closed["rejected"].tolist() == [True, False, False]


def test_gatekeeping_within_family_equals_statsmodels_holm(rng):
    for size in (1, 3, 5):  # few calls: statsmodels' Holm runs a full garbage collection each time
        p = rng.uniform(0, 0.2, size=size)
        got = sap.gatekeeping({"only": dict(enumerate(p))})["p_within"].to_numpy()
        np.testing.assert_allclose(got, multipletests(p, method="holm")[1])
        np.testing.assert_allclose(got, sap.holm(p))


def _holm_reject(p, alpha):
    """Holm's procedure as stated: reject sorted p_(i) <= alpha / (m - i + 1) until the first failure."""
    order = np.argsort(p)
    rejected = np.zeros(p.size, bool)
    for i, j in enumerate(order):
        if p[j] > alpha / (p.size - i):
            break
        rejected[j] = True
    return rejected


def _sequential_decisions(families, alpha):
    """Reference implementation: test a family by Holm at alpha only if all earlier ones were rejected."""
    out, gate_open = [], True
    for hyps in families.values():
        p = np.array(list(hyps.values()))
        rejected = _holm_reject(p, alpha) if gate_open else np.zeros(p.size, bool)
        out += list(rejected)
        gate_open = gate_open and bool(rejected.all())
    return out


def test_gatekeeping_adjusted_p_reproduce_the_procedure_at_every_alpha(rng):
    for _ in range(40):
        families = {f"F{k}": {f"H{j}": float(rng.uniform(0, 0.1) ** 1.5) for j in range(rng.integers(1, 4))}
                    for k in range(3)}
        table = sap.gatekeeping(families)
        for alpha in (0.01, 0.025, 0.05, 0.1):
            assert (table["p_adj"] <= alpha).tolist() == _sequential_decisions(families, alpha)


def _correlated_p(rng, n_rep, means):
    """Two-sided p of arm-vs-shared-control z statistics (correlation 0.5 within a visit)."""
    shared = rng.normal(size=(n_rep, 1))
    z = (rng.normal(size=(n_rep, len(means))) + shared) / np.sqrt(2) + np.asarray(means)
    return 2 * sps.norm.sf(np.abs(z))


@pytest.mark.parametrize("primary_means", [(0.0, 0.0), (4.0, 4.0)], ids=["global null", "primary false"])
def test_gatekeeping_controls_fwer(rng, primary_means):
    """FWER <= alpha under the global null and when only the primary family holds true effects."""
    n_rep, alpha = 1500, 0.05
    p1 = _correlated_p(rng, n_rep, primary_means)
    p2 = _correlated_p(rng, n_rep, (0.0, 0.0))
    p3 = 2 * sps.norm.sf(np.abs(rng.normal(size=n_rep)))
    true_null = np.array([m == 0 for m in primary_means] + [True, True, True])
    errors = 0
    for i in range(n_rep):
        t = sap.gatekeeping({"primary": {"A": p1[i, 0], "B": p1[i, 1]}, "follow-up": {"A": p2[i, 0], "B": p2[i, 1]},
                             "active": {"A - B": p3[i]}}, alpha=alpha)
        errors += bool((t["rejected"].to_numpy() & true_null).any())
    fwer = errors / n_rep
    assert fwer <= alpha + 2.5 * np.sqrt(alpha * (1 - alpha) / n_rep)


def test_trial_families_generic_design():
    effects = pd.DataFrame({
        "comparison": ["EX - UC", "EX - UC", "EX - UC"],
        "week": [6, 12, 24],
        "p": [0.01, 0.02, 0.5],
    })
    fam = sap.trial_families(effects, control="UC", primary_visit=12, followup_visits=[24], visit="week")
    assert list(fam) == ["primary", "follow-up"]  # two arms: no active-arm family
    assert fam["primary"].index.tolist() == ["EX - UC @ week=12"]
    three = pd.DataFrame({"comparison": ["A - C", "B - C", "A - B"] * 2, "month": [12] * 3 + [24] * 3,
                          "p": [0.01, 0.02, 0.3, 0.04, 0.2, 0.6]})
    fam = sap.trial_families(three, control="C", primary_visit=12, followup_visits=[24])
    assert list(fam) == ["primary", "follow-up", "active arms"]
    assert fam["active arms"].index.tolist() == ["A - B @ month=12"]
    with pytest.raises(ValueError, match="primary_visit=6"):
        sap.trial_families(three, control="C", primary_visit=6)


# --- 2. cLDA -----------------------------------------------------------------------------------


def test_clda_exchangeable_equals_mixedlm_random_intercept(rng):
    data = _long_trial(rng, effects={("HRT", 12): -1.4, ("MIT", 12): -1.0})
    fit = sap.clda(data, "gap", subject="pid", group="arm", visit="month", control="CON",
                   covariance="exchangeable", covariates=["age", "C(sex)"])
    assert fit.converged
    assert "arm[HRT]" not in fit.fixed.index  # constrained: no arm term at baseline
    dummies = data.copy()
    for arm in ("HRT", "MIT"):
        for v in (12, 24):
            dummies[f"{arm}_{v}"] = ((data["arm"] == arm) & (data["month"] == v)).astype(float)
    ref = stats.mixed_model(dummies, "gap ~ C(month) + HRT_12 + MIT_12 + HRT_24 + MIT_24 + age + C(sex)", "pid")
    for arm in ("HRT", "MIT"):
        for v in (12, 24):
            got = fit.fixed.loc[f"arm[{arm}]:month[{v}]"]
            want = ref.fixed.loc[f"{arm}_{v}"]
            assert got["estimate"] == pytest.approx(want["estimate"], abs=1e-4)
            # GLS uses (X' V^-1 X)^-1 as lme4 does; statsmodels inverts the full-parameter Hessian
            assert got["se"] == pytest.approx(want["se"], rel=5e-3)
    assert fit.llf == pytest.approx(ref.llf, abs=1e-4)
    var_u = ref.random.loc["cov_re[Group,Group]", "variance"]
    assert fit.covariance.iloc[0, 1] == pytest.approx(var_u, rel=1e-3)


def test_clda_unstructured_recovers_effects_and_beats_exchangeable(rng):
    """Random slopes make variances grow over visits: the unstructured fit wins on AIC."""
    effects = {("EX", 6): -1.0, ("EX", 12): -2.0}
    data = _long_trial(rng, arms=("EX", "UC"), visits=(0, 6, 12), n_per_arm=250, effects=effects,
                       sd_u=2.0, sd_slope=1.5, p_missing=0.15)
    fit = sap.clda(data, "gap", subject="pid", group="arm", visit="month", control="UC")
    eff = fit.effects.set_index(["comparison", "month"])
    assert list(fit.effects.columns) == ["comparison", "month", "estimate", "se", "ci_low", "ci_high", "p"]
    for v, truth in ((6, -1.0), (12, -2.0)):
        row = eff.loc[("EX - UC", v)]
        assert row["ci_low"] < truth < row["ci_high"]
    # true covariance: var_u + j^2 var_slope + var_e on the diagonal, var_u + j k var_slope off it
    j = np.arange(3)
    truth = 4.0 + np.outer(j, j) * 2.25 + np.eye(3)
    np.testing.assert_allclose(fit.covariance.to_numpy(), truth, rtol=0.25, atol=0.4)
    table = sap.compare_covariance(data, "gap", subject="pid", group="arm", visit="month", control="UC")
    assert table["aic"].idxmin() == "unstructured"
    assert table.loc["unstructured", "lr_df"] == 4 and table.loc["unstructured", "lr_p"] < 0.001
    # the contrast of stats.contrast works on a cLDA result
    c = stats.contrast(fit, {"x": {"arm[EX]:month[12]": 1.0}})
    assert c["estimate"].iloc[0] == pytest.approx(eff.loc[("EX - UC", 12), "estimate"])


def test_clda_errors_name_the_problem(rng):
    data = _long_trial(rng, n_per_arm=5)
    with pytest.raises(ValueError, match="control='PLACEBO'"):
        sap.clda(data, "gap", subject="pid", group="arm", visit="month", control="PLACEBO")
    with pytest.raises(ValueError, match=r"value\(s\) \[24\] not in visits"):
        sap.clda(data, "gap", subject="pid", group="arm", visit="month", control="CON", visits=[0, 12])
    with pytest.raises(ValueError, match="covariance must be one of"):
        sap.clda(data, "gap", subject="pid", group="arm", visit="month", control="CON", covariance="ar1")


# --- 3. CACE -----------------------------------------------------------------------------------


def test_cace_recovers_complier_effect_where_per_protocol_is_biased(rng):
    truth = -0.5 * 3  # per session x 3 sessions/week
    est = {"CACE (2SLS)": [], "per protocol": []}
    covered = 0
    for _ in range(30):
        t = sap.cace(_compliance_trial(rng), "y", "sessions", "arm", control="UC", covariates=["base"],
                     per_protocol_min=2.0, dose=3.0).set_index("method")
        for m in est:
            est[m].append(t.loc[m, "estimate"])
        covered += t.loc["CACE (2SLS)", "ci_low"] < truth < t.loc["CACE (2SLS)", "ci_high"]
    assert list(t.reset_index().columns) == ["method", "comparison", "estimate", "se", "ci_low", "ci_high", "p",
                                             "n", "first_stage_f"]
    assert abs(np.mean(est["CACE (2SLS)"]) - truth) < 0.05
    assert covered >= 25
    # per protocol compares adherent (healthier) trainees with all controls: biased by about -0.45
    assert np.mean(est["per protocol"]) - truth < -0.3
    assert t.loc["CACE (2SLS)", "first_stage_f"] > 100


def test_cace_rejects_missing_adherence_in_trained_arm(rng):
    data = _compliance_trial(rng, n=100)
    data.loc[data.index[data["arm"] == "EX"][0], "sessions"] = np.nan
    with pytest.raises(ValueError, match="column 'sessions' is missing for 1 row"):
        sap.cace(data, "y", "sessions", "arm", control="UC")


# --- 4. multiple imputation ------------------------------------------------------------------------


def test_rubin_pool_hand_computed():
    # Q = 2, W = 1, B = 1, T = 1 + 4/3 = 7/3, lambda = 4/7, riv = 4/3, df = 2 / lambda^2 = 6.125
    got = sap.rubin_pool([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], index=["x"]).loc["x"]
    assert got["estimate"] == pytest.approx(2.0)
    assert got["se"] == pytest.approx(np.sqrt(7 / 3))
    assert got["df"] == pytest.approx(6.125)
    assert got["riv"] == pytest.approx(4 / 3)
    assert got["ci_high"] == pytest.approx(2 + sps.t.ppf(0.975, 6.125) * np.sqrt(7 / 3))
    assert got["p"] == pytest.approx(2 * sps.t.sf(2 / np.sqrt(7 / 3), 6.125))
    # Barnard-Rubin with 10 complete-data df: df_obs = 11/13 * 10 * (1 - 4/7)
    df_obs = 11 / 13 * 10 * 3 / 7
    br = sap.rubin_pool([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], df_complete=10).iloc[0]
    assert br["df"] == pytest.approx(6.125 * df_obs / (6.125 + df_obs))


def test_multiple_imputation_without_missing_data_is_the_ancova(rng):
    data = _mar_trial(rng, n=300).assign(y=lambda d: d["base"] + rng.normal(size=len(d)))
    mi = sap.multiple_imputation(data, "y", "arm", control="C", baseline="base", covariates=["sex"],
                                 auxiliary=["aux"], n_imputations=2, random_state=0).iloc[0]
    ref = stats.ancova(data, "y", "arm", "base", ["sex"], reference="C").loc["T - C"]
    assert mi["estimate"] == pytest.approx(ref["estimate"], abs=1e-10)
    assert mi["se"] == pytest.approx(ref["se"], rel=1e-8)
    assert mi["n_missing"] == 0


def test_multiple_imputation_with_auxiliary_removes_complete_case_bias(rng):
    data = _mar_trial(rng, effect=-1.0)
    cc = stats.ancova(data, "y", "arm", "base", reference="C").loc["T - C"]
    mi = sap.multiple_imputation(data, "y", "arm", control="C", baseline="base", auxiliary=["aux"],
                                 n_imputations=10, random_state=1).iloc[0]
    assert abs(cc["estimate"] - -1.0) > 5 * cc["se"]  # complete cases: MAR given aux, not given base
    assert abs(mi["estimate"] - -1.0) < 2.5 * mi["se"]
    assert mi["n_missing"] == data["y"].isna().sum() and 0 < mi["fmi"] < 1


# --- 5. tipping point --------------------------------------------------------------------------------


def test_tipping_point_grows_with_the_true_effect(rng):
    deltas = np.arange(0.0, 6.01, 0.25)
    tipping = []
    base = _mar_trial(rng, n=600, effect=0.0)
    noise_free_y = base["y"].copy()
    for effect in (-0.8, -1.4, -2.0):
        data = base.assign(y=noise_free_y + effect * (base["arm"] == "T"))
        res = sap.tipping_point(data, "y", "arm", control="C", baseline="base", auxiliary=["aux"], deltas=deltas,
                                n_imputations=5, random_state=2)
        row = res.tipping.iloc[0]
        assert row["status"] == "tips"
        tipping.append(row["tipping_delta"])
        # delta = 0 is the MAR analysis of multiple_imputation with the same seed
        mar = sap.multiple_imputation(data, "y", "arm", control="C", baseline="base", auxiliary=["aux"],
                                      n_imputations=5, random_state=2).iloc[0]
        assert res.table.iloc[0]["estimate"] == pytest.approx(mar["estimate"])
        assert res.table["estimate"].is_monotonic_increasing  # worse missing trainees shrink the benefit
    assert tipping[0] < tipping[1] < tipping[2]


# --- 6. reliability ------------------------------------------------------------------------------------


def test_icc_shrout_fleiss_1979_table():
    """Shrout & Fleiss (1979) Table 2 (6 targets x 4 judges); their Table 4 values; CIs as R psych::ICC."""
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    data = pd.DataFrame([(f"t{i}", f"j{j}", ratings[i, j]) for i in range(6) for j in range(4)],
                        columns=["target", "judge", "rating"])
    got = sap.icc(data, "target", "judge", "rating")
    published = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
    for kind, value in published.items():
        assert round(got.loc[kind, "estimate"], 2) == value
    psych = {"ICC1": (-0.133, 0.72), "ICC2": (0.019, 0.76), "ICC3": (0.342, 0.95),
             "ICC1k": (-0.884, 0.91), "ICC2k": (0.071, 0.93), "ICC3k": (0.676, 0.99)}
    for kind, (lo, hi) in psych.items():
        assert got.loc[kind, "ci_low"] == pytest.approx(lo, abs=0.0015)
        assert got.loc[kind, "ci_high"] == pytest.approx(hi, abs=0.006)
    assert got.loc["ICC3", "F"] == pytest.approx(11.03, abs=0.01)
    assert got.loc["ICC1", "p"] == pytest.approx(0.165, abs=0.001)


def test_smallest_detectable_change():
    assert sap.smallest_detectable_change(1.0) == pytest.approx(1.959964 * np.sqrt(2), rel=1e-6)
    # SEM = sd sqrt(1 - icc) = 2 * 0.5 = 1
    assert sap.smallest_detectable_change(icc=0.75, sd=2.0) == pytest.approx(2.7718, abs=1e-4)
    with pytest.raises(ValueError, match="either sem"):
        sap.smallest_detectable_change()


# --- 7. heterogeneity ------------------------------------------------------------------------------------


def test_subgroup_effects_known_answers(rng):
    n = 600
    d = pd.DataFrame(dict(arm=rng.choice(["A", "B", "C"], n), sex=rng.choice(["F", "M"], n),
                          strength=rng.normal(150, 40, n)))
    z = (d["strength"] - d["strength"].mean()) / d["strength"].std()
    d["y"] = -1.0 * (d["arm"] == "A") - 1.0 * (d["arm"] == "A") * z + rng.normal(0, 1, n)
    got = sap.subgroup_effects(d, "y", "arm", ["sex", "strength"], control="C")
    assert list(got.columns) == ["modifier", "level", "kind", "comparison", "estimate", "se", "ci_low", "ci_high",
                                 "p", "n", "p_interaction", "p_interaction_holm"]
    # no covariates: the subgroup effect is the difference of cell means
    cell = d.groupby(["sex", "arm"])["y"].mean()
    by_sex = got[(got["modifier"] == "sex") & (got["comparison"] == "A - C")].set_index("level")["estimate"]
    for sex in ("F", "M"):
        assert by_sex[sex] == pytest.approx(cell[sex, "A"] - cell[sex, "C"], abs=1e-10)
    per_sd = got[(got["modifier"] == "strength") & (got["level"] == "per SD")].set_index("comparison")
    assert per_sd.loc["A - C", "ci_low"] < -1.0 < per_sd.loc["A - C", "ci_high"]
    assert per_sd.loc["A - C", "p_interaction_holm"] < 0.001
    family = got.drop_duplicates(["modifier", "comparison"])
    np.testing.assert_allclose(family["p_interaction_holm"], sap.holm(family["p_interaction"].to_numpy()))


# --- 8. standardised effects -------------------------------------------------------------------------------


def test_standardized_effects_delta_method_hand_and_coverage(rng):
    eff = pd.DataFrame({"estimate": [-1.4], "se": [0.4]})
    got = sap.standardized_effects(eff, sd=4.0, n=51).iloc[0]
    d = -0.35
    se = np.sqrt((0.4 / 4) ** 2 + d**2 / (2 * 50))
    assert got["estimate_sd"] == pytest.approx(d)
    assert got["se_sd"] == pytest.approx(se)
    assert got["ci_low_sd"] == pytest.approx(d - 1.959964 * se, abs=1e-6)
    # precise estimate, SD from 10 people: the naive interval (CI / SD) under-covers, the delta one does not
    true_d, se_est, n_sd, reps = 1.0, 0.1, 10, 600
    covered_delta = covered_naive = 0
    for _ in range(reps):
        sd_hat = np.sqrt(rng.chisquare(n_sd - 1) / (n_sd - 1))
        est = rng.normal(true_d, se_est)
        t = sap.standardized_effects(pd.DataFrame({"estimate": [est], "se": [se_est]}), sd=sd_hat, n=n_sd).iloc[0]
        covered_delta += t["ci_low_sd"] < true_d < t["ci_high_sd"]
        covered_naive += abs(est / sd_hat - true_d) < 1.959964 * se_est / sd_hat
    assert covered_delta / reps > 0.9
    assert covered_naive / reps < 0.7


# --- 9. words from numbers and the bias-correction identities -----------------------------------------------


def test_verdict_and_conclusion_follow_the_numbers():
    assert sap.verdict(-2.2, -0.6) == "lower than"
    assert sap.verdict(0.1, 0.5) == "higher than"
    assert sap.verdict(-0.5, 0.9) == "not distinguishable from"
    low = sap.conclusion(-1.4, -2.2, -0.6, a="HRT", b="CON")
    assert low.startswith("The brain age gap was 1.4 y lower in HRT than in CON (95% CI 0.6 to 2.2 y lower")
    flat = sap.conclusion(0.2, -0.5, 0.9, a="EX", b="UC", outcome="the score", unit="points")
    assert "not distinguishable between EX and UC" in flat and "does not show that they are equivalent" in flat
    nominal = sap.conclusion(-1.4, -2.2, -0.6, a="HRT", b="CON", p_adjusted=0.09)
    assert "not significant after multiplicity adjustment" in nominal
    assert "significant after multiplicity adjustment (adjusted p = 0.003)" in sap.conclusion(
        -1.4, -2.2, -0.6, a="HRT", b="CON", p_adjusted=0.003)


def test_bias_correction_identities_hold(rng):
    n_train, n = 500, 300
    train_age = rng.uniform(20, 90, n_train)
    train = pd.DataFrame({"age": train_age, "pred": 45 + 0.6 * (train_age - 55) + 0.004 * (train_age - 55) ** 2
                          + rng.normal(0, 6, n_train)})
    age = rng.normal(66, 2.5, n)
    arm = rng.choice(["A", "B", "C"], n)
    data = pd.DataFrame({"age": age, "arm": arm, "sex": rng.choice(["F", "M"], n),
                         "pred": 45 + 0.6 * (age - 55) - 0.8 * (arm == "A") + rng.normal(0, 6, n)})
    got = sap.bias_correction_identities(data, "pred", "age", "C(arm) + age + I(age ** 2) + C(sex)", train=train)
    table = got.set_index(["correction", "term"])
    for term in ("C(arm)[T.B]", "C(arm)[T.C]"):
        none = table.loc[("none", term)]
        for corr in ("beheshti", "smith"):
            assert table.loc[(corr, term), "estimate"] == pytest.approx(none["estimate"], abs=1e-8)
            assert table.loc[(corr, term), "se"] == pytest.approx(none["se"], rel=1e-8)
        cole = table.loc[("cole", term)]
        assert cole["estimate"] == pytest.approx(none["estimate"] / got.attrs["cole_slope"], rel=1e-8)
        assert cole["statistic"] == pytest.approx(none["statistic"], rel=1e-8)
    # without age^2 Smith differs; Beheshti and Cole identities need only linear age
    lin = sap.bias_correction_identities(data, "pred", "age", "C(arm) + age", train=train).set_index(
        ["correction", "term"])
    assert lin.loc[("beheshti", "C(arm)[T.B]"), "estimate"] == pytest.approx(lin.loc[("none", "C(arm)[T.B]"),
                                                                                      "estimate"])
    assert lin.loc[("smith", "C(arm)[T.B]"), "estimate"] != pytest.approx(lin.loc[("none", "C(arm)[T.B]"),
                                                                                   "estimate"], abs=1e-6)
    with pytest.raises(ValueError, match="must contain the age column"):
        sap.bias_correction_identities(data, "pred", "age", "C(arm)")
    assert "divided by the fitted slope" in sap.BIAS_CORRECTION_IDENTITIES


def test_multiple_imputation_uses_an_auxiliary_missing_in_control(rng):
    """Adherence exists only in trained arms: it informs their imputations and is left out for control."""
    data = _mar_trial(rng, n=300)
    data["adherence"] = np.where(data["arm"] == "T", rng.uniform(0, 3, len(data)), np.nan)
    out = sap.multiple_imputation(data, "y", "arm", control="C", baseline="base", auxiliary=["aux", "adherence"],
                                  n_imputations=3, random_state=0)
    assert out["comparison"].tolist() == ["T - C"] and np.isfinite(out["estimate"]).all()
    with pytest.raises(ValueError, match=r"column\(s\) \['y'\] have no observed value in arm='C'"):
        sap.multiple_imputation(data.assign(y=np.where(data["arm"] == "C", np.nan, data["y"])), "y", "arm",
                                control="C", n_imputations=2)


def test_cace_recovers_the_complier_effect_when_only_compliers_benefit(rng):
    """Binary treatment received; the effect exists only in compliers, whose share is 60%;
    never-takers have a worse prognosis. 2SLS recovers the complier effect, not the ITT effect
    (its share of it) nor the per-protocol contrast (confounded by who complies)."""
    complier_effect, share = -2.0, 0.6
    cace_est, itt_est, pp_est = [], [], []
    for _ in range(30):
        n = 1000
        arm = rng.choice(["EX", "UC"], n)
        complier = rng.random(n) < share
        treated = ((arm == "EX") & complier).astype(float)
        y = rng.normal(0, 1, n) + np.where(complier, 0.0, 1.5) + complier_effect * treated
        data = pd.DataFrame(dict(arm=arm, received=np.where(arm == "EX", treated, np.nan), y=y))
        t = sap.cace(data, "y", "received", "arm", control="UC", per_protocol_min=1.0).set_index("method")
        cace_est.append(t.loc["CACE (2SLS)", "estimate"])
        itt_est.append(t.loc["ITT", "estimate"])
        pp_est.append(t.loc["per protocol", "estimate"])
    assert abs(np.mean(cace_est) - complier_effect) < 0.1
    assert abs(np.mean(itt_est) - share * complier_effect) < 0.1
    # per protocol: treated compliers against all controls, 40% of them never-takers (+1.5): biased by -0.6
    assert np.mean(pp_est) - complier_effect < -0.4


def test_covariance_comparison_of_given_fits_equals_compare_covariance(rng):
    data = _long_trial(rng, arms=("EX", "UC"), n_per_arm=40)
    kwargs = dict(subject="pid", group="arm", visit="month", control="UC")
    fits = {s: sap.clda(data, "gap", covariance=s, **kwargs) for s in ("exchangeable", "unstructured")}
    pd.testing.assert_frame_equal(sap.covariance_comparison(fits), sap.compare_covariance(data, "gap", **kwargs))
    other = sap.clda(data, "gap", covariance="unstructured", covariates=["age"], **kwargs)
    with pytest.raises(ValueError, match="differs from 'exchangeable' in its mean model"):
        sap.covariance_comparison({"exchangeable": fits["exchangeable"], "unstructured": other})


def test_vectorised_correlation_bootstrap_equals_the_resampling_loop(rng):
    d = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60), "z": rng.normal(size=60)})
    d["y"] += 0.4 * d["x"] + 0.3 * d["z"]
    x, y, z = (d[c].to_numpy() for c in "xyz")
    refs = {"pearson": lambda a, b: np.corrcoef(a, b)[0, 1], "spearman": lambda a, b: sps.spearmanr(a, b).statistic}
    for method, f in refs.items():
        got = stats.correlation(d, "x", "y", method=method, n_boot=300, random_state=3).iloc[0]
        ref = stats.bootstrap_ci((x, y), f, n_boot=300, random_state=3)
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((ref.ci_low, ref.ci_high), abs=1e-12)
    Z = np.column_stack([np.ones(60), z])

    def partial(idx):
        rx = x[idx] - Z[idx] @ np.linalg.lstsq(Z[idx], x[idx], rcond=None)[0]
        ry = y[idx] - Z[idx] @ np.linalg.lstsq(Z[idx], y[idx], rcond=None)[0]
        return np.corrcoef(rx, ry)[0, 1]

    got = stats.partial_correlation(d, "x", "y", ["z"], n_boot=300, random_state=3).iloc[0]
    ref = stats.bootstrap_ci(np.arange(60), partial, n_boot=300, random_state=3)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((ref.ci_low, ref.ci_high), abs=1e-10)
