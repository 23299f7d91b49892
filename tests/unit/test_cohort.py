"""Tests of the cohort page's package functions (analysis.trial.tables, analysis.trial.cohort, cohort and
open-data figures, analysis.open_data.summary) on small hand-made trials with known answers."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis import figures, open_data
from analysis._paths import PROJECT_ROOT
from analysis.trial import (
    LISA,
    Trial,
    TrialAssumptions,
    TrialDesign,
    arm_visits,
    baseline_display,
    baseline_smd,
    baseline_table,
    cohort,
    flow_counts,
    missingness_patterns,
    simulate_trial,
    strength_change_by_self_training,
    strength_summary,
    visit_summary,
)
from analysis.trial.design import Arm

TWO_ARMS = TrialDesign(arms=(Arm("Drug", "New drug"), Arm("Placebo", "Placebo pill")), control="Placebo",
                       visits=(0, 6), primary_visit=6)
THREE_VISITS = TrialDesign(arms=(Arm("A", "Active"), Arm("C", "Control")), control="C", visits=(0, 6, 18),
                           primary_visit=6, followup_visits=(18,))
OPTIONAL = ["knee_extensor_mvc_nm", "adherence_sessions_per_week", "self_training", "bmi", "chair_stand_30s",
            "stratum", "mri_acquired"]


def _no_timeseries(pid, month):  # pragma: no cover - the cohort functions never read time series
    raise AssertionError("time series must not be read")


def _trial(participants: dict, visits: dict, design: TrialDesign) -> Trial:
    atlas = pd.DataFrame({"roi": ["r1"], "x": [0.0], "y": [0.0], "z": [0.0], "network": ["n"]})
    return Trial(pd.DataFrame(participants), pd.DataFrame(visits), atlas, "real", _no_timeseries, design=design)


@pytest.fixture
def two_arm() -> Trial:
    """4 people (Drug: p1, p2; Placebo: p3, p4) x 2 visits; p2 and p4 miss month 6."""
    people = {"participant_id": ["p1", "p2", "p3", "p4"], "arm": ["Drug", "Drug", "Placebo", "Placebo"],
              "sex": ["F", "M", "F", "F"], "age": [60.0, 64.0, 62.0, 70.0], "bmi": [20.0, 30.0, 25.0, 27.0],
              "chair_stand_30s": [10, 14, 12, 12], "stratum": ["a", "b", "a", "a"]}
    visits = {
        "participant_id": ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4"],
        "month": [0, 6] * 4,
        "attended": [True, True, True, False, True, True, True, False],
        "age": [60.0, 60.5, 64.0, 64.5, 62.0, 62.5, 70.0, 70.5],
        "knee_extensor_mvc_nm": [100.0, 110.0, 200.0, np.nan, 150.0, 135.0, 120.0, np.nan],
        "adherence_sessions_per_week": [np.nan, 3.0, np.nan, 1.0, np.nan, np.nan, np.nan, np.nan],
        "self_training": pd.array([pd.NA] * 8, dtype="boolean"),
        "mri_acquired": [True, True, True, False, True, True, False, False],
        "mri_usable": [True, True, True, False, True, False, False, False],
        "mean_fd_mm": [0.1, 0.2, 0.3, np.nan, 0.4, np.nan, np.nan, np.nan],
    }
    return _trial(people, visits, TWO_ARMS)


@pytest.fixture
def followup() -> Trial:
    """2 active people and 1 control over visits 0/6/18; a1 keeps training, a2 stops."""
    people = {"participant_id": ["a1", "a2", "c1"], "arm": ["A", "A", "C"], "sex": ["F", "M", "M"],
              "age": [60.0, 62.0, 64.0]}
    visits = {
        "participant_id": ["a1"] * 3 + ["a2"] * 3 + ["c1"] * 3,
        "month": [0, 6, 18] * 3,
        "attended": [True] * 9,
        "knee_extensor_mvc_nm": [100.0, 120.0, 120.0, 100.0, 110.0, 99.0, 100.0, 90.0, 81.0],
        "self_training": pd.array([pd.NA, pd.NA, True, pd.NA, pd.NA, False, pd.NA, pd.NA, pd.NA], dtype="boolean"),
        "mri_usable": [True] * 9,
    }
    return _trial(people, visits, THREE_VISITS)


def _values(results: pd.DataFrame) -> dict[str, float]:
    return dict(zip(results["key"], results["value"]))


# --------------------------------------------------------------------------------------------
# flow and results frames: exact counts
# --------------------------------------------------------------------------------------------
def test_flow_counts_two_arms_two_visits_exact(two_arm):
    flow = flow_counts(two_arm)
    assert flow["arm"].tolist() == ["Drug", "Drug", "Placebo", "Placebo", "All", "All"]
    assert flow["month"].tolist() == [0, 6] * 3
    f = flow.set_index(["arm", "month"])
    assert f.loc[("Drug", 6), ["randomised", "attended", "mri_acquired", "mri_usable"]].tolist() == [2, 1, 1, 1]
    assert f.loc[("Placebo", 0), ["attended", "mri_acquired", "mri_usable"]].tolist() == [2, 1, 1]
    assert f.loc[("All", 0), ["randomised", "attended", "mri_usable"]].tolist() == [4, 4, 3]
    assert f.loc[("All", 6), ["attended", "mri_usable"]].tolist() == [2, 1]


def test_flow_results_keys_follow_the_design(two_arm):
    values = _values(cohort.flow_results(two_arm, flow_counts(two_arm)))
    assert values == pytest.approx({
        "cohort.n_randomised": 4, "cohort.n_drug": 2, "cohort.n_placebo": 2,
        "cohort.n_attended_6m_drug": 1, "cohort.n_attended_6m_placebo": 1,
        "cohort.pct_women": 75.0, "cohort.age_mean": 64.0, "cohort.age_sd": np.std([60, 64, 62, 70], ddof=1),
        "cohort.age_min": 60.0, "cohort.age_max": 70.0,
        "cohort.n_attended_6m": 2, "cohort.pct_attended_6m": 50.0, "cohort.n_mri_0m": 3, "cohort.n_mri_6m": 1,
    })


def test_attendance_and_missingness_results_exact(two_arm):
    values = _values(cohort.attendance_results(two_arm))
    # adherence read at the primary visit: 3.0 and 1.0 sessions/week -> half reach 2
    assert values == pytest.approx({"cohort.adherence_ge2_pct": 50.0, "cohort.adherence_mean": 2.0,
                                    "cohort.fd_median": 0.25})
    patterns = missingness_patterns(two_arm, "mri_usable")
    assert patterns.set_index(["pattern", "arm"])["n"].to_dict() == {
        ("0 -", "Drug"): 1, ("0 -", "Placebo"): 1, ("0 6", "Drug"): 1, ("0 6", "Placebo"): 0,
        ("- -", "Drug"): 0, ("- -", "Placebo"): 1}
    assert patterns["pattern"].tolist()[:2] == ["0 -", "0 -"]  # most common pattern first
    assert _values(cohort.missingness_results(patterns, TWO_ARMS)) == {"cohort.n_mri_all_visits": 1.0}


def test_visit_summary_exact(two_arm):
    v = visit_summary(two_arm).set_index(["arm", "month"])
    assert v.loc[("Drug", 6), "attended_pct"] == 50.0
    assert v.loc[("Drug", 6), "adherence_ge_pct"] == 50.0
    assert np.isnan(v.loc[("Placebo", 6), "adherence_mean"])
    assert v.loc[("Drug", 0), "mean_fd_mm_median"] == pytest.approx(0.2)
    assert np.isnan(v.loc[("Drug", 6), "self_training_n"])  # recorded nowhere


def test_strength_results_exact(followup):
    summary = strength_summary(followup)
    s = summary.set_index(["arm", "month"])
    assert s.loc[("A", 6), "pct_change_mean"] == pytest.approx(15.0)
    assert s.loc[("A", 18), "pct_change_mean"] == pytest.approx((20.0 - 1.0) / 2)
    assert s.loc[("C", 18), "mvc_mean"] == 81.0
    change = strength_change_by_self_training(followup)
    assert change.loc[True, "pct_change_mean"] == pytest.approx(0.0)
    assert change.loc[False, "pct_change_mean"] == pytest.approx(-10.0)
    values = _values(cohort.strength_results(followup, summary))
    assert values == pytest.approx({
        "cohort.mvc_pct_a_6m": 15.0, "cohort.mvc_pct_a_18m": 9.5, "cohort.mvc_pct_c_6m": -10.0,
        "cohort.mvc_pct_c_18m": -19.0, "cohort.mvc_a_0m": 100.0, "cohort.mvc_a_0m_sd": 0.0,
        "cohort.mvc_6_18m_self_training": 0.0, "cohort.mvc_6_18m_stopped": -10.0})
    text = cohort.strength_followup_sentence(cohort.strength_results(followup, summary), THREE_VISITS)
    assert text == "From month 6 to 18, trainees who kept training changed by 0.0% and those who stopped by −10.0%."


def test_lisa_keys_stay_those_of_the_registry():
    tiny = simulate_trial(seed=3, arm_sizes=(10, 10, 10), attended_12m=(9, 9, 8), attended_24m=(8, 8, 7), n_volumes=30)
    frames = [cohort.flow_results(tiny, flow_counts(tiny)), cohort.baseline_results(baseline_smd(baseline_table(tiny))),
              cohort.attendance_results(tiny),
              cohort.missingness_results(missingness_patterns(tiny, "mri_usable"), tiny.design),
              cohort.strength_results(tiny, strength_summary(tiny))]
    keys = set(pd.concat(frames)["key"])
    expected = json.loads((PROJECT_ROOT / "tests" / "expected" / "results.json").read_text())
    assert keys == {k for k in expected if k.startswith("cohort.")}


# --------------------------------------------------------------------------------------------
# Table 1 (tableone): the numbers are pandas' numbers
# --------------------------------------------------------------------------------------------
def test_tableone_numbers_equal_pandas(two_arm):
    table = baseline_table(two_arm)
    people = two_arm.participants
    described = table.cont_describe
    for column in ("age", "bmi", "chair_stand_30s"):
        by_arm = people.groupby("arm")[column]
        for arm in ("Drug", "Placebo"):
            assert described.loc[column, ("mean", arm)] == pytest.approx(by_arm.mean()[arm])
            assert described.loc[column, ("std", arm)] == pytest.approx(by_arm.std()[arm])
    mvc = two_arm.visits[two_arm.visits["month"] == 0].set_index("participant_id")["knee_extensor_mvc_nm"]
    assert described.loc["knee_extensor_mvc_nm", ("mean", "Drug")] == pytest.approx(150.0)
    # SMD of a continuous characteristic: difference of means over the pooled SD
    smd = baseline_smd(table).set_index("characteristic")
    a, b = people.loc[people["arm"] == "Drug", "age"], people.loc[people["arm"] == "Placebo", "age"]
    assert abs(smd.loc["age", "smd"]) == pytest.approx(abs(a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2))
    assert smd["abs_smd"].is_monotonic_decreasing
    assert mvc.notna().all()
    shown = baseline_display(table)
    assert list(shown.columns[:3]) == ["Overall", "Drug", "Placebo"]
    assert str(shown.loc[("n", ""), "Overall"]) == "4"
    assert ("Usable baseline rs-fMRI, n (%)", "yes") in shown.index
    assert shown.loc[("Usable baseline rs-fMRI, n (%)", "yes"), "Placebo"] == "1 (50.0)"


def test_tableone_on_the_synthetic_trial_matches_pandas():
    trial = simulate_trial(seed=3, arm_sizes=(10, 10, 10), attended_12m=(9, 9, 8), attended_24m=(8, 8, 7), n_volumes=30)
    table = baseline_table(trial)
    means = trial.participants.groupby("arm")["age"].agg(["mean", "std"])
    assert list(table.tableone.columns.get_level_values(-1)[:4]) == ["Overall", *LISA.labels]
    for arm in LISA.labels:
        assert table.cont_describe.loc["age", ("mean", arm)] == pytest.approx(means.loc[arm, "mean"])
        assert table.cont_describe.loc["age", ("std", arm)] == pytest.approx(means.loc[arm, "std"])
    max_smd = cohort.baseline_results(baseline_smd(table))["value"].iat[0]
    assert max_smd == pytest.approx(baseline_smd(table)["abs_smd"].max())


# --------------------------------------------------------------------------------------------
# optional columns absent: "not available in these data", never an error
# --------------------------------------------------------------------------------------------
def test_missing_optional_columns_are_reported_not_failed(two_arm):
    trial = Trial(two_arm.participants.drop(columns=["bmi", "chair_stand_30s", "stratum"]),
                  two_arm.visits.drop(columns=[c for c in OPTIONAL if c in two_arm.visits] + ["mean_fd_mm"]),
                  two_arm.atlas, "real", _no_timeseries, design=TWO_ARMS)
    assert "mri_acquired" not in flow_counts(trial).columns
    shown = baseline_display(baseline_table(trial))
    assert {label for label, _ in shown.index} == {"n", "Sex, n (%)", "Age, y, mean (SD)", "Usable baseline rs-fMRI, n (%)"}
    attendance = cohort.attendance_results(trial)
    assert attendance.empty
    summary = strength_summary(trial)
    assert summary.empty and "pct_change_mean" in summary.columns
    numbers = cohort.strength_results(trial, summary)
    assert numbers.empty
    assert visit_summary(trial).columns.tolist() == ["arm", "month", "randomised", "attended", "attended_pct",
                                                    "mri_usable", "mri_usable_pct_of_attended", "mean_fd_mm_median"]
    for sentence in (cohort.adherence_sentence(attendance), cohort.self_training_sentence(attendance, TWO_ARMS),
                     cohort.motion_sentence(attendance), cohort.strength_sentence(numbers, summary, TWO_ARMS),
                     cohort.strength_baseline_sentence(numbers, TWO_ARMS)):
        assert cohort.NOT_AVAILABLE in sentence
    assert "no follow-up" in cohort.strength_followup_sentence(numbers, TWO_ARMS)
    fig = figures.strength_trajectories(arm_visits(trial), TWO_ARMS)
    assert "not available in these data" in fig.axes[0].texts[0].get_text()


# --------------------------------------------------------------------------------------------
# words chosen from the estimates
# --------------------------------------------------------------------------------------------
def _smd_frame(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"characteristic": [f"c{i}" for i in range(len(values))],
                         "label": [f"Thing {i}, unit" for i in range(len(values))], "arm": "A", "other": "C",
                         "smd": values, "abs_smd": np.abs(values)}).sort_values("abs_smd", ascending=False)


def test_balance_sentence_follows_the_smds():
    balanced = _smd_frame([0.05, -0.02])
    text = cohort.balance_sentence(cohort.baseline_results(balanced), balanced)
    assert text.startswith("Every pairwise standardized mean difference is below 0.1") and "balanced" in text
    small = _smd_frame([0.15, 0.02])
    assert "differ a little in thing 0" in cohort.balance_sentence(cohort.baseline_results(small), small)
    large = _smd_frame([-0.45, 0.12, 0.0])
    text = cohort.balance_sentence(cohort.baseline_results(large), large)
    assert "Of the 3 pairwise standardized mean differences, 2 reach 0.1" in text
    assert "the largest being 0.45 (thing 0, A vs C)" in text and "noticeably" in text


def test_strength_words_follow_the_confidence_intervals(followup):
    summary = pd.DataFrame({"arm": ["A", "A", "C", "C"], "month": [6, 18, 6, 18],
                            "pct_change_mean": [5.0, 0.5, -3.0, -4.0],
                            "pct_change_ci_low": [1.0, -1.0, -5.0, -6.0],
                            "pct_change_ci_high": [9.0, 2.0, -1.0, 1.0]})
    results = cohort._frame([cohort._row(f"mvc_pct_{a.lower()}_{m}m", v, "%", 1, "")
                             for a, m, v in zip(summary["arm"], summary["month"], summary["pct_change_mean"])])
    text = cohort.strength_sentence(results, summary, THREE_VISITS)
    assert "5.0% (A) and −3.0% (C) at month 6" in text
    assert "at month 6 A was above baseline and C was below baseline" in text
    assert "at month 18 A and C were not clearly different from baseline" in text


def test_design_flow_and_published_sentences(two_arm):
    assert cohort.design_sentence(TWO_ARMS) == (
        "This trial randomised people to 2 arms (Drug, new drug; Placebo, placebo pill, the control arm) and "
        "measured them at months 0 (baseline) and 6 (primary comparison).")
    results = cohort.flow_results(two_arm, flow_counts(two_arm))
    assert cohort.flow_sentence(results, TWO_ARMS) == (
        "4 people were randomised: 2 to Drug and 2 to Placebo. At the primary visit (month 6) 2 came back "
        "(50.0%: 1 and 1 in Drug and Placebo).")
    assert cohort.mri_sentence(results, TWO_ARMS) == (
        "A usable resting-state fMRI scan exists for 3 people at baseline and 1 at month 6.")
    numbers = cohort._frame([cohort._row("mvc_year2_self_training", -0.19, "%", 1, ""),
                             cohort._row("mvc_year2_stopped", -5.21, "%", 1, "")])
    assert cohort.strength_followup_sentence(numbers, LISA, published=TrialAssumptions()).endswith(
        "changed by −0.2% and those who stopped by −5.2% (published: −1% and −6%).")
    assert "older" in cohort.dropout_sentence(two_arm)  # the two who missed month 6 were 64 and 70 vs 60 and 62


def test_key_fragments():
    assert cohort.arm_key("HRT") == "hrt" and cohort.arm_key("Usual care") == "usual_care"
    assert cohort.period_key(12, 24) == "year2" and cohort.period_key(6, 18) == "6_18m"
    assert cohort.join_words(["a"]) == "a" and cohort.join_words(["a", "b", "c"]) == "a, b and c"


# --------------------------------------------------------------------------------------------
# figures take the design
# --------------------------------------------------------------------------------------------
def test_consort_draws_one_box_per_arm_and_visit(two_arm):
    fig = figures.consort_diagram(flow_counts(two_arm), TWO_ARMS)
    boxes = [p for p in fig.axes[0].patches if isinstance(p, plt.Rectangle)]
    assert len(boxes) == 1 + 2 + 2 * 2
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "Allocated to Drug" in texts and "Month 6" in texts and "attended 1 (50%)" in texts


def test_missingness_plot_and_alt_text(two_arm):
    att, mri = missingness_patterns(two_arm, "attended"), missingness_patterns(two_arm, "mri_usable")
    fig = figures.missingness_patterns_plot(att, mri, TWO_ARMS)
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["0 ·", "· ·", "0 6"]  # ties: stable order
    assert "'0 -' (2 people)" in cohort.missingness_alt(att, mri)


def test_arm_colors_for_any_design():
    colors = figures.arm_colors(TWO_ARMS)
    assert list(colors) == ["Drug", "Placebo"] and colors["Placebo"] == figures.CONTROL_COLOR
    assert figures.arm_colors(LISA) == {a: figures.ARM_COLORS[a] for a in LISA.labels}


# --------------------------------------------------------------------------------------------
# open data page helpers (no files needed)
# --------------------------------------------------------------------------------------------
def test_site_age_counts_and_overview_display():
    table = pd.DataFrame({"site": ["x", "x", "y", "z", "z", "z"], "age": [20, 65, 30, 61, 70, 59]})
    counts = open_data.site_age_counts(table)
    assert counts.index.tolist() == ["y", "x", "z"]
    assert counts.loc["z"].tolist() == [1, 2] and counts.columns.tolist() == ["under 60", "aged 60+"]
    overview = pd.DataFrame({"dataset": ["a", "b"], "what": "", "n_rows": [3, 4], "n_features": [5, 6],
                             "per_person_age": [True, False], "age_min": [1.0, np.nan], "age_max": [61.0, np.nan],
                             "n_aged_60_plus": pd.array([1, pd.NA], dtype="Int64"),
                             "n_sites": pd.array([pd.NA, 2], dtype="Int64"), "modality": ["fMRI", "fMRI"]})
    shown = open_data.overview_display(overview)
    assert shown["ages (y)"].tolist() == ["1.0 to 61.0", "group labels only"]
    assert shown["aged 60+"].tolist() == [1, "\u2014"] and shown["sites"].tolist() == ["\u2014", 2]
    assert open_data.first_row_of(pd.Series(["child", "adult", "adult"]), "adult") == 1
    with pytest.raises(ValueError, match="no row labelled"):
        open_data.first_row_of(pd.Series(["child"]), "adult")


@pytest.mark.skipif(not all(open_data.is_available(d, downloadable_only=False) for d in open_data.REGISTRY),
                    reason="open data not on disk (set BRAINCLOCK_OPEN_DATA to a mirror)")
def test_summary_results_on_the_open_data():
    data = open_data.load_all()
    values = _values(open_data.summary_results(data))
    expected = json.loads((PROJECT_ROOT / "tests" / "expected" / "results.json").read_text())
    assert set(values) == {k for k in expected if k.startswith("open_data.") and k != "open_data.origin"}
    for key, value in values.items():
        assert value == pytest.approx(expected[key]["value"], abs=1e-9), key
    for make in (figures.open_data_connectomes, figures.open_data_ica_examples, figures.open_data_ages):
        assert make(data).axes
    assert figures.open_data_sites(data.fcon).axes
