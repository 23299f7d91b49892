"""Tests of what the clock can resolve (ICC, SDC, trial-range accuracy), the held-out study,
the learning curve on its split, and the conclusions chosen from estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.clock import (
    BrainAgeClock,
    calibration_sentence,
    control_retest,
    default_train_sizes,
    holdout_results,
    holdout_study,
    learning_curve,
    range_accuracy,
    range_accuracy_sentence,
    resolution_results,
    retest_reliability,
    second_session,
    segregation_conclusion,
    session_retest,
    transfer_conclusion,
    trial_age_range,
)
from analysis.connectome import shrunk_covariances
from analysis.trial import LISA, TrialDesign
from analysis.trial.design import Arm
from tests.unit._small_reference import small_reference

def test_retest_reliability_rejects_bad_input():
    """The ICC itself is analysis.stats.icc (tested against Shrout & Fleiss 1979 in test_stats_plan)."""
    with pytest.raises(ValueError, match="at least 3 people"):
        retest_reliability([1.0, 2.0], [1.5, 2.5])
    with pytest.raises(ValueError, match="NaN"):
        retest_reliability([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="equal length"):
        retest_reliability([1.0, 2.0, 3.0], [1.0, 2.0])


def test_retest_reliability_recovers_a_known_reliability(rng):
    """True SD 2, error SD 1: ICC = 4 / 5 = 0.8; SEM ~ 1 and SDC = 1.96 sqrt(2) SEM."""
    true = rng.normal(0, 2, 20000)
    result = retest_reliability(true + rng.normal(0, 1, true.size), true + rng.normal(0, 1, true.size))
    assert result["icc"] == pytest.approx(0.8, abs=0.01)
    assert result["ci_low"] < result["icc"] < result["ci_high"]
    assert result["sem"] == pytest.approx(1.0, abs=0.03)
    assert result["sdc"] == pytest.approx(1.959964 * np.sqrt(2) * result["sem"], rel=1e-6)


def test_control_retest_takes_arm_and_visits_from_the_design(rng):
    design = TrialDesign((Arm("EX"), Arm("WAIT")), "WAIT", (0, 6, 18), 6)
    people = [f"P{i}" for i in range(200)]
    stable = dict(zip(people, rng.normal(0, 3, 200)))
    rows = [(p, "WAIT" if i % 2 else "EX", m, stable[p] + rng.normal(0, 1) + (5.0 if m == 18 else 0.0))
            for i, p in enumerate(people) for m in design.visits]
    table = pd.DataFrame(rows, columns=["participant_id", "arm", "month", "brain_age_gap"])
    result = control_retest(table, design)
    assert result["n"] == 100  # the WAIT arm only
    assert result["icc"] == pytest.approx(0.9, abs=0.05)  # 9 / (9 + 1); month 18's shift is not used
    with pytest.raises(ValueError, match="participants"):
        control_retest(table.drop(columns="arm"), design)


def test_trial_age_range_from_design_or_data():
    assert trial_age_range(LISA) == (62.0, 73.0)
    design = TrialDesign((Arm("A"), Arm("B")), "B", (0, 12), 12)
    assert trial_age_range(design, [64.2, 70.1, 66.0]) == (64.2, 70.1)
    with pytest.raises(ValueError, match="inclusion_age"):
        trial_age_range(design)


def test_range_accuracy_known_answer(rng):
    age = rng.uniform(18, 90, 4000)
    predicted = age + rng.choice([-2.0, 2.0], age.size)  # |error| = 2 exactly
    table = pd.DataFrame({"age": age, "predicted_age": predicted, "gap_beheshti": predicted - age})
    result = range_accuracy(table, (60, 70), n_boot=200)
    assert result["mae"] == pytest.approx(2.0)
    assert result["n"] == int(((age >= 60) & (age <= 70)).sum())
    assert abs(result["gap_age_r"]) < 0.15
    with pytest.raises(ValueError, match="held-out people"):
        range_accuracy(table, (200, 210))


def test_too_few_people_in_the_trial_range_is_said_not_raised():
    """A small reference: the two range numbers are not recorded and the sentence says why."""
    control = {"icc": 0.8, "ci_low": 0.7, "ci_high": 0.9, "n": 40, "sdc": 4.0}
    design = TrialDesign((Arm("EX"), Arm("CTRL")), "CTRL", (0, 6, 12), 6)
    small = {"age_range": (62.0, 71.0), "accuracy": None, "n_in_range": 3, "control": control, "design": design}
    assert list(resolution_results(small)["key"]) == ["clock.gap_icc", "clock.smallest_detectable_change"]
    assert range_accuracy_sentence(small).startswith("Only 3 held-out reference people are aged 62\u201371")
    accuracy = {"n": 50, "mae": 5.46, "mae_ci": (5.0, 6.0), "gap_age_r": -0.017, "gap_age_r_ci": (-0.3, 0.25)}
    full = {**small, "accuracy": accuracy, "n_in_range": 50}
    assert list(resolution_results(full)["key"])[2:] == ["clock.trial_range_mae", "clock.trial_range_gap_age_r"]
    assert "MAE is 5.5 y (95% CI 5.0 to 6.0, n = 50)" in range_accuracy_sentence(full)
    assert "r = \u22120.02 (95% CI \u22120.30 to 0.25)" in range_accuracy_sentence(full)


def test_second_session_same_brain_new_noise():
    reference = small_reference(n=20, n_rois=12, n_volumes=200)
    pid = reference.participants["participant_id"].iat[3]
    first, again, second = reference.timeseries(pid), second_session(reference, pid, 1), second_session(reference, pid, 1)
    assert np.array_equal(again, second) and not np.allclose(first, second)
    assert first.shape == second.shape
    # same person: the two sessions' connectivity is closer than two different people's
    other = reference.timeseries(reference.participants["participant_id"].iat[4])
    corr = [np.corrcoef(x, rowvar=False)[np.tril_indices(12, -1)] for x in (first, second, other)]
    assert np.corrcoef(corr[0], corr[1])[0, 1] > np.corrcoef(corr[0], corr[2])[0, 1]
    with pytest.raises(ValueError, match="session"):
        second_session(reference, pid, 0)


def test_holdout_study_learning_curve_and_session_retest():
    reference = small_reference(n=80, n_rois=12, n_volumes=80)
    study = holdout_study(reference, seed=0)
    assert len(study.train) + len(study.test) == 80 and not study.saved
    results = holdout_results(study, random_state=0).set_index("key")
    assert results.loc["clock.synthetic_n_test", "value"] == len(study.test)
    assert "synthetic reference cohort" in results.loc["clock.synthetic_mae", "description"]
    sizes = default_train_sizes(len(study.train), smallest=20)
    assert sizes == [20, 40, len(study.train)]
    curve = learning_curve(BrainAgeClock(random_state=0), study.covariances, study.age, train_sizes=sizes,
                           split=(study.train, study.test), fitted=study.clock)
    last = curve.loc[curve["n_train"] == len(study.train)].iloc[0]
    assert last["mae"] == pytest.approx(results.loc["clock.synthetic_mae", "value"])  # the clock reused
    ids = reference.participants["participant_id"].to_numpy()[study.test]
    result = session_retest(study.clock, reference, ids, first=study.covariances[study.test])
    again = session_retest(study.clock, reference, ids)
    assert result == again and -1 <= result["icc"] <= 1


def test_conclusions_follow_the_intervals():
    table = pd.DataFrame({"Hedges g": [0.3, 0.4, 0.5], "g CI low": [-0.1, -0.1, 0.1], "g CI high": [0.8, 0.9, 1.0]},
                         index=pd.Index([5, 7, 9], name="communities"))
    assert segregation_conclusion(table, 7).startswith("does not support")
    assert "for every number" in segregation_conclusion(table, 7)
    assert segregation_conclusion(table, 9).startswith("contradicts")
    lower = table.assign(**{"Hedges g": -table["Hedges g"], "g CI low": -table["g CI high"],
                            "g CI high": -table["g CI low"]})
    assert segregation_conclusion(lower, 9).startswith("supports")
    age = np.linspace(20, 80, 200)
    good = pd.DataFrame({"age": age, "predicted_age": age + 8, "predicted_calibrated": age + 0.5})
    text = transfer_conclusion(good, train_age_mean=50.0, n_boot=200)
    assert "better than the training mean age" in text and "lowers the MAE" in text
    useless = pd.DataFrame({"age": age, "predicted_age": np.full_like(age, 50.0), "predicted_calibrated": 50.0})
    assert "not distinguishable" in transfer_conclusion(useless, train_age_mean=50.0, n_boot=200)
    assert calibration_sentence({"r": 0.92, "mae": 5.1}).startswith("more accurate")
    assert calibration_sentence({"r": 0.8, "mae": 6.0}).startswith("within")


def test_study_learning_curve_reuses_the_studys_features_and_clock():
    from analysis.clock import study_learning_curve

    reference = small_reference(n=80, n_rois=12, n_volumes=80)
    study = holdout_study(reference, seed=0)
    fitted = BrainAgeClock(random_state=0).fit(study.covariances[study.train], study.age[study.train])
    np.testing.assert_allclose(fitted.predict(study.covariances[np.sort(study.test)]),
                               study.held_out["predicted_age"], rtol=1e-10)  # = a plain fit
    curve = study_learning_curve(study, random_state=0)
    assert list(curve["n_train"]) == [len(study.train)]  # 64 people < 150: one point
    assert curve["mae"].iloc[0] == pytest.approx(holdout_results(study).set_index("key").loc["clock.synthetic_mae", "value"])


def test_compare_clocks_sharing_features_equals_separate_evaluations(rng):
    from analysis.clock import compare_clocks, evaluate_clock

    reference = small_reference(n=60, n_rois=10, n_volumes=60)
    stack = shrunk_covariances(reference.iter_timeseries())
    age = reference.participants["age"].to_numpy(float)
    clocks = {"ridge": BrainAgeClock("tangent", random_state=0), "svr": BrainAgeClock("tangent", model="svr", random_state=0)}
    table = compare_clocks(clocks, {"ridge": stack, "svr": stack}, age, n_splits=3, random_state=0).set_index("clock")
    for label, clock in clocks.items():
        alone = evaluate_clock(clock, stack, age, n_splits=3, random_state=0)
        assert table.loc[label, "mae"] == pytest.approx(alone.metric("mae"), rel=1e-12)
        assert table.loc[label, "mae_corrected"] == pytest.approx(alone.metric("mae", "corrected"), rel=1e-12)


def test_study_caches_return_the_computed_results(tmp_path, monkeypatch):
    from analysis import _paths
    from analysis.clock import compare_clocks, subset_covariances

    monkeypatch.setattr(_paths, "data_dir", lambda: tmp_path)
    reference = small_reference(n=60, n_rois=10, n_volumes=60)
    first = holdout_study(reference, seed=0, cache=True)
    again = holdout_study(reference, seed=0, cache=True)
    assert len(list((tmp_path / "cache" / "studies").glob("*.npy"))) == 1
    pd.testing.assert_frame_equal(first.table, again.table)
    np.testing.assert_array_equal(first.features, again.features)
    np.testing.assert_array_equal(first.clock.predict(first.covariances[:5]), again.clock.predict(again.covariances[:5]))
    rows = np.arange(0, 60, 2)
    std = subset_covariances(reference, rows, standardize=True)
    plain = shrunk_covariances((reference.timeseries(p) for p in reference.participants["participant_id"].iloc[rows]),
                               standardize=True)
    np.testing.assert_array_equal(std.covariances, plain.covariances)
    clocks = {"partial": BrainAgeClock("partial correlation", random_state=0)}
    table = compare_clocks(clocks, {"partial": std}, first.age[rows], n_splits=3, cache=True)
    pd.testing.assert_frame_equal(table, compare_clocks(clocks, {"partial": std}, first.age[rows], n_splits=3, cache=True))
    pd.testing.assert_frame_equal(table, compare_clocks(clocks, {"partial": std}, first.age[rows], n_splits=3))
