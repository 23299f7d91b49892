"""A trial that is not LISA runs through the data layer and the clock; the clock's source is never silent.

The two-arm trial of :mod:`tests.fixtures_design` (arms EX/CTRL, visits 0/6/12, 60 ROIs, no
strength or self-training columns, motion from ``qc.tsv``) with its matching reference cohort.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analysis import report
from analysis import trial_analysis as ta
from analysis.clock import (
    ClockFileError,
    ClockSourceError,
    apply_clock,
    fit_clock,
    save_clock,
    trial_brain_age,
)
from analysis.clock import apply as _apply
from analysis.trial import io as trial_io
from analysis.trial import LISA, NOT_AVAILABLE, TrialDataError, TrialDesignError, load_reference, load_trial, simulate_trial
from tests.fixtures_design import DROPPED, TWO_ARM, write_two_arm_trial

ENV = ("BRAINCLOCK_TRIAL_DIR", "BRAINCLOCK_REFERENCE_DIR", "BRAINCLOCK_CLOCK")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_arm")
    return write_two_arm_trial(root / "trial", root / "reference", n_per_arm=20, n_reference=60, n_volumes=60)


@pytest.fixture(scope="module")
def trial(pair):
    return load_trial(pair[0])


@pytest.fixture(scope="module")
def reference(pair):
    return load_reference(pair[1])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(_apply, "cache_dir", lambda name: tmp_path / "cache")
    (tmp_path / "cache").mkdir()


# --- the data layer ------------------------------------------------------------------------
def test_loads_with_its_own_design(trial):
    assert trial.design == TWO_ARM and trial.source == "real"
    assert set(trial.participants["arm"]) == {"EX", "CTRL"}
    assert sorted(trial.visits["month"].unique()) == [0, 6, 12]
    assert len(trial.atlas) == 60 and (trial.atlas["region"] == "prefrontal").sum() >= 8


def test_required_columns_are_what_every_trial_has():
    assert tuple(c.name for c in trial_io.participant_columns(TWO_ARM) if c.required) == \
        trial_io.REQUIRED_PARTICIPANT_COLUMNS
    assert tuple(c.name for c in trial_io.visit_columns(TWO_ARM) if c.required) == trial_io.REQUIRED_VISIT_COLUMNS
    assert not any(c.required for c in trial_io.visit_columns(TWO_ARM, qc=True) if c.name in ("mean_fd_mm", "n_volumes"))
    age = {c.name: c for c in trial_io.participant_columns(LISA)}["age"]
    assert (age.low, age.high) == (62.0, 71.0)  # LISA's inclusion range; none for TWO_ARM
    assert {c.name: c for c in trial_io.participant_columns(TWO_ARM)}["age"].high is None
    assert {c.name: c for c in trial_io.visit_columns(LISA)}["age"].high == 73.5


def test_optional_columns_absent_and_said_so(trial):
    for column in DROPPED:
        assert not trial.has_column(column)
    assert trial.has_column("adherence_sessions_per_week") and trial.has_column("age")
    assert NOT_AVAILABLE == "not available in these data"


def test_motion_and_volumes_come_from_qc(trial):
    scans = trial.visits[trial.visits["mri_usable"]]
    assert scans["mean_fd_mm"].notna().all() and (scans["n_volumes"] == 60).all()
    pid, month = scans[["participant_id", "month"]].iloc[0]
    assert trial.timeseries(pid, int(month)).shape == (60, 60)


def test_reference_matches_the_trial_atlas(reference, trial):
    assert len(reference.participants) == 60
    pd.testing.assert_frame_equal(reference.atlas, trial.atlas)


def test_result_keys_follow_the_design(trial):
    design = trial.design
    assert design.contrasts() == [("EX", "CTRL")]
    assert design.result_key("EX", "CTRL", 6) == "arms.ex_vs_ctrl_6m"
    assert design.result_key("EX", "CTRL", 12) == "followup.ex_vs_ctrl_12m"


def test_labels_and_months_come_from_trial_json(pair, tmp_path):
    copy = shutil.copytree(pair[0], tmp_path / "copy")
    people = pd.read_csv(copy / "participants.tsv", sep="\t", dtype=str, keep_default_na=False)
    people.loc[3, "arm"] = "HRT"  # a LISA label is not a label of this trial
    people.to_csv(copy / "participants.tsv", sep="\t", index=False)
    with pytest.raises(TrialDataError, match=r"file 'participants.tsv', row 4, column 'arm'.*\['EX', 'CTRL'\]"):
        load_trial(copy, check_timeseries=False)


def test_missing_trial_json_says_how_to_write_one(pair, tmp_path):
    copy = shutil.copytree(pair[0], tmp_path / "copy")
    (copy / "trial.json").unlink()
    with pytest.raises(TrialDesignError, match=r"file 'trial.json': rule 'file must exist'.*to_json"):
        load_trial(copy, check_timeseries=False)


def test_qc_disagreeing_with_visits_is_refused(pair, tmp_path):
    copy = shutil.copytree(pair[0], tmp_path / "copy")
    qc = pd.read_csv(copy / "qc.tsv", sep="\t", dtype=str, keep_default_na=False)
    visits = pd.read_csv(copy / "visits.tsv", sep="\t", dtype=str, keep_default_na=False)
    visits["n_volumes"] = "n/a"
    first = (visits["participant_id"] == qc.loc[0, "participant_id"]) & (visits["month"] == qc.loc[0, "session"])
    visits.loc[first, "n_volumes"] = "59"
    visits.to_csv(copy / "visits.tsv", sep="\t", index=False)
    with pytest.raises(TrialDataError, match=r"file 'qc.tsv', row 1, column 'n_volumes_kept': rule 'n_volumes must "
                                             r"agree with visits.tsv'.*says 59"):
        load_trial(copy, check_timeseries=False)


# --- the clock and its source --------------------------------------------------------------
def test_clock_trained_on_the_reference(trial, reference):
    result = apply_clock(trial, reference=reference)
    assert len(result.table) == len(trial.scans) and list(result.table.columns) == _apply.TRIAL_COLUMNS
    assert result.clock_kind == "synthetic" and result.training["n"] == 60  # the directory says it is simulated
    assert "a synthetic reference cohort (n=60" in result.label.phrase
    gap = result.clock.correct(result.table["predicted_age"], result.table["age"], "cole")
    np.testing.assert_array_equal(gap, result.table["gap_cole"])
    cached = apply_clock(trial, reference=reference)  # from the cache: the clock object too
    assert cached.clock.correction_ == result.clock.correction_
    pd.testing.assert_frame_equal(cached.table, result.table)
    pd.testing.assert_frame_equal(trial_brain_age(trial, reference=reference), result.table)


def test_reference_dir_from_the_environment(trial, pair, monkeypatch):
    monkeypatch.setenv("BRAINCLOCK_REFERENCE_DIR", str(pair[1]))
    result = apply_clock(trial)
    assert result.clock_kind == "synthetic" and result.training["digest"] == load_reference(pair[1]).digest


def test_real_trial_without_a_real_clock_names_both_variables(trial):
    with pytest.raises(ClockSourceError, match="BRAINCLOCK_REFERENCE_DIR.*BRAINCLOCK_CLOCK"):
        apply_clock(trial)


def test_load_trial_analysis_refuses_before_reading(pair, monkeypatch):
    monkeypatch.setenv("BRAINCLOCK_TRIAL_DIR", str(pair[0]))
    monkeypatch.setattr(ta, "load_default_trial", lambda **k: pytest.fail("read the trial before refusing"))
    with pytest.raises(ClockSourceError, match="BRAINCLOCK_REFERENCE_DIR.*BRAINCLOCK_CLOCK"):
        ta.load_trial_analysis()


def test_saved_clock_from_the_environment(trial, reference, tmp_path, monkeypatch):
    path = save_clock(fit_clock(reference), tmp_path / "two-arm.brainclock.zip", atlas=reference.atlas,
                      training=reference)
    monkeypatch.setenv("BRAINCLOCK_CLOCK", str(path))
    monkeypatch.setenv("BRAINCLOCK_REFERENCE_DIR", str(tmp_path / "not-used"))  # the saved clock comes first
    result = apply_clock(trial)
    assert result.clock_kind == "saved" and result.clock_file == "two-arm.brainclock.zip"
    assert "saved clock two-arm.brainclock.zip" in result.label.phrase
    with pytest.raises(ValueError, match="connectivity='correlation' was asked for"):
        apply_clock(trial, connectivity="correlation")
    # the same clock on a trial of another atlas stops, naming both atlases
    lisa = simulate_trial(3, arm_sizes=(10, 10, 10), attended_12m=(9, 9, 8), attended_24m=(8, 8, 7), n_volumes=30)
    with pytest.raises(ClockFileError, match=r"atlas 'custom60' \(60 ROIs.*160 ROIs"):
        apply_clock(lisa)


def test_reference_on_another_atlas_names_both(reference):
    lisa = simulate_trial(3, arm_sizes=(10, 10, 10), attended_12m=(9, 9, 8), attended_24m=(8, 8, 7), n_volumes=30)
    with pytest.raises(ClockSourceError, match=r"atlas 'custom60' \(60 ROIs.*'dosenbach160' \(160 ROIs"):
        apply_clock(lisa, reference=reference)


def test_correction_refitted_on_an_age_range(trial, reference):
    full = apply_clock(trial, reference=reference)
    older = apply_clock(trial, reference=reference, correction_ages=(50, 90))
    ages = reference.participants["age"]
    assert older.n_correction == int(ages.between(50, 90).sum())
    assert older.clock.correction_ != full.clock.correction_
    assert full.clock.correction_ == apply_clock(trial, reference=reference).clock.correction_  # not mutated
    np.testing.assert_array_equal(older.table["predicted_age"], full.table["predicted_age"])
    assert "refitted on the" in older.description
    with pytest.raises(ValueError, match="correction_ages"):
        apply_clock(trial, reference=reference, correction_ages=(89, 90))


def test_banner_states_trial_and_clock_kinds(trial, reference, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **k: shown.append(obj.data))
    label = apply_clock(trial, reference=reference).label
    report.data_banner(trial.source, clock=label)
    html = shown[-1]
    assert "data-banner data-real-trial" in html and "clock-synthetic clock-trained-synthetic" in html
    assert "Real trial data \u00b7 clock trained on a synthetic reference cohort (n=60" in html
    report.clock_banner(label)
    assert "clock-banner" in shown[-1] and "data-synthetic" not in "".join(shown)
