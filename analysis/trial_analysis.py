"""The trial analyses of the book: arm comparisons, persistence and strength, as functions.

Every notebook of the trial part (arm comparisons, follow-up, strength) starts from
:func:`analysis_table`, the long table of the trial (one row per person x visit) joined with the
clock's brain-age output, and calls the functions below; the statistics themselves live in
:mod:`analysis.stats`.

The primary model (:func:`arm_model`) is a linear mixed model of the brain age gap on
arm x visit, adjusted for age at the visit, sex and head motion (mean framewise displacement),
with a random intercept per person, fitted by REML on every available scan (intention to
treat; people with missing follow-up scans contribute their other scans, which is valid under
missing at random). The arm effect at a visit (:func:`arm_effects`) is the difference between
two arms in the model-estimated change of the gap from baseline to that visit (arm x visit
interaction), the estimand of the simulator's ``effect_<month>m_<arm>`` assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import report, simstudy, stats
from analysis._paths import TRIAL_DIR_ENV, env_path
from analysis.clock import TrialBrainAge, apply_clock, require_clock_source
from analysis.trial import ARMS, load_default_trial

__all__ = [
    "TrialAnalysisData",
    "load_trial_analysis",
    "effect_key",
    "self_training_effect",
    "true_self_training_effect",
    "strength_truth",
    "PAIRS",
    "GAP_COLUMNS",
    "analysis_table",
    "arm_formula",
    "arm_model",
    "arm_effects",
    "change_effects",
    "marginal_means",
    "observed_means",
    "ancova_at",
    "sensitivity_analyses",
    "true_effects",
    "clock_scale_factor",
    "change_table",
    "strength_correlations",
    "strength_interaction",
]

#: Comparisons reported at each visit, as (arm, reference).
PAIRS = (("HRT", "CON"), ("MIT", "CON"), ("HRT", "MIT"))
#: Bias correction -> column of :func:`analysis.clock.trial_brain_age`.
GAP_COLUMNS = {"beheshti": "gap_beheshti", "cole": "gap_cole", "smith": "gap_smith", "none": "gap_none"}
DEFAULT_COVARIATES = ("age", "C(sex)", "mean_fd_mm")


# --- the analysis table --------------------------------------------------------------------


@dataclass(frozen=True)
class TrialAnalysisData:
    """What every trial-analysis page starts from.

    Attributes
    ----------
    trial : analysis.trial.Trial
        The trial (synthetic by default, real when ``BRAINCLOCK_TRIAL_DIR`` is set); its
        ``design`` gives arms, control and visits.
    brain_age : DataFrame
        The clock's output per usable scan (:func:`analysis.clock.trial_brain_age`).
    table : DataFrame
        :func:`analysis_table` of the two.
    clock_result : analysis.clock.TrialBrainAge
        The fitted clock with its source and training cohort (:func:`analysis.clock.apply_clock`).
    """

    trial: Any
    brain_age: pd.DataFrame
    table: pd.DataFrame
    clock_result: TrialBrainAge | None = None

    @property
    def synthetic(self) -> bool:
        """True when the trial is simulated (its truth is known)."""
        return getattr(self.trial, "truth", None) is not None

    @property
    def design(self):
        """The trial's design (``trial.json``): arms, control, visits, primary and follow-up visits."""
        return self.trial.design

    @property
    def clock(self):
        """The fitted :class:`~analysis.clock.BrainAgeClock`; ``clock.correction_`` holds the
        bias-correction coefficients the gap columns were computed with (use them; never
        re-derive them from the table)."""
        return None if self.clock_result is None else self.clock_result.clock

    @property
    def clock_kind(self) -> str | None:
        """``"synthetic"``, ``"real"`` or ``"saved"``: where the clock came from."""
        return None if self.clock_result is None else self.clock_result.clock_kind

    @property
    def clock_description(self) -> str | None:
        """One sentence: model, training data kind, n, age range, sites (and a refitted correction)."""
        return None if self.clock_result is None else self.clock_result.description

    @property
    def clock_label(self):
        """What the banner says about the clock: ``report.data_banner(kind, clock=data.clock_label)``."""
        return None if self.clock_result is None else self.clock_result.label

    def scale_factor(self, scale: str = "beheshti") -> float | None:
        """Latent-to-clock effect factor on ``scale`` (``None`` for real data)."""
        if not self.synthetic:
            return None
        return clock_scale_factor(self.trial, self.brain_age, "beheshti" if scale == "smith" else scale)


def load_trial_analysis(seed: int = 0, *, bias_correction: str = "beheshti",
                        correction_ages: tuple[float, float] | None = None) -> TrialAnalysisData:
    """Load the default trial, apply the book's clock and build the analysis table.

    The clock comes from ``BRAINCLOCK_CLOCK`` (a saved clock), else ``BRAINCLOCK_REFERENCE_DIR``
    (trained on that reference cohort), else the synthetic reference cohort -- for the
    synthetic trial only: real trial data without either stop with an error naming both (see
    :func:`analysis.clock.apply_clock`).

    Parameters
    ----------
    seed : int
        Seed of the synthetic trial and the clock (ignored for real trial data, except the clock).
    bias_correction : str
        Correction copied into ``brain_age_gap`` (see :func:`analysis.clock.trial_brain_age`).
    correction_ages : (float, float), optional
        Refit the bias correction on the reference people of this age range only.
    """
    require_clock_source("real" if env_path(TRIAL_DIR_ENV) is not None else "synthetic")  # before reading
    trial = load_default_trial(seed=seed)
    result = apply_clock(trial, bias_correction=bias_correction, correction_ages=correction_ages, seed=seed)
    return TrialAnalysisData(trial=trial, brain_age=result.table, table=analysis_table(trial, result.table),
                             clock_result=result)


def effect_key(prefix: str, comparison: str, month: int | None = None, suffix: str = "") -> str:
    """Results-registry key of a comparison, e.g. ``("arms", "HRT - CON", 12) -> "arms.hrt_vs_con_12m"``."""
    name = comparison.lower().replace(" - ", "_vs_").replace(" ", "_")
    key = f"{prefix}.{suffix}{name}" + (f"_{month}m" if month is not None else "")
    return key


def record_effects(effects: pd.DataFrame, prefix: str, month: int, what: str) -> None:
    """Register each arm contrast of ``effects`` (from :func:`arm_effects`) with its FDR p.

    Keys are ``<prefix>.<a>_vs_<b>_<month>m`` (estimate in years with its 95% CI) and
    ``<prefix>.p_fdr_<a>_vs_<b>_<month>m``; with the columns of
    :func:`analysis.stats.standardize_effects` also ``<prefix>.std_...`` (in baseline-gap SDs).
    ``what`` completes the description, e.g. "difference in 12-month change of the brain age gap".
    """
    for row in effects.itertuples():
        report.record(effect_key(prefix, row.comparison, month), row.estimate, ci=(row.ci_low, row.ci_high),
                      unit="y", description=f"{row.comparison}: {what}")
        report.record(effect_key(prefix, row.comparison, month, suffix="p_fdr_"), row.p_fdr, decimals=3,
                      description=f"{row.comparison} at {month} months: FDR-adjusted p")
        if "estimate_sd" in effects.columns:
            report.record(effect_key(prefix, row.comparison, month, suffix="std_"), row.estimate_sd,
                          ci=(row.ci_low_sd, row.ci_high_sd), unit="SD",
                          description=f"{row.comparison} at {month} months in baseline-gap SDs")


def analysis_table(trial: Any, brain_age: pd.DataFrame, *, min_adherence: float = 2.0) -> pd.DataFrame:
    """One row per randomised person x visit month, with the brain-age columns of usable scans.

    Parameters
    ----------
    trial : analysis.trial.Trial
        The trial (``participants``, ``visits``).
    brain_age : DataFrame
        Output of :func:`analysis.clock.trial_brain_age` (one row per usable scan).
    min_adherence : float
        Sessions per week (month-12 adherence) a trainee needs to count as per protocol.

    Returns
    -------
    DataFrame
        ``participant_id, arm, sex, baseline_age, month, attended, age, mean_fd_mm,
        knee_extensor_mvc_nm, adherence, per_protocol, self_training`` and the brain-age columns
        (missing where the visit has no usable scan), plus ``baseline_gap`` (the person's
        ``brain_age_gap`` at month 0) and ``has_scan``. ``adherence`` and ``self_training`` are
        person-level (from months 12 and 24); ``per_protocol`` is True for every control and for
        trainees with ``adherence >= min_adherence``.
    """
    people = trial.participants[["participant_id", "arm", "sex", "age"]].rename(columns={"age": "baseline_age"})
    visits = trial.visits
    keep = ["participant_id", "month", "attended", "age", "mean_fd_mm", "knee_extensor_mvc_nm"]
    table = visits[keep].merge(people, on="participant_id", how="left", validate="many_to_one")
    person_level = (
        visits.loc[visits["month"] == 12, ["participant_id", "adherence_sessions_per_week"]]
        .rename(columns={"adherence_sessions_per_week": "adherence"})
        .merge(
            visits.loc[visits["month"] == 24, ["participant_id", "self_training"]],
            on="participant_id",
            how="outer",
        )
    )
    table = table.merge(person_level, on="participant_id", how="left", validate="many_to_one")
    table["self_training"] = table["self_training"].astype("boolean")
    table["per_protocol"] = (table["arm"] == "CON") | (table["adherence"].fillna(0) >= min_adherence)
    gap_cols = [c for c in brain_age.columns if c not in ("participant_id", "month", "age")]
    missing = {"participant_id", "month", "brain_age_gap"} - set(brain_age.columns)
    if missing:
        raise ValueError(f"brain_age lacks column(s) {sorted(missing)}; pass analysis.clock.trial_brain_age(...)")
    table = table.merge(
        brain_age[["participant_id", "month", *gap_cols]], on=["participant_id", "month"], how="left",
        validate="one_to_one",
    )
    table["has_scan"] = table["brain_age_gap"].notna()
    baseline = table.loc[table["month"] == 0].set_index("participant_id")["brain_age_gap"]
    table["baseline_gap"] = table["participant_id"].map(baseline)
    order = ["participant_id", "arm", "sex", "baseline_age", "month", "attended", "age", "mean_fd_mm",
             "knee_extensor_mvc_nm", "adherence", "per_protocol", "self_training", "has_scan",
             "baseline_gap", *gap_cols]
    return table[order].sort_values(["participant_id", "month"]).reset_index(drop=True)


# --- the primary model ---------------------------------------------------------------------


def arm_formula(outcome: str = "brain_age_gap", covariates: Sequence[str] = DEFAULT_COVARIATES,
                reference: str = "CON") -> str:
    """Formula of the arm x visit model (treatment coding, ``reference`` arm, month 0)."""
    rhs = [f"C(arm, Treatment({reference!r})) * C(month)", *covariates]
    return f"{outcome} ~ " + " + ".join(rhs)


def arm_model(
    table: pd.DataFrame,
    outcome: str = "brain_age_gap",
    *,
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    reference: str = "CON",
    reml: bool = True,
) -> stats.MixedModelResult:
    """Fit the arm x visit linear mixed model with a random intercept per person.

    Parameters
    ----------
    table : DataFrame
        :func:`analysis_table` (or a subset of its rows, e.g. per protocol).
    outcome : str
        Gap column (``brain_age_gap``, ``gap_cole``, ``gap_none``, ...).
    covariates : sequence of str
        Formula terms added to ``arm * visit``.
    reference : str
        Reference arm.
    reml : bool
        REML (default) or ML.
    """
    if outcome not in table.columns:
        raise KeyError(f"outcome={outcome!r} is not a column of table")
    return stats.mixed_model(table, arm_formula(outcome, covariates, reference), "participant_id", reml=reml)


def _change_weights(result: stats.MixedModelResult, arm: str, start: int, end: int) -> pd.Series:
    """Contrast weights of an arm's model-estimated change from month ``start`` to ``end``."""
    X = stats.design_rows(result, _setting_rows(result, [(arm, end), (arm, start)]))
    return (X.iloc[0] - X.iloc[1]).reindex(result.params.index).fillna(0.0)


def _setting_rows(result: stats.MixedModelResult, settings: Sequence[tuple[str, int]]) -> pd.DataFrame:
    """Rows of the model data at given (arm, month), other variables at their mean / mode."""
    frame = result.result.model.data.frame
    base = {}
    for col in frame.columns:
        s = frame[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        base[col] = float(s.mean()) if numeric else s.mode().iloc[0]
    rows = pd.DataFrame([{**base, "arm": a, "month": m} for a, m in settings])
    rows["month"] = rows["month"].astype(frame["month"].dtype)
    return rows


def change_effects(
    result: stats.MixedModelResult,
    contrasts: dict[str, list[tuple[float, str, int, int]]],
) -> pd.DataFrame:
    """Linear combinations of model-estimated changes, e.g. differences in change between arms.

    Parameters
    ----------
    result : MixedModelResult
        A fit of :func:`arm_model`.
    contrasts : dict
        ``{name: [(weight, arm, start_month, end_month), ...]}``; e.g. the HRT vs CON effect at
        12 months is ``[(1, "HRT", 0, 12), (-1, "CON", 0, 12)]``.

    Returns
    -------
    DataFrame
        Indexed by name: ``estimate, se, ci_low, ci_high, p``.
    """
    L = {}
    for name, parts in contrasts.items():
        w = sum(weight * _change_weights(result, arm, s, e) for weight, arm, s, e in parts)
        L[name] = w.to_dict()
    return stats.contrast(result, L)


def arm_effects(
    result: stats.MixedModelResult,
    month: int,
    *,
    baseline_month: int = 0,
    pairs: Sequence[tuple[str, str]] = PAIRS,
) -> pd.DataFrame:
    """Arm differences in change of the outcome from baseline to ``month``, with FDR-adjusted p.

    Returns
    -------
    DataFrame
        One row per pair: ``comparison, month, estimate, se, ci_low, ci_high, p, p_fdr``
        (Benjamini-Hochberg over the pairs given).
    """
    contrasts = {
        f"{a} - {b}": [(1.0, a, baseline_month, month), (-1.0, b, baseline_month, month)] for a, b in pairs
    }
    out = change_effects(result, contrasts)
    out["p_fdr"] = stats.fdr_bh(out["p"].to_numpy())
    out.insert(0, "month", int(month))
    out = out.reset_index().rename(columns={"contrast": "comparison"})
    return out


def marginal_means(result: stats.MixedModelResult, months: Sequence[int] = (0, 12, 24),
                   arms: Sequence[str] = ARMS) -> pd.DataFrame:
    """Model-estimated mean outcome per arm and month (covariates at their sample mean / mode).

    Returns
    -------
    DataFrame
        ``arm, month, estimate, se, ci_low, ci_high``.
    """
    settings = [(a, m) for a in arms for m in months]
    X = stats.design_rows(result, _setting_rows(result, settings)).reindex(columns=result.params.index)
    L = pd.DataFrame(X.to_numpy(), columns=result.params.index, index=[f"{a}|{m}" for a, m in settings])
    out = stats.contrast(result, L).drop(columns="p")
    out.insert(0, "month", [m for _, m in settings])
    out.insert(0, "arm", [a for a, _ in settings])
    return out.reset_index(drop=True)


def observed_means(table: pd.DataFrame, outcome: str = "brain_age_gap", *, group: str = "arm") -> pd.DataFrame:
    """Observed mean of ``outcome`` per group and month with a t-based 95% CI and n."""
    d = table.dropna(subset=[outcome])
    g = d.groupby([group, "month"])[outcome]
    out = g.agg(["mean", "std", "count"]).reset_index().rename(columns={"count": "n"})
    half = sps.t.ppf(0.975, np.maximum(out["n"] - 1, 1)) * out["std"] / np.sqrt(out["n"])
    out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
    return out


def ancova_at(table: pd.DataFrame, month: int, outcome: str = "brain_age_gap",
              covariates: Sequence[str] = ("age", "sex", "mean_fd_mm")) -> pd.DataFrame:
    """ANCOVA of ``outcome`` at ``month`` adjusted for its baseline value and covariates.

    Uses people with a usable scan at both baseline and ``month`` (covariates at ``month``).
    """
    base = table.loc[table["month"] == 0, ["participant_id", outcome]].rename(columns={outcome: "baseline_value"})
    wide = table.loc[table["month"] == month].merge(base, on="participant_id", how="left")
    out = stats.ancova(wide, outcome, "arm", "baseline_value", list(covariates), reference="CON",
                       pairs=list(PAIRS))
    out.insert(0, "month", int(month))
    return out.reset_index().rename(columns={"contrast": "comparison"})


def self_training_effect(table: pd.DataFrame, outcome: str = "brain_age_gap", *, start: int = 12,
                         end: int = 24) -> pd.DataFrame:
    """Difference in change from ``start`` to ``end`` between trainees who kept training and those who stopped.

    Trainees of both training arms with a known ``self_training`` status; mixed model
    ``outcome ~ C(month) * self_training + arm + age + sex + mean_fd_mm`` with a random
    intercept. Self-training was not randomised: the estimate is an association.

    Returns
    -------
    DataFrame
        One row: ``estimate, se, ci_low, ci_high, p, n_people_kept, n_people_stopped``.
    """
    d = table[(table["arm"] != "CON") & table["month"].isin([start, end]) & table["self_training"].notna()].copy()
    d["kept_training"] = d["self_training"].astype(bool).astype(int)
    formula = f"{outcome} ~ C(month) * kept_training + C(arm) + age + C(sex) + mean_fd_mm"
    fit = stats.mixed_model(d, formula, "participant_id")
    out = stats.contrast(fit, {"kept - stopped": {f"C(month)[T.{end}]:kept_training": 1.0}})
    used = d.dropna(subset=[outcome]).drop_duplicates("participant_id")
    out["n_people_kept"] = int(used["kept_training"].sum())
    out["n_people_stopped"] = int((1 - used["kept_training"]).sum())
    return out


def true_self_training_effect(trial: Any, *, start: int = 12, end: int = 24) -> float:
    """Realised latent difference in brain-age change, kept vs stopped training (synthetic only)."""
    t = trial.truth
    latent = (t["arm_effect"] + t["strength_term"]).rename("latent")
    wide = t.assign(latent=latent).pivot_table(index="participant_id", columns="month", values="latent")
    change = (wide[end] - wide[start]).rename("change")
    st = trial.visits.loc[trial.visits["month"] == end, ["participant_id", "self_training"]].dropna()
    d = st.merge(change.reset_index(), on="participant_id")
    kept = d["self_training"].astype(bool)
    return float(d.loc[kept, "change"].mean() - d.loc[~kept, "change"].mean())


def strength_truth(trial: Any, changes: pd.DataFrame, *, end: int = 12) -> dict[str, float]:
    """Synthetic only: reliability of the measured strength change and the true coupling.

    Returns
    -------
    dict
        ``coupling`` (latent years per percentage point, from the assumptions),
        ``reliability`` (variance of the true % change / variance of the measured % change among
        the people in ``changes``) and ``corr_true_measured``.
    """
    t = trial.truth
    true_change = t.loc[t["month"] == end].set_index("participant_id")["strength_change_pct"]
    d = changes.set_index("participant_id").join(true_change.rename("true_pct"), how="inner").dropna(
        subset=["true_pct", "mvc_change_pct"])
    true_pct = d["true_pct"]  # percent, as the measured mvc_change_pct
    return {
        "coupling": float(trial.assumptions.strength_coupling),
        "reliability": float(true_pct.var() / d["mvc_change_pct"].var()),
        "corr_true_measured": float(np.corrcoef(true_pct, d["mvc_change_pct"])[0, 1]),
    }


# --- truth and scale (synthetic data) --------------------------------------------------------


def clock_scale_factor(trial: Any, brain_age: pd.DataFrame, scale: str = "beheshti") -> float:
    """Factor turning a latent brain-age effect into the expected effect on a gap ``scale``.

    A ridge clock shrinks predictions (slope ``b`` of predicted on latent brain age, below 1),
    so a latent change ``d`` appears as ``b d`` on the Beheshti and uncorrected scales and as
    ``b d / alpha`` after Cole's correction (``alpha``: slope of predicted on age in training).
    Needs a synthetic trial (its latent brain ages); see :mod:`analysis.simstudy`.
    """
    return float(simstudy.measurement_from_trial(trial, brain_age).scale_factor(scale))


def true_effects(trial: Any, month: int, *, pairs: Sequence[tuple[str, str]] = PAIRS,
                 scale_factor: float | None = None) -> pd.DataFrame:
    """The simulator's true arm differences in latent brain-age change from baseline to ``month``.

    Two versions: ``assumed`` (from ``trial.assumptions``, the population value) and
    ``realised`` (mean ``arm_effect + strength_term`` in this simulated sample, from
    ``trial.truth``). With ``scale_factor`` (see :func:`clock_scale_factor`) both are also given
    on the clock's scale (``*_clock`` columns).
    """
    if getattr(trial, "truth", None) is None or getattr(trial, "assumptions", None) is None:
        raise ValueError("trial has no truth: true effects exist only for a synthetic trial")
    a = trial.assumptions
    assumed = {arm: float(getattr(a, f"effect_{month}m_{arm.lower()}", 0.0)) if month else 0.0 for arm in ARMS}
    assumed["CON"] = 0.0
    t = trial.truth
    latent = t["arm_effect"] + t.get("strength_term", 0.0)
    realised = latent.groupby([t["arm"], t["month"]]).mean()
    rows = []
    for x, y in pairs:
        row = {
            "comparison": f"{x} - {y}",
            "month": int(month),
            "assumed": assumed[x] - assumed[y],
            "realised": float((realised[x, month] - realised[x, 0]) - (realised[y, month] - realised[y, 0])),
        }
        if scale_factor is not None:
            row["assumed_clock"] = row["assumed"] * scale_factor
            row["realised_clock"] = row["realised"] * scale_factor
        rows.append(row)
    return pd.DataFrame(rows)


# --- sensitivity ---------------------------------------------------------------------------------


def sensitivity_analyses(table: pd.DataFrame, month: int = 12, *,
                         pairs: Sequence[tuple[str, str]] = PAIRS, primary_scale: str = "beheshti") -> pd.DataFrame:
    """The primary arm effects at ``month`` and their sensitivity analyses, in one tidy table.

    Analyses: primary (``brain_age_gap``, corrected by ``primary_scale``; ITT), per protocol,
    the other corrections (when their columns exist), uncorrected gap with age as covariate (Le 2018; the primary model already
    adjusts for age, so this differs only by the outcome), complete cases (people scanned at
    baseline and ``month``) and the baseline-adjusted ANCOVA.

    Returns
    -------
    DataFrame
        ``analysis, scale, comparison, estimate, se, ci_low, ci_high, p, p_fdr, n_obs, n_people``
        (``scale``: the gap's correction, which sets the scale of the estimate).
    """
    complete_ids = table.loc[table["has_scan"] & table["month"].isin([0, month]), ["participant_id", "month"]]
    complete_ids = complete_ids.groupby("participant_id")["month"].nunique()
    complete_ids = complete_ids[complete_ids == 2].index
    specs = [
        ("Primary (ITT)", table, "brain_age_gap", primary_scale),
        ("Per protocol (>= 2 sessions/week)", table[table["per_protocol"]], "brain_age_gap", primary_scale),
    ]
    for scale in ("beheshti", "cole", "smith"):
        col = GAP_COLUMNS[scale]
        if col in table.columns and scale != primary_scale:
            specs.append((f"{scale.capitalize()} correction", table, col, scale))
    specs.append(("Uncorrected gap + age covariate (Le 2018)", table, "gap_none", "none"))
    specs.append(("Complete cases", table[table["participant_id"].isin(complete_ids)], "brain_age_gap",
                  primary_scale))
    rows = []
    for name, data, outcome, scale in specs:
        fit = arm_model(data, outcome)
        eff = arm_effects(fit, month, pairs=pairs)
        eff.insert(0, "analysis", name)
        eff.insert(1, "scale", scale)
        eff["n_obs"], eff["n_people"] = fit.n_obs, fit.n_groups
        rows.append(eff)
    anc = ancova_at(table, month)
    anc = anc[anc["comparison"].isin([f"{a} - {b}" for a, b in pairs])].copy()
    anc["p_fdr"] = stats.fdr_bh(anc["p"].to_numpy())
    anc.insert(0, "analysis", "ANCOVA on baseline gap")
    anc.insert(1, "scale", primary_scale)
    anc["n_obs"] = anc.pop("n")
    anc["n_people"] = anc["n_obs"]  # one row per person
    rows.append(anc)
    out = pd.concat(rows, ignore_index=True)
    cols = ["analysis", "scale", "comparison", "estimate", "se", "ci_low", "ci_high", "p", "p_fdr", "n_obs", "n_people"]
    return out[cols]


# --- strength -------------------------------------------------------------------------------


def change_table(table: pd.DataFrame, start: int = 0, end: int = 12, *,
                 outcome: str = "brain_age_gap") -> pd.DataFrame:
    """Per-person change from ``start`` to ``end`` in knee-extensor strength and the gap.

    Returns
    -------
    DataFrame
        One row per person with both values at both visits: ``participant_id, arm, sex,
        baseline_age, gap_start, gap_end, gap_change, mvc_start, mvc_end, mvc_change,
        mvc_change_pct, self_training``.
    """
    cols = {outcome: "gap", "knee_extensor_mvc_nm": "mvc"}
    wide = table.pivot_table(index="participant_id", columns="month", values=list(cols), aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    for src, short in cols.items():
        out[f"{short}_start"] = wide[(src, start)] if (src, start) in wide else np.nan
        out[f"{short}_end"] = wide[(src, end)] if (src, end) in wide else np.nan
        out[f"{short}_change"] = out[f"{short}_end"] - out[f"{short}_start"]
    out["mvc_change_pct"] = 100 * out["mvc_change"] / out["mvc_start"]
    people = table.drop_duplicates("participant_id").set_index("participant_id")[
        ["arm", "sex", "baseline_age", "self_training"]]
    out = people.join(out, how="inner").dropna(subset=["gap_change", "mvc_change"])
    return out.reset_index()


def strength_correlations(changes: pd.DataFrame, x: str = "mvc_change_pct", y: str = "gap_change", *,
                          by: str = "arm", covariates: Sequence[str] = ("baseline_age", "sex", "gap_start", "mvc_start"),
                          n_boot: int = 2000, random_state: int = 0) -> pd.DataFrame:
    """Pearson, Spearman and partial correlation of two changes, overall and per group.

    Returns
    -------
    DataFrame
        ``group, method, n, r, ci_low, ci_high, p`` (bootstrap percentile CIs), rows
        ``pearson``, ``spearman`` and ``partial`` (Pearson, adjusted for ``covariates``).
    """
    groups = [("All", changes)] + [(g, d) for g, d in changes.groupby(by, sort=False)]
    order = {g: i for i, g in enumerate(["All", *ARMS])}
    groups.sort(key=lambda item: order.get(item[0], 99))
    rows = []
    for name, d in groups:
        for method in ("pearson", "spearman"):
            r = stats.correlation(d, x, y, method=method, n_boot=n_boot, random_state=random_state)
            rows.append(r.reset_index().assign(group=name))
        p = stats.partial_correlation(d, x, y, list(covariates), n_boot=n_boot, random_state=random_state)
        rows.append(p.reset_index().assign(group=name, method="partial").drop(columns="covariates"))
    out = pd.concat(rows, ignore_index=True)
    return out[["group", "method", "n", "r", "ci_low", "ci_high", "p"]]


def strength_interaction(changes: pd.DataFrame, x: str = "mvc_change_pct", y: str = "gap_change", *,
                         covariates: Sequence[str] = ("baseline_age", "sex", "gap_start", "mvc_start"),
                         reference: str = "CON") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Regression of the gap change on arm x strength change, adjusted for covariates.

    Returns
    -------
    (DataFrame, DataFrame)
        The slope of ``y`` on ``x`` within each arm (``arm, estimate, se, ci_low, ci_high, p``)
        and the interaction terms (difference of each arm's slope from ``reference``'s,
        with the joint F test p in column ``p_joint``).
    """
    term = f"C(arm, Treatment({reference!r}))"
    formula = f"{y} ~ {term} * {x} + " + " + ".join(covariates)
    _, fit = stats.ols(changes, formula)
    names = list(fit.params.index)
    slopes = {}
    for arm in ARMS:
        w = {x: 1.0}
        if arm != reference:
            w[f"{term}[T.{arm}]:{x}"] = 1.0
        slopes[arm] = w
    slope_table = stats.contrast(fit, slopes).reset_index().rename(columns={"contrast": "arm"})
    inter = [n for n in names if n.startswith(term) and n.endswith(f":{x}")]
    inter_table = stats.tidy_effects(fit.params[inter], fit.bse[inter], df=fit.df_resid)
    R = np.zeros((len(inter), len(names)))
    for i, n in enumerate(inter):
        R[i, names.index(n)] = 1.0
    inter_table["p_joint"] = float(fit.f_test(R).pvalue)
    inter_table = inter_table.reset_index()
    return slope_table, inter_table
