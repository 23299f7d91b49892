"""Descriptive tables of a trial: CONSORT flow, baseline characteristics, visits, strength, missingness.

Every table follows the trial's design (``trial.design``: its arms in order, its visits), and a
column the data contract calls optional (``knee_extensor_mvc_nm``,
``adherence_sessions_per_week``, ``self_training``, ``bmi``, ``chair_stand_30s``, ``stratum``,
``mri_acquired``, ``mean_fd_mm``) may be absent: the table then leaves it out (or comes back
empty with its usual columns) instead of failing.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from tableone import TableOne

from analysis.trial.core import Trial
from analysis.trial.design import TrialDesign

__all__ = [
    "BASELINE_CHARACTERISTICS", "MISSING_MARK", "ALL_ARMS", "arm_visits", "flow_counts", "baseline_data",
    "baseline_table", "baseline_display", "baseline_smd", "visit_summary", "strength_summary",
    "strength_change_by_self_training", "missingness_patterns", "pattern_label",
]

#: Label of the all-arms rows of :func:`flow_counts`.
ALL_ARMS = "All"
#: Marks a missing visit in a pattern of :func:`missingness_patterns`.
MISSING_MARK = "-"
#: Strength column of ``visits`` (optional in the data contract).
MVC = "knee_extensor_mvc_nm"

#: Candidate rows of Table 1: (table, column) -> (label, categorical). Only the columns present in
#: the data are used; ``"baseline"`` means the baseline visit's row of ``visits``.
BASELINE_CHARACTERISTICS: dict[tuple[str, str], tuple[str, bool]] = {
    ("participants", "sex"): ("Sex", True),
    ("participants", "age"): ("Age, y", False),
    ("participants", "bmi"): ("BMI, kg/m²", False),
    ("participants", "chair_stand_30s"): ("30-s chair stand, count", False),
    ("participants", "stratum"): ("Randomisation stratum", True),
    ("baseline", MVC): ("Knee-extensor MVC, Nm", False),
    ("baseline", "mri_usable"): ("Usable baseline rs-fMRI", True),
}


def _design(trial: Trial) -> TrialDesign:
    return trial.design


def arm_visits(trial: Trial) -> pd.DataFrame:
    """``trial.visits`` with each person's ``arm`` (ordered categorical in design order)."""
    labels = _design(trial).labels
    v = trial.visits.merge(trial.participants[["participant_id", "arm"]], on="participant_id")
    v["arm"] = pd.Categorical(v["arm"], labels)
    return v


