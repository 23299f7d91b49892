"""Tests of analysis.trial_analysis on small tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import stats
from analysis import trial_analysis as ta


def _long_table(rng, n_per_arm=30, effects=None):
    """Balanced, complete arm x visit table with a random intercept."""
    effects = effects or {("HRT", 12): -1.4, ("MIT", 12): -1.0, ("HRT", 24): -2.0, ("MIT", 24): -2.0}
    rows = []
    for arm in ta.ARMS:
        for i in range(n_per_arm):
            pid = f"{arm}{i:03d}"
            u = rng.normal(0, 3)
            sex = "F" if i % 2 else "M"
            for month in (0, 12, 24):
                rows.append(dict(participant_id=pid, arm=arm, sex=sex, month=month, age=66 + month / 12,
                                 mean_fd_mm=0.2, has_scan=True, per_protocol=True,
                                 brain_age_gap=u + effects.get((arm, month), 0.0) + rng.normal(0, 0.5)))
    return pd.DataFrame(rows)


def test_arm_effects_equal_difference_in_mean_changes_without_covariates(rng):
    table = _long_table(rng)
    fit = ta.arm_model(table, covariates=())
    got = ta.arm_effects(fit, 12).set_index("comparison")
    means = table.groupby(["arm", "month"])["brain_age_gap"].mean()
    change = {a: means[a, 12] - means[a, 0] for a in ta.ARMS}
    assert got.loc["HRT - CON", "estimate"] == pytest.approx(change["HRT"] - change["CON"], abs=1e-6)
    assert got.loc["HRT - MIT", "estimate"] == pytest.approx(change["HRT"] - change["MIT"], abs=1e-6)
    # FDR-adjusted p never below the raw p, and BH of the three raw p-values
    assert (got["p_fdr"] >= got["p"] - 1e-15).all()


def test_persistence_contrast_is_difference_of_effects(rng):
    table = _long_table(rng)
    fit = ta.arm_model(table, covariates=())
    e12 = ta.arm_effects(fit, 12).set_index("comparison")["estimate"]
    e24 = ta.arm_effects(fit, 24).set_index("comparison")["estimate"]
    persist = ta.change_effects(fit, {"HRT - CON": [(1.0, "HRT", 12, 24), (-1.0, "CON", 12, 24)]})
    assert persist.loc["HRT - CON", "estimate"] == pytest.approx(e24["HRT - CON"] - e12["HRT - CON"], abs=1e-8)


def test_marginal_means_reproduce_cell_means_of_a_saturated_model(rng):
    table = _long_table(rng)
    fit = ta.arm_model(table, covariates=())
    mm = ta.marginal_means(fit).set_index(["arm", "month"])["estimate"]
    cell = table.groupby(["arm", "month"])["brain_age_gap"].mean()
    np.testing.assert_allclose(mm.loc[cell.index], cell, atol=1e-6)


def test_effect_key_is_a_valid_registry_key():
    assert ta.effect_key("arms", "HRT - CON", 12) == "arms.hrt_vs_con_12m"
    assert ta.effect_key("followup", "MIT - CON", suffix="persistence_") == "followup.persistence_mit_vs_con"


def test_change_table_and_strength_interaction_recover_slopes(rng):
    n = 240
    arm = np.repeat(list(ta.ARMS), n // 3)
    pct = rng.normal(5, 8, n)
    slope = pd.Series({"HRT": -0.05, "MIT": -0.05, "CON": 0.0})[arm].to_numpy()
    gap0 = rng.normal(0, 3, n)
    rows = []
    for i in range(n):
        mvc0 = 150.0 + rng.normal(0, 10)
        for month, gap, mvc in ((0, gap0[i], mvc0), (12, gap0[i] + slope[i] * pct[i] * 10, mvc0 * (1 + pct[i] / 100))):
            rows.append(dict(participant_id=f"p{i}", arm=arm[i], sex="F", baseline_age=66.0, self_training=pd.NA,
                             month=month, brain_age_gap=gap, knee_extensor_mvc_nm=mvc))
    changes = ta.change_table(pd.DataFrame(rows), 0, 12)
    assert len(changes) == n
    np.testing.assert_allclose(changes["mvc_change_pct"], pct, rtol=1e-9)
    slopes, inter = ta.strength_interaction(changes, covariates=("gap_start",))
    got = slopes.set_index("arm")["estimate"]
    assert got["HRT"] == pytest.approx(-0.5, abs=1e-8) and got["CON"] == pytest.approx(0.0, abs=1e-8)
    assert inter["p_joint"].iloc[0] < 1e-6


def test_record_effects_registers_estimate_p_and_standardised_keys(monkeypatch):
    from analysis import report

    seen = {}
    monkeypatch.setattr(report, "record", lambda key, value, **kw: seen.setdefault(key, (value, kw)))
    effects = pd.DataFrame({
        "comparison": ["HRT - CON", "MIT - CON"], "estimate": [-1.2, -0.5], "ci_low": [-2.0, -1.3],
        "ci_high": [-0.4, 0.3], "p_fdr": [0.01, 0.2],
    })
    ta.record_effects(effects, "followup", 24, "what")
    assert set(seen) == {"followup.hrt_vs_con_24m", "followup.p_fdr_hrt_vs_con_24m",
                         "followup.mit_vs_con_24m", "followup.p_fdr_mit_vs_con_24m"}
    assert seen["followup.hrt_vs_con_24m"][0] == -1.2
    assert seen["followup.hrt_vs_con_24m"][1]["ci"] == (-2.0, -0.4)
    seen.clear()
    with_sd = stats.standardize_effects(effects, 2.0)
    ta.record_effects(with_sd, "arms", 12, "what")
    assert seen["arms.std_mit_vs_con_12m"][0] == pytest.approx(-0.25)
    assert len(seen) == 6
