"""Descriptive tables of a trial: CONSORT flow, baseline characteristics, visits, strength, missingness."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.trial.core import Trial
from analysis.trial.design import ARMS, MONTHS

__all__ = ["flow_counts", "baseline_table", "visit_summary", "strength_summary", "missingness_patterns"]


def flow_counts(trial: Trial) -> pd.DataFrame:
    """CONSORT flow per arm and visit: randomised, attended, MRI acquired, usable MRI.

    Returns a tidy frame with columns ``arm`` (HRT/MIT/CON/All), ``month``, ``randomised``,
    ``attended``, ``mri_acquired`` (if recorded), ``mri_usable``.
    """
    v = trial.visits.merge(trial.participants[["participant_id", "arm"]], on="participant_id")
    agg = {"randomised": ("participant_id", "size"), "attended": ("attended", "sum"),
           "mri_usable": ("mri_usable", "sum")}
    if "mri_acquired" in v:
        agg["mri_acquired"] = ("mri_acquired", "sum")
    by_arm = v.groupby(["arm", "month"]).agg(**agg).reset_index()
    total = v.groupby("month").agg(**agg).reset_index().assign(arm="All")
    out = pd.concat([by_arm, total], ignore_index=True)
    out["arm"] = pd.Categorical(out["arm"], [*ARMS, "All"])
    cols = ["arm", "month", "randomised", "attended"] + (["mri_acquired"] if "mri_acquired" in v else []) + ["mri_usable"]
    return out.sort_values(["arm", "month"])[cols].reset_index(drop=True).astype({"arm": str})


def _smd(x: pd.Series, y: pd.Series, categorical: bool) -> float:
    if categorical:
        levels = sorted(set(x.dropna()) | set(y.dropna()))
        p, q = x.value_counts(normalize=True), y.value_counts(normalize=True)
        lvl = levels[0]
        pa, pb = p.get(lvl, 0.0), q.get(lvl, 0.0)
        sd = np.sqrt((pa * (1 - pa) + pb * (1 - pb)) / 2)
        return float(abs(pa - pb) / sd) if sd > 0 else 0.0
    sd = np.sqrt((x.var() + y.var()) / 2)
    return float(abs(x.mean() - y.mean()) / sd) if sd > 0 else 0.0


def baseline_table(trial: Trial) -> pd.DataFrame:
    """Baseline characteristics by arm: mean (SD) or n (%), with the largest pairwise SMD.

    Rows: women, age, BMI, BMI > 28, chair stand, chair stand <= 11, knee-extensor MVC, usable
    baseline MRI. Columns: one per arm, ``Overall`` and ``Max SMD`` (largest absolute
    standardized mean difference between two arms; < 0.1 is commonly read as balanced).
    """
    base = trial.visits[trial.visits["month"] == 0][["participant_id", "knee_extensor_mvc_nm", "mri_usable", "mean_fd_mm"]]
    d = trial.participants.merge(base, on="participant_id")
    d["female"] = d["sex"] == "F"
    d["bmi_over_28"] = d["bmi"] > 28
    d["chair_stand_le_11"] = d["chair_stand_30s"] <= 11
    rows = [("Women, n (%)", "female", True), ("Age, y", "age", False), ("BMI, kg/m²", "bmi", False),
            ("BMI > 28, n (%)", "bmi_over_28", True), ("30-s chair stand, count", "chair_stand_30s", False),
            ("Chair stand ≤ 11, n (%)", "chair_stand_le_11", True),
            ("Knee-extensor MVC, Nm", "knee_extensor_mvc_nm", False),
            ("Usable baseline rs-fMRI, n (%)", "mri_usable", True)]
    groups = {arm: d[d["arm"] == arm] for arm in ARMS}
    groups["Overall"] = d
    out = []
    for label, col, categorical in rows:
        entry = {"Characteristic": label}
        for name, g in groups.items():
            s = g[col]
            if categorical:
                entry[name] = f"{int(s.sum())} ({100 * s.mean():.1f}%)"
            else:
                entry[name] = f"{s.mean():.1f} ({s.std():.1f})"
        smds = [_smd(groups[a][col].astype(float), groups[b][col].astype(float), categorical)
                for i, a in enumerate(ARMS) for b in ARMS[i + 1:]]
        entry["Max SMD"] = f"{max(smds):.3f}"
        out.append(entry)
    header = {"Characteristic": "n", **{k: str(len(g)) for k, g in groups.items()}, "Max SMD": ""}
    return pd.DataFrame([header, *out]).set_index("Characteristic")


def visit_summary(trial: Trial) -> pd.DataFrame:
    """Per arm and month: attended n (%), training adherence, self-training, usable MRI, mean FD."""
    v = trial.visits.merge(trial.participants[["participant_id", "arm"]], on="participant_id")
    rows = []
    for (arm, month), g in v.groupby(["arm", "month"], sort=False):
        att = g[g["attended"]]
        adh = g["adherence_sessions_per_week"].dropna()
        st = g["self_training"].dropna()
        rows.append({
            "arm": arm, "month": int(month), "randomised": len(g), "attended": int(g["attended"].sum()),
            "attended_pct": 100 * g["attended"].mean(),
            "adherence_mean": adh.mean() if len(adh) else np.nan,
            "adherence_ge2_pct": 100 * (adh >= 2).mean() if len(adh) else np.nan,
            "self_training_n": int(st.sum()) if len(st) else np.nan,
            "mri_usable": int(g["mri_usable"].sum()),
            "mri_usable_pct_of_attended": 100 * g["mri_usable"].sum() / max(len(att), 1),
            "mean_fd_mm_median": g.loc[g["mri_usable"], "mean_fd_mm"].median(),
        })
    out = pd.DataFrame(rows)
    out["arm"] = pd.Categorical(out["arm"], ARMS)
    return out.sort_values(["arm", "month"]).reset_index(drop=True).astype({"arm": str})


def strength_summary(trial: Trial) -> pd.DataFrame:
    """Knee-extensor MVC per arm and month: n, mean, SD, and mean % change from baseline (attenders)."""
    v = trial.visits.merge(trial.participants[["participant_id", "arm"]], on="participant_id")
    base = v[v["month"] == 0].set_index("participant_id")["knee_extensor_mvc_nm"]
    v["pct_change"] = 100 * (v["knee_extensor_mvc_nm"] / v["participant_id"].map(base) - 1)
    out = (v.dropna(subset=["knee_extensor_mvc_nm"]).groupby(["arm", "month"])
           .agg(n=("knee_extensor_mvc_nm", "size"), mvc_mean=("knee_extensor_mvc_nm", "mean"),
                mvc_sd=("knee_extensor_mvc_nm", "std"), pct_change_mean=("pct_change", "mean"))
           .reset_index())
    out["arm"] = pd.Categorical(out["arm"], ARMS)
    return out.sort_values(["arm", "month"]).reset_index(drop=True).astype({"arm": str})


def missingness_patterns(trial: Trial, column: str = "attended") -> pd.DataFrame:
    """How many people per arm show each pattern of ``column`` over months 0/12/24 (aggregate).

    Parameters
    ----------
    trial : Trial
    column : str
        A boolean column of ``visits``: ``"attended"`` or ``"mri_usable"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``pattern`` (e.g. ``"0 12 -"``: months present, ``-`` for missing), ``arm``, ``n``;
        sorted from the most to the least common pattern.
    """
    if column not in ("attended", "mri_usable"):
        raise ValueError(f"column must be 'attended' or 'mri_usable', got {column!r}")
    wide = trial.visits.pivot(index="participant_id", columns="month", values=column)[list(MONTHS)]
    pattern = wide.apply(lambda r: " ".join(str(m) if r[m] else "-" for m in MONTHS), axis=1)
    arm = trial.participants.set_index("participant_id")["arm"].reindex(wide.index)
    out = pd.DataFrame({"pattern": pattern, "arm": arm}).groupby(["pattern", "arm"]).size().rename("n").reset_index()
    order = out.groupby("pattern")["n"].sum().sort_values(ascending=False).index
    out["pattern"] = pd.Categorical(out["pattern"], order)
    out["arm"] = pd.Categorical(out["arm"], ARMS)
    full = (out.set_index(["pattern", "arm"])["n"]
            .reindex(pd.MultiIndex.from_product([order, ARMS], names=["pattern", "arm"]), fill_value=0))
    return full.reset_index().astype({"pattern": str, "arm": str})