def _arm_order(frame: pd.DataFrame, labels: list[str], *, by: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    frame["arm"] = pd.Categorical(frame["arm"].astype(str), labels)
    return frame.sort_values(by).reset_index(drop=True).astype({"arm": str})


# --------------------------------------------------------------------------------------------
# CONSORT flow
# --------------------------------------------------------------------------------------------
def flow_counts(trial: Trial) -> pd.DataFrame:
    """CONSORT flow per arm and visit: randomised, attended, MRI acquired, usable MRI.

    Returns
    -------
    pandas.DataFrame
        Columns ``arm`` (the design's labels in order, then ``"All"``), ``month`` (the design's
        visits), ``randomised``, ``attended``, ``mri_acquired`` (only when recorded) and
        ``mri_usable``; one row per arm x visit.
    """
    design = _design(trial)
    v = arm_visits(trial)
    agg = {"randomised": ("participant_id", "size"), "attended": ("attended", "sum")}
    if "mri_acquired" in v.columns:
        agg["mri_acquired"] = ("mri_acquired", "sum")
    agg["mri_usable"] = ("mri_usable", "sum")
    by_arm = v.groupby(["arm", "month"], observed=False).agg(**agg).reset_index()
    total = v.groupby("month").agg(**agg).reset_index().assign(arm=ALL_ARMS)
    out = pd.concat([by_arm.astype({"arm": str}), total], ignore_index=True)
    out = out[out["month"].isin(design.visits)]
    out = _arm_order(out, [*design.labels, ALL_ARMS], by=["arm", "month"])
    return out[["arm", "month", *agg]].astype({name: int for name in agg})


# --------------------------------------------------------------------------------------------
# Table 1 (tableone)
# --------------------------------------------------------------------------------------------
def baseline_data(trial: Trial) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """One row per randomised person with the baseline characteristics present in the data.

    Returns
    -------
    data : pandas.DataFrame
        ``arm`` and one column per characteristic of :data:`BASELINE_CHARACTERISTICS` present in
        ``participants`` or in the baseline visit's rows of ``visits``.
    labels : dict
        Column -> row label of Table 1.
    categorical : list of str
        The categorical columns.
    """
    design = _design(trial)
    base = trial.visits[trial.visits["month"] == design.baseline]
    data = trial.participants[["participant_id", "arm"]]
    labels, categorical = {}, []
    for (source, column), (label, is_categorical) in BASELINE_CHARACTERISTICS.items():
        table = trial.participants if source == "participants" else base
        if column not in table.columns or column in data.columns:
            continue
        data = data.merge(table[["participant_id", column]], on="participant_id", how="left")
        labels[column] = label
        if is_categorical:
            categorical.append(column)
    data = data.drop(columns="participant_id")
    for column in categorical:
        if pd.api.types.is_bool_dtype(data[column]):
            data[column] = data[column].map({True: "yes", False: "no"})
    return data, labels, categorical


def baseline_table(trial: Trial, *, decimals: int = 1) -> TableOne:
    """Table 1 built with :mod:`tableone`: characteristics by arm, with pairwise SMDs.

    Grouped by arm in design order, with an ``Overall`` column; continuous characteristics as
    mean (SD), categorical ones as n (%), and the standardized mean difference (SMD) of every
    pair of arms (|SMD| < 0.1 is commonly read as balanced). Only the characteristics present in
    the data appear (:func:`baseline_data`); a ``Missing`` column appears when any is missing.

    Returns
    -------
    tableone.TableOne
        Display ``.tableone`` (or :func:`baseline_display`); numbers are in ``.cont_describe``,
        ``.cat_describe`` and ``.smd_table`` (see :func:`baseline_smd`).
    """
    design = _design(trial)
    data, labels, categorical = baseline_data(trial)
    columns = list(labels)
    order = {"arm": design.labels, **{c: ["yes", "no"] for c in categorical if set(data[c].dropna()) <= {"yes", "no"}}}
    limit = {c: 1 for c in order if c != "arm"}
    with warnings.catch_warnings():  # tableone warns about normality and such; the table shows no tests
        warnings.simplefilter("ignore")
        return TableOne(data, columns=columns, categorical=categorical, groupby="arm", order=order,
                        limit=limit or None, rename=labels, smd=True, pval=False,
                        missing=bool(data[columns].isna().to_numpy().any()), decimals=decimals)


def baseline_display(table: TableOne) -> pd.DataFrame:
    """The tableone table flattened for :func:`analysis.report.table`: one header row, text cells."""
    shown = table.tableone.copy()
    shown.columns = [c[-1] if isinstance(c, tuple) else c for c in shown.columns]
    shown.index = shown.index.set_names(["Characteristic", "Level"])
    return shown


def baseline_smd(table: TableOne) -> pd.DataFrame:
    """Every pairwise SMD of Table 1 as numbers.

    Returns
    -------
    pandas.DataFrame
        ``characteristic`` (the column), ``label`` (its row label in Table 1), ``arm``, ``other``, ``smd`` (signed as tableone gives
        it) and ``abs_smd``, sorted by decreasing ``abs_smd``.
    """
    smd = table.smd_table.copy()
    smd.index.name = "characteristic"
    long = smd.reset_index().melt(id_vars="characteristic", var_name="pair", value_name="smd")
    pair = long["pair"].str.extract(r"^SMD \((?P<arm>.+),(?P<other>.+)\)$")
    long = pd.concat([long[["characteristic"]], pair, long[["smd"]]], axis=1)
    long["smd"] = long["smd"].astype(float)
    long["abs_smd"] = long["smd"].abs()
    labels = {column: label for (_, column), (label, _) in BASELINE_CHARACTERISTICS.items()}
    long.insert(1, "label", long["characteristic"].map(labels).fillna(long["characteristic"]))
    return long.sort_values("abs_smd", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# visits, strength, missingness
# --------------------------------------------------------------------------------------------
def _mean_or_nan(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else np.nan


def visit_summary(trial: Trial, *, min_sessions: float = 2.0) -> pd.DataFrame:
    """Per arm and visit: attendance, training adherence, self-training, usable MRI, head motion.

    Parameters
    ----------
    min_sessions : float
        Adherence threshold (sessions per week) of ``adherence_ge2_pct``-style shares.

    Returns
    -------
    pandas.DataFrame
        ``arm``, ``month``, ``randomised``, ``attended``, ``attended_pct``, then when recorded
        ``adherence_mean``, ``adherence_ge_pct`` (share with at least ``min_sessions``),
        ``self_training_n``, and ``mri_usable``, ``mri_usable_pct_of_attended``,
        ``mean_fd_mm_median`` (usable scans). NaN where a quantity does not apply.
    """
    v = arm_visits(trial)
    has = set(v.columns)
    v["usable_fd"] = v["mean_fd_mm"].where(v["mri_usable"]) if "mean_fd_mm" in has else np.nan
    if "adherence_sessions_per_week" in has:
        adherence = v["adherence_sessions_per_week"]
        v["adherence_ge"] = (adherence >= min_sessions).where(adherence.notna())
    agg = {"randomised": ("participant_id", "size"), "attended": ("attended", "sum"),
           "attended_pct": ("attended", "mean")}
    if "adherence_sessions_per_week" in has:
        agg["adherence_mean"] = ("adherence_sessions_per_week", "mean")
        agg["adherence_ge_pct"] = ("adherence_ge", "mean")
    if "self_training" in has:
        v["self_training_float"] = v["self_training"].astype("Float64").astype(float)
        agg["self_training_n"] = ("self_training_float", "sum")
        agg["self_training_seen"] = ("self_training_float", "count")
    agg["mri_usable"] = ("mri_usable", "sum")
    agg["mean_fd_mm_median"] = ("usable_fd", "median")
    out = v.groupby(["arm", "month"], observed=False).agg(**agg).reset_index()
    out["attended_pct"] *= 100
    if "adherence_ge_pct" in out:
        out["adherence_ge_pct"] = 100 * out["adherence_ge_pct"].astype(float)
    if "self_training_n" in out:
        out["self_training_n"] = out["self_training_n"].where(out.pop("self_training_seen") > 0)
    out["mri_usable_pct_of_attended"] = 100 * out["mri_usable"] / out["attended"].clip(lower=1)
    order = ["arm", "month", "randomised", "attended", "attended_pct", "adherence_mean", "adherence_ge_pct",
             "self_training_n", "mri_usable", "mri_usable_pct_of_attended", "mean_fd_mm_median"]
    out = _arm_order(out, _design(trial).labels, by=["arm", "month"])
    return out[[c for c in order if c in out.columns]]


def _pct_change_from_baseline(v: pd.DataFrame, baseline: int) -> pd.Series:
    base = v[v["month"] == baseline].set_index("participant_id")[MVC]
    return 100 * (v[MVC] / v["participant_id"].map(base) - 1)


def strength_summary(trial: Trial) -> pd.DataFrame:
    """Knee-extensor MVC per arm and visit among those measured: n, mean, SD, mean % change.

    ``pct_change_mean`` is the mean of each person's change from their own baseline, with its
    t-based 95% confidence interval (``pct_change_ci_low``, ``pct_change_ci_high``; at the
    baseline the change is 0 with a zero-width interval). Without a
    ``knee_extensor_mvc_nm`` column the frame is empty (same columns).
    """
    columns = ["arm", "month", "n", "mvc_mean", "mvc_sd", "pct_change_mean", "pct_change_ci_low",
               "pct_change_ci_high"]
    if MVC not in trial.visits.columns:
        return pd.DataFrame({c: pd.Series(dtype=str if c == "arm" else float) for c in columns})
    v = arm_visits(trial)
    v["pct_change"] = _pct_change_from_baseline(v, _design(trial).baseline)
    out = (v.dropna(subset=[MVC]).groupby(["arm", "month"], observed=True)
           .agg(n=(MVC, "size"), mvc_mean=(MVC, "mean"), mvc_sd=(MVC, "std"), pct_change_mean=("pct_change", "mean"),
                pct_change_sd=("pct_change", "std"), n_change=("pct_change", "count"))
           .reset_index())
    half = stats.t.ppf(0.975, (out["n_change"] - 1).clip(lower=1)) * out["pct_change_sd"] / np.sqrt(out["n_change"])
    out["pct_change_ci_low"] = out["pct_change_mean"] - half
    out["pct_change_ci_high"] = out["pct_change_mean"] + half
    return _arm_order(out, _design(trial).labels, by=["arm", "month"])[columns]


def strength_change_by_self_training(trial: Trial) -> pd.DataFrame:
    """Mean % MVC change from the primary visit to the first follow-up, by self-training.

    Self-training (``self_training``) is recorded at the first follow-up visit for trainees.

    Returns
    -------
    pandas.DataFrame
        Index ``kept_training`` (True, False), columns ``n`` and ``pct_change_mean``, plus
        attributes ``start`` and ``end`` (months). Empty when the design has no follow-up visit or
        the data lack ``knee_extensor_mvc_nm`` or ``self_training``.
    """
    design = _design(trial)
    empty = pd.DataFrame({"n": pd.Series(dtype=int), "pct_change_mean": pd.Series(dtype=float)},
                         index=pd.Index([], name="kept_training", dtype=bool))
    if not design.followup_visits or not {MVC, "self_training"} <= set(trial.visits.columns):
        return empty
    start, end = design.primary_visit, design.followup_visits[0]
    wide = trial.visits.pivot(index="participant_id", columns="month")
    kept = wide[("self_training", end)].dropna().astype(bool)
    change = (100 * (wide[(MVC, end)] / wide[(MVC, start)] - 1))[kept.index]
    out = (pd.DataFrame({"kept_training": kept, "change": change})
           .groupby("kept_training").agg(n=("change", "count"), pct_change_mean=("change", "mean"))
           .reindex([True, False]))
    out["n"] = out["n"].fillna(0).astype(int)
    out.attrs.update(start=start, end=end)
    return out


def pattern_label(present: pd.DataFrame) -> pd.Series:
    """Pattern of each row of a person x visit boolean frame: months present, ``-`` for missing."""
    months = np.asarray(present.columns).astype(str)
    marks = np.where(present.to_numpy(dtype=bool), months[None, :], MISSING_MARK)
    return pd.Series([" ".join(row) for row in marks], index=present.index)


def missingness_patterns(trial: Trial, column: str = "attended") -> pd.DataFrame:
    """How many people per arm show each pattern of ``column`` over the design's visits (aggregate).

    Parameters
    ----------
    trial : Trial
    column : str
        A boolean column of ``visits``: ``"attended"`` or ``"mri_usable"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``pattern`` (e.g. ``"0 12 -"``: months present, ``-`` for missing), ``arm``, ``n``;
        patterns from the most to the least common, arms in design order.
    """
    if column not in ("attended", "mri_usable"):
        raise ValueError(f"column must be 'attended' or 'mri_usable', got {column!r}")
    design = _design(trial)
    wide = (trial.visits.pivot(index="participant_id", columns="month", values=column)
            .reindex(columns=list(design.visits)).fillna(False).astype(bool))
    arm = trial.participants.set_index("participant_id")["arm"].reindex(wide.index)
    out = pd.DataFrame({"pattern": pattern_label(wide), "arm": arm}).groupby(["pattern", "arm"]).size()
    order = out.groupby(level="pattern").sum().sort_values(ascending=False, kind="stable").index
    full = out.reindex(pd.MultiIndex.from_product([order, design.labels], names=["pattern", "arm"]), fill_value=0)
    return full.rename("n").reset_index().astype({"pattern": str, "arm": str, "n": int})
