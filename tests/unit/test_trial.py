"""Tests of the synthetic LISA trial and the real-trial data contract (analysis.trial)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.__main__ import main as cli_main
from analysis.atlas import prefrontal_mask
from analysis.trial import (
    ARMS,
    Reference,
    Trial,
    TrialAssumptions,
    TrialDataError,
    baseline_table,
    flow_counts,
    load_default_trial,
    load_trial,
    simulate_reference,
    simulate_trial,
    strength_summary,
    visit_summary,
)
from analysis.trial import io as _trial_io

TINY = dict(arm_sizes=(10, 10, 10), attended_12m=(9, 9, 8), attended_24m=(8, 8, 7), n_volumes=30)


@pytest.fixture(scope="module")
def trial() -> Trial:
    return simulate_trial(seed=0)


@pytest.fixture(scope="module")
def tiny() -> Trial:
    return simulate_trial(seed=3, **TINY)


@pytest.fixture
def tiny_dir(tiny, tmp_path) -> Path:
    return tiny.write(tmp_path / "trial")


# ---------------------------------------------------------------------------------------------
# calibration to published numbers
# ---------------------------------------------------------------------------------------------
def test_arm_sizes_exact(trial):
    counts = trial.participants["arm"].value_counts()
    assert counts.to_dict() == {"HRT": 149, "MIT": 154, "CON": 148}
    assert trial.participants["participant_id"].is_unique


def test_randomisation_balanced_within_strata(trial):
    table = pd.crosstab(trial.participants["stratum"], trial.participants["arm"])
    share = table.div(table.sum(axis=1), axis=0)
    expected = np.array([149, 154, 148]) / 451
    # stratified allocation: every stratum within 2 people of its proportional share per arm
    assert (np.abs(table[list(ARMS)].to_numpy() - np.outer(table.sum(axis=1), expected)) <= 2.0).all()
    assert share.shape == (8, 3)


def test_baseline_demographics_match_published(trial):
    p = trial.participants
    assert p["age"].between(62, 71).all()
    assert abs(p["age"].mean() - 66) < 0.5
    assert abs(p["age"].std() - 2.5) < 0.3
    assert abs((p["sex"] == "F").mean() - 0.61) < 0.05


def test_attendance_counts_exact(trial):
    flow = flow_counts(trial).set_index(["arm", "month"])
    assert [flow.loc[(a, 12), "attended"] for a in ARMS] == [143, 144, 132]
    assert flow.loc[("All", 24), "attended"] == 398
    assert flow.loc[("All", 0), "attended"] == 451


def test_mri_counts(trial):
    flow = flow_counts(trial).set_index(["arm", "month"])
    assert flow.loc[("All", 0), "mri_usable"] == 309
    # plausible loss per visit: fewer usable scans later, but most MRI participants keep scanning
    assert 250 <= flow.loc[("All", 12), "mri_usable"] < 309
    assert 240 <= flow.loc[("All", 24), "mri_usable"] <= flow.loc[("All", 12), "mri_usable"]
    scans = trial.scans
    assert (scans["mean_fd_mm"] <= trial.assumptions.fd_exclusion_mm).all()
    assert len(scans) == int(trial.visits["mri_usable"].sum())


def test_dropout_not_completely_at_random(trial):
    v = trial.visits[trial.visits["month"] == 24].merge(trial.participants, on="participant_id",
                                                        suffixes=("", "_base"))
    # older people drop out more (dropout_age_logodds > 0)
    assert v.loc[~v["attended"], "age_base"].mean() > v.loc[v["attended"], "age_base"].mean()


def test_adherence_83_percent_train_twice_weekly(trial):
    adh = trial.visits.loc[trial.visits["month"] == 12, ["participant_id", "adherence_sessions_per_week"]]
    adh = adh.merge(trial.participants[["participant_id", "arm"]])
    assert adh.loc[adh["arm"] == "CON", "adherence_sessions_per_week"].isna().all()
    trained = adh.loc[adh["arm"] != "CON", "adherence_sessions_per_week"]
    assert trained.notna().all()
    assert abs((trained >= 2).mean() - 0.83) < 0.05


def test_strength_trajectories_match_published(trial):
    s = strength_summary(trial).set_index(["arm", "month"])
    hrt0 = s.loc[("HRT", 0)]
    assert abs(hrt0["mvc_mean"] - 149.7) < 10 and abs(hrt0["mvc_sd"] - 51.5) < 8
    assert s.loc[("HRT", 12), "pct_change_mean"] > 5 and s.loc[("MIT", 12), "pct_change_mean"] > 2
    assert s.loc[("CON", 12), "pct_change_mean"] < 0
    assert abs(s.loc[("HRT", 24), "pct_change_mean"] - 7) < 3
    # only HRT stays above baseline: MIT back near baseline, CON below
    assert abs(s.loc[("MIT", 24), "pct_change_mean"]) < 2.5 and s.loc[("CON", 24), "pct_change_mean"] < -2
    assert s.loc[("HRT", 24), "pct_change_mean"] - s.loc[("MIT", 24), "pct_change_mean"] > 3


def test_self_training_preserves_gains(trial):
    v = trial.visits.pivot(index="participant_id", columns="month")
    st = v[("self_training", 24)].dropna().astype(bool)
    assert 40 <= st.sum() <= 90  # published n = 65
    change = (v[("knee_extensor_mvc_nm", 24)] / v[("knee_extensor_mvc_nm", 12)] - 1)[st.index]
    kept, stopped = 100 * change[st].mean(), 100 * change[~st].mean()
    assert abs(kept - (-1)) < 3 and abs(stopped - (-6)) < 3


def test_visit_rows_complete_and_missingness_consistent(trial):
    v = trial.visits
    assert len(v) == 3 * len(trial.participants)
    assert v["knee_extensor_mvc_nm"].isna().eq(~v["attended"]).all()
    assert not (v["mri_usable"] & ~v["attended"]).any()
    assert v["mean_fd_mm"].notna().eq(v["mri_acquired"]).all()


# ---------------------------------------------------------------------------------------------
# latent brain age and the null trial
# ---------------------------------------------------------------------------------------------
def _arm_contrast(truth: pd.DataFrame, month: int) -> dict[str, float]:
    gap = truth.assign(d=truth["brain_age"] - truth["age"]).pivot(index="participant_id", columns="month", values="d")
    change = (gap[month] - gap[0]).groupby(truth.drop_duplicates("participant_id").set_index("participant_id")["arm"]).mean()
    return {arm: change[arm] - change["CON"] for arm in ("HRT", "MIT")}


def test_arm_effect_in_latent_brain_age(trial):
    t = trial.truth
    assert set(t.groupby(["arm", "month"])["arm_effect"].unique().map(len)) == {1}
    assert t.loc[(t["arm"] == "HRT") & (t["month"] == 12), "arm_effect"].iat[0] == -1.40
    contrast = _arm_contrast(t, 12)
    assert abs(contrast["HRT"] - (-1.40)) < 0.3 and abs(contrast["MIT"] - (-1.39)) < 0.3


def test_null_trial_has_no_arm_effect():
    null = simulate_trial(seed=0, assumptions=TrialAssumptions.null())
    t = null.truth
    assert (t["arm_effect"] == 0).all() and (t["strength_term"] == 0).all()
    # latent brain age = age + stable gap + visit noise only
    np.testing.assert_allclose(t["brain_age"], t["age"] + t["gap_stable"] + t["visit_noise"], atol=1e-12)
    contrast = _arm_contrast(t, 24)
    assert abs(contrast["HRT"]) < 0.25 and abs(contrast["MIT"]) < 0.25
    same = simulate_trial(seed=0, effect_12m_hrt=0, effect_12m_mit=0, effect_24m_hrt=0, effect_24m_mit=0,
                          strength_coupling=0, prefrontal_hrt_12m=0, prefrontal_hrt_24m=0)
    pd.testing.assert_frame_equal(same.truth, null.truth)


def test_unknown_assumption_is_rejected():
    with pytest.raises(TypeError, match="effect_12m_xyz"):
        simulate_trial(seed=0, effect_12m_xyz=1.0)
    with pytest.raises(ValueError, match="seed"):
        simulate_trial(seed=-1)


def test_assumptions_all_documented():
    table = TrialAssumptions().describe()
    assert table["source"].str.len().gt(0).all() and table["meaning"].str.len().gt(0).all()
    assert {"effect_12m_hrt", "strength_coupling", "n_volumes", "fingerprint_sd"} <= set(table["name"])


# ---------------------------------------------------------------------------------------------
# time series
# ---------------------------------------------------------------------------------------------
def test_timeseries_shape_and_determinism(tiny):
    scans = tiny.scans
    assert len(scans) > 0
    all_pass = list(tiny.iter_timeseries())
    pid, month = scans["participant_id"].iat[-1], int(scans["month"].iat[-1])
    alone = simulate_trial(seed=3, **TINY).timeseries(pid, month)
    assert alone.shape == (30, 160) and alone.dtype == np.float64
    np.testing.assert_array_equal(alone, all_pass[-1])
    other_seed = simulate_trial(seed=4, **TINY)
    pd.testing.assert_frame_equal(simulate_trial(seed=3, **TINY).visits, tiny.visits)
    assert not other_seed.visits.equals(tiny.visits)


def test_same_seed_bit_identical_tables(trial):
    again = simulate_trial(seed=0)
    for name in ("participants", "visits", "truth"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(trial, name), check_exact=True)


def test_timeseries_segregation_declines_with_brain_age():
    ref = simulate_reference(n=60, seed=1, n_volumes=400)
    atlas = ref.atlas
    net = atlas["network"].to_numpy()
    same = net[:, None] == net[None, :]
    off = ~np.eye(len(net), dtype=bool)
    within, between = [], []
    for x in ref.iter_timeseries():
        c = np.corrcoef(x.T)
        within.append(c[same & off].mean())
        between.append(c[~same].mean())
    age = ref.truth["brain_age"].to_numpy()
    assert np.corrcoef(age, within)[0, 1] < -0.5
    assert np.corrcoef(age, between)[0, 1] > 0.5


def test_timeseries_autocorrelation_and_hrt_prefrontal():
    a = TrialAssumptions()
    t = simulate_trial(seed=5, **{**TINY, "n_volumes": 400, "prefrontal_hrt_12m": 1.0})
    x = t.timeseries(*t.scans[["participant_id", "month"]].iloc[0])
    lag1 = np.mean([np.corrcoef(x[1:, j], x[:-1, j])[0, 1] for j in range(x.shape[1])])
    assert abs(lag1 - a.ar1) < 0.1
    pfc = prefrontal_mask()
    off = ~np.eye(pfc.sum(), dtype=bool)

    def pfc_conn(arm: str, month: int) -> float:
        s = t.scans[(t.scans["arm"] == arm) & (t.scans["month"] == month)]
        return np.mean([np.corrcoef(x[:, pfc].T)[off].mean() for x in t.iter_timeseries(s)])

    assert pfc_conn("HRT", 12) - pfc_conn("HRT", 0) > 0.1
    assert abs(pfc_conn("CON", 12) - pfc_conn("CON", 0)) < 0.1


def test_reference_cohort():
    ref = simulate_reference(n=50, seed=2, n_volumes=20)
    assert isinstance(ref, Reference) and len(ref.participants) == 50
    assert ref.participants["participant_id"].is_unique
    assert ref.participants["age"].between(18, 90).all()
    x = ref.timeseries("R0007")
    assert x.shape == (20, 160)
    np.testing.assert_array_equal(x, list(ref.iter_timeseries())[6])
    big = simulate_reference(n=2433, seed=0)
    assert len(big.participants) == 2433 and big.participants["age"].max() - big.participants["age"].min() > 60


# ---------------------------------------------------------------------------------------------
# the data contract: write -> load round trip and every bad-input rule
# ---------------------------------------------------------------------------------------------
def test_write_load_round_trip(tiny, tiny_dir):
    loaded = load_trial(tiny_dir)
    assert loaded.source == "real" and loaded.truth is None
    pd.testing.assert_frame_equal(loaded.participants, tiny.participants, check_exact=True)
    pd.testing.assert_frame_equal(loaded.visits, tiny.visits, check_exact=True)
    pd.testing.assert_frame_equal(loaded.atlas, tiny.atlas, check_exact=True)
    pd.testing.assert_frame_equal(loaded.scans, tiny.scans, check_exact=True)
    for got, original in zip(loaded.iter_timeseries(), tiny.iter_timeseries()):
        np.testing.assert_array_equal(got, _trial_io.written_values(original))
        np.testing.assert_allclose(got, original, rtol=1e-9, atol=1e-12)


def test_cli_simulate_writes_loadable_layout(tmp_path, capsys, monkeypatch):
    out = tmp_path / "cli"
    assert cli_main(["simulate", "--out", str(out), "--seed", "1", "--n-volumes", "12"]) == 0
    assert "451 participants" in capsys.readouterr().out
    for name in ("participants.tsv", "visits.tsv", "atlas.tsv"):
        assert (out / name).is_file()
    files = list((out / "timeseries").glob("sub-L*_ses-*_task-rest_timeseries.tsv"))
    loaded = load_trial(out, check_timeseries=False)
    assert len(files) == len(loaded.scans) > 800
    monkeypatch.setenv("BRAINCLOCK_TRIAL_DIR", str(out))
    assert load_default_trial().source == "real"
    monkeypatch.delenv("BRAINCLOCK_TRIAL_DIR")
    assert load_default_trial().source == "synthetic"


def _edit_tsv(path: Path, fn) -> None:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    out = fn(frame)
    (frame if out is None else out).to_csv(path, sep="\t", index=False)


def _first_usable(d: Path) -> tuple[str, str, Path]:
    v = pd.read_csv(d / "visits.tsv", sep="\t", dtype=str, keep_default_na=False)
    row = v[v["mri_usable"] == "true"].iloc[0]
    return row["participant_id"], row["month"], d / "timeseries" / _trial_io.timeseries_name(row["participant_id"], int(row["month"]))


def _corrupt_ts(path: Path, fn) -> None:
    header = path.read_text().splitlines()[0].split("\t")
    data = np.loadtxt(path, delimiter="\t", skiprows=1)
    header, data = fn(header, data)
    np.savetxt(path, data, delimiter="\t", header="\t".join(header), comments="", fmt="%.10g")


BAD_CASES = {
    "missing_column": ("participants.tsv", "arm", lambda d: _edit_tsv(d / "participants.tsv", lambda f: f.drop(columns="arm"))),
    "unknown_arm": ("participants.tsv", "arm", lambda d: _edit_tsv(d / "participants.tsv", lambda f: f.__setitem__("arm", f["arm"].replace("MIT", "YOGA")))),
    "unknown_sex": ("participants.tsv", "sex", lambda d: _edit_tsv(d / "participants.tsv", lambda f: f.loc.__setitem__((2, "sex"), "X"))),
    "duplicate_id": ("participants.tsv", "participant_id", lambda d: _edit_tsv(d / "participants.tsv", lambda f: f.loc.__setitem__((1, "participant_id"), f.loc[0, "participant_id"]))),
    "age_outside_protocol": ("participants.tsv", "age", lambda d: _edit_tsv(d / "participants.tsv", lambda f: f.loc.__setitem__((4, "age"), "58.5"))),
    "age_not_a_number": ("participants.tsv", "age", lambda d: _edit_tsv(d / "participants.tsv", lambda f: f.loc.__setitem__((4, "age"), "sixty"))),
    "visit_unknown_person": ("visits.tsv", "participant_id", lambda d: _edit_tsv(d / "visits.tsv", lambda f: f.loc.__setitem__((5, "participant_id"), "L9999"))),
    "negative_strength": ("visits.tsv", "knee_extensor_mvc_nm", lambda d: _edit_tsv(d / "visits.tsv", lambda f: f.loc.__setitem__((0, "knee_extensor_mvc_nm"), "-12.5"))),
    "bad_boolean": ("visits.tsv", "attended", lambda d: _edit_tsv(d / "visits.tsv", lambda f: f.loc.__setitem__((1, "attended"), "yes"))),
    "unknown_month": ("visits.tsv", "month", lambda d: _edit_tsv(d / "visits.tsv", lambda f: f.loc.__setitem__((1, "month"), "6"))),
    "visit_age_inconsistent": ("visits.tsv", "age", lambda d: _edit_tsv(d / "visits.tsv", lambda f: f.loc.__setitem__((2, "age"), str(float(f.loc[2, "age"]) + 2)))),
    "missing_visits_column": ("visits.tsv", "mri_usable", lambda d: _edit_tsv(d / "visits.tsv", lambda f: f.drop(columns="mri_usable"))),
    "atlas_missing_column": ("atlas.tsv", "network", lambda d: _edit_tsv(d / "atlas.tsv", lambda f: f.drop(columns="network"))),
    "nan_signal": ("_timeseries.tsv", "", lambda d: _corrupt_ts(_first_usable(d)[2], lambda h, x: (h, np.where(np.arange(x.shape[1]) == 3, np.nan, x)))),
    "constant_signal": ("_timeseries.tsv", "", lambda d: _corrupt_ts(_first_usable(d)[2], lambda h, x: (h, np.where(np.arange(x.shape[1]) == 7, 1.5, x)))),
    "wrong_roi_count": ("_timeseries.tsv", "", lambda d: _corrupt_ts(_first_usable(d)[2], lambda h, x: (h[:-1], x[:, :-1]))),
    "roi_names_mismatch": ("_timeseries.tsv", "", lambda d: _corrupt_ts(_first_usable(d)[2], lambda h, x: (["renamed"] + h[1:], x))),
    "missing_timeseries": ("_timeseries.tsv", "mri_usable", lambda d: _first_usable(d)[2].unlink()),
    "too_few_volumes": ("_timeseries.tsv", "", lambda d: _corrupt_ts(_first_usable(d)[2], lambda h, x: (h, x[:-5]))),
    "missing_file": ("visits.tsv", "", lambda d: (d / "visits.tsv").unlink()),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_raises_named_error(tiny_dir, case):
    file, column, corrupt = BAD_CASES[case]
    corrupt(tiny_dir)
    with pytest.raises(TrialDataError) as info:
        load_trial(tiny_dir)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert file in message and "rule" in message
    if column:
        assert f"'{column}'" in message
    if case == "nan_signal":
        assert info.value.row is not None and info.value.column is not None


def test_good_directory_loads_and_lazy_read_revalidates(tiny_dir):
    trial = load_trial(tiny_dir, check_timeseries=False)
    _, _, path = _first_usable(tiny_dir)
    _corrupt_ts(path, lambda h, x: (h, np.where(np.arange(x.shape[1]) == 0, np.nan, x)))
    with pytest.raises(TrialDataError, match="finite"):
        list(trial.iter_timeseries())


def test_extra_timeseries_file_rejected(tiny_dir):
    _, _, path = _first_usable(tiny_dir)
    shutil.copy(path, tiny_dir / "timeseries" / _trial_io.timeseries_name("L0001", 99))
    with pytest.raises(TrialDataError, match="only for scans marked usable"):
        load_trial(tiny_dir)


# ---------------------------------------------------------------------------------------------
# cohort tabulations
# ---------------------------------------------------------------------------------------------
def test_cohort_tables(trial):
    table = baseline_table(trial)  # tableone; numbers in tests/unit/test_cohort.py
    smd = table.smd_table
    # stratified randomisation balances the stratification factors well
    assert smd.loc["sex"].abs().max() < 0.1
    visits = visit_summary(trial)
    assert visits["attended"].sum() == 451 + 419 + 398
    assert visits.loc[(visits["arm"] == "CON"), "adherence_mean"].isna().all()