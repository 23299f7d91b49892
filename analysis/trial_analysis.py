"""The trial analyses of the book: arm comparisons, persistence and strength, as functions.

Every trial page (arm comparisons, follow-up, strength) starts from :func:`load_trial_analysis`
(the trial, the clock's brain ages and :func:`analysis_table`, one row per person x visit) and
calls the functions below, which apply the statistical analysis plan (``book/analysis_plan.md``);
the statistics themselves live in :mod:`analysis.stats`.

* **Primary model** (:func:`primary_model`): constrained longitudinal data analysis (cLDA; arms
  share the baseline mean) with an unstructured within-person covariance, fitted by REML on every
  usable scan, adjusted for age at baseline, head motion at baseline and the randomisation strata
  (sex when the trial has no strata); the exchangeable (random-intercept) structure is compared
  by AIC and a likelihood-ratio test and used only if the unstructured fit fails to converge.
* **Multiplicity** (:func:`gatekept_effects`): serial gatekeeping over the plan's ordered
  families (each active arm vs control at the primary visit; the same at each follow-up visit;
  active arms pairwise), Holm within each family.
* **Sensitivity** (:func:`model_sensitivity`, :func:`clock_sensitivity`,
  :func:`missing_data_analysis`): other covariance structures and models, per protocol, complete
  cases, other clocks (correlation features, an SVR regressor), a bias correction fitted on an
  age-matched slice of the reference, the longitudinal correction, multiple imputation with
  auxiliary variables and a delta-adjusted tipping point.
* **Supplementary estimands**: the complier average causal effect (:func:`complier_effects`),
  heterogeneity of the effect (:func:`heterogeneity`), persistence and self-training
  (exploratory), strength correlations (Holm within their family).

Nothing about LISA's design is written here: arms, control, visits, primary and follow-up visits
come from ``trial.design`` and result keys from ``design.result_key``. Optional measurements
(strength, adherence, self-training, randomisation strata) are used when the trial has them;
otherwise the analysis that needs them returns ``None`` and its text says
:data:`~analysis.trial.NOT_AVAILABLE`. Page-level functions ending in ``_section`` return a
:class:`Section` (results to record, texts to glue, a table), so a notebook records and glues
them with :func:`publish` in one call.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import patsy
from scipy import stats as sps

from analysis import report, simstudy, stats
from analysis._paths import TRIAL_DIR_ENV, env_path
from analysis.clock import TrialBrainAge, apply_clock, require_clock_source
from analysis.trial import LISA, NOT_AVAILABLE, TrialDesign, load_default_trial

__all__ = [
    "TrialAnalysisData", "load_trial_analysis",
    "OUTCOME", "GAP_COLUMNS", "PER_PROTOCOL_MIN_SESSIONS", "PLANNED_SESSIONS", "ALPHA", "N_IMPUTATIONS",
    "N_BOOT", "TIPPING_STEP", "TIPPING_MAX_SD", "MATCHED_AGE_MARGIN", "MODIFIERS",
    "Section", "publish", "glue_texts",
    "analysis_table", "person_table", "covariate_terms", "populations",
    "fit_clda", "PrimaryModel", "primary_model", "gatekept_effects", "standardized", "model_means",
    "observed_means", "motion_table",
    "arm_formula", "arm_model", "arm_effects", "change_effects", "marginal_means",
    "ancova_effects", "model_sensitivity", "matched_ages", "longitudinal_correction", "clock_sensitivity",
    "MissingDataAnalysis", "missing_data_analysis", "complier_effects", "heterogeneity",
    "agreement", "true_effects", "truth_lines", "clock_scale_factor", "baseline_spread", "scan_counts",
    "mi_rows", "persistence_words", "StrengthAnalysis", "strength_analysis", "strength_tables", "AUXILIARY",
    "CLOCK_VARIANTS",
    "persistence_effects", "within_arm_changes", "self_training_effect", "true_self_training_effect",
    "change_table", "strength_correlations", "strength_interaction", "strength_family", "strength_truth",
    "population_section", "model_choice_section", "effects_section", "truth_section", "ancova_section",
    "sensitivity_section", "missing_data_section", "reliability_section", "cace_section", "heterogeneity_section",
    "persistence_section", "self_training_section", "strength_section",
]

#: The outcome: the bias-corrected brain age gap (:func:`analysis.clock.trial_brain_age`).
OUTCOME = "brain_age_gap"
#: Bias correction -> column of :func:`analysis.clock.trial_brain_age`.
GAP_COLUMNS = {"beheshti": "gap_beheshti", "cole": "gap_cole", "smith": "gap_smith", "none": "gap_none"}
#: Protocol threshold of the per-protocol population: trainees averaging at least this many
#: supervised sessions per week over the intervention (LISA's protocol; Gylling 2020a).
PER_PROTOCOL_MIN_SESSIONS = 2.0
#: Planned supervised sessions per week in the training arms (LISA's protocol): the dose at which
#: the complier effect is reported.
PLANNED_SESSIONS = 3.0
#: Family-wise significance level of the plan.
ALPHA = 0.05
#: Imputations of the multiple-imputation and tipping-point analyses (drawn once, reused over
#: the delta grid). Few, to keep the page fast; the fraction of missing information reported
#: beside the estimate says whether more are needed (White 2011: about 100 x FMI).
N_IMPUTATIONS = 10
#: Bootstrap resamples of the strength correlations.
N_BOOT = 2000
#: Step of the tipping-point grid (years of brain age gap).
TIPPING_STEP = 0.25
#: The tipping-point grid runs up to this many baseline SDs of the gap.
TIPPING_MAX_SD = 2.0
#: Years added on each side of the trial's age range for the age-matched bias correction; the
#: range is then widened to multiples of this margin (LISA, ages 62-73 over the visits: 55-80).
MATCHED_AGE_MARGIN = 5.0
#: The plan's pre-specified effect modifiers: column -> name on the page.
MODIFIERS = {"sex": "sex", "baseline_gap": "baseline brain age gap", "baseline_mvc": "baseline knee-extensor strength"}
#: Covariates of the random-intercept model of the earlier analyses (age and motion at each visit).
RANDOM_INTERCEPT_COVARIATES = ("age", "C(sex)", "mean_fd_mm")
#: Strength column of ``visits.tsv``.
MVC = "knee_extensor_mvc_nm"
ADHERENCE = "adherence_sessions_per_week"
_MINUS = "\u2212"


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


# --- page output ------------------------------------------------------------------------------


@dataclass
class Section:
    """What a page shows for one analysis.

    Attributes
    ----------
    results : DataFrame
        Headline numbers for :func:`analysis.report.record_frame` (``key, value, ci_low, ci_high,
        unit, decimals, description``); may be empty.
    texts : dict
        Strings to glue for the prose, by glue name (sentences whose words are chosen from the
        numbers, or "not available in these data").
    table : DataFrame or None
        The table the page shows.
    """

    results: pd.DataFrame = field(default_factory=lambda: _results([]))
    texts: dict[str, str] = field(default_factory=dict)
    table: pd.DataFrame | None = None


def glue_texts(texts: Mapping[str, str]) -> None:
    """Glue every ``{name: text}`` for the prose (:func:`analysis.report.glue_text`)."""
    for name, text in texts.items():
        report.glue_text(name, text)


def publish(section: Section) -> None:
    """Record a section's results and glue its texts."""
    if len(section.results):
        report.record_frame(section.results)
    glue_texts(section.texts)


def _results(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    cols = list(report.RESULT_FRAME_COLUMNS)
    frame = pd.DataFrame(list(rows), columns=cols)
    return frame.astype({"ci_low": float, "ci_high": float})


def _row(key: str, value: float, *, ci: tuple[float, float] | None = None, unit: str = "", decimals: int = 2,
         description: str = "") -> dict[str, Any]:
    low, high = ci if ci is not None else (np.nan, np.nan)
    return dict(key=key, value=float(value), ci_low=low, ci_high=high, unit=unit, decimals=decimals,
                description=description)


def _fmt(value: float, decimals: int = 2) -> str:
    return report.format_number(value, decimals)


def _interval(row: Any, decimals: int = 2, suffix: str = "") -> str:
    return (f"{_fmt(row['estimate' + suffix], decimals)} (95% CI {_fmt(row['ci_low' + suffix], decimals)} to "
            f"{_fmt(row['ci_high' + suffix], decimals)})")


def _slug(label: str) -> str:
    """A label as it appears in result keys (as :meth:`analysis.trial.TrialDesign.result_key`)."""
    return re.sub(r"[^a-z0-9]+", "_", str(label).lower()).strip("_")


def _minus(comparison: str) -> str:
    return comparison.replace(" - ", f" {_MINUS} ")


def _require(table: pd.DataFrame, columns: Sequence[str], what: str = "table") -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"{what} has no column(s) {missing}; columns are {list(table.columns)}")


def _month(design: TrialDesign, month: int | None) -> int:
    month = design.primary_visit if month is None else month
    if month not in design.post_baseline:
        raise ValueError(f"month must be a post-baseline visit of the design {design.post_baseline}; got {month!r}")
    return int(month)


def _split(comparison: pd.Series) -> pd.DataFrame:
    parts = comparison.astype(str).str.split(" - ", n=1, expand=True)
    return parts.rename(columns={0: "arm", 1: "reference"})


def _keys(frame: pd.DataFrame, design: TrialDesign, prefix: str = "") -> list[str]:
    return [design.result_key(a, b, int(m), prefix=prefix)
            for a, b, m in zip(frame["arm"], frame["reference"], frame["month"])]


# --- the analysis table --------------------------------------------------------------------


def _person_value(visits: pd.DataFrame, column: str, months: Sequence[int], *, latest: bool) -> pd.Series:
    """Per person, the value of ``column`` at the latest (or earliest) of ``months`` where it is known."""
    v = visits[visits["month"].isin(list(months))].dropna(subset=[column])
    v = v.sort_values("month", ascending=not latest)
    return v.groupby("participant_id")[column].first()


def analysis_table(trial: Any, brain_age: pd.DataFrame, *,
                   min_adherence: float = PER_PROTOCOL_MIN_SESSIONS) -> pd.DataFrame:
    """One row per randomised person x visit month, with the brain-age columns of usable scans.

    Parameters
    ----------
    trial : analysis.trial.Trial
        The trial (``participants``, ``visits``, ``design``; optional columns asked for with
        ``trial.has_column``).
    brain_age : DataFrame
        Output of :func:`analysis.clock.trial_brain_age` (one row per usable scan).
    min_adherence : float
        Sessions per week a trainee needs to count as per protocol.

    Returns
    -------
    DataFrame
        ``participant_id, arm, sex, [stratum,] baseline_age, month, attended, age, mean_fd_mm,
        baseline_fd, knee_extensor_mvc_nm, baseline_mvc, adherence, per_protocol, self_training,
        has_scan, baseline_gap`` and the brain-age columns (missing where the visit has no usable
        scan). ``stratum`` only when the trial records randomisation strata. Person-level:
        ``adherence`` (sessions/week at the latest visit up to the primary visit where recorded),
        ``self_training`` (at the first follow-up visit where recorded), ``per_protocol`` (every
        control and trainees with ``adherence >= min_adherence``; missing for trainees when the
        trial records no adherence), ``baseline_gap`` and ``baseline_mvc`` (baseline values),
        ``baseline_fd`` (head motion at the baseline visit; where unknown, the mean over people --
        valid for a baseline covariate in a randomised trial, White & Thompson 2005 -- flagged in
        ``baseline_fd_imputed``). Optional measurements the trial lacks are all missing.
    """
    design = trial.design
    people = trial.participants
    _require(people, ["participant_id", "arm", "sex", "age"], "trial.participants")
    _require(trial.visits, ["participant_id", "month", "attended", "age", "mean_fd_mm"], "trial.visits")
    _require(brain_age, ["participant_id", "month", OUTCOME], "brain_age")
    unknown_arms = sorted(set(people["arm"].dropna().astype(str)) - set(design.labels))
    if unknown_arms:
        raise ValueError(f"column 'arm' of trial.participants has value(s) {unknown_arms} that are not arms of the "
                         f"design {design.labels}")
    keep_people = ["participant_id", "arm", "sex", "age"] + (["stratum"] if trial.has_column("stratum") else [])
    people = people[keep_people].rename(columns={"age": "baseline_age"})
    people = people.assign(arm=people["arm"].astype(str), sex=people["sex"].astype(str))
    visits = trial.visits
    table = visits[["participant_id", "month", "attended", "age", "mean_fd_mm"]].copy()
    table[MVC] = visits[MVC].astype(float) if trial.has_column(MVC) else np.nan
    unknown = sorted(set(table["participant_id"]) - set(people["participant_id"]))
    if unknown:
        raise ValueError(f"column 'participant_id' of trial.visits has {len(unknown)} value(s) not in "
                         f"trial.participants, e.g. {unknown[0]!r}")
    table = table.merge(people, on="participant_id", how="left", validate="many_to_one")
    pid = table["participant_id"]
    upto_primary = [m for m in design.visits if m <= design.primary_visit]
    if trial.has_column(ADHERENCE):
        table["adherence"] = pid.map(_person_value(visits, ADHERENCE, upto_primary, latest=True)).astype(float)
    else:
        table["adherence"] = np.nan
    if trial.has_column("self_training") and design.followup_visits:
        st = _person_value(visits, "self_training", design.followup_visits, latest=False)
        table["self_training"] = pid.map(st).astype("boolean")
    else:
        table["self_training"] = pd.array([pd.NA] * len(table), dtype="boolean")
    is_control = table["arm"] == design.control
    if trial.has_column(ADHERENCE):
        table["per_protocol"] = pd.array(is_control | (table["adherence"].fillna(0.0) >= min_adherence), dtype="boolean")
    else:
        table["per_protocol"] = pd.array(np.where(is_control, True, pd.NA), dtype="boolean")
    gap_cols = [c for c in brain_age.columns if c not in ("participant_id", "month", "age")]
    scans = brain_age[["participant_id", "month", *gap_cols]]
    stray = scans.merge(table[["participant_id", "month"]], how="left", indicator=True)
    if (stray["_merge"] == "left_only").any():
        first = stray[stray["_merge"] == "left_only"].iloc[0]
        raise ValueError(f"brain_age has a scan (participant_id {first['participant_id']!r}, month {first['month']!r}) "
                         "with no row in trial.visits")
    table = table.merge(scans, on=["participant_id", "month"], how="left", validate="one_to_one")
    table["has_scan"] = table[OUTCOME].notna()
    base = table[table["month"] == design.baseline].set_index("participant_id")
    table["baseline_gap"] = pid.map(base[OUTCOME])
    fd0 = pid.map(base["mean_fd_mm"])
    table["baseline_fd_imputed"] = fd0.isna()
    table["baseline_fd"] = fd0.fillna(base["mean_fd_mm"].mean())
    table["baseline_mvc"] = pid.map(base[MVC])
    order = ["participant_id", "arm", "sex", *(["stratum"] if "stratum" in table.columns else []), "baseline_age",
             "month", "attended", "age", "mean_fd_mm", "baseline_fd", "baseline_fd_imputed", MVC, "baseline_mvc",
             "adherence", "per_protocol", "self_training", "has_scan", "baseline_gap", *gap_cols]
    return table[order].sort_values(["participant_id", "month"]).reset_index(drop=True)


def _categorical(table: pd.DataFrame) -> str:
    """The categorical adjustment column: randomisation strata when recorded, else sex."""
    if "stratum" in table.columns and table["stratum"].notna().all():
        return "stratum"
    return "sex"


def covariate_terms(table: pd.DataFrame) -> list[str]:
    """Covariates of the plan's models: age and head motion at baseline, randomisation strata (or sex).

    Head motion at follow-up visits is not adjusted for (it is post-randomisation and may be
    affected by training); :func:`motion_table` reports it.
    """
    return ["baseline_age", "baseline_fd", f"C({_categorical(table)})"]


def person_table(table: pd.DataFrame, design: TrialDesign, month: int | None = None, *,
                 outcome: str = OUTCOME) -> pd.DataFrame:
    """One row per randomised person: baseline values, person-level columns and the outcome at ``month``.

    Returns
    -------
    DataFrame
        ``participant_id, arm, sex, [stratum,] baseline_age, baseline_fd, baseline_gap,
        baseline_mvc, adherence, per_protocol, self_training, has_baseline_scan, outcome``
        (``outcome`` at ``month``, default the primary visit), ``fd_followup`` (head motion at
        ``month``) and ``mvc_change_pct`` (strength change from baseline to ``month``, % of
        baseline).
    """
    month = _month(design, month)
    _require(table, ["participant_id", "arm", "month", outcome, "baseline_gap", "baseline_fd"])
    person_cols = [c for c in ("participant_id", "arm", "sex", "stratum", "baseline_age", "baseline_fd",
                               "baseline_gap", "baseline_mvc", "adherence", "per_protocol", "self_training")
                   if c in table.columns]
    people = table.drop_duplicates("participant_id")[person_cols].set_index("participant_id")
    at = table[table["month"] == month].set_index("participant_id")
    out = people.assign(has_baseline_scan=people["baseline_gap"].notna(),
                        outcome=at[outcome].reindex(people.index),
                        fd_followup=at["mean_fd_mm"].reindex(people.index))
    mvc = at[MVC].reindex(people.index) if MVC in at.columns else np.nan
    out["mvc_change_pct"] = 100.0 * (mvc / out["baseline_mvc"] - 1.0) if "baseline_mvc" in out.columns else np.nan
    out.insert(len(out.columns) - 4, "month", month)
    return out.reset_index()


def populations(table: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """People in each analysis population, by arm.

    Rows: ``randomised`` (ITT), ``any usable scan`` (the primary model's data), ``modified ITT``
    (usable baseline scan), ``per protocol`` (with any usable scan; missing when the trial has
    no adherence data). Columns: the arms in design order, ``total``, ``definition``.
    """
    people = table.drop_duplicates("participant_id").set_index("participant_id")
    scanned = table.loc[table["has_scan"], "participant_id"].unique()
    masks = {
        "randomised (ITT)": pd.Series(True, index=people.index),
        "any usable scan": people.index.isin(scanned),
        "modified ITT": people["baseline_gap"].notna(),
        "per protocol": people["per_protocol"].fillna(False).astype(bool) & people.index.isin(scanned),
    }
    definitions = {
        "randomised (ITT)": "everyone randomised, in the arm assigned",
        "any usable scan": "randomised people with at least one usable rs-fMRI scan (the primary model's data)",
        "modified ITT": "randomised people with a usable baseline scan",
        "per protocol": (f"controls and trainees with at least {_fmt(PER_PROTOCOL_MIN_SESSIONS, 0)} sessions/week, "
                         "with a usable scan"),
    }
    rows = []
    for name, mask in masks.items():
        mask = pd.Series(np.asarray(mask, bool), index=people.index)
        counts = people.loc[mask, "arm"].value_counts().reindex(design.labels, fill_value=0)
        row = {"population": name, **counts.to_dict(), "total": int(mask.sum()), "definition": definitions[name]}
        if name == "per protocol" and people["per_protocol"].isna().all():
            row.update({a: np.nan for a in design.labels}, total=np.nan, definition=NOT_AVAILABLE)
        rows.append(row)
    return pd.DataFrame(rows).set_index("population")


def motion_table(table: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Head motion (mean framewise displacement, mm) of the usable scans by arm and visit.

    Follow-up motion is not a covariate of the plan's models (it is post-randomisation), so it is
    reported here instead. Returns ``arm, month, n, mean, sd, median``.
    """
    d = table[table["has_scan"]]
    out = d.groupby(["arm", "month"])["mean_fd_mm"].agg(n="count", mean="mean", sd="std", median="median")
    out = out.reset_index()
    out["arm"] = pd.Categorical(out["arm"], categories=design.labels, ordered=True)
    return out.sort_values(["month", "arm"]).reset_index(drop=True).assign(arm=lambda f: f["arm"].astype(str))


def observed_means(table: pd.DataFrame, outcome: str = OUTCOME, *, group: str = "arm") -> pd.DataFrame:
    """Observed mean of ``outcome`` per group and month with a t-based 95% CI and n."""
    d = table.dropna(subset=[outcome])
    g = d.groupby([group, "month"])[outcome]
    out = g.agg(["mean", "std", "count"]).reset_index().rename(columns={"count": "n"})
    half = sps.t.ppf(0.975, np.maximum(out["n"] - 1, 1)) * out["std"] / np.sqrt(out["n"])
    out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
    return out


# --- the primary model ---------------------------------------------------------------------


def fit_clda(table: pd.DataFrame, design: TrialDesign, *, outcome: str = OUTCOME,
             covariance: str = "unstructured", covariates: Sequence[str] | None = None) -> stats.CLDAResult:
    """The plan's cLDA of ``outcome`` on ``table`` (arms, control and visits from ``design``).

    ``covariates`` default :func:`covariate_terms`. Contrasts: each active arm vs control, then
    active arms pairwise, at every post-baseline visit.
    """
    _require(table, ["participant_id", "arm", "month", outcome])
    covariates = covariate_terms(table) if covariates is None else list(covariates)
    return stats.clda(table, outcome, subject="participant_id", group="arm", visit="month", control=design.control,
                      visits=list(design.visits), arms=design.active_arms, covariates=covariates,
                      covariance=covariance)


@dataclass(frozen=True)
class PrimaryModel:
    """The primary analysis: the chosen cLDA fit, the covariance comparison and the gatekept effects.

    Attributes
    ----------
    fit : analysis.stats.CLDAResult
        The fit used (``structure``).
    fits : dict
        Every structure fitted (``exchangeable``, ``unstructured``).
    comparison : DataFrame
        AIC, BIC and likelihood-ratio test of the structures
        (:func:`analysis.stats.covariance_comparison`).
    structure : str
        The structure used: ``unstructured`` as planned, ``exchangeable`` if the unstructured fit
        did not converge.
    effects : DataFrame
        :func:`gatekept_effects` of ``fit``.
    covariates : tuple of str
    outcome : str
    design : TrialDesign
    """

    fit: Any
    fits: dict
    comparison: pd.DataFrame
    structure: str
    effects: pd.DataFrame
    covariates: tuple
    outcome: str
    design: TrialDesign

    @property
    def planned(self) -> bool:
        """Whether the planned (unstructured) covariance was used."""
        return self.structure == "unstructured"


def primary_model(table: pd.DataFrame, design: TrialDesign, *, outcome: str = OUTCOME,
                  alpha: float = ALPHA) -> PrimaryModel:
    """Fit the plan's primary model and its exchangeable alternative; choose as the plan says.

    Both covariance structures of the same cLDA mean model are fitted by REML; the unstructured
    one is used unless its fit did not converge (then the exchangeable one, and the change is
    reported). The choice is fixed in advance, not made by AIC; the comparison is reported.
    """
    covariates = covariate_terms(table)
    fits = {s: fit_clda(table, design, outcome=outcome, covariance=s, covariates=covariates)
            for s in ("exchangeable", "unstructured")}
    structure = "unstructured" if fits["unstructured"].converged else "exchangeable"
    fit = fits[structure]
    return PrimaryModel(fit=fit, fits=fits, comparison=stats.covariance_comparison(fits), structure=structure,
                        effects=gatekept_effects(fit, design, alpha=alpha), covariates=tuple(covariates),
                        outcome=outcome, design=design)


def gatekept_effects(fit: Any, design: TrialDesign, *, alpha: float = ALPHA) -> pd.DataFrame:
    """Arm contrasts of a cLDA fit at every post-baseline visit, with the plan's gatekept p-values.

    Families (:func:`analysis.stats.trial_families`): each active arm vs control at the primary
    visit; the same at each follow-up visit; active arms pairwise at the primary visit. Serial
    gatekeeping, Holm within a family (:func:`analysis.stats.gatekeeping`). Contrasts in no family
    (e.g. active arms pairwise at a follow-up visit) are ``exploratory`` with no adjusted p.

    Returns
    -------
    DataFrame
        ``comparison, arm, reference, month, estimate, se, ci_low, ci_high, p, family, p_adj,
        rejected, family_order, key, conclusion`` (``key``: the result key; ``conclusion``: a sentence chosen
        from the estimate, the interval and the adjusted p by :func:`analysis.stats.conclusion`).
    """
    eff = fit.effects.copy()
    _require(eff, ["comparison", "month", "estimate", "ci_low", "ci_high", "p"], "fit.effects")
    eff["month"] = eff["month"].astype(int)
    parts = _split(eff["comparison"])
    eff.insert(1, "arm", parts["arm"])
    eff.insert(2, "reference", parts["reference"])
    families = stats.trial_families(eff, control=design.control, primary_visit=design.primary_visit,
                                    followup_visits=list(design.followup_visits))
    gk = stats.gatekeeping(families, alpha=alpha)
    eff["hypothesis"] = [f"{c} @ month={m}" for c, m in zip(eff["comparison"], eff["month"])]
    eff = eff.merge(gk[["hypothesis", "family", "order", "p_adj", "rejected"]], on="hypothesis", how="left")
    eff = eff.drop(columns="hypothesis").rename(columns={"order": "family_order"})
    eff["family"] = eff["family"].fillna("exploratory")
    eff["key"] = _keys(eff, design)
    eff["conclusion"] = [
        stats.conclusion(r.estimate, r.ci_low, r.ci_high, a=r.arm, b=r.reference, decimals=2,
                         outcome=f"the brain age gap at month {r.month}",
                         p_adjusted=None if pd.isna(r.p_adj) else float(r.p_adj), alpha=alpha)
        for r in eff.itertuples()]
    return eff


def baseline_spread(table: pd.DataFrame, design: TrialDesign, outcome: str = OUTCOME) -> tuple[float, int]:
    """SD of ``outcome`` at baseline over the people with a baseline value, and their number."""
    base = table.loc[table["month"] == design.baseline, outcome].dropna()
    if len(base) < 2:
        raise ValueError(f"column {outcome!r} has {len(base)} baseline value(s); at least 2 are needed for an SD")
    return float(base.std(ddof=1)), int(len(base))


def standardized(effects: pd.DataFrame, table: pd.DataFrame, design: TrialDesign,
                 outcome: str = OUTCOME) -> pd.DataFrame:
    """``effects`` with columns ``*_sd``: divided by the baseline SD of the gap, with intervals that
    include the SD's own uncertainty (:func:`analysis.stats.standardized_effects`)."""
    sd, n = baseline_spread(table, design, outcome)
    return stats.standardized_effects(effects, sd, n)


def _analysed_rows(table: pd.DataFrame, design: TrialDesign, outcome: str, covariates: Sequence[str]) -> pd.DataFrame:
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", " ".join(covariates)))
    used = [outcome, "participant_id", "arm", "month", *[c for c in table.columns if c in tokens]]
    return table[table["arm"].isin(design.labels)].dropna(subset=used)


def model_means(primary: PrimaryModel, table: pd.DataFrame) -> pd.DataFrame:
    """Model-estimated mean outcome per arm and visit (covariates at their means over the rows analysed).

    Returns ``arm, month, estimate, se, ci_low, ci_high``.
    """
    design = primary.design
    rows = _analysed_rows(table, design, primary.outcome, primary.covariates)
    C = patsy.dmatrix("1 + " + " + ".join(primary.covariates), rows, return_type="dataframe")
    means = C.drop(columns="Intercept").mean()
    L, index = {}, []
    for arm in design.labels:
        for month in design.visits:
            w = {"Intercept": 1.0, **means.to_dict()}
            if month != design.baseline:
                w[f"month[{month}]"] = 1.0
                if arm != design.control:
                    w[f"arm[{arm}]:month[{month}]"] = 1.0
            L[f"{arm}|{month}"] = w
            index.append((arm, month))
    out = stats.contrast(primary.fit, L).drop(columns="p").reset_index(drop=True)
    out.insert(0, "month", [m for _, m in index])
    out.insert(0, "arm", [a for a, _ in index])
    return out


# --- the random-intercept model of the earlier analyses ------------------------------------------


def arm_formula(outcome: str = OUTCOME, covariates: Sequence[str] = RANDOM_INTERCEPT_COVARIATES,
                reference: str = LISA.control) -> str:
    """Formula of the arm x visit model (treatment coding, ``reference`` arm, first month)."""
    rhs = [f"C(arm, Treatment({reference!r})) * C(month)", *covariates]
    return f"{outcome} ~ " + " + ".join(rhs)


def arm_model(table: pd.DataFrame, outcome: str = OUTCOME, *,
              covariates: Sequence[str] = RANDOM_INTERCEPT_COVARIATES, design: TrialDesign = LISA,
              reml: bool = True) -> stats.MixedModelResult:
    """The random-intercept model of the earlier analyses (now a sensitivity analysis).

    Linear mixed model of ``outcome`` on arm x visit (arm main effect included), adjusted by
    default for age and head motion *at each visit* and sex, random intercept per person, REML
    (:func:`analysis.stats.mixed_model`). ``design`` gives the reference (control) arm.
    """
    _require(table, ["participant_id", "arm", "month", outcome])
    return stats.mixed_model(table, arm_formula(outcome, covariates, design.control), "participant_id", reml=reml)


def _setting_rows(result: stats.MixedModelResult, settings: Sequence[tuple[str, int]]) -> pd.DataFrame:
    """Rows of the model data at given (arm, month), other variables at their mean / mode."""
    frame = result.result.model.data.frame
    base = {}
    for col in frame.columns:
        s = frame[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if numeric:
            base[col] = float(s.mean())
        else:  # the mode; a column with no value at all (an optional measurement) stays missing
            mode = s.mode()
            base[col] = mode.iloc[0] if len(mode) else s.iloc[0]
    rows = pd.DataFrame([{**base, "arm": a, "month": m} for a, m in settings])
    rows["month"] = rows["month"].astype(frame["month"].dtype)
    return rows


def _change_weights(result: stats.MixedModelResult, arm: str, start: int, end: int) -> pd.Series:
    X = stats.design_rows(result, _setting_rows(result, [(arm, end), (arm, start)]))
    return (X.iloc[0] - X.iloc[1]).reindex(result.params.index).fillna(0.0)


def change_effects(result: stats.MixedModelResult,
                   contrasts: dict[str, list[tuple[float, str, int, int]]]) -> pd.DataFrame:
    """Linear combinations of model-estimated changes of :func:`arm_model`.

    ``contrasts`` is ``{name: [(weight, arm, start_month, end_month), ...]}``; e.g. an arm's
    effect vs control at 12 months is ``[(1, arm, 0, 12), (-1, control, 0, 12)]``. Returns
    ``estimate, se, ci_low, ci_high, p`` indexed by name.
    """
    L = {}
    for name, parts in contrasts.items():
        w = sum(weight * _change_weights(result, arm, s, e) for weight, arm, s, e in parts)
        L[name] = w.to_dict()
    return stats.contrast(result, L)


def arm_effects(result: stats.MixedModelResult, month: int, *, design: TrialDesign = LISA,
                pairs: Sequence[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Arm differences in change of the outcome from baseline to ``month`` under :func:`arm_model`.

    Returns ``comparison, month, estimate, se, ci_low, ci_high, p``, one row per pair (default
    ``design.contrasts()``).
    """
    pairs = design.contrasts() if pairs is None else list(pairs)
    contrasts = {f"{a} - {b}": [(1.0, a, design.baseline, month), (-1.0, b, design.baseline, month)]
                 for a, b in pairs}
    out = change_effects(result, contrasts)
    out.insert(0, "month", int(month))
    return out.reset_index().rename(columns={"contrast": "comparison"})


def marginal_means(result: stats.MixedModelResult, *, design: TrialDesign = LISA) -> pd.DataFrame:
    """Mean outcome per arm and month under :func:`arm_model` (covariates at mean / mode)."""
    settings = [(a, m) for a in design.labels for m in design.visits]
    X = stats.design_rows(result, _setting_rows(result, settings)).reindex(columns=result.params.index)
    L = pd.DataFrame(X.to_numpy(), columns=result.params.index, index=[f"{a}|{m}" for a, m in settings])
    out = stats.contrast(result, L).drop(columns="p")
    out.insert(0, "month", [m for _, m in settings])
    out.insert(0, "arm", [a for a, _ in settings])
    return out.reset_index(drop=True)


# --- sensitivity analyses --------------------------------------------------------------------


def _at(effects: pd.DataFrame, month: int) -> pd.DataFrame:
    out = effects[effects["month"] == month]
    cols = [c for c in ("comparison", "arm", "reference", "month", *stats.EFFECT_COLUMNS) if c in out.columns]
    return out[cols].reset_index(drop=True)


def _with_parts(effects: pd.DataFrame, month: int) -> pd.DataFrame:
    out = effects.copy()
    if "arm" not in out.columns:
        parts = _split(out["comparison"])
        out.insert(1, "arm", parts["arm"])
        out.insert(2, "reference", parts["reference"])
    if "month" not in out.columns:
        out.insert(3, "month", int(month))
    return out


def ancova_effects(table: pd.DataFrame, design: TrialDesign, month: int | None = None, *,
                   outcome: str = OUTCOME) -> pd.DataFrame:
    """ANCOVA of the outcome at ``month`` on arm, adjusted for its baseline value and the covariates.

    Complete cases of the modified ITT population (usable scans at baseline and ``month``);
    covariates as :func:`covariate_terms` (age and motion at baseline, strata or sex).

    Returns ``comparison, arm, reference, month, estimate, se, ci_low, ci_high, p, n``.
    """
    month = _month(design, month)
    person = person_table(table, design, month, outcome=outcome)
    cc = person.dropna(subset=["outcome", "baseline_gap"])
    out = stats.ancova(cc, "outcome", "arm", "baseline_gap", ["baseline_age", "baseline_fd", _categorical(cc)],
                       reference=design.control, pairs=design.contrasts())
    return _with_parts(out.reset_index().rename(columns={"contrast": "comparison"}), month)


def _rows(effects: pd.DataFrame, analysis: str, population: str, n_people: int, scale: str = "primary clock"
          ) -> pd.DataFrame:
    out = effects.copy()
    out.insert(0, "analysis", analysis)
    out.insert(1, "population", population)
    out.insert(2, "scale", scale)
    out["n_people"] = int(n_people)
    return out


SENSITIVITY_COLUMNS = ["analysis", "population", "scale", "comparison", "arm", "reference", "month",
                       *stats.EFFECT_COLUMNS, "n_people"]


def model_sensitivity(table: pd.DataFrame, primary: PrimaryModel, month: int | None = None) -> pd.DataFrame:
    """The primary estimate beside the model-based sensitivity analyses, at ``month``.

    Rows per contrast: the primary cLDA; the cLDA with the other covariance structure; the
    random-intercept model of the earlier analyses (:func:`arm_model`: arm main effect, age and
    motion at each visit); the cLDA in the per-protocol population (when the trial records
    adherence); the complete-case ANCOVA (:func:`ancova_effects`).

    Returns
    -------
    DataFrame
        ``analysis, population, scale, comparison, arm, reference, month, estimate, se, ci_low,
        ci_high, p, n_people``.
    """
    design = primary.design
    month = _month(design, month)
    other = "exchangeable" if primary.structure == "unstructured" else "unstructured"
    parts = [
        _rows(_at(primary.effects, month), f"Primary: cLDA, {primary.structure} covariance", "any usable scan",
              primary.fit.n_groups),
        _rows(_with_parts(_at(primary.fits[other].effects, month), month), f"cLDA, {other} covariance",
              "any usable scan", primary.fits[other].n_groups),
    ]
    ri = arm_model(table, primary.outcome, design=design)
    parts.append(_rows(_with_parts(arm_effects(ri, month, design=design), month),
                       "Random intercept, age and motion at each visit (earlier model)", "any usable scan",
                       ri.n_groups))
    if table["per_protocol"].notna().any():
        pp = fit_clda(table[table["per_protocol"].fillna(False).astype(bool)], design, outcome=primary.outcome,
                      covariance=primary.structure, covariates=primary.covariates)
        parts.append(_rows(_with_parts(_at(pp.effects, month), month), f"Per protocol: cLDA, {primary.structure}",
                           "per protocol", pp.n_groups))
    anc = ancova_effects(table, design, month, outcome=primary.outcome)
    parts.append(_rows(anc.drop(columns="n"), "ANCOVA on the baseline gap, complete cases", "modified ITT, complete",
                       int(anc["n"].iloc[0])))
    return pd.concat(parts, ignore_index=True)[SENSITIVITY_COLUMNS]


def matched_ages(table: pd.DataFrame, margin: float = MATCHED_AGE_MARGIN) -> tuple[float, float]:
    """Reference ages of the age-matched bias correction: the trial's ages at its visits widened by
    ``margin`` years on each side, then outward to multiples of ``margin`` (LISA: 55-80)."""
    ages = table.loc[table["has_scan"], "age"].dropna()
    if ages.empty:
        raise ValueError("table has no usable scan with an age: the matched age range is undefined")
    low = math.floor((ages.min() - margin) / margin) * margin
    high = math.ceil((ages.max() + margin) / margin) * margin
    return float(low), float(high)


def longitudinal_correction(table: pd.DataFrame, clock: Any, design: TrialDesign, month: int | None = None
                            ) -> pd.DataFrame:
    """Arm contrasts of the change in prediction beyond the change expected from ageing (Levakov 2023).

    For each person with usable scans at baseline and ``month``, the expected prediction at
    ``month`` is the baseline prediction plus ``f(age at month) - f(age at baseline)``, with ``f``
    the clock's fitted line of prediction on age in its training data (``clock.correction_``:
    ``cole_slope``, ``cole_intercept``); the outcome is the observed minus the expected
    prediction. Arms are compared by OLS adjusted for age and motion at baseline and strata (or
    sex), without the baseline gap (a change score). When ``f`` is the line the gap's Beheshti
    correction was fitted with, the outcome equals the change of the Beheshti-corrected gap
    exactly; this analysis then differs from the primary one by analysing change without
    conditioning on the baseline value.

    Returns ``comparison, arm, reference, month, estimate, se, ci_low, ci_high, p, n``.
    """
    month = _month(design, month)
    _require(table, ["participant_id", "arm", "month", "age", "predicted_age"])
    correction = getattr(clock, "correction_", None)
    if not isinstance(correction, Mapping) or not {"cole_slope", "cole_intercept"} <= set(correction):
        raise ValueError("clock must be a fitted BrainAgeClock whose correction_ holds 'cole_slope' and "
                         "'cole_intercept' (the fitted line of prediction on age)")
    slope = float(correction["cole_slope"])
    wide = table[table["has_scan"]].pivot_table(index="participant_id", columns="month",
                                                values=["predicted_age", "age"], aggfunc="first")
    if (("predicted_age", month) not in wide.columns) or (("predicted_age", design.baseline) not in wide.columns):
        raise ValueError(f"no person has usable scans at both month {design.baseline} and month {month}")
    pred0, predm = wide[("predicted_age", design.baseline)], wide[("predicted_age", month)]
    age0, agem = wide[("age", design.baseline)], wide[("age", month)]
    excess = (predm - (pred0 + slope * (agem - age0))).dropna().rename("excess")
    person = person_table(table, design, month).set_index("participant_id").join(excess, how="inner")
    cat = _categorical(person)
    term = f"C(arm, Treatment({design.control!r}))"
    _, fit = stats.ols(person.reset_index(), f"excess ~ {term} + baseline_age + baseline_fd + C({cat})")
    L = {}
    for a, b in design.contrasts():
        w = {}
        if a != design.control:
            w[f"{term}[T.{a}]"] = 1.0
        if b != design.control:
            w[f"{term}[T.{b}]"] = w.get(f"{term}[T.{b}]", 0.0) - 1.0
        L[f"{a} - {b}"] = w
    out = stats.contrast(fit, L).reset_index().rename(columns={"contrast": "comparison"})
    out["n"] = int(fit.nobs)
    return _with_parts(out, month)


#: Alternative clocks of the plan: (analysis name, keyword arguments of :func:`analysis.clock.apply_clock`).
CLOCK_VARIANTS = (
    ("Clock on correlation connectivity", {"connectivity": "correlation"}),
    ("Clock with an SVR regressor", {"model": "svr"}),
)


def clock_sensitivity(data: Any, primary: PrimaryModel, month: int | None = None, *, seed: int = 0
                      ) -> tuple[pd.DataFrame, list[str]]:
    """The primary model refitted on the gaps of other clocks and corrections, at ``month``.

    Rows: :data:`CLOCK_VARIANTS` (a clock retrained on the same reference cohort; not possible
    for a saved clock file, which has no training data), the bias correction refitted on the
    reference people of :func:`matched_ages`, and :func:`longitudinal_correction`. Each uses the
    primary model's structure and covariates. Estimates of another clock are on that clock's
    own scale.

    Returns
    -------
    (DataFrame, list of str)
        Rows as :func:`model_sensitivity`, and a note for each analysis that could not be run.
    """
    design = primary.design
    month = _month(design, month)
    trial, table = data.trial, data.table
    parts, notes = [], []
    for name, kwargs in CLOCK_VARIANTS:
        if data.clock_kind in ("saved", "given"):
            notes.append(f"{name}: not available for a saved clock (it has no training data to retrain on).")
            continue
        result = apply_clock(trial, seed=seed, **kwargs)
        other = analysis_table(trial, result.table)
        fit = fit_clda(other, design, outcome=primary.outcome, covariance=primary.structure,
                       covariates=covariate_terms(other))
        parts.append(_rows(_with_parts(_at(fit.effects, month), month), name, "any usable scan", fit.n_groups,
                           scale=f"{result.clock.model}, {result.clock.connectivity}"))
    low, high = matched_ages(table)
    try:
        matched = apply_clock(trial, seed=seed, correction_ages=(low, high))
    except ValueError as err:
        notes.append(f"Bias correction fitted on reference ages {low:g}-{high:g}: not available ({err}).")
    else:
        other = analysis_table(trial, matched.table)
        fit = fit_clda(other, design, outcome=primary.outcome, covariance=primary.structure,
                       covariates=covariate_terms(other))
        parts.append(_rows(_with_parts(_at(fit.effects, month), month),
                           f"Bias correction fitted on reference ages {low:g}\u2013{high:g} "
                           f"(n = {matched.n_correction})", "any usable scan", fit.n_groups,
                           scale="age-matched correction"))
    lc = longitudinal_correction(table, data.clock, design, month)
    parts.append(_rows(lc.drop(columns="n"), "Longitudinal correction (Levakov 2023), change score",
                       "modified ITT, complete", int(lc["n"].iloc[0])))
    return pd.concat(parts, ignore_index=True)[SENSITIVITY_COLUMNS], notes


def agreement(sensitivity: pd.DataFrame, design: TrialDesign) -> dict[str, dict[str, Any]]:
    """Per contrast: how many alternative analyses agree with the primary one in direction and in
    whether the interval excludes zero (the first row of each contrast is the primary one)."""
    out = {}
    for comparison, rows in sensitivity.groupby("comparison", sort=False):
        first, rest = rows.iloc[0], rows.iloc[1:]
        sign = np.sign(first["estimate"])
        excludes = (rest["ci_high"] < 0) | (rest["ci_low"] > 0)
        out[comparison] = dict(
            n=int(len(rest)), same_direction=int((np.sign(rest["estimate"]) == sign).sum()),
            excludes_zero=int(excludes.sum()), primary_excludes=bool(first["ci_high"] < 0 or first["ci_low"] > 0),
            min=float(rows["estimate"].min()), max=float(rows["estimate"].max()))
    return out


# --- missing data: multiple imputation and tipping point --------------------------------------


@dataclass(frozen=True)
class MissingDataAnalysis:
    """Multiple imputation with auxiliary variables and the delta-adjusted tipping point.

    Attributes
    ----------
    mi : DataFrame
        Per active arm vs control: ``comparison, arm, reference, month, estimate, se, ci_low,
        ci_high, p, n, n_missing`` -- the pooled ANCOVA under missing at random given the
        auxiliaries (the delta = 0 row of the tipping-point grid: the same imputations).
    tipping : DataFrame
        ``comparison, arm, reference, month, level, tipping_delta, status``: the smallest delta
        at which the contrast is no longer significant at the level that applies to it in the
        primary family's Holm step (``status``: ``tips``, ``not significant at delta 0`` or
        ``significant over the whole grid``).
    grid : DataFrame
        The pooled contrasts over the delta grid (:func:`analysis.stats.tipping_point`).
    auxiliary : tuple of str
        Auxiliary variables used.
    n_imputations : int
    population : int
        People analysed (modified ITT).
    """

    mi: pd.DataFrame
    tipping: pd.DataFrame
    grid: pd.DataFrame
    auxiliary: tuple
    n_imputations: int
    population: int


#: Auxiliary variables of the imputation model: column of :func:`person_table` -> name on the page.
AUXILIARY = {"adherence": "adherence", "mvc_change_pct": "strength change", "fd_followup": "head motion at the visit"}


def _holm_levels(effects: pd.DataFrame, design: TrialDesign, month: int, alpha: float) -> pd.Series:
    """Level each arm-vs-control contrast at ``month`` is tested at in its Holm step."""
    fam = effects[(effects["month"] == month) & (effects["reference"] == design.control)]
    p = fam.set_index("comparison")["p"].sort_values(kind="stable")
    m = len(p)
    return pd.Series([alpha / (m - i) for i in range(m)], index=p.index)


def missing_data_analysis(table: pd.DataFrame, primary: PrimaryModel, month: int | None = None, *,
                          n_imputations: int = N_IMPUTATIONS, step: float = TIPPING_STEP,
                          max_sd: float = TIPPING_MAX_SD, alpha: float = ALPHA, seed: int = 0
                          ) -> MissingDataAnalysis:
    """Multiple imputation with auxiliaries and the tipping point of each active arm vs control.

    The modified ITT population (usable baseline scan); missing gaps at ``month`` are imputed
    ``n_imputations`` times within each arm from the baseline gap, the covariates and the
    auxiliary variables the trial has (:data:`AUXILIARY`: adherence, strength change, head motion
    at the visit); each completed data set is analysed by ANCOVA and pooled by Rubin's rules
    (:func:`analysis.stats.tipping_point`, whose imputations are drawn once and reused over the
    delta grid: 0 to ``max_sd`` baseline SDs in steps of ``step``). The delta = 0 row is the
    multiple-imputation estimate. The tipping level of a contrast is its Holm step level in the
    primary family (``alpha / (m - rank + 1)``).
    """
    design = primary.design
    month = _month(design, month)
    person = person_table(table, design, month, outcome=primary.outcome)
    mitt = person[person["has_baseline_scan"]].reset_index(drop=True)
    auxiliary = [c for c in AUXILIARY if mitt[c].notna().any()]
    cat = _categorical(mitt)
    sd, _ = baseline_spread(table, design, primary.outcome)
    deltas = np.arange(0.0, max_sd * sd + step / 2, step)
    levels = _holm_levels(primary.effects, design, month, alpha)
    res = stats.tipping_point(mitt, "outcome", "arm", control=design.control, deltas=deltas,
                              baseline="baseline_gap", covariates=["baseline_age", "baseline_fd", cat],
                              auxiliary=auxiliary, arms=design.active_arms, n_imputations=n_imputations,
                              alpha=float(levels.min()), random_state=seed)
    grid = res.table
    mi = grid[grid["delta"] == 0.0].drop(columns=["delta", "significant"]).reset_index(drop=True)
    mi = _with_parts(mi, month)
    missing = mitt["outcome"].isna()
    mi["n"] = [int(mitt["arm"].isin([a, b]).sum()) for a, b in zip(mi["arm"], mi["reference"])]
    mi["n_missing"] = [int((missing & mitt["arm"].isin([a, b])).sum()) for a, b in zip(mi["arm"], mi["reference"])]
    rows = []
    for comparison, g in grid.groupby("comparison", sort=False):
        level = float(levels[comparison])
        sig = (g["p"] <= level).to_numpy()
        if not sig[0]:
            rows.append((comparison, level, 0.0, "not significant at delta 0"))
        elif sig.all():
            rows.append((comparison, level, float(g["delta"].max()), "significant over the whole grid"))
        else:
            rows.append((comparison, level, float(g["delta"].to_numpy()[np.argmin(sig)]), "tips"))
    tipping = _with_parts(pd.DataFrame(rows, columns=["comparison", "level", "tipping_delta", "status"]), month)
    return MissingDataAnalysis(mi=mi, tipping=tipping, grid=grid, auxiliary=tuple(auxiliary),
                               n_imputations=int(n_imputations), population=int(len(mitt)))


# --- complier average causal effect --------------------------------------------------------------


def complier_effects(table: pd.DataFrame, design: TrialDesign, month: int | None = None, *,
                     outcome: str = OUTCOME, per_protocol_min: float = PER_PROTOCOL_MIN_SESSIONS,
                     dose: float = PLANNED_SESSIONS) -> pd.DataFrame | None:
    """Complier average causal effect (2SLS) beside ITT, per-protocol and as-treated estimates.

    Modified ITT people with the outcome at ``month``; randomisation instruments adherence
    (sessions/week; 0 for controls, who were not offered training); adjusted for the baseline
    gap, age and motion at baseline and strata (or sex) (:func:`analysis.stats.cace`). The
    dose-based rows are per ``dose`` sessions/week. Trainees with the outcome but no recorded
    adherence are left out (their number is in ``attrs["n_no_adherence"]``). ``None`` when the
    trial records no adherence.

    Returns ``comparison, arm, reference, month, method, estimate, se, ci_low, ci_high, p, n,
    first_stage_f``.
    """
    month = _month(design, month)
    person = person_table(table, design, month, outcome=outcome)
    if person["adherence"].isna().all():
        return None
    d = person[person["has_baseline_scan"] & person["outcome"].notna()]
    lacking = (d["arm"] != design.control) & d["adherence"].isna()
    d = d[~lacking]
    cat = _categorical(d)
    out = stats.cace(d, "outcome", "adherence", "arm", control=design.control, arms=design.active_arms,
                     covariates=["baseline_gap", "baseline_age", "baseline_fd", f"C({cat})"],
                     per_protocol_min=per_protocol_min, dose=dose)
    out = _with_parts(out, month)
    out.attrs["n_no_adherence"] = int(lacking.sum())
    return out


# --- heterogeneity -------------------------------------------------------------------------------


def heterogeneity(table: pd.DataFrame, design: TrialDesign, month: int | None = None, *,
                  outcome: str = OUTCOME) -> pd.DataFrame:
    """Arm effects by the plan's effect modifiers and Holm-adjusted interaction tests.

    Modified ITT people with the outcome at ``month``; modifiers :data:`MODIFIERS` that the trial
    has (sex, baseline gap, baseline strength); ANCOVA adjusted for the baseline gap, age and
    motion at baseline and sex (:func:`analysis.stats.subgroup_effects`). The interaction
    p-values of all modifiers and arms form one Holm family.
    """
    month = _month(design, month)
    person = person_table(table, design, month, outcome=outcome)
    d = person[person["has_baseline_scan"]]
    modifiers = [m for m in MODIFIERS if m in d.columns and d[m].notna().any()]
    out = stats.subgroup_effects(d, "outcome", "arm", modifiers, control=design.control, arms=design.active_arms,
                                 baseline="baseline_gap", covariates=["baseline_age", "baseline_fd", "sex"])
    return _with_parts(out.rename(columns={"comparison": "comparison"}), month)


# --- truth and scale (synthetic data) --------------------------------------------------------


def truth_lines(data: Any, month: int) -> dict[str, float] | None:
    """Synthetic trial: the true effect of each contrast at ``month`` on the clock's scale (for a
    forest plot); ``None`` for real data."""
    if not data.synthetic:
        return None
    truth = true_effects(data.trial, month, scale_factor=data.scale_factor("beheshti"))
    return dict(zip(truth["comparison"], truth["assumed_clock"]))


def clock_scale_factor(trial: Any, brain_age: pd.DataFrame, scale: str = "beheshti") -> float:
    """Factor turning a latent brain-age effect into the expected effect on a gap ``scale``.

    A ridge clock shrinks predictions (slope ``b`` of predicted on latent brain age, below 1),
    so a latent change ``d`` appears as ``b d`` on the Beheshti and uncorrected scales and as
    ``b d / alpha`` after Cole's correction (``alpha``: slope of predicted on age in training).
    Needs a synthetic trial (its latent brain ages); see :mod:`analysis.simstudy`.
    """
    return float(simstudy.measurement_from_trial(trial, brain_age).scale_factor(scale))


def true_effects(trial: Any, month: int, *, scale_factor: float | None = None) -> pd.DataFrame:
    """The simulator's true arm differences in latent brain-age change from baseline to ``month``.

    ``assumed`` (from ``trial.assumptions``, the population value) and ``realised`` (mean
    ``arm_effect + strength_term`` in this sample, from ``trial.truth``), for every contrast of
    ``trial.design``; with ``scale_factor`` (:func:`clock_scale_factor`) also on the clock's
    scale (``*_clock``).
    """
    if getattr(trial, "truth", None) is None or getattr(trial, "assumptions", None) is None:
        raise ValueError("trial has no truth: true effects exist only for a synthetic trial")
    design = trial.design
    a = trial.assumptions
    assumed = {arm: float(getattr(a, f"effect_{month}m_{arm.lower()}", 0.0)) for arm in design.labels}
    assumed[design.control] = 0.0
    t = trial.truth
    latent = t["arm_effect"] + t.get("strength_term", 0.0)
    realised = latent.groupby([t["arm"], t["month"]]).mean()
    rows = []
    for x, y in design.contrasts():
        row = {"comparison": f"{x} - {y}", "arm": x, "reference": y, "month": int(month),
               "assumed": assumed[x] - assumed[y],
               "realised": float((realised[x, month] - realised[x, design.baseline])
                                 - (realised[y, month] - realised[y, design.baseline]))}
        if scale_factor is not None:
            row["assumed_clock"] = row["assumed"] * scale_factor
            row["realised_clock"] = row["realised"] * scale_factor
        rows.append(row)
    return pd.DataFrame(rows)


# --- follow-up -------------------------------------------------------------------------------


def persistence_effects(primary: PrimaryModel) -> pd.DataFrame:
    """Exploratory: each active arm's effect vs control at each follow-up visit minus at the primary visit.

    Equal to the difference between the arm's and control's mean change from the primary visit to
    the follow-up visit (a randomised comparison; not part of the gatekept families, so read as
    exploratory with unadjusted intervals). Empty when the design has no follow-up visit.

    Returns ``comparison, arm, reference, month, start, estimate, se, ci_low, ci_high, p``.
    """
    design = primary.design
    L, rows = {}, []
    for month in design.followup_visits:
        for arm in design.active_arms:
            L[f"{arm}|{month}"] = {f"arm[{arm}]:month[{month}]": 1.0, f"arm[{arm}]:month[{design.primary_visit}]": -1.0}
            rows.append((f"{arm} - {design.control}", arm, design.control, int(month)))
    if not L:
        return pd.DataFrame(columns=["comparison", "arm", "reference", "month", "start", *stats.EFFECT_COLUMNS])
    out = stats.contrast(primary.fit, L).reset_index(drop=True)
    info = pd.DataFrame(rows, columns=["comparison", "arm", "reference", "month"])
    info["start"] = int(design.primary_visit)
    return pd.concat([info, out], axis=1)


def within_arm_changes(primary: PrimaryModel, start: int | None = None, end: int | None = None) -> pd.DataFrame:
    """Model-estimated change of the mean gap within each arm from ``start`` (default the primary
    visit) to ``end`` (default the first follow-up visit). Not randomised comparisons: everyone
    also aged, and the clock or scanner may drift.

    Returns ``arm, start, end, estimate, se, ci_low, ci_high, p``.
    """
    design = primary.design
    start = design.primary_visit if start is None else start
    if end is None:
        if not design.followup_visits:
            raise ValueError("the design has no follow-up visit; give end=")
        end = design.followup_visits[0]
    for name, month in (("start", start), ("end", end)):
        if month not in design.visits:
            raise ValueError(f"{name} must be a visit of the design {list(design.visits)}; got {month!r}")

    def mean_terms(arm: str, month: int) -> dict[str, float]:
        if month == design.baseline:
            return {}
        w = {f"month[{month}]": 1.0}
        if arm != design.control:
            w[f"arm[{arm}]:month[{month}]"] = 1.0
        return w

    L = {}
    for arm in design.labels:
        w = mean_terms(arm, end)
        for term, value in mean_terms(arm, start).items():
            w[term] = w.get(term, 0.0) - value
        L[arm] = w
    out = stats.contrast(primary.fit, L).reset_index(names="arm")
    out.insert(1, "start", int(start))
    out.insert(2, "end", int(end))
    return out


def self_training_effect(table: pd.DataFrame, design: TrialDesign, *, outcome: str = OUTCOME,
                         start: int | None = None, end: int | None = None) -> pd.DataFrame | None:
    """Exploratory association: change from ``start`` to ``end`` in trainees who kept training minus
    those who stopped (self-training was not randomised).

    Trainees of the active arms with a known ``self_training`` status; random-intercept model
    ``outcome ~ C(month) * kept_training [+ C(arm)] + age + C(sex) + mean_fd_mm``. Defaults: the
    primary visit to the first follow-up visit. ``None`` when the trial records no self-training
    or has no follow-up visit.

    Returns one row: ``estimate, se, ci_low, ci_high, p, n_people_kept, n_people_stopped, start, end``.
    """
    if not design.followup_visits or table["self_training"].isna().all():
        return None
    start = design.primary_visit if start is None else start
    end = design.followup_visits[0] if end is None else end
    d = table[(table["arm"] != design.control) & table["month"].isin([start, end]) & table["self_training"].notna()]
    d = d.assign(kept_training=d["self_training"].astype(bool).astype(int))
    arm_term = " + C(arm)" if d["arm"].nunique() > 1 else ""
    formula = f"{outcome} ~ C(month) * kept_training{arm_term} + age + C(sex) + mean_fd_mm"
    fit = stats.mixed_model(d, formula, "participant_id")
    out = stats.contrast(fit, {"kept - stopped": {f"C(month)[T.{end}]:kept_training": 1.0}})
    used = d.dropna(subset=[outcome]).drop_duplicates("participant_id")
    out["n_people_kept"] = int(used["kept_training"].sum())
    out["n_people_stopped"] = int((1 - used["kept_training"]).sum())
    out["start"], out["end"] = int(start), int(end)
    return out


def true_self_training_effect(trial: Any, *, start: int | None = None, end: int | None = None) -> float:
    """Realised latent difference in brain-age change, kept vs stopped training (synthetic only)."""
    design = trial.design
    start = design.primary_visit if start is None else start
    end = design.followup_visits[0] if end is None else end
    t = trial.truth
    latent = (t["arm_effect"] + t["strength_term"]).rename("latent")
    wide = t.assign(latent=latent).pivot_table(index="participant_id", columns="month", values="latent")
    change = (wide[end] - wide[start]).rename("change")
    st = trial.visits.loc[trial.visits["month"] == end, ["participant_id", "self_training"]].dropna()
    d = st.merge(change.reset_index(), on="participant_id")
    kept = d["self_training"].astype(bool)
    return float(d.loc[kept, "change"].mean() - d.loc[~kept, "change"].mean())


# --- strength -------------------------------------------------------------------------------


def change_table(table: pd.DataFrame, design: TrialDesign = LISA, start: int | None = None, end: int | None = None,
                 *, outcome: str = OUTCOME) -> pd.DataFrame:
    """Per-person change from ``start`` (baseline) to ``end`` (primary visit) in strength and the gap.

    Returns one row per person with both values at both visits: ``participant_id, arm, sex,
    baseline_age, gap_start, gap_end, gap_change, mvc_start, mvc_end, mvc_change,
    mvc_change_pct, self_training`` (empty when the trial has no strength data).
    """
    start = design.baseline if start is None else start
    end = design.primary_visit if end is None else end
    cols = {outcome: "gap", MVC: "mvc"}
    _require(table, ["participant_id", "month", *cols])
    wide = table.pivot_table(index="participant_id", columns="month", values=list(cols), aggfunc="first")
    out = pd.DataFrame(index=table["participant_id"].drop_duplicates())
    for src, short in cols.items():
        out[f"{short}_start"] = wide[(src, start)] if (src, start) in wide else np.nan
        out[f"{short}_end"] = wide[(src, end)] if (src, end) in wide else np.nan
        out[f"{short}_change"] = out[f"{short}_end"] - out[f"{short}_start"]
    out["mvc_change_pct"] = 100 * out["mvc_change"] / out["mvc_start"]
    people = table.drop_duplicates("participant_id").set_index("participant_id")[
        ["arm", "sex", "baseline_age", "self_training"]]
    out = people.join(out, how="inner").dropna(subset=["gap_change", "mvc_change"])
    return out.reset_index()


#: Correlation methods: method -> key stem.
CORRELATION_KEYS = {"pearson": "r", "spearman": "rho", "partial": "partial_r"}


def strength_correlations(changes: pd.DataFrame, design: TrialDesign = LISA, x: str = "mvc_change_pct",
                          y: str = "gap_change", *, covariates: Sequence[str] = ("baseline_age", "sex", "gap_start",
                                                                                    "mvc_start"),
                          n_boot: int = 2000, random_state: int = 0) -> pd.DataFrame:
    """Pearson, Spearman and partial correlation of two changes, over all people and within each arm.

    Returns ``group, method, n, r, ci_low, ci_high, p`` (bootstrap percentile CIs; partial:
    Pearson adjusted for ``covariates``); groups ``All`` then the arms in design order.
    """
    groups = [("All", changes)] + [(arm, changes[changes["arm"] == arm]) for arm in design.labels
                                   if (changes["arm"] == arm).any()]
    rows = []
    for name, d in groups:
        for method in ("pearson", "spearman"):
            r = stats.correlation(d, x, y, method=method, n_boot=n_boot, random_state=random_state)
            rows.append(r.reset_index().assign(group=name))
        p = stats.partial_correlation(d, x, y, list(covariates), n_boot=n_boot, random_state=random_state)
        rows.append(p.reset_index().assign(group=name, method="partial").drop(columns="covariates"))
    out = pd.concat(rows, ignore_index=True)
    return out[["group", "method", "n", "r", "ci_low", "ci_high", "p"]]


def strength_interaction(changes: pd.DataFrame, design: TrialDesign = LISA, x: str = "mvc_change_pct",
                         y: str = "gap_change", *,
                         covariates: Sequence[str] = ("baseline_age", "sex", "gap_start", "mvc_start")
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Regression of the gap change on arm x strength change, adjusted for covariates.

    Returns the slope of ``y`` on ``x`` within each arm (``arm, estimate, se, ci_low, ci_high,
    p``) and the interaction terms (each arm's slope minus control's, with the joint F-test p in
    ``p_joint``).
    """
    term = f"C(arm, Treatment({design.control!r}))"
    formula = f"{y} ~ {term} * {x} + " + " + ".join(covariates)
    _, fit = stats.ols(changes, formula)
    names = list(fit.params.index)
    arms = [a for a in design.labels if (changes["arm"] == a).any()]
    slopes = {arm: ({x: 1.0} if arm == design.control else {x: 1.0, f"{term}[T.{arm}]:{x}": 1.0}) for arm in arms}
    slope_table = stats.contrast(fit, slopes).reset_index().rename(columns={"contrast": "arm"})
    inter = [n for n in names if n.startswith(term) and n.endswith(f":{x}")]
    inter_table = stats.tidy_effects(fit.params[inter], fit.bse[inter], df=fit.df_resid)
    R = np.zeros((len(inter), len(names)))
    for i, n in enumerate(inter):
        R[i, names.index(n)] = 1.0
    inter_table["p_joint"] = float(fit.f_test(R).pvalue) if inter else np.nan
    return slope_table, inter_table.reset_index()


def strength_family(correlations: pd.DataFrame, interaction: pd.DataFrame) -> pd.DataFrame:
    """The strength hypotheses as one family, Holm-adjusted: the partial correlation over all people
    and within each arm, and the joint test that the arms' slopes are equal.

    Returns ``test, group, p, p_holm``.
    """
    partial = correlations[correlations["method"] == "partial"]
    rows = [("partial correlation", g, p) for g, p in zip(partial["group"], partial["p"])]
    if len(interaction) and pd.notna(interaction["p_joint"].iloc[0]):
        rows.append(("arm x strength-change interaction", "all arms", float(interaction["p_joint"].iloc[0])))
    out = pd.DataFrame(rows, columns=["test", "group", "p"])
    out["p_holm"] = stats.holm(out["p"].to_numpy())
    return out


def strength_truth(trial: Any, changes: pd.DataFrame, *, end: int | None = None) -> dict[str, float]:
    """Synthetic only: reliability of the measured strength change and the true coupling.

    Returns ``coupling`` (latent years per percentage point), ``reliability`` (variance of the
    true % change / variance of the measured % change among the people in ``changes``) and
    ``corr_true_measured``.
    """
    end = trial.design.primary_visit if end is None else end
    t = trial.truth
    true_change = t.loc[t["month"] == end].set_index("participant_id")["strength_change_pct"]
    d = changes.set_index("participant_id").join(true_change.rename("true_pct"), how="inner").dropna(
        subset=["true_pct", "mvc_change_pct"])
    true_pct = d["true_pct"]
    return {
        "coupling": float(trial.assumptions.strength_coupling),
        "reliability": float(true_pct.var() / d["mvc_change_pct"].var()),
        "corr_true_measured": float(np.corrcoef(true_pct, d["mvc_change_pct"])[0, 1]),
    }


# --- page sections ----------------------------------------------------------------------------


def _not_available_table(what: str) -> pd.DataFrame:
    return pd.DataFrame({"": [f"{what}: {NOT_AVAILABLE}."]})


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def population_section(table: pd.DataFrame, design: TrialDesign) -> Section:
    """Counts of the analysis populations (results ``arms.n_randomised``, ``arms.n_mitt``,
    ``arms.n_people``, ``arms.n_scans``), the table and ``arms.population_text``."""
    pops = populations(table, design)
    n_rand = int(pops.loc["randomised (ITT)", "total"])
    n_mitt = int(pops.loc["modified ITT", "total"])
    n_any = int(pops.loc["any usable scan", "total"])
    n_scans = int(table["has_scan"].sum())
    results = _results([
        _row("arms.n_randomised", n_rand, unit="people", decimals=0, description="People randomised (ITT population)"),
        _row("arms.n_mitt", n_mitt, unit="people", decimals=0,
             description="People with a usable baseline scan (modified ITT population)"),
        _row("arms.n_people", n_any, unit="people", decimals=0,
             description="People with at least one usable rs-fMRI scan"),
        _row("arms.n_scans", n_scans, unit="scans", decimals=0, description="Usable rs-fMRI scans, all visits"),
    ])
    arms = _join([f"{a.label} ({a.description.lower()})" if a.description else a.label for a in design.arms
                  if a.label != design.control])
    control = design.descriptions.get(design.control) or ""
    design_text = (f"The trial has {_count(len(design.active_arms), 'active arm')}, {arms}, and the control arm "
                   f"{design.control}{' -- ' + control.lower() if control else ''}; visits at months "
                   f"{_join([str(v) for v in design.visits])}, the primary comparison at month {design.primary_visit}"
                   + (f" and follow-up at month {_join([str(v) for v in design.followup_visits])}"
                      if design.followup_visits else "") + ".")
    text = (f"Of the {n_rand} people randomised, {n_mitt} ({_fmt(100 * n_mitt / n_rand, 0)}%) had a usable baseline "
            f"scan: the modified intention-to-treat (mITT) population. ")
    if n_any == n_mitt:
        text += (f"Nobody without a usable baseline scan had a later one, so the primary model's data -- all "
                 f"{n_scans} usable scans -- come from exactly the mITT population.")
    else:
        text += (f"{n_any - n_mitt} more had a usable scan at a later visit only; the primary model uses all "
                 f"{n_scans} usable scans of the {n_any} people with any (the randomised population under missing at "
                 f"random), the ANCOVA-type analyses the mITT population.")
    scanned = table.loc[table["has_scan"], "participant_id"].unique()
    people = table.drop_duplicates("participant_id")
    n_imputed = int(people.loc[people["participant_id"].isin(scanned), "baseline_fd_imputed"].sum())
    if n_imputed:
        text += (f" Baseline head motion was unknown for {_count(n_imputed, 'person', 'people')} with a usable scan "
                 "and set to the mean (a baseline covariate in a randomised trial).")
    return Section(results=results, texts={"arms.population_text": text, "arms.design_text": design_text}, table=pops)


def scan_counts(table: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Usable scans per arm (rows, design order) and visit (columns ``month <m>``)."""
    scans = table[table["has_scan"]]
    counts = scans.groupby(["arm", "month"]).size().unstack("month").reindex(index=design.labels,
                                                                              columns=list(design.visits))
    return counts.fillna(0).astype(int).rename(columns=lambda m: f"month {m}")


def model_choice_section(primary: PrimaryModel) -> Section:
    """The covariance comparison (table) and ``arms.model_choice_text``: which structure is used and
    what AIC and the likelihood-ratio test say, in words chosen from the numbers."""
    cmp = primary.comparison
    un, ex = cmp.loc["unstructured"], cmp.loc["exchangeable"]
    extra = int(un["lr_df"])
    numbers = (f"AIC {_fmt(un['aic'], 1)} for the unstructured and {_fmt(ex['aic'], 1)} for the exchangeable "
               f"structure; likelihood-ratio test of the {extra} extra covariance parameters p = {_fmt(un['lr_p'], 3)}")
    if primary.planned:
        text = "The unstructured within-person covariance is used, as the plan specifies. "
        if un["aic"] < ex["aic"]:
            text += f"It also fits better than the exchangeable (random-intercept) structure: {numbers}."
        else:
            text += (f"The exchangeable (random-intercept) structure has the lower AIC ({numbers}): the data do not need "
                     "the extra parameters, but the plan fixes the structure in advance; the exchangeable fit is shown "
                     "among the sensitivity analyses.")
    else:
        text = (f"The unstructured fit did not converge, so, as the plan specifies, the exchangeable (random-intercept) "
                f"structure is used ({numbers}).")
    results = _results([
        _row("arms.covariance_lr_p", un["lr_p"], decimals=3,
             description="Likelihood-ratio test, unstructured vs exchangeable within-person covariance (REML)"),
        _row("arms.covariance_aic_difference", ex["aic"] - un["aic"], decimals=1,
             description="AIC of the exchangeable minus the unstructured covariance (positive favours unstructured)"),
    ])
    shown = cmp[["n_cov_params", "llf", "aic", "bic", "lr_stat", "lr_df", "lr_p"]]
    return Section(results=results, texts={"arms.model_choice_text": text}, table=shown)


def _section_months(design: TrialDesign, section: str) -> list[int]:
    if section == "arms":
        return [m for m in design.post_baseline if not design.is_followup(m)]
    if section == "followup":
        return list(design.followup_visits)
    raise ValueError(f"section must be 'arms' or 'followup'; got {section!r}")


def _gate_text(effects: pd.DataFrame) -> str:
    """What the gatekeeping decided, family by family, in words chosen from the decisions."""
    fams = effects[effects["family"] != "exploratory"].sort_values("family_order", kind="stable")
    order = list(dict.fromkeys(fams["family"]))
    sentences, open_gate = [], True
    for i, name in enumerate(order):
        f = fams[fams["family"] == name]
        k, m = int(f["rejected"].sum()), len(f)
        which = _join([f"{_minus(c)} at month {mo}" for c, mo in zip(f["comparison"], f["month"])])
        if open_gate:
            sentences.append(f"The {name} family ({which}) was tested at the full 5% level: {k} of {m} "
                             f"hypothes{'is' if m == 1 else 'es'} rejected.")
        else:
            sentences.append(f"The {name} family ({which}) was not reached, so none of its hypotheses can be rejected; "
                             "its adjusted p-values carry the gate of the earlier families.")
        open_gate = open_gate and k == m
        if i + 1 < len(order) and open_gate:
            sentences.append("Every hypothesis so far was rejected, so the next family is tested.")
    return " ".join(sentences)


def effects_section(primary: PrimaryModel, table: pd.DataFrame, section: str = "arms") -> Section:
    """Arm effects of the primary model at the section's visits, gatekept and standardised.

    ``section="arms"``: post-baseline visits during the intervention (keys ``arms.*``);
    ``"followup"``: follow-up visits (``followup.*``). Results: each contrast's estimate (y, 95%
    CI), its gatekept adjusted p (``p_adj_*``; confirmatory contrasts only) and its standardised
    estimate (``std_*``); ``arms.baseline_gap_sd``; the number of hypotheses rejected in each
    family. Texts: ``<section>.conclusions`` (one sentence per contrast from
    :func:`analysis.stats.conclusion`), ``<section>.gatekeeping_text``, ``<section>.std_text``.
    """
    design = primary.design
    months = _section_months(design, section)
    sd, n_sd = baseline_spread(table, design, primary.outcome)
    eff = standardized(primary.effects, table, design, primary.outcome)
    shown = eff[eff["month"].isin(months)]
    rows = []
    for r in shown.itertuples():
        rows.append(_row(r.key, r.estimate, ci=(r.ci_low, r.ci_high), unit="y",
                         description=f"{r.comparison} at month {r.month}: difference in mean brain age gap (cLDA, "
                                     f"{primary.structure} covariance; = difference in mean change from baseline)"))
        if r.family != "exploratory":
            rows.append(_row(design.result_key(r.arm, r.reference, r.month, prefix="p_adj"), r.p_adj, decimals=3,
                             description=f"{r.comparison} at month {r.month}: gatekept Holm-adjusted p "
                                         f"({r.family} family)"))
        rows.append(_row(design.result_key(r.arm, r.reference, r.month, prefix="std"), r.estimate_sd,
                         ci=(r.ci_low_sd, r.ci_high_sd), unit="SD",
                         description=f"{r.comparison} at month {r.month} in baseline SDs of the gap (CI includes the "
                                     "SD's uncertainty)"))
    fams = shown[shown["family"] != "exploratory"].drop_duplicates("family")
    for name in fams["family"]:
        f = primary.effects[primary.effects["family"] == name]
        rows.append(_row(f"{section}.n_rejected_{_slug(name)}_family", int(f["rejected"].sum()), decimals=0,
                         description=f"Hypotheses of the {name} family rejected by gatekeeping (of {len(f)})"))
    if section == "arms":
        rows.append(_row("arms.baseline_gap_sd", sd, unit="y", description="SD of the brain age gap at baseline"))
    std_text = (f"In standard deviations of the baseline gap (SD {_fmt(sd)} y over {n_sd} people; the intervals "
                "include the uncertainty of the SD): "
                + "; ".join(f"{_minus(r.comparison)} at month {r.month} {_fmt(r.estimate_sd)} (95% CI "
                            f"{_fmt(r.ci_low_sd)} to {_fmt(r.ci_high_sd)})" for r in shown.itertuples()) + ".")
    if section == "followup":
        for m in months:
            n = int((table["has_scan"] & (table["month"] == m)).sum())
            rows.append(_row(f"followup.n_scans_{m}m", n, unit="scans", decimals=0,
                             description=f"Usable rs-fMRI scans at month {m}"))
    texts = {f"{section}.conclusions": " ".join(shown["conclusion"]) if len(shown) else
             "This trial has no visit of this kind.",
             f"{section}.gatekeeping_text": _gate_text(primary.effects),
             f"{section}.std_text": std_text if len(shown) else ""}
    if section == "followup":
        texts["followup.design_text"] = (
            "This trial has no follow-up visit after the intervention." if not months else
            "Follow-up " + ("visit: month " if len(months) == 1 else "visits: months ") + _join([str(m) for m in months])
            + " (" + _join([f"{int((table['has_scan'] & (table['month'] == m)).sum())} usable scans at month {m}"
                            for m in months]) + ").")
    cols = ["comparison", "month", "estimate", "se", "ci_low", "ci_high", "p", "family", "p_adj", "estimate_sd",
            "ci_low_sd", "ci_high_sd"]
    return Section(results=_results(rows), texts=texts, table=shown[cols].set_index(["comparison", "month"]))


def truth_section(data: Any, effects: pd.DataFrame, month: int | None = None, section: str = "arms", *,
                  clock_scale_keys: bool = False) -> Section:
    """Synthetic trial: the simulator's true effects at ``month`` beside the estimates (table,
    ``<section>.true_*`` keys, ``<section>.truth_text``); real data: the text says they are not known.

    Keys ``<section>.true_<a>_vs_<b>_<m>m`` hold the latent effect and ``..._clock`` the effect on
    the clock's scale; with ``clock_scale_keys`` the first holds the clock-scale value (as the
    follow-up page always did). ``month`` defaults to the primary visit (``arms``) or the last
    follow-up visit (``followup``, which also gets ``followup.true_persistence_*``: the true
    change of each active arm's effect since the primary visit, clock scale).
    """
    design = data.design
    if month is None:
        months = _section_months(design, section)
        if not months:
            return Section(texts={f"{section}.truth_text": "This trial has no visit of this kind."},
                           table=_not_available_table("Visits"))
        month = design.primary_visit if section == "arms" else months[-1]
    if not data.synthetic:
        return Section(texts={f"{section}.truth_text": "The true effects are not known for real data."},
                       table=_not_available_table("True effects (real data)"))
    factor = data.scale_factor("beheshti")
    truth = true_effects(data.trial, month, scale_factor=factor)
    est = effects[effects["month"] == month][["comparison", "estimate", "ci_low", "ci_high"]]
    side = truth.merge(est, on="comparison", how="left")
    side["covered"] = (side["ci_low"] <= side["realised_clock"]) & (side["realised_clock"] <= side["ci_high"])
    rows = [] if section != "arms" else [
        _row("arms.clock_slope", factor, decimals=2,
             description="Slope of predicted on latent brain age (latent-to-clock effect factor)")]
    for r in side.itertuples():
        key = design.result_key(r.arm, r.reference, month, prefix="true")
        if clock_scale_keys:
            rows.append(_row(key, r.assumed_clock, unit="y",
                             description=f"True effect {r.comparison} at {month} m on the clock scale"))
        else:
            rows.append(_row(key, r.assumed, unit="y", description=f"True latent effect {r.comparison}, {month} m"))
            rows.append(_row(key + "_clock", r.assumed_clock, unit="y",
                             description=f"True effect {r.comparison}, {month} m, on the clock scale"))
    if section == "followup":
        before = true_effects(data.trial, design.primary_visit, scale_factor=factor).set_index("comparison")
        side["true persistence (clock scale)"] = side["assumed_clock"] - side["comparison"].map(before["assumed_clock"])
        for r in side[side["reference"] == design.control].itertuples():
            rows.append(_row(design.result_key(r.arm, r.reference, month, prefix="true_persistence"),
                             r[-1], unit="y", description=f"True effect {r.comparison} at month {month} minus at "
                                                          f"month {design.primary_visit}, clock scale"))
    n_cov = int(side["covered"].sum())
    text = ("On the clock's scale (slope of predicted on latent brain age " + _fmt(factor) + ") the simulator's true "
            "effects at month " + str(month) + " are " + _join([f"{_fmt(r.assumed_clock)} y for {_minus(r.comparison)}"
                                                                for r in side.itertuples()])
            + f" (latent scale: {_join([_fmt(v) + ' y' for v in side['assumed']])}); {n_cov} of {len(side)} intervals "
            "contain the realised true value.")
    extra = ["true persistence (clock scale)"] if section == "followup" else []
    shown = side.set_index("comparison")[["assumed", "assumed_clock", "realised_clock", "estimate", "ci_low",
                                          "ci_high", "covered", *extra]].rename(columns={
        "assumed": "true (latent scale)", "assumed_clock": "true (clock scale)",
        "realised_clock": "realised (clock scale)", "estimate": "estimate (clock scale)"})
    return Section(results=_results(rows), texts={f"{section}.truth_text": text}, table=shown)


def ancova_section(ancova: pd.DataFrame, design: TrialDesign) -> Section:
    """Complete-case ANCOVA: keys ``arms.ancova_*``, the table and ``arms.ancova_text``."""
    rows = [_row(design.result_key(r.arm, r.reference, r.month, prefix="ancova"), r.estimate,
                 ci=(r.ci_low, r.ci_high), unit="y",
                 description=f"{r.comparison}: baseline-adjusted difference in the month-{r.month} gap (ANCOVA, "
                             "complete cases)") for r in ancova.itertuples()]
    text = ("The complete-case ANCOVA (" + str(int(ancova["n"].iloc[0])) + " people) gives "
            + _join([f"{_interval(r._asdict())} y for {_minus(r.comparison)}" for r in ancova.itertuples()]) + ".")
    return Section(results=_results(rows), texts={"arms.ancova_text": text},
                   table=ancova.set_index("comparison")[[*stats.EFFECT_COLUMNS, "n"]])


#: Result-key prefix of each sensitivity analysis (by the start of its name); the primary row has none.
SENSITIVITY_PREFIXES = (
    ("cLDA, exchangeable", "exch"), ("cLDA, unstructured", "unstr"), ("Random intercept", "ri"),
    ("Per protocol", "pp"), ("ANCOVA", None), ("Clock on correlation", "clock_corr"), ("Clock with an SVR", "clock_svr"),
    ("Bias correction fitted", "matched"), ("Longitudinal correction", "longitudinal"),
    ("Multiple imputation", None),
)


def _prefix(analysis: str) -> str | None:
    for start, prefix in SENSITIVITY_PREFIXES:
        if analysis.startswith(start):
            return prefix
    return None


def mi_rows(mda: MissingDataAnalysis) -> pd.DataFrame:
    """The multiple-imputation estimates as sensitivity rows (:func:`model_sensitivity` columns)."""
    return _rows(mda.mi.drop(columns=["n", "n_missing"]),
                 f"Multiple imputation with auxiliaries ({mda.n_imputations} imputations), ANCOVA",
                 "modified ITT", mda.population)[SENSITIVITY_COLUMNS]


def sensitivity_section(frames: Sequence[pd.DataFrame], notes: Sequence[str], design: TrialDesign,
                        n_per_protocol: int | None = None) -> Section:
    """All sensitivity rows in one table (first row per contrast: the primary analysis), keys
    ``arms.<prefix>_<contrast>`` of each alternative (``pp``: per protocol; ``ri``: random
    intercept; ``exch``; ``clock_corr``; ``clock_svr``; ``matched``; ``longitudinal``),
    ``arms.n_per_protocol``, and ``arms.sensitivity_text``: per contrast, how many analyses agree
    in direction and in whether the interval excludes zero -- words chosen from the numbers."""
    sens = pd.concat(list(frames), ignore_index=True)
    order = {c: i for i, c in enumerate(dict.fromkeys(sens["comparison"]))}
    sens = sens.sort_values("comparison", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    rows = []
    for r in sens.itertuples():
        prefix = _prefix(r.analysis)
        if prefix:
            rows.append(_row(design.result_key(r.arm, r.reference, r.month, prefix=prefix), r.estimate,
                             ci=(r.ci_low, r.ci_high), unit="y", description=f"{r.comparison} at month {r.month}: "
                                                                             f"{r.analysis}"))
        if prefix == "pp" and n_per_protocol is None:
            n_per_protocol = int(r.n_people)
    if n_per_protocol is not None:
        rows.append(_row("arms.n_per_protocol", n_per_protocol, unit="people", decimals=0,
                         description="People in the per-protocol model"))
    parts = []
    for comparison, a in agreement(sens, design).items():
        primary_words = "excludes" if a["primary_excludes"] else "includes"
        parts.append(f"For {_minus(comparison)} (primary interval {primary_words} zero), {a['same_direction']} of "
                     f"{a['n']} alternative analyses give an estimate in the same direction and {a['excludes_zero']} "
                     f"{'has' if a['excludes_zero'] == 1 else 'have'} an interval that excludes zero; the estimates "
                     f"range from {_fmt(a['min'])} to "
                     f"{_fmt(a['max'])} y.")
    text = " ".join(parts)
    if notes:
        text += " " + " ".join(notes)
    return Section(results=_results(rows), texts={"arms.sensitivity_text": text}, table=sens)


def missing_data_section(mda: MissingDataAnalysis, table: pd.DataFrame, design: TrialDesign) -> Section:
    """Keys ``arms.mi_*`` (pooled estimate, 95% CI) and ``arms.tipping_delta_*`` (y), the tipping
    table and ``arms.missing_text`` / ``arms.tipping_text`` (words chosen from the numbers)."""
    sd, _ = baseline_spread(table, design)
    rows = []
    for r in mda.mi.itertuples():
        rows.append(_row(design.result_key(r.arm, r.reference, r.month, prefix="mi"), r.estimate,
                         ci=(r.ci_low, r.ci_high), unit="y",
                         description=f"{r.comparison} at month {r.month}: ANCOVA after multiple imputation with "
                                     f"auxiliaries ({mda.n_imputations} imputations, Rubin's rules)"))
    tip_words = []
    for r in mda.tipping.itertuples():
        what = {"tips": f"the tipping point is delta = {_fmt(r.tipping_delta)} y",
                "not significant at delta 0": "already under missing at random (delta = 0)",
                "significant over the whole grid": "at every delta of the grid"}[r.status]
        desc = {"tips": "smallest delta at which the contrast is no longer significant",
                "not significant at delta 0": "0: the contrast is not significant at delta 0",
                "significant over the whole grid": "the grid's largest delta (significant over the whole grid; the "
                                                   "tipping point is larger)"}[r.status]
        rows.append(_row(design.result_key(r.arm, r.reference, r.month, prefix="tipping_delta"), r.tipping_delta,
                         unit="y", description=f"{r.comparison} at month {r.month}, tipping point at level "
                                               f"{_fmt(r.level, 4)}: {desc}"))
        if r.status == "tips":
            tip_words.append(f"{_minus(r.comparison)} (tested at {_fmt(r.level, 4)}): {what}, "
                             f"{_fmt(r.tipping_delta / sd)} baseline SDs of the gap")
        elif r.status == "significant over the whole grid":
            tip_words.append(f"{_minus(r.comparison)} (tested at {_fmt(r.level, 4)}) stays significant {what} (up to "
                             f"{_fmt(r.tipping_delta)} y, {_fmt(r.tipping_delta / sd)} baseline SDs)")
        else:
            tip_words.append(f"{_minus(r.comparison)} (tested at {_fmt(r.level, 4)}) is not significant {what}")
    aux = _join([AUXILIARY[a] for a in mda.auxiliary]) or "none available"
    missing_text = (f"Multiple imputation in the mITT population ({mda.population} people; "
                    f"{mda.n_imputations} imputations within each arm; auxiliary variables: {aux}) gives "
                    + _join([f"{_interval(r._asdict())} y for {_minus(r.comparison)} ({r.n_missing} of {r.n} outcomes "
                             "imputed)" for r in mda.mi.itertuples()]) + ".")
    texts = {"arms.missing_text": missing_text, "arms.tipping_text": "; ".join(tip_words) + "."}
    return Section(results=_results(rows), texts=texts,
                   table=mda.tipping.set_index("comparison")[["month", "level", "tipping_delta", "status"]])


def cace_section(cace: pd.DataFrame | None, design: TrialDesign, dose: float = PLANNED_SESSIONS) -> Section:
    """Keys ``arms.cace_*`` (complier effect at the planned dose) and ``arms.cace_f_*`` (first-stage
    F), the table and ``arms.cace_text``; "not available in these data" without adherence."""
    if cace is None:
        return Section(texts={"arms.cace_text": f"Adherence is {NOT_AVAILABLE}, so the complier average causal "
                                                "effect cannot be estimated."},
                       table=_not_available_table("Adherence"))
    iv = cace[cace["method"] == "CACE (2SLS)"]
    rows = []
    for r in iv.itertuples():
        rows.append(_row(design.result_key(r.arm, r.reference, r.month, prefix="cace"), r.estimate,
                         ci=(r.ci_low, r.ci_high), unit="y",
                         description=f"{r.comparison} at month {r.month}: complier average causal effect (2SLS) of "
                                     f"{_fmt(dose, 0)} sessions/week"))
        rows.append(_row(design.result_key(r.arm, r.reference, r.month, prefix="cace_f"), r.first_stage_f,
                         decimals=0, description=f"{r.comparison}: first-stage F of adherence on randomisation"))
    parts = []
    for comparison, g in cace.groupby("comparison", sort=False):
        m = g.set_index("method")
        parts.append(f"for {_minus(comparison)}, the complier effect of {_fmt(dose, 0)} sessions/week is "
                     f"{_interval(m.loc['CACE (2SLS)'])} y (first-stage F "
                     f"{_fmt(m.loc['CACE (2SLS)', 'first_stage_f'], 0)}), "
                     f"against {_interval(m.loc['ITT'])} y for the ITT effect and "
                     + (f"{_interval(m.loc['per protocol'])} y per protocol" if "per protocol" in m.index else "")
                     )
    text = "In the mITT people with an outcome, " + "; ".join(parts) + "."
    if cace.attrs.get("n_no_adherence"):
        text += f" {cace.attrs['n_no_adherence']} trainees without recorded adherence were left out."
    shown = cace.set_index(["comparison", "method"])[[*stats.EFFECT_COLUMNS, "n", "first_stage_f"]]
    return Section(results=_results(rows), texts={"arms.cace_text": text}, table=shown)


def heterogeneity_section(het: pd.DataFrame, design: TrialDesign, alpha: float = ALPHA) -> Section:
    """Keys ``arms.p_het_<modifier>_*`` (Holm-adjusted interaction p), the table and
    ``arms.heterogeneity_text``."""
    tests = het.drop_duplicates(["modifier", "comparison"])
    rows = [_row(design.result_key(r.arm, r.reference, r.month, prefix=f"p_het_{_slug(r.modifier)}"),
                 r.p_interaction_holm, decimals=3,
                 description=f"{r.comparison}: arm x {MODIFIERS.get(r.modifier, r.modifier)} interaction, Holm-adjusted "
                             "p over all modifiers and arms") for r in tests.itertuples()]
    k = int((tests["p_interaction_holm"] <= alpha).sum())
    smallest = tests.loc[tests["p_interaction"].idxmin()]
    missing = [name for col, name in MODIFIERS.items() if col not in set(het["modifier"])]
    text = (f"Of the {len(tests)} interaction tests ({_join([MODIFIERS.get(m, m) for m in dict.fromkeys(het['modifier'])])}"
            f" by arm), {k} {'has' if k == 1 else 'have'} a Holm-adjusted p at or below {_fmt(alpha)}; the smallest "
            f"unadjusted p is {_fmt(smallest['p_interaction'], 3)} ({MODIFIERS.get(smallest['modifier'])}, "
            f"{_minus(smallest['comparison'])}; Holm-adjusted {_fmt(smallest['p_interaction_holm'], 3)}).")
    if missing:
        text += f" {_join(missing).capitalize()}: {NOT_AVAILABLE}."
    shown = het.set_index(["modifier", "comparison", "level"])[[*stats.EFFECT_COLUMNS, "n", "p_interaction",
                                                                 "p_interaction_holm"]]
    return Section(results=_results(rows), texts={"arms.heterogeneity_text": text}, table=shown)


def reliability_section(table: pd.DataFrame, primary: PrimaryModel, outcome: str = OUTCOME) -> Section:
    """Reliability of the gap in the control arm and the smallest detectable change of one person.

    ICC(2,1) (absolute agreement) and ICC(3,1) (consistency) of the control arm's gaps at
    baseline and the primary visit (:func:`analysis.stats.icc`; a lower bound, since a year of
    true change counts as error), the standard error of measurement of ICC(2,1) and the smallest
    detectable change ``1.96 sqrt(2) SEM`` (:func:`analysis.stats.smallest_detectable_change`),
    set against the primary effects. Keys ``arms.icc_control``, ``arms.sdc``; text
    ``arms.reliability_text``; the ICC table.
    """
    design = primary.design
    d = table[(table["arm"] == design.control) & table["month"].isin([design.baseline, design.primary_visit])]
    res = stats.icc(d.dropna(subset=[outcome]), "participant_id", "month", outcome)
    icc2, icc3 = res.loc["ICC2"], res.loc["ICC3"]
    sdc = float(stats.smallest_detectable_change(float(icc2["sem"])))
    vs_control = primary.effects[(primary.effects["month"] == design.primary_visit)
                                 & (primary.effects["reference"] == design.control)]
    largest = float(vs_control["estimate"].abs().max())
    results = _results([
        _row("arms.icc_control", icc2["estimate"], ci=(icc2["ci_low"], icc2["ci_high"]),
             description=f"ICC(2,1) of the gap, control arm, months {design.baseline} and {design.primary_visit}"),
        _row("arms.sdc", sdc, unit="y", description="Smallest detectable change of one person's gap (95%)"),
    ])
    text = (f"In the control arm ({int(icc2['n'])} people scanned at months {design.baseline} and "
            f"{design.primary_visit}), the gap's reliability is ICC(2,1) = {_interval(icc2)} (consistency, ICC(3,1): "
            f"{_interval(icc3)}), a lower bound since a year of true change counts as error. The standard error of "
            f"measurement is {_fmt(icc2['sem'])} y, so one person's gap must change by more than {_fmt(sdc)} y to be "
            f"distinguished from measurement error, {_fmt(sdc / largest, 1)} times the largest arm effect against "
            f"control ({_fmt(largest)} y).")
    text += (" A change the size of the group effects cannot be told apart from measurement error in one person."
             if sdc > largest else " A change the size of the largest group effect would be detectable in one person.")
    shown = res.loc[["ICC2", "ICC3"], ["description", "estimate", "ci_low", "ci_high", "n", "sem"]]
    return Section(results=results, texts={"arms.reliability_text": text}, table=shown)


def persistence_words(row: Mapping[str, Any]) -> str:
    """What an interval for (effect at follow-up) minus (effect at the primary visit) allows
    (negative: a larger benefit at follow-up)."""
    lo, hi = row["ci_low"], row["ci_high"]
    if lo > 0:
        return f"the effect shrank: the interval ({_fmt(lo)} to {_fmt(hi)} y) excludes no change"
    if hi < 0:
        return f"the effect grew: the interval ({_fmt(lo)} to {_fmt(hi)} y) excludes no change"
    return (f"the data are compatible with anything from the effect growing by {_fmt(-lo)} y to it shrinking by "
            f"{_fmt(hi)} y")


def persistence_section(primary: PrimaryModel) -> Section:
    """Exploratory persistence contrasts (``followup.persistence_<a>_vs_<c>_<m>m``) and the
    within-arm changes from the primary to each follow-up visit (``followup.change_<p>_<m>_<arm>``),
    with ``followup.persistence_text`` and ``followup.within_text``; the table holds both."""
    design = primary.design
    if not design.followup_visits:
        text = "This trial has no follow-up visit after the intervention."
        return Section(texts={"followup.persistence_text": text, "followup.within_text": text},
                       table=_not_available_table("Follow-up visits"))
    pers = persistence_effects(primary)
    within = pd.concat([within_arm_changes(primary, design.primary_visit, m) for m in design.followup_visits],
                       ignore_index=True)
    rows = [_row(design.result_key(r.arm, r.reference, r.month, prefix="persistence"), r.estimate,
                 ci=(r.ci_low, r.ci_high), unit="y",
                 description=f"{r.comparison}: effect at month {r.month} minus effect at month {r.start} (exploratory)")
            for r in pers.itertuples()]
    rows += [_row(f"followup.change_{r.start}_{r.end}_{_slug(r.arm)}", r.estimate, ci=(r.ci_low, r.ci_high), unit="y",
                  description=f"Model-estimated change of the mean gap from month {r.start} to {r.end}, {r.arm}")
             for r in within.itertuples()]
    texts = {
        "followup.persistence_text": "; ".join(
            f"for {_minus(r.comparison)} at month {r.month}, the effect changed by {_interval(r._asdict())} y since "
            f"month {r.start}: {persistence_words(r._asdict())}" for r in pers.itertuples()) + ".",
        "followup.within_text": "; ".join(f"{r.arm} {_interval(r._asdict())} y (month {r.start} to {r.end})"
                                          for r in within.itertuples()) + ".",
    }
    table = pd.concat([pers.assign(quantity="effect at follow-up minus at primary visit").rename(
        columns={"comparison": "what"}).drop(columns=["arm", "reference"]),
        within.assign(quantity="within-arm change", what=within["arm"]).rename(
            columns={"end": "month"}).drop(columns="arm")], ignore_index=True)
    return Section(results=_results(rows), texts=texts,
                   table=table.set_index(["quantity", "what"])[["start", "month", *stats.EFFECT_COLUMNS]])


def self_training_section(data: Any) -> Section:
    """Exploratory self-training association (``followup.self_training_<s>_<e>``, people kept and
    stopped, the synthetic truth) or "not available in these data"."""
    design = data.design
    res = self_training_effect(data.table, design)
    if res is None:
        text = f"Self-training after the intervention is {NOT_AVAILABLE}."
        return Section(texts={"followup.self_training_text": text,
                              "followup.self_training_truth": "(No truth to compare.)"},
                       table=_not_available_table("Self-training"))
    r = res.iloc[0]
    s, e = int(r["start"]), int(r["end"])
    rows = [
        _row(f"followup.self_training_{s}_{e}", r["estimate"], ci=(r["ci_low"], r["ci_high"]), unit="y",
             description=f"Difference in month {s}-to-{e} gap change, kept training minus stopped (trainees; "
                         "exploratory association)"),
        _row("followup.n_kept_training", r["n_people_kept"], unit="people", decimals=0,
             description="Trainees with a known self-training status who kept training (in the model)"),
        _row("followup.n_stopped_training", r["n_people_stopped"], unit="people", decimals=0,
             description="Trainees with a known self-training status who stopped (in the model)"),
    ]
    text = (f"Trainees who kept training ({int(r['n_people_kept'])} people) changed by "
            f"{_interval(r)} y from month {s} to {e} relative to those who stopped "
            f"({int(r['n_people_stopped'])} people); the interval "
            f"{'excludes' if r['ci_high'] < 0 or r['ci_low'] > 0 else 'includes'} zero.")
    truth = "The true difference is not known for real data."
    if data.synthetic:
        true = true_self_training_effect(data.trial, start=s, end=e) * data.scale_factor("beheshti")
        rows.append(_row(f"followup.true_self_training_{s}_{e}", true, unit="y",
                         description=f"True (realised) kept-minus-stopped difference in {s}-{e} m change, clock scale"))
        truth = (f"In the synthetic trial the true difference is {_fmt(true)} y on the clock scale (through strength "
                 "only).")
    return Section(results=_results(rows), texts={"followup.self_training_text": text,
                                                  "followup.self_training_truth": truth},
                   table=res.drop(columns=["start", "end"]))


@dataclass(frozen=True)
class StrengthAnalysis:
    """The strength page's analyses (see :func:`strength_analysis`)."""

    changes: pd.DataFrame
    correlations: pd.DataFrame
    slopes: pd.DataFrame
    interaction: pd.DataFrame
    family: pd.DataFrame
    start: int
    end: int


def strength_analysis(table: pd.DataFrame, design: TrialDesign, *, n_boot: int = N_BOOT,
                      random_state: int = 0) -> StrengthAnalysis | None:
    """Change table, correlations, slopes by arm and their Holm family; ``None`` without strength data."""
    if MVC not in table.columns or table[MVC].isna().all():
        return None
    changes = change_table(table, design)
    correlations = strength_correlations(changes, design, n_boot=n_boot, random_state=random_state)
    slopes, interaction = strength_interaction(changes, design)
    return StrengthAnalysis(changes, correlations, slopes, interaction, strength_family(correlations, interaction),
                            design.baseline, design.primary_visit)


def strength_tables(analysis: StrengthAnalysis | None) -> dict[str, pd.DataFrame | None]:
    """The strength page's tables: ``slopes`` (by arm), ``family`` (Holm family) -- each a
    "not available in these data" table without strength data -- and ``changes`` (the per-person
    change table for the figure, ``None`` without strength data)."""
    if analysis is None:
        missing = _not_available_table("Knee-extensor strength")
        return {"slopes": missing, "family": missing, "changes": None}
    return {"slopes": analysis.slopes.set_index("arm"), "family": analysis.family.set_index(["test", "group"]),
            "changes": analysis.changes}


def strength_section(data: Any, analysis: StrengthAnalysis | None) -> Section:
    """Keys ``strength.*`` (correlations, slopes, interaction, their Holm-adjusted p, regression to
    the mean, the synthetic truth), the texts of the strength page, and the correlation table."""
    names = ("strength.intro_text", "strength.correlation_text", "strength.within_text", "strength.slope_text",
             "strength.family_text", "strength.rtm_text", "strength.truth_text")
    if analysis is None:
        text = f"Knee-extensor strength is {NOT_AVAILABLE}, so this page has nothing to analyse."
        return Section(texts={n: (text if n == "strength.intro_text" else f"({NOT_AVAILABLE[:1].upper()}"
                                                                          f"{NOT_AVAILABLE[1:]}.)") for n in names},
                       table=_not_available_table("Knee-extensor strength"))
    ch, corr, fam = analysis.changes, analysis.correlations, analysis.family
    rows = [_row("strength.n_people", len(ch), unit="people", decimals=0,
                 description=f"People with strength and a usable scan at months {analysis.start} and {analysis.end}")]
    for r in corr.itertuples():
        group = "overall" if r.group == "All" else _slug(r.group)
        rows.append(_row(f"strength.{CORRELATION_KEYS[r.method]}_{group}", r.r, ci=(r.ci_low, r.ci_high),
                         description=f"{r.method} correlation of MVC % change and gap change, {r.group}"))
    for r in fam.itertuples():
        key = ("strength.interaction_p_holm" if r.group == "all arms" else
               f"strength.p_holm_partial_r_{'overall' if r.group == 'All' else _slug(r.group)}")
        rows.append(_row(key, r.p_holm, decimals=3, description=f"Holm-adjusted p (strength family): {r.test}, {r.group}"))
    for r in analysis.slopes.itertuples():
        rows.append(_row(f"strength.slope_{_slug(r.arm)}", r.estimate, ci=(r.ci_low, r.ci_high), unit="y per %",
                         decimals=3, description=f"Adjusted slope of gap change on MVC % change within {r.arm}"))
    p_joint = float(analysis.interaction["p_joint"].iloc[0]) if len(analysis.interaction) else np.nan
    if np.isfinite(p_joint):
        rows.append(_row("strength.interaction_p", p_joint, decimals=3,
                         description="Joint F-test p of the arm x strength-change interaction"))
    rtm_gap = float(np.corrcoef(ch["gap_start"], ch["gap_change"])[0, 1])
    rtm_mvc = float(np.corrcoef(ch["mvc_start"], ch["mvc_change_pct"])[0, 1])
    rows += [_row("strength.rtm_gap_r", rtm_gap, description="Correlation of baseline gap with gap change"),
             _row("strength.rtm_mvc_r", rtm_mvc, description="Correlation of baseline MVC with MVC % change")]
    c = corr.set_index(["group", "method"])
    k = int((fam["p_holm"] <= ALPHA).sum())
    texts = {
        "strength.intro_text": (f"The analysis uses the {len(ch)} people with a strength test and a usable scan at both "
                                f"month {analysis.start} and month {analysis.end}."),
        "strength.correlation_text": (f"Over all arms the Pearson correlation between strength change and gap change "
                                      f"is {_interval(_r(c, 'All', 'pearson'))} (Spearman "
                                      f"{_interval(_r(c, 'All', 'spearman'))}; partial, adjusting for age, sex and "
                                      f"both baseline values, {_interval(_r(c, 'All', 'partial'))})."),
        "strength.within_text": "Within the arms the Pearson correlations are " + _join(
            [f"{_interval(_r(c, g, 'pearson'))} ({g})" for g in corr["group"].unique() if g != "All"]) + ".",
        "strength.slope_text": ("The adjusted slopes are " + _join(
            [f"{_interval(r._asdict(), 3)} y per % in {r.arm}" for r in analysis.slopes.itertuples()])
            + (f"; the joint test that the slopes are equal gives p = {_fmt(p_joint, 3)}." if np.isfinite(p_joint)
               else ".")),
        "strength.family_text": (f"The strength family -- the partial correlation over all people and within each arm, "
                                 f"and the interaction test -- holds {len(fam)} tests adjusted by Holm's procedure; "
                                 f"{k} {'has' if k == 1 else 'have'} an adjusted p at or below {_fmt(ALPHA)}."),
        "strength.rtm_text": (f"Baseline gap correlates with the change in gap at {_fmt(rtm_gap)}, and baseline MVC with "
                              f"its percent change at {_fmt(rtm_mvc)}."),
    }
    if data.synthetic:
        truth = strength_truth(data.trial, ch, end=analysis.end)
        factor = data.scale_factor("beheshti")
        rows += [
            _row("strength.true_coupling_clock", truth["coupling"] * factor, unit="y per %", decimals=3,
                 description="True within-arm coupling of gap change to strength change, clock scale"),
            _row("strength.reliability", truth["reliability"],
                 description="Reliability of the measured MVC % change (true variance / measured variance)"),
            _row("strength.expected_slope_clock", truth["coupling"] * factor * truth["reliability"], unit="y per %",
                 decimals=3, description="True coupling on the clock scale times the reliability of MVC change"),
        ]
        texts["strength.truth_text"] = (
            f"In the synthetic trial the simulator couples each person's brain-age change to their strength change "
            f"beyond their arm's mean, by {_fmt(truth['coupling'] * factor, 3)} years of gap per percentage point on "
            f"the clock scale. The measured strength change has a reliability of {_fmt(truth['reliability'])}, so the "
            f"slope one can expect to recover is attenuated to about "
            f"{_fmt(truth['coupling'] * factor * truth['reliability'], 3)}.")
    else:
        texts["strength.truth_text"] = "The true coupling is not known for real data."
    shown = corr.merge(fam[fam["test"] == "partial correlation"][["group", "p_holm"]].assign(method="partial"),
                       on=["group", "method"], how="left")
    return Section(results=_results(rows), texts=texts, table=shown.set_index(["group", "method"]))


def _r(c: pd.DataFrame, group: str, method: str) -> dict[str, float]:
    row = c.loc[(group, method)]
    return {"estimate": row["r"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]}
