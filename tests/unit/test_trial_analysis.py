"""Tests of analysis.trial_analysis: known answers on small simulated trials, design-driven keys,
missing optional columns, and bad inputs that name the column or value.

The simulated trials use labels and visits other than LISA's (a two-arm EX/CTRL trial with visits
0/6/12, primary 6, follow-up 12) wherever the point is that nothing about one design is built in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from analysis import stats
from analysis import trial_analysis as ta
from analysis.trial import LISA, NOT_AVAILABLE, Arm, TrialDesign

TWO_ARM = TrialDesign(arms=(Arm("EX", "Exercise"), Arm("CTRL", "Control")), control="CTRL", visits=(0, 6, 12),
                      primary_visit=6, followup_visits=(12,))


@dataclass
class FakeTrial:
    """What analysis_table reads of a trial: participants, visits, design, has_column."""

    participants: pd.DataFrame
    visits: pd.DataFrame
    design: TrialDesign
    truth: object = None
    source: str = "real"
    extra: dict = field(default_factory=dict)

    def has_column(self, name: str) -> bool:
        for table in (self.participants, self.visits):
            if name in table.columns:
                return bool(table[name].notna().any())
        return False


def _simulate(rng, design=TWO_ARM, *, n_per_arm=80, effects=None, strength=True, adherence=True,
              self_training=False, p_missing=0.1, sd_u=2.0, sd_e=1.0, mvc_coupling=0.0):
    """A trial and its brain-age table: random intercept, arm x visit effects, missing follow-ups.

    ``effects`` maps (arm, month) -> shift of the gap. Trainees' adherence is uniform 1-3.5
    sessions/week; strength rises by 10% in active arms. Returns ``(trial, brain_age)``.
    """
    effects = effects or {}
    people, visits, scans = [], [], []
    for arm in design.labels:
        for i in range(n_per_arm):
            pid = f"{arm}{i:03d}"
            sex = "F" if rng.random() < 0.55 else "M"
            age0 = rng.uniform(62, 70)
            u = rng.normal(0, sd_u)
            people.append(dict(participant_id=pid, arm=arm, sex=sex, age=age0))
            mvc0 = rng.normal(150, 20)
            gain = 10.0 if arm != design.control else 0.0
            adh = rng.uniform(1, 3.5) if arm != design.control else np.nan
            for j, month in enumerate(design.visits):
                scanned = j == 0 or rng.random() > p_missing
                pct = gain * (month > 0) + rng.normal(0, 3) * (month > 0)
                row = dict(participant_id=pid, month=month, attended=True, age=age0 + month / 12,
                           mean_fd_mm=rng.uniform(0.1, 0.3) if scanned else np.nan)
                if strength:
                    row[ta.MVC] = mvc0 * (1 + pct / 100)
                if adherence:
                    row[ta.ADHERENCE] = adh if month == design.primary_visit else np.nan
                if self_training:
                    row["self_training"] = (rng.random() < 0.4) if (design.is_followup(month)
                                                                   and arm != design.control) else None
                visits.append(row)
                if scanned:
                    gap = u + effects.get((arm, month), 0.0) + mvc_coupling * pct + rng.normal(0, sd_e)
                    pred = age0 + month / 12 + gap
                    scans.append(dict(participant_id=pid, month=month, age=age0 + month / 12, predicted_age=pred,
                                      brain_age_gap=gap, gap_beheshti=gap))
    trial = FakeTrial(pd.DataFrame(people), pd.DataFrame(visits), design)
    return trial, pd.DataFrame(scans)


@pytest.fixture
def two_arm(rng):
    trial, brain_age = _simulate(rng, effects={("EX", 6): -1.5, ("EX", 12): -1.0})
    return trial, ta.analysis_table(trial, brain_age)


# --- the analysis table --------------------------------------------------------------------


def test_analysis_table_follows_the_design_and_optional_columns(rng):
    trial, brain_age = _simulate(rng, n_per_arm=10, strength=False, adherence=False)
    table = ta.analysis_table(trial, brain_age)
    assert set(table["month"]) == {0, 6, 12} and set(table["arm"]) == {"EX", "CTRL"}
    assert table[ta.MVC].isna().all() and table["adherence"].isna().all() and table["self_training"].isna().all()
    # without adherence the trainees' per-protocol status is unknown; controls are always per protocol
    assert table.loc[table["arm"] == "CTRL", "per_protocol"].all()
    assert table.loc[table["arm"] == "EX", "per_protocol"].isna().all()
    assert "stratum" not in table.columns
    assert ta.covariate_terms(table) == ["baseline_age", "baseline_fd", "C(sex)"]


def test_analysis_table_adherence_per_protocol_and_baseline_values(rng):
    trial, brain_age = _simulate(rng, n_per_arm=20)
    table = ta.analysis_table(trial, brain_age, min_adherence=2.0)
    person = table.drop_duplicates("participant_id").set_index("participant_id")
    adherence = trial.visits[trial.visits["month"] == 6].set_index("participant_id")[ta.ADHERENCE]
    np.testing.assert_allclose(person["adherence"], adherence.reindex(person.index))
    ex = person[person["arm"] == "EX"]
    assert (ex["per_protocol"] == (ex["adherence"] >= 2.0)).all()
    base = brain_age[brain_age["month"] == 0].set_index("participant_id")["brain_age_gap"]
    np.testing.assert_allclose(person["baseline_gap"], base.reindex(person.index))


def test_analysis_table_imputes_unknown_baseline_motion_with_the_mean(rng):
    trial, brain_age = _simulate(rng, n_per_arm=10)
    first = trial.visits.index[trial.visits["month"] == 0][0]
    trial.visits.loc[first, "mean_fd_mm"] = np.nan
    table = ta.analysis_table(trial, brain_age)
    pid = trial.visits.loc[first, "participant_id"]
    known = trial.visits[(trial.visits["month"] == 0)]["mean_fd_mm"].mean()
    row = table[table["participant_id"] == pid].iloc[0]
    assert row["baseline_fd_imputed"] and row["baseline_fd"] == pytest.approx(known)


def test_analysis_table_errors_name_the_column_and_value(rng):
    trial, brain_age = _simulate(rng, n_per_arm=5)
    bad = FakeTrial(trial.participants.assign(arm=lambda d: d["arm"].replace({"EX": "HRT"})), trial.visits, TWO_ARM)
    with pytest.raises(ValueError, match=r"column 'arm'.*\['HRT'\].*not arms of the design"):
        ta.analysis_table(bad, brain_age)
    stray = FakeTrial(trial.participants.iloc[1:], trial.visits, TWO_ARM)
    with pytest.raises(ValueError, match="column 'participant_id' of trial.visits"):
        ta.analysis_table(stray, brain_age)
    with pytest.raises(KeyError, match="brain_age has no column"):
        ta.analysis_table(trial, brain_age.drop(columns="brain_age_gap"))
    extra = pd.concat([brain_age, brain_age.iloc[[0]].assign(participant_id="nobody")])
    with pytest.raises(ValueError, match="'nobody'.*no row in trial.visits"):
        ta.analysis_table(trial, extra)


# --- the primary model and its keys -------------------------------------------------------------


def test_primary_model_recovers_effects_and_keys_follow_a_two_arm_design(two_arm):
    trial, table = two_arm
    primary = ta.primary_model(table, TWO_ARM)
    assert primary.structure == "unstructured" and primary.planned
    eff = primary.effects.set_index(["comparison", "month"])
    for month, truth in ((6, -1.5), (12, -1.0)):
        row = eff.loc[("EX - CTRL", month)]
        assert row["ci_low"] < truth < row["ci_high"]
    assert eff.loc[("EX - CTRL", 6), "key"] == "arms.ex_vs_ctrl_6m"
    assert eff.loc[("EX - CTRL", 12), "key"] == "followup.ex_vs_ctrl_12m"
    assert list(eff["family"]) == ["primary", "follow-up"]
    # one hypothesis per family: the primary p is its own adjusted p; the follow-up one is gated by it
    p6, p12 = eff.loc[("EX - CTRL", 6), "p"], eff.loc[("EX - CTRL", 12), "p"]
    assert eff.loc[("EX - CTRL", 6), "p_adj"] == pytest.approx(p6)
    assert eff.loc[("EX - CTRL", 12), "p_adj"] == pytest.approx(max(p6, p12))
    assert primary.comparison.index.tolist() == ["exchangeable", "unstructured"]
    arms = ta.effects_section(primary, table, "arms")
    follow = ta.effects_section(primary, table, "followup")
    assert set(arms.results["key"]) == {"arms.ex_vs_ctrl_6m", "arms.p_adj_ex_vs_ctrl_6m", "arms.std_ex_vs_ctrl_6m",
                                        "arms.n_rejected_primary_family", "arms.baseline_gap_sd"}
    assert {"followup.ex_vs_ctrl_12m", "followup.p_adj_ex_vs_ctrl_12m", "followup.n_scans_12m"} <= set(
        follow.results["key"])
    assert "EX" in arms.texts["arms.conclusions"] and "month 6" in arms.texts["arms.conclusions"]


def test_lisa_keys_and_families_of_a_three_arm_design(rng):
    trial, brain_age = _simulate(rng, LISA, n_per_arm=40, effects={("HRT", 12): -1.5}, strength=False)
    table = ta.analysis_table(trial, brain_age)
    primary = ta.primary_model(table, LISA)
    keys = set(ta.effects_section(primary, table, "arms").results["key"])
    assert {"arms.hrt_vs_con_12m", "arms.p_adj_hrt_vs_con_12m", "arms.p_adj_mit_vs_con_12m",
            "arms.p_adj_hrt_vs_mit_12m", "arms.mit_vs_con_12m"} <= keys
    fam = primary.effects.set_index(["comparison", "month"])["family"]
    assert fam[("HRT - MIT", 12)] == "active arms" and fam[("HRT - MIT", 24)] == "exploratory"
    gk = stats.gatekeeping(stats.trial_families(primary.effects, control="CON", primary_visit=12,
                                                followup_visits=[24]))
    first = primary.effects[(primary.effects["month"] == 12) & (primary.effects["reference"] == "CON")]
    np.testing.assert_allclose(first["p_adj"], gk.loc[gk["family"] == "primary", "p_adj"])


def test_model_means_differences_are_the_effects(two_arm):
    _, table = two_arm
    primary = ta.primary_model(table, TWO_ARM)
    means = ta.model_means(primary, table).set_index(["arm", "month"])["estimate"]
    eff = primary.effects.set_index(["comparison", "month"])["estimate"]
    assert means[("EX", 0)] == pytest.approx(means[("CTRL", 0)])  # constrained baseline
    for month in (6, 12):
        assert means[("EX", month)] - means[("CTRL", month)] == pytest.approx(eff[("EX - CTRL", month)], abs=1e-9)


def test_persistence_and_within_arm_changes_are_differences_of_the_model(two_arm):
    _, table = two_arm
    primary = ta.primary_model(table, TWO_ARM)
    eff = primary.effects.set_index(["comparison", "month"])["estimate"]
    pers = ta.persistence_effects(primary).iloc[0]
    assert pers["estimate"] == pytest.approx(eff[("EX - CTRL", 12)] - eff[("EX - CTRL", 6)], abs=1e-9)
    means = ta.model_means(primary, table).set_index(["arm", "month"])["estimate"]
    within = ta.within_arm_changes(primary).set_index("arm")["estimate"]
    for arm in ("EX", "CTRL"):
        assert within[arm] == pytest.approx(means[(arm, 12)] - means[(arm, 6)], abs=1e-9)
    section = ta.persistence_section(primary)
    assert set(section.results["key"]) == {"followup.persistence_ex_vs_ctrl_12m", "followup.change_6_12_ex",
                                           "followup.change_6_12_ctrl"}


def test_standardized_effects_use_the_baseline_sd_and_its_uncertainty(two_arm):
    _, table = two_arm
    primary = ta.primary_model(table, TWO_ARM)
    sd, n = ta.baseline_spread(table, TWO_ARM)
    base = table.loc[table["month"] == 0, "brain_age_gap"].dropna()
    assert sd == pytest.approx(base.std()) and n == len(base)
    got = ta.standardized(primary.effects, table, TWO_ARM).iloc[0]
    assert got["estimate_sd"] == pytest.approx(got["estimate"] / sd)
    assert got["ci_high_sd"] - got["ci_low_sd"] > (got["ci_high"] - got["ci_low"]) / sd  # wider than naive


# --- sensitivity analyses -----------------------------------------------------------------------------


@dataclass
class _Clock:
    correction_: dict


def test_longitudinal_correction_known_answer_and_identity_with_the_gap_change(rng):
    trial, brain_age = _simulate(rng, n_per_arm=60, p_missing=0.0)
    slope = 0.7
    # predictions that follow the clock's age line plus a known arm effect at month 6, no noise in the change
    base = brain_age[brain_age["month"] == 0].set_index("participant_id")
    arm = trial.participants.set_index("participant_id")["arm"]
    pid = brain_age["participant_id"]
    shift = np.where((brain_age["month"] == 6) & (pid.map(arm) == "EX"), -0.8, 0.0)
    brain_age = brain_age.assign(predicted_age=pid.map(base["predicted_age"]).to_numpy()
                                 + slope * (brain_age["age"] - pid.map(base["age"])).to_numpy() + shift)
    # the Beheshti gap with the same line: gap = pred - age - ((slope - 1) age + c)
    brain_age["brain_age_gap"] = brain_age["predicted_age"] - brain_age["age"] - ((slope - 1) * brain_age["age"] + 3)
    table = ta.analysis_table(trial, brain_age)
    got = ta.longitudinal_correction(table, _Clock({"cole_slope": slope, "cole_intercept": 3.0}), TWO_ARM, 6)
    assert got.iloc[0]["estimate"] == pytest.approx(-0.8, abs=1e-8)
    assert got.iloc[0]["comparison"] == "EX - CTRL"
    change = ta.change_table(table.assign(**{ta.MVC: 1.0}), TWO_ARM, 0, 6)
    excess = (table[table["month"] == 6].set_index("participant_id")["predicted_age"]
              - table[table["month"] == 0].set_index("participant_id")["predicted_age"]
              - slope * 0.5)
    np.testing.assert_allclose(change.set_index("participant_id")["gap_change"],
                               excess.reindex(change["participant_id"]), atol=1e-9)
    with pytest.raises(ValueError, match="cole_slope"):
        ta.longitudinal_correction(table, object(), TWO_ARM, 6)


def test_model_sensitivity_rows_and_keys(two_arm):
    _, table = two_arm
    primary = ta.primary_model(table, TWO_ARM)
    sens = ta.model_sensitivity(table, primary)
    assert sens["comparison"].unique().tolist() == ["EX - CTRL"]
    assert sens["analysis"].iloc[0].startswith("Primary") and sens["month"].eq(6).all()
    section = ta.sensitivity_section([sens], [], TWO_ARM)
    assert {"arms.exch_ex_vs_ctrl_6m", "arms.ri_ex_vs_ctrl_6m", "arms.pp_ex_vs_ctrl_6m",
            "arms.n_per_protocol"} <= set(section.results["key"])
    assert "alternative analyses" in section.texts["arms.sensitivity_text"]


def test_matched_ages_widen_to_multiples_of_the_margin():
    table = pd.DataFrame({"has_scan": [True, True, False], "age": [62.3, 73.4, 90.0]})
    assert ta.matched_ages(table) == (55.0, 80.0)
    with pytest.raises(ValueError, match="no usable scan"):
        ta.matched_ages(table.assign(has_scan=False))


def test_tipping_point_grows_with_the_effect_and_mi_is_its_delta_zero_row(rng):
    deltas = []
    for effect in (-0.6, -1.2):
        trial, brain_age = _simulate(np.random.default_rng(7), n_per_arm=120, effects={("EX", 6): effect},
                                     p_missing=0.25, sd_u=1.0)
        table = ta.analysis_table(trial, brain_age)
        primary = ta.primary_model(table, TWO_ARM)
        mda = ta.missing_data_analysis(table, primary, n_imputations=4, seed=1, max_sd=5.0)
        row = mda.tipping.iloc[0]
        assert row["status"] == "tips"
        assert row["level"] == pytest.approx(0.05)  # one hypothesis in the primary family
        deltas.append(row["tipping_delta"])
        person = ta.person_table(table, TWO_ARM)
        mitt = person[person["has_baseline_scan"]].reset_index(drop=True)
        mi = stats.multiple_imputation(mitt, "outcome", "arm", control="CTRL", baseline="baseline_gap",
                                       covariates=["baseline_age", "baseline_fd", "sex"], auxiliary=list(mda.auxiliary),
                                       n_imputations=4, random_state=1).iloc[0]
        assert mda.mi.iloc[0]["estimate"] == pytest.approx(mi["estimate"])
        assert mda.mi.iloc[0]["n_missing"] == mi["n_missing"] > 0
        keys = set(ta.missing_data_section(mda, table, TWO_ARM).results["key"])
        assert keys == {"arms.mi_ex_vs_ctrl_6m", "arms.tipping_delta_ex_vs_ctrl_6m"}
    assert deltas[0] < deltas[1]


def test_complier_effect_recovers_a_known_dose_effect_and_needs_adherence(rng):
    trial, brain_age = _simulate(rng, n_per_arm=300, p_missing=0.0, sd_u=1.0)
    table = ta.analysis_table(trial, brain_age)
    per_session = -0.4
    month6 = table["month"] == 6
    table.loc[month6, "brain_age_gap"] += per_session * table.loc[month6, "adherence"].fillna(0.0)
    got = ta.complier_effects(table, TWO_ARM, dose=3.0).set_index("method")
    iv = got.loc["CACE (2SLS)"]
    assert iv["ci_low"] < 3 * per_session < iv["ci_high"] and iv["first_stage_f"] > 100
    section = ta.cace_section(got.reset_index(), TWO_ARM)
    assert set(section.results["key"]) == {"arms.cace_ex_vs_ctrl_6m", "arms.cace_f_ex_vs_ctrl_6m"}
    assert ta.complier_effects(table.assign(adherence=np.nan), TWO_ARM) is None
    assert NOT_AVAILABLE in ta.cace_section(None, TWO_ARM).texts["arms.cace_text"]


def test_heterogeneity_without_strength_says_so(rng):
    trial, brain_age = _simulate(rng, n_per_arm=60, strength=False)
    table = ta.analysis_table(trial, brain_age)
    het = ta.heterogeneity(table, TWO_ARM)
    assert set(het["modifier"]) == {"sex", "baseline_gap"}
    section = ta.heterogeneity_section(het, TWO_ARM)
    assert NOT_AVAILABLE in section.texts["arms.heterogeneity_text"]
    assert set(section.results["key"]) == {"arms.p_het_sex_ex_vs_ctrl_6m", "arms.p_het_baseline_gap_ex_vs_ctrl_6m"}


def test_populations_count_each_population(two_arm):
    trial, table = two_arm
    pops = ta.populations(table, TWO_ARM)
    assert pops.loc["randomised (ITT)", "total"] == len(trial.participants)
    assert pops.loc["modified ITT", "total"] == table.loc[table["month"] == 0, "has_scan"].sum()
    section = ta.population_section(table, TWO_ARM)
    assert "EX (exercise)" in section.texts["arms.design_text"]


# --- follow-up and strength --------------------------------------------------------------------------------


def test_self_training_not_available_and_design_driven(rng):
    trial, brain_age = _simulate(rng, n_per_arm=60)
    table = ta.analysis_table(trial, brain_age)
    assert ta.self_training_effect(table, TWO_ARM) is None
    trial, brain_age = _simulate(rng, n_per_arm=60, self_training=True, p_missing=0.0)
    table = ta.analysis_table(trial, brain_age)
    got = ta.self_training_effect(table, TWO_ARM).iloc[0]
    assert (got["start"], got["end"]) == (6, 12)
    assert got["n_people_kept"] + got["n_people_stopped"] == table.loc[table["arm"] == "EX", "participant_id"].nunique()


def test_strength_analysis_recovers_a_coupling_and_is_none_without_strength(rng):
    trial, brain_age = _simulate(rng, n_per_arm=150, p_missing=0.0, mvc_coupling=-0.1, sd_e=0.3)
    table = ta.analysis_table(trial, brain_age)
    res = ta.strength_analysis(table, TWO_ARM, n_boot=200)
    slopes = res.slopes.set_index("arm")
    for arm in ("EX", "CTRL"):
        assert abs(slopes.loc[arm, "estimate"] + 0.1) < 4 * slopes.loc[arm, "se"]
    np.testing.assert_allclose(res.family["p_holm"], stats.holm(res.family["p"].to_numpy()))
    keys = set(ta.strength_section(type("D", (), {"synthetic": False})(), res).results["key"])
    assert {"strength.r_overall", "strength.r_ex", "strength.partial_r_ctrl", "strength.slope_ex",
            "strength.p_holm_partial_r_overall", "strength.interaction_p_holm"} <= keys
    trial, brain_age = _simulate(rng, n_per_arm=10, strength=False)
    assert ta.strength_analysis(ta.analysis_table(trial, brain_age), TWO_ARM) is None
    assert NOT_AVAILABLE in ta.strength_section(None, None).texts["strength.intro_text"]


def test_change_table_and_strength_interaction_recover_slopes(rng):
    n = 240
    arm = np.repeat(list(LISA.labels), n // 3)
    pct = rng.normal(5, 8, n)
    slope = pd.Series({"HRT": -0.05, "MIT": -0.05, "CON": 0.0})[arm].to_numpy()
    gap0 = rng.normal(0, 3, n)
    rows = []
    for i in range(n):
        mvc0 = 150.0 + rng.normal(0, 10)
        for month, gap, mvc in ((0, gap0[i], mvc0), (12, gap0[i] + slope[i] * pct[i] * 10, mvc0 * (1 + pct[i] / 100))):
            rows.append(dict(participant_id=f"p{i}", arm=arm[i], sex="F", baseline_age=66.0, self_training=pd.NA,
                             month=month, brain_age_gap=gap, knee_extensor_mvc_nm=mvc))
    changes = ta.change_table(pd.DataFrame(rows), LISA, 0, 12)
    assert len(changes) == n
    np.testing.assert_allclose(changes["mvc_change_pct"], pct, rtol=1e-9)
    slopes, inter = ta.strength_interaction(changes, LISA, covariates=("gap_start",))
    got = slopes.set_index("arm")["estimate"]
    assert got["HRT"] == pytest.approx(-0.5, abs=1e-8) and got["CON"] == pytest.approx(0.0, abs=1e-8)
    assert inter["p_joint"].iloc[0] < 1e-6


# --- the random-intercept model of the earlier analyses (a sensitivity analysis now) -------------------


def test_random_intercept_arm_effects_equal_difference_in_mean_changes(rng):
    trial, brain_age = _simulate(rng, TWO_ARM, n_per_arm=30, p_missing=0.0)
    table = ta.analysis_table(trial, brain_age)
    fit = ta.arm_model(table, covariates=(), design=TWO_ARM)
    got = ta.arm_effects(fit, 6, design=TWO_ARM).set_index("comparison")
    means = table.groupby(["arm", "month"])["brain_age_gap"].mean()
    change = {a: means[a, 6] - means[a, 0] for a in ("EX", "CTRL")}
    assert got.loc["EX - CTRL", "estimate"] == pytest.approx(change["EX"] - change["CTRL"], abs=1e-6)


# --- bad inputs -----------------------------------------------------------------------------------------


def test_bad_inputs_name_the_column_or_value(two_arm):
    _, table = two_arm
    with pytest.raises(KeyError, match=r"no column\(s\) \['gap_x'\]"):
        ta.fit_clda(table, TWO_ARM, outcome="gap_x")
    with pytest.raises(ValueError, match=r"month must be a post-baseline visit of the design \[6, 12\]; got 24"):
        ta.person_table(table, TWO_ARM, 24)
    with pytest.raises(ValueError, match=r"section must be 'arms' or 'followup'; got 'other'"):
        ta.effects_section(ta.primary_model(table, TWO_ARM), table, "other")
    with pytest.raises(ValueError, match=r"end must be a visit of the design \[0, 6, 12\]; got 3"):
        ta.within_arm_changes(ta.primary_model(table, TWO_ARM), 6, 3)
    with pytest.raises(ValueError, match="baseline value"):
        ta.baseline_spread(table.assign(brain_age_gap=np.nan), TWO_ARM)
