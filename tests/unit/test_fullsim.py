"""Tests of the full-pipeline simulation study (analysis.simstudy.full).

Everything runs on a small world (20 people per arm, a clock trained on 60 reference people):
the pipeline is the same at any size.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import simstudy, stats
from analysis.simstudy import full as fullsim
from analysis.clock import BrainAgeClock
from analysis.connectome import CovarianceStack, shrunk_covariances
from analysis.trial import simulate_reference, simulate_trial

N_PER_ARM = 20


@pytest.fixture(scope="module")
def study():
    return fullsim.build_study(60, n_per_arm=N_PER_ARM)


@pytest.fixture(scope="module")
def stored(study, tmp_path_factory):
    """A stored study of two null replicates (table, provenance, clock), written once per module."""
    folder = tmp_path_factory.mktemp("stored")
    fullsim.run_study(fullsim.plan([("baseline", "null", 2)]), out=folder / "sim", workers=0, study=study,
                      progress=False)
    fullsim.save_study(study, folder / "sim_clock.npz")
    return folder


@pytest.fixture
def rerun_from_memory(monkeypatch):
    """For tests of the audit's bookkeeping (fingerprints, provenance, sampling), not of re-running:
    within the test, a replicate computed once is returned again (a copy) instead of recomputed --
    the same code on the same machine, so the same numbers. Re-running for real is tested by
    test_audit_passes_then_names_the_broken_replicate, test_audit_tolerance_... and the dask test."""
    real, memo = fullsim.run_replicate, {}

    def run(key, study):
        if key not in memo:
            memo[key] = real(key, study)
        return memo[key].copy()

    monkeypatch.setattr(fullsim, "run_replicate", run)
    return memo


def _copy_stored(stored, tmp_path):
    """A private copy of :func:`stored` in ``tmp_path`` (tests edit it); returns its ``out`` path."""
    import shutil

    for path in stored.iterdir():
        (shutil.copytree if path.is_dir() else shutil.copy2)(path, tmp_path / path.name)
    return tmp_path / "sim"


@pytest.fixture(scope="module")
def small_trial():
    trial = simulate_trial(3, assumptions=fullsim.world("alt", N_PER_ARM))
    return trial, fullsim._person_month(trial)


def _scan_arrays(trial, d, rows=slice(0, 12)):
    scans = trial.scans.iloc[rows]
    idx = scans["participant_id"].map(d["index"]).to_numpy()
    month = scans["month"].to_numpy(int)
    col = month // 12
    return scans, idx, month, col


def test_batched_scans_match_the_simulator(small_trial):
    trial, d = small_trial
    scans, idx, month, col = _scan_arrays(trial, d)
    batched = fullsim.scan_covariances(trial.assumptions, trial.seed, idx, month, d["brain_age"][idx, col],
                                       d["fd"][idx, col], d["prefrontal"][idx, col], chunk=5)
    reference = shrunk_covariances(trial.iter_timeseries(scans)).covariances
    # the series are bit-identical; the covariance differs only by summation order
    np.testing.assert_allclose(batched, reference, rtol=0, atol=1e-13)


def test_predictions_chunk_by_chunk_are_those_of_all_covariances(small_trial, study):
    trial, d = small_trial
    scans, idx, month, col = _scan_arrays(trial, d, rows=slice(0, 150))  # three chunks of 64
    args = (trial.assumptions, trial.seed, idx, month, d["brain_age"][idx, col], d["fd"][idx, col],
            d["prefrontal"][idx, col])
    whole = fullsim.predict(study.form, fullsim.scan_covariances(*args))
    assert np.array_equal(fullsim.scan_predictions(study.form, *args), whole)


def test_clock_form_predicts_as_the_clock(small_trial):
    trial, d = small_trial
    scans, idx, month, col = _scan_arrays(trial, d)
    covs = shrunk_covariances(trial.iter_timeseries(scans)).covariances
    reference = simulate_reference(40, seed=1)
    clock = BrainAgeClock(connectivity="tangent", random_state=0).fit(
        shrunk_covariances(reference.iter_timeseries()), reference.participants["age"].to_numpy(float))
    expected = clock.predict(CovarianceStack(covs))
    np.testing.assert_allclose(fullsim.predict(fullsim.clock_form(clock), covs, chunk=5), expected, rtol=1e-10)


def test_replicate_is_keyed_by_its_identity(study):
    key = fullsim.ReplicateKey("baseline", "null", 4)
    a, b = fullsim.run_replicate(key, study), fullsim.run_replicate(key, study)
    pd.testing.assert_frame_equal(a[fullsim.AUDITED], b[fullsim.AUDITED])
    assert list(a.columns) == fullsim.COLUMNS
    assert len(a) == len(fullsim.ANALYSES) * len(fullsim.CONTRASTS)
    other = fullsim.run_replicate(fullsim.ReplicateKey("baseline", "null", 5), study)
    assert a["trial_seed"].iat[0] != other["trial_seed"].iat[0]
    assert (a["truth"] == 0).all()  # null world: every truth is zero


def test_primary_clda_finds_the_effects_the_mixed_model_finds(study):
    """Under the alternative (effects of 3 to 5 SEs), the plan's cLDA and the random-intercept model
    estimate the same contrasts from the same scans: both near the truth, with the cLDA's SE no larger
    (its unstructured covariance uses the baseline scans and the visit correlations)."""
    a = fullsim.run_replicate(fullsim.ReplicateKey("baseline", "alt", 4), study)
    clda, mixed = (a[a["analysis"] == name].set_index("contrast") for name in ("clda_beheshti", "mixed_beheshti"))
    assert fullsim.PRIMARY_ANALYSIS == "clda_beheshti" and np.isinf(clda["df"]).all()
    for fit in (clda, mixed):
        assert (np.abs(fit["estimate"] - fit["truth"]) < 3.5 * fit["se"]).all(), fit
    assert (np.abs(clda["estimate"] - mixed["estimate"]) < 2 * mixed["se"]).all()
    assert (clda["se"] <= 1.05 * mixed["se"]).all()


def test_truth_is_latent_effect_times_clock_scale(study):
    frame = fullsim.run_replicate(fullsim.ReplicateKey("baseline", "alt", 0), study)
    row = frame[(frame["analysis"] == "mixed_cole") & (frame["contrast"] == "HRT-CON 12m")].iloc[0]
    assert row["truth_latent"] == pytest.approx(-1.40)
    assert row["truth"] == pytest.approx(-1.40 * study.scale_factor["cole"])


@pytest.mark.parametrize("name", ["mnar", "slopes", "offaxis", "drift", "motion"])
def test_every_scenario_runs_and_changes_the_data(study, name):
    key = fullsim.ReplicateKey(name, "alt", 0)
    frame = fullsim.run_replicate(key, study)
    assert np.isfinite(frame["estimate"]).all() and (frame["se"] > 0).all()
    # the same seeds with the scenario switched off give other estimates
    off = fullsim.Study(study.form, study.scale_factor, study.measurement, study.root_seed,
                        {**study.scenarios, name: fullsim.Scenario(name)}, n_per_arm=study.n_per_arm)
    assert not np.array_equal(frame["estimate"], fullsim.run_replicate(key, off)["estimate"])


def test_scenario_parameters_are_checked():
    with pytest.raises(ValueError, match="offaxis_fraction"):
        fullsim.Scenario(offaxis_fraction=2.0)
    with pytest.raises(TypeError, match="no_such"):
        fullsim.SCENARIOS["mnar"].with_overrides(no_such=1)


def test_gatekeeping_holm():
    names = list(fullsim.CONTRASTS)  # HRT-CON 12, MIT-CON 12, HRT-MIT 12, HRT-CON 24, MIT-CON 24, HRT-MIT 24
    p = np.array([
        [0.001, 0.04, 0.001, 0.001, 0.001, 0.5],   # primary: 0.001 <= .025, 0.04 <= .05 -> all; then 24 m; HRT-MIT 12 by Holm
        [0.001, 0.06, 0.001, 0.001, 0.001, 0.001],  # primary fails at 0.06: gate closed
        [0.03, 0.04, 0.001, 0.001, 0.001, 0.001],   # 0.03 > 0.025: nothing
    ])
    rejected = fullsim.gatekeeping_holm(p)
    expect = np.array([[1, 1, 1, 1, 1, 0], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(rejected, expect)
    assert names[2] == "HRT-MIT 12m"


def test_verdict_words():
    assert fullsim.verdict(0.05, 0.007, 0.95, 0.007) == "keeps type-I error and coverage"
    assert fullsim.verdict(0.12, 0.01, 0.95, 0.007).startswith("inflates type-I error")
    assert "coverage below nominal" in fullsim.verdict(0.05, 0.007, 0.80, 0.01)
    assert "not assessed" in fullsim.verdict(float("nan"), float("nan"), 0.95, 0.01)


def _fake_table(n=400, seed=0):
    """Replicates with known operating characteristics: estimates ~ N(truth, 1), se = 1."""
    rng = np.random.default_rng(seed)
    rows = []
    for hypothesis, truths in (("null", [0.0] * 6), ("alt", [-1.4, -1.39, -0.01, -2.0, -2.0, 0.0])):
        for r in range(n):
            for (name, t) in zip(fullsim.CONTRASTS, truths):
                rows.append(("baseline", hypothesis, r, 1, fullsim.PRIMARY_ANALYSIS, name, t + rng.standard_normal(),
                             1.0, np.inf, t, t, 100, 50, 0.1))
    return pd.DataFrame(rows, columns=fullsim.COLUMNS)


def test_summarise_has_mc_ses_and_treats_near_equal_effects_as_null():
    summary = fullsim.summarise(_fake_table())
    c = summary["contrasts"]
    for col in ("bias", "empirical_sd", "rmse", "coverage", "rejection"):
        assert f"{col}_mcse" in c.columns or col == "empirical_sd"
        assert c[[x for x in c.columns if x.endswith("_mcse")]].notna().all().all()
    hrt_mit = c[(c["hypothesis"] == "alt") & (c["contrast"] == "HRT-MIT 12m")].iloc[0]
    assert hrt_mit["null"]  # -0.01 y: equal effects within the tolerance
    cover = c["coverage"].to_numpy()
    assert np.all(np.abs(cover - 0.95) < 4 * c["coverage_mcse"].to_numpy() + 0.01)
    m = summary["multiplicity"].set_index(["hypothesis", "procedure"])
    assert m.loc[("alt", "holm_gatekeeping"), "n_true_null"] == 1  # HRT-MIT 12m; HRT-MIT 24m is not confirmatory
    assert m.loc[("null", "holm_gatekeeping"), "fwer"] <= 0.05 + 3 * m.loc[("null", "holm_gatekeeping"), "fwer_mcse"]
    assert m.loc[("null", "unadjusted"), "fwer"] > m.loc[("null", "holm_gatekeeping"), "fwer"]
    values = fullsim.result_values(summary)
    assert values["full_n_null"] == values["full_n_alt"] == 400
    assert 0 < values["full_type1_error_mcse"] < 0.02


def test_runner_serial_resume_and_interrupt(study, tmp_path, monkeypatch):
    out = tmp_path / "sim"
    keys = fullsim.plan([("baseline", "null", 2)])
    first = fullsim.run_study(keys, out=out, workers=0, study=study, progress=False, flush_every=1)
    assert first["replicate"].nunique() == 2
    prov = json.loads((tmp_path / "sim.json").read_text())
    assert prov["code_fingerprint"] == fullsim.code_fingerprint() and prov["status"] == "complete"
    # resume: stored replicates are skipped (their wall-time column is kept as stored)
    calls = []
    real = fullsim.run_replicate

    def counting(key, s):
        calls.append(key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(key, s)

    monkeypatch.setattr(fullsim, "run_replicate", counting)
    with pytest.raises(KeyboardInterrupt):
        fullsim.run_study(fullsim.plan([("baseline", "null", 5)]), out=out, workers=0, study=study,
                          progress=False, flush_every=1)
    assert [k.replicate for k in calls] == [2, 3]
    table = fullsim.load_table(out)
    assert sorted(table["replicate"].unique()) == [0, 1, 2]  # the finished one is kept
    pd.testing.assert_frame_equal(table[table["replicate"] < 2].reset_index(drop=True), first)
    assert json.loads((tmp_path / "sim.json").read_text())["status"].startswith("incomplete")


def test_dask_two_workers_bit_identical_to_serial(study, tmp_path):
    pytest.importorskip("distributed")
    keys = fullsim.plan([("baseline", "alt", 1), ("motion", "null", 1)])  # one replicate per worker
    serial = fullsim.run_study(keys, out=tmp_path / "serial", workers=0, study=study, progress=False)
    parallel = fullsim.run_study(keys, out=tmp_path / "dask", workers=2, study=study, progress=False, flush_every=1)
    pd.testing.assert_frame_equal(serial[fullsim.AUDITED], parallel[fullsim.AUDITED], check_exact=True)


def test_audit_passes_then_names_the_broken_replicate(study, stored, tmp_path):
    out = _copy_stored(stored, tmp_path)
    report = fullsim.audit(out, n=1)
    assert report["exact"] and len(report["replicates"]) == 1 and report["max_abs_difference"] == 0
    assert not report["code_changed"] and "bit for bit" in fullsim.audit_sentence(report)
    table = fullsim.load_table(out)
    table["estimate"] = table["estimate"] + 1e-12  # a tiny change is caught bit-for-bit
    table.to_csv(tmp_path / "sim.csv.gz", index=False)
    with pytest.raises(fullsim.AuditError, match=r"replicate \(scenario=baseline.*column 'estimate'.*make simulation"):
        fullsim.audit(out, n=1)
    # an edit is caught on any machine: the recorded digests say the table is not what was written
    with pytest.raises(fullsim.AuditError, match=r"replicate \(scenario=baseline.*column 'estimate'"):
        fullsim.audit(out, n=1, exact=False, tolerance=1e-9)


def test_simstudy_fdr_summary_counts_near_equal_effects_as_null():
    names = list(simstudy.CONTRASTS)
    truth = {"HRT-CON 12m": -1.4, "MIT-CON 12m": -1.39, "HRT-MIT 12m": -0.01,
             "HRT-CON 24m": -2.0, "MIT-CON 24m": -2.0, "HRT-MIT 24m": 0.0}
    rows = [{"replicate": r, "contrast": c, "p": 0.001, "p_fdr": 0.001, "truth_latent": truth[c], "truth": truth[c]}
            for r in range(4) for c in names]
    out = simstudy.fdr_summary(pd.DataFrame(rows))
    assert out["fdr"] == pytest.approx(1 / 3)  # HRT-MIT 12m rejected although the arms are (nearly) equal
    assert out["fwer_fdr"] == 1.0 and out["fwer_mcse"] == 0.0
    assert simstudy.fdr_summary(pd.DataFrame(rows), null_tolerance=1e-12)["fdr"] == pytest.approx(1 / 6)  # the old exact-zero rule


def _tamper(tmp_path, replicate=None):
    table = fullsim.load_table(tmp_path / "sim")
    rows = table.index if replicate is None else table.index[table["replicate"] == replicate]
    table.loc[rows, "estimate"] = table.loc[rows, "estimate"] + 1e-12
    table.to_csv(tmp_path / "sim.csv.gz", index=False)


def test_a_code_change_keeps_the_artifact_only_if_its_numbers_reproduce(study, stored, tmp_path, monkeypatch, rerun_from_memory):
    out = _copy_stored(stored, tmp_path)
    written = json.loads((tmp_path / "sim.json").read_text())["code_fingerprint"]
    monkeypatch.setattr(fullsim, "code_fingerprint", lambda: "f" * 64)  # another module was edited
    # unchanged numbers: valid; record=True stores the new fingerprint with its history
    report = fullsim.audit(out, n=2)
    assert report["code_changed"] and report["stored_fingerprint"] == written
    assert "still reproduce" in fullsim.audit_sentence(report)
    assert json.loads((tmp_path / "sim.json").read_text())["code_fingerprint"] == written  # not without record
    fullsim.audit(out, n=2, record=True)
    prov = json.loads((tmp_path / "sim.json").read_text())
    assert prov["code_fingerprint"] == "f" * 64 and prov["fingerprint_history"][-1]["from"] == written
    # resuming after a further code change audits, then runs the rest
    monkeypatch.setattr(fullsim, "code_fingerprint", lambda: "e" * 64)
    table = fullsim.run_study(fullsim.plan([("baseline", "null", 3)]), out=out, workers=0, study=study, progress=False)
    assert table["replicate"].nunique() == 3
    prov = json.loads((tmp_path / "sim.json").read_text())
    assert prov["code_fingerprint"] == "e" * 64 and len(prov["fingerprint_history"]) == 2
    # numbers that no longer reproduce: audit names the replicate, resume refuses
    _tamper(tmp_path)
    monkeypatch.setattr(fullsim, "code_fingerprint", lambda: "d" * 64)
    with pytest.raises(fullsim.AuditError, match=r"replicate \(scenario=baseline, hypothesis=null.*does not reproduce "
                                                 r"with the current code.*column 'estimate'.*make simulation"):
        fullsim.audit(out, n=1)
    with pytest.raises(RuntimeError, match="does not reproduce.*another --out"):
        fullsim.run_study(fullsim.plan([("baseline", "null", 4)]), out=out, workers=0, study=study, progress=False)


def test_audit_samples_by_fingerprint_and_names_only_a_changed_replicate(study, tmp_path, rerun_from_memory):
    out = tmp_path / "sim"
    fullsim.run_study(fullsim.plan([("baseline", "null", 3)]), out=out, workers=0, study=study, progress=False)
    fullsim.save_study(study, tmp_path / "sim_clock.npz")
    report = fullsim.audit(out, n=1, choose_by="build A")
    chosen = report["replicates"][0]["replicate"]
    _tamper(tmp_path, replicate=chosen)
    with pytest.raises(fullsim.AuditError, match=rf"replicate=\s*{chosen}\)"):
        fullsim.audit(out, n=1, choose_by="build A")
    others = [r for r in range(3) if r != chosen]
    for choose in ("x", "y", "z", "w", "v"):  # a sample missing the changed replicate still names it
        picked = fullsim._sample(sorted(fullsim._done_keys(fullsim.load_table(out))), choose, 1)[0].replicate
        if picked in others:
            with pytest.raises(fullsim.AuditError, match=rf"replicate=\s*{chosen}\).*column 'estimate'"):
                fullsim.audit(out, n=1, choose_by=choose)
            break
    else:
        pytest.fail("no sample without the changed replicate was tried")


def test_replicate_digests_survive_the_csv_round_trip_and_change_with_one_number(study, stored, tmp_path):
    out = _copy_stored(stored, tmp_path)
    recorded = json.loads((tmp_path / "sim.json").read_text())["replicate_digests"]
    assert set(recorded) == {"baseline/null/0", "baseline/null/1"}
    table = fullsim.load_table(out)
    assert fullsim.replicate_digests(table) == recorded
    shuffled = table.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert fullsim.replicate_digests(shuffled) == recorded  # row order does not matter
    table.loc[table.index[-1], "estimate"] += 1e-13
    changed = fullsim.replicate_digests(table)
    assert [k for k in recorded if changed[k] != recorded[k]] == [f"baseline/null/{table['replicate'].iat[-1]}"]


def test_vectorised_gatekeeping_decides_as_the_analysis_plan():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.08, size=(300, 6)) ** rng.uniform(0.5, 2, size=(300, 6))
    fast = fullsim.gatekeeping_holm(p)
    names = list(fullsim.CONTRASTS)
    for row, decided in zip(p, fast):
        effects = pd.DataFrame({"comparison": [c.split()[0].replace("-", " - ") for c in names],
                                "month": [int(c.split()[1][:-1]) for c in names], "p": row})
        plan = stats.gatekeeping(stats.trial_families(effects, control="CON", primary_visit=12, followup_visits=[24]))
        expect = dict.fromkeys(names, False)
        for hyp, rejected in zip(plan["hypothesis"], plan["rejected"]):
            comparison, month = hyp.split(" @ month=")
            expect[f"{comparison.replace(' - ', '-')} {month}m"] = bool(rejected)
        assert list(decided) == [expect[n] for n in names]
    assert not fast[:, names.index("HRT-MIT 24m")].any()  # not a confirmatory hypothesis


def test_verdicts_need_enough_replicates_and_pages_words_follow_counts():
    assert fullsim.verdict(0.0, 0.0, 1.0, 0.0, n=10).startswith("too few replicates")
    table = _fake_table(n=20)
    counts = fullsim.progress(table)
    base = counts.set_index(["scenario", "hypothesis"]).loc[("baseline", "null")]
    assert base["replicates"] == 20 and base["target"] == 1000 and base["status"] == "in progress"
    assert "in progress" in fullsim.progress_sentence(counts)
    full_counts = counts.assign(replicates=counts["target"])
    assert fullsim.progress_sentence(full_counts).startswith("The study is complete")


def test_fast_path_verdict_words():
    rows = pd.DataFrame({"hypothesis": ["null"] * 3, "contrast": ["a", "b", "c"],
                         "sd_ratio": [1.0, 1.5, 1.0], "sd_ratio_mcse": [0.01, 0.01, 0.2],
                         "coverage_difference": [0.0, 0.0, 0.0], "coverage_difference_mcse": [0.005, 0.005, 0.05]})
    v = fullsim.fast_path_verdict(rows)
    assert list(v["verdict"]) == ["reproduces", "differs", "undetermined (too few replicates)"]
    assert "does **not** reproduce" in fullsim.fast_path_sentence(v)
    assert "reproduces the full pipeline" in fullsim.fast_path_sentence(v.iloc[[0]])


def test_command_line_dispatches_full_and_fast(tmp_path, capsys):
    import subprocess
    import sys

    from analysis._paths import PROJECT_ROOT
    from analysis.simstudy.__main__ import main

    # the module entry point, in a process of its own (the package's import and its exit status)
    run = subprocess.run([sys.executable, "-m", "analysis.simstudy", "full", "audit", "--out", str(tmp_path / "none")],
                         cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert run.returncode != 0 and "make simulation" in run.stderr
    assert main(["--help"]) == 0 and "full {run,summary,audit}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:  # argparse's help of the full study
        main(["full", "--help"])
    assert exit_.value.code == 0 and "audit" in capsys.readouterr().out


def test_result_rows_bracket_each_rate_by_its_mc_interval_within_0_and_1():
    values = {"full_n_null": 10, "full_type1_error": 0.1, "full_type1_error_mcse": 0.0949,
              "full_coverage_95": 0.95, "full_coverage_95_mcse": 0.01, "mnar_coverage_95": 1.0,
              "mnar_coverage_95_mcse": 0.0, "slopes_type1_error": float("nan"), "slopes_type1_error_mcse": float("nan")}
    rows = fullsim.result_rows(values).set_index("key")
    assert "simulation.slopes_type1_error" not in rows.index  # nothing to report yet
    t1 = rows.loc["simulation.full_type1_error"]
    assert t1["ci_low"] == 0.0 and t1["ci_high"] == pytest.approx(0.1 + 1.959964 * 0.0949, abs=1e-5)
    cov = rows.loc["simulation.full_coverage_95"]
    assert (cov["ci_low"], cov["ci_high"]) == pytest.approx((0.95 - 0.0196, 0.95 + 0.0196), abs=1e-5)
    assert rows.loc["simulation.mnar_coverage_95", "ci_high"] == 1.0
    assert np.isnan(rows.loc["simulation.full_n_null", "ci_low"]) and "truncated to [0, 1]" in t1["description"]


def test_bias_sentence_names_biased_contrasts():
    def frame(bias_hrt, se_ratio=1.0):
        rows = []
        for contrast, bias in (("HRT-CON 12m", bias_hrt), ("MIT-CON 12m", 0.01)):
            rows.append({"scenario": "baseline", "hypothesis": "alt", "analysis": fullsim.PRIMARY_ANALYSIS,
                         "contrast": contrast, "n": 400, "truth": -0.85, "bias": bias, "bias_mcse": 0.02,
                         "se_ratio": se_ratio})
        return pd.DataFrame(rows)

    text = fullsim.bias_sentence(frame(-0.29))
    assert "HRT-CON 12m by \u22120.29 y (Monte Carlo SE 0.02; truth \u22120.85 y" in text
    assert "MIT-CON 12m by" not in text and "not too narrow intervals" in text
    assert "prefrontal" not in text  # a reason is given only from the clock's measured reading
    clean = fullsim.bias_sentence(frame(-0.01))
    assert "within 2 Monte Carlo SEs" in clean and "prefrontal" not in clean
    assert "not too narrow" not in fullsim.bias_sentence(frame(-0.29, se_ratio=0.7))
    assert "No full-pipeline replicates" in fullsim.bias_sentence(frame(-0.29).iloc[0:0])


def test_coverage_reason_only_when_coverage_falls_short_through_bias():
    def frame(coverage, bias):
        return pd.DataFrame([{"scenario": "baseline", "hypothesis": "alt", "analysis": fullsim.PRIMARY_ANALYSIS,
                              "contrast": fullsim.PRIMARY_CONTRAST, "coverage": coverage, "coverage_mcse": 0.01,
                              "bias": bias, "bias_mcse": 0.02}])

    assert fullsim.coverage_reason(frame(0.91, -0.29)) == " (below 95% through bias, not too narrow intervals)"
    assert fullsim.coverage_reason(frame(0.94, -0.29)) == ""  # within Monte Carlo error of 95%
    assert fullsim.coverage_reason(frame(0.91, -0.01)) == ""  # short, but not through bias
    assert fullsim.coverage_reason(frame(0.91, -0.29).iloc[0:0]) == ""


def test_audit_is_bit_exact_only_for_the_code_and_machine_that_wrote_the_numbers(study, stored, tmp_path, monkeypatch, rerun_from_memory):
    out = _copy_stored(stored, tmp_path)
    written = fullsim.code_fingerprint()
    assert json.loads((tmp_path / "sim.json").read_text())["bit_exact_fingerprint"] == written
    monkeypatch.setattr(fullsim, "code_fingerprint", lambda: "f" * 64)
    report = fullsim.audit(out, n=1)  # changed code: within the tolerance, and says why
    assert not report["exact"] and "code changed" in fullsim.audit_sentence(report)
    fullsim.audit(out, n=2, record=True)  # reproduces to the last bit: the new code is bit-exact
    assert json.loads((tmp_path / "sim.json").read_text())["bit_exact_fingerprint"] == "f" * 64
    assert fullsim.audit(out, n=1)["exact"]
    # code that moves the last digits: recorded, but the artifact is no longer bit-exact for it
    real = fullsim.run_replicate

    def nudged(key, s):
        frame = real(key, s)
        frame["estimate"] = frame["estimate"] * (1 + 1e-12)
        return frame

    monkeypatch.setattr(fullsim, "run_replicate", nudged)
    monkeypatch.setattr(fullsim, "code_fingerprint", lambda: "e" * 64)
    with pytest.raises(fullsim.AuditError, match="column 'estimate'"):
        fullsim.audit(out, n=1, exact=True)
    fullsim.audit(out, n=2, record=True)
    prov = json.loads((tmp_path / "sim.json").read_text())
    assert prov["code_fingerprint"] == "e" * 64 and prov["bit_exact_fingerprint"] == "f" * 64
    assert not fullsim.audit(out, n=1)["exact"]
    # replicates appended by that code mix two codes: no code is bit-exact any more
    fullsim.run_study(fullsim.plan([("baseline", "null", 3)]), out=out, workers=0, study=study, progress=False)
    assert json.loads((tmp_path / "sim.json").read_text())["bit_exact_fingerprint"] is None
    assert "mixes" in fullsim.audit_sentence(fullsim.audit(out, n=1))
    # an edited replicate fails even in tolerance mode
    _tamper(tmp_path, replicate=1)
    with pytest.raises(fullsim.AuditError, match=r"replicate=1\).*digest"):
        fullsim.audit(out, n=1)


def test_clock_reading_is_zero_without_a_change_and_splits_into_its_parts(study):
    null = fullsim.clock_reading(study, seeds=(5,), hypothesis="null", use_cache=False)
    # untrained, without prefrontal signal and as simulated are the same scans: not a bit of difference
    assert (null[["reading", "brain_age_part", "prefrontal_part"]] == 0).all().all()
    alt = fullsim.clock_reading(study, seeds=(5, 6), hypothesis="alt", use_cache=False)
    np.testing.assert_allclose(alt["reading"], alt["brain_age_part"] + alt["prefrontal_part"], atol=1e-12)
    assert alt.loc["MIT-CON 12m", "prefrontal_part"] == 0 and alt.loc["HRT-CON 12m", "prefrontal_part"] != 0
    np.testing.assert_allclose(alt.loc["HRT-MIT 12m", "reading"],
                               alt.loc["HRT-CON 12m", "reading"] - alt.loc["MIT-CON 12m", "reading"], atol=1e-12)
    assert np.isnan(alt.loc["HRT-MIT 24m", "per_latent_year"])  # no latent change to divide by
    # a younger-looking brain: the clock reads the trained arms' latent change in its direction
    assert alt.loc["MIT-CON 24m", "brain_age_part"] < 0
    cole = fullsim.clock_reading(study, seeds=(5, 6), hypothesis="alt", scale="cole", use_cache=False)
    np.testing.assert_allclose(cole["reading"], alt["reading"] * study.scale_factor["cole"] / study.scale_factor["none"])
    with pytest.raises(ValueError, match="scale must be one of"):
        fullsim.clock_reading(study, scale="smith")


def test_against_reading_known_answer():
    reading = pd.DataFrame({"truth": [-1.0], "reading": [-1.5], "reading_se": [0.0]},
                           index=pd.Index(["HRT-CON 12m"], name="contrast"))
    est = np.array([-1.5, -1.4, -1.6, -2.5])
    table = pd.DataFrame({"scenario": "baseline", "hypothesis": "alt", "analysis": fullsim.PRIMARY_ANALYSIS,
                          "contrast": "HRT-CON 12m", "replicate": range(4), "estimate": est, "se": 0.2})
    out = fullsim.against_reading(table, reading).loc["HRT-CON 12m"]
    assert out["n"] == 4 and out["mean_estimate"] == pytest.approx(-1.75)
    assert out["bias_truth"] == pytest.approx(-0.75) and out["bias_reading"] == pytest.approx(-0.25)
    assert out["bias_reading_se"] == pytest.approx(np.std(est, ddof=1) / 2)
    assert out["coverage_reading"] == pytest.approx(0.75)  # |-2.5 + 1.5| = 1 > 1.96 * 0.2


def test_bias_sentence_says_when_the_clock_reading_accounts_for_the_bias():
    contrasts = pd.DataFrame({"scenario": "baseline", "hypothesis": "alt", "analysis": fullsim.PRIMARY_ANALYSIS,
                              "contrast": ["HRT-CON 12m"], "n": [500], "truth": [-0.85], "bias": [-0.3],
                              "bias_mcse": [0.02], "se_ratio": [1.0], "coverage": [0.90], "coverage_mcse": [0.01]})
    reading = pd.DataFrame({"truth": [-0.85], "reading": [-1.13], "reading_se": [0.02], "brain_age_part": [-0.91],
                            "prefrontal_part": [-0.22], "per_latent_year": [0.65], "scale_factor": [0.61]},
                           index=pd.Index(["HRT-CON 12m"], name="contrast"))
    versus = pd.DataFrame({"bias_reading": [0.01], "bias_reading_se": [0.03], "coverage_reading": [0.951]},
                          index=reading.index)
    text = fullsim.bias_sentence(contrasts, reading=reading, versus=versus)
    assert "It is the truth, not the analysis" in text and "−0.22 y at 12m" in text and "0.65" in text
    assert "0.951" in fullsim.coverage_reason(contrasts, versus=versus)
    far = versus.assign(bias_reading=0.2)
    assert "does not account for it either" in fullsim.bias_sentence(contrasts, reading=reading, versus=far)
    assert fullsim.coverage_reason(contrasts, versus=far) == " (below 95% through bias, not too narrow intervals)"


def test_audit_tolerance_passes_platform_noise_fails_a_real_change_and_keeps_warnings(study, stored, tmp_path, monkeypatch):
    out = _copy_stored(stored, tmp_path)
    real = fullsim.run_replicate

    def rerun(relative):
        def run(key, s):
            warnings.warn("overflow on this platform's path", RuntimeWarning)
            frame = real(key, s)
            frame["estimate"] = frame["estimate"] * (1 + relative)
            return frame
        return run

    monkeypatch.setattr(fullsim, "run_replicate", rerun(3e-6))  # the optimiser's noise across BLAS kernels
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches stderr (a book build fails on any)
        report = fullsim.audit(out, n=2, exact=False)
    assert not report["exact"] and 0 < report["max_abs_difference"] < fullsim.AUDIT_TOLERANCE
    assert report["warnings"] == ["RuntimeWarning: overflow on this platform's path"]
    assert "1 distinct warning: RuntimeWarning: overflow" in fullsim.audit_sentence(report)
    monkeypatch.setattr(fullsim, "run_replicate", rerun(1e-3))  # a change the page's numbers would show
    with pytest.raises(fullsim.AuditError, match=r"column 'estimate'.*tolerance 0.0001 check"):
        fullsim.audit(out, n=1, exact=False)


def test_recommendation_names_what_fails_and_what_holds_there():
    def row(scenario, analysis, t1, cov):
        return {"scenario": scenario, "analysis": analysis, "type1_error": t1, "type1_error_mcse": 0.01,
                "coverage_95": cov, "coverage_95_mcse": 0.01, "n_type1": 300, "n_coverage": 300}

    rows = [row("baseline", "clda_beheshti", 0.05, 0.95), row("drift", "clda_beheshti", 0.05, 0.95),
            row("motion", "clda_beheshti", 0.17, 0.69), row("motion", "mixed_beheshti", 0.03, 0.93),
            row("motion", "mixed_cole", 0.03, 0.93), row("motion", "ancova_beheshti", 0.11, 0.85),
            row("slopes", "clda_beheshti", 0.06, 0.94)]
    frame = pd.DataFrame(rows)
    frame["verdict"] = [fullsim.verdict(r.type1_error, r.type1_error_mcse, r.coverage_95, r.coverage_95_mcse)
                        for r in frame.itertuples()]
    frame["recommendation"] = [fullsim.REMEDIES[s] if not v.startswith("keeps") else "trustworthy here"
                               for s, v in zip(frame["scenario"], frame["verdict"])]
    text = fullsim.recommendation(frame)
    assert text.startswith("The primary analysis keeps type-I error and coverage under drift, slopes; it fails "
                           "under motion (inflates type-I error; coverage below nominal: report head motion")
    # the two random-intercept rows are one model on two scales: named once; the failing ANCOVA not at all
    assert "the random-intercept model with head motion at every scan keeps both there)" in text
    assert "ANCOVA" not in text


def test_motion_sentence_puts_the_adjusted_model_beside_the_primary():
    frame = pd.DataFrame([
        {"scenario": "motion", "analysis": "clda_beheshti", "type1_error": 0.17, "type1_error_mcse": 0.02,
         "coverage_95": 0.69, "coverage_95_mcse": 0.03},
        {"scenario": "motion", "analysis": "mixed_beheshti", "type1_error": 0.03, "type1_error_mcse": 0.02,
         "coverage_95": 0.999, "coverage_95_mcse": 0.01}])
    text = fullsim.motion_sentence(frame)
    assert "scaled by 0.7" in text and "type-I error is 0.170 (0.131 to 0.209)" in text
    assert "has 0.030 (0.000 to 0.069) and 0.999 (0.979 to 1.000)" in text  # truncated to [0, 1]
    assert fullsim.motion_sentence(frame.iloc[:1]) == ""  # not run for both: nothing to say


def test_a_cached_audit_is_reused_only_for_the_same_artifact_and_a_failure_is_not_kept(stored, tmp_path, monkeypatch):
    out = _copy_stored(stored, tmp_path)
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setattr(fullsim, "cache_dir", lambda name: folder)
    first = fullsim.audit(out, n=1, cache=True)
    assert first["exact"] and first["max_abs_difference"] == 0 and len(first["replicates"]) == 1
    calls, real = [], fullsim.run_replicate
    monkeypatch.setattr(fullsim, "run_replicate", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert fullsim.audit(out, n=1, cache=True) == first and not calls  # read, not re-run
    _tamper(tmp_path)  # another table: another key, so the audit runs again, and fails
    with pytest.raises(fullsim.AuditError, match="differ from the digest"):
        fullsim.audit(out, n=1, cache=True)
    assert calls and len(list(folder.glob("audit-*.json"))) == 1


def test_a_cached_fast_path_comparison_equals_the_computed_one_and_follows_the_stored_numbers(stored, tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    from analysis.clock import evaluation

    monkeypatch.setattr(evaluation, "cache_dir", lambda name: folder)
    table = fullsim.load_table(stored / "sim")
    measurement = fullsim.provenance(stored / "sim")["measurement"]
    args = dict(n_fast=40, seed=3, n_per_arm=N_PER_ARM)
    computed = fullsim.compare_fast_path(table, measurement, **args)
    first = fullsim.compare_fast_path(table, measurement, cache=True, **args)
    pd.testing.assert_frame_equal(first, computed)
    assert len(list(folder.glob("fastpath-*.pkl"))) == 1
    calls, real = [], fullsim.simstudy.run_simulation
    monkeypatch.setattr(fullsim.simstudy, "run_simulation", lambda *a, **k: calls.append(1) or real(*a, **k))
    pd.testing.assert_frame_equal(fullsim.compare_fast_path(table, measurement, cache=True, **args), computed)
    assert not calls  # read, not run again
    edited = table.copy()
    compared = edited.index[edited["analysis"] == fullsim.FAST_PATH_ANALYSIS]
    edited.loc[edited.index.difference(compared), "estimate"] += 0.5  # other analyses' numbers: the same key
    pd.testing.assert_frame_equal(fullsim.compare_fast_path(edited, measurement, cache=True, **args), computed)
    assert not calls
    edited.loc[compared[0], "estimate"] += 0.5  # a compared number: computed again, another result
    again = fullsim.compare_fast_path(edited, measurement, cache=True, **args)
    assert calls and len(list(folder.glob("fastpath-*.pkl"))) == 2
    assert not again.equals(computed)
    fullsim.compare_fast_path(table, measurement, cache=True, **{**args, "seed": 4})  # another argument, another key
    assert len(list(folder.glob("fastpath-*.pkl"))) == 3
