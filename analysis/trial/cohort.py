"""The cohort page's numbers and sentences: results frames and the words chosen from them.

Each ``*_results`` function returns a results frame (``key``, ``value``, ``unit``, ``decimals``,
``description``; keys ``cohort.<name>``) for :func:`analysis.report.record_frame`. Keys follow
the trial's design (``cohort.n_<arm>`` with the arm label in lower case, ``cohort.n_mri_<month>m``,
...), so they are the same for every trial with LISA's design. A quantity whose optional column
is missing from the data is simply absent from the frame.

Each ``*_sentence`` function writes the prose that reports a results frame: it quotes the
numbers exactly as the registry glues them (same decimals) and picks its words from the
estimates, or says the quantity is "not available in these data".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report import format_number
from analysis.trial.assumptions import TrialAssumptions
from analysis.trial.core import Trial
from analysis.trial.design import TrialDesign, _slug
from analysis.trial.tables import MVC, pattern_label, strength_change_by_self_training

__all__ = [
    "TOPIC", "NOT_AVAILABLE", "SMD_NEGLIGIBLE", "SMD_SMALL", "arm_key", "period_key", "join_words",
    "flow_results", "baseline_results", "attendance_results", "missingness_results", "strength_results",
    "design_sentence", "flow_sentence", "mri_sentence", "balance_sentence", "adherence_sentence",
    "self_training_sentence", "motion_sentence", "missingness_sentence", "strength_sentence",
    "strength_baseline_sentence", "strength_followup_sentence", "results_value", "dropout_sentence",
    "consort_alt", "missingness_alt", "strength_alt", "DISPLAY_NAMES", "display_table", "assumptions_display",
]

#: Topic of every key of the cohort page.
TOPIC = "cohort"
#: What a sentence says when its column is not in the data.
NOT_AVAILABLE = "not available in these data"
#: |SMD| below which an imbalance is conventionally read as negligible.
SMD_NEGLIGIBLE = 0.1
#: |SMD| from which an imbalance is called more than small (Cohen's "small" effect).
SMD_SMALL = 0.2


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def arm_key(label: str) -> str:
    """An arm label as it appears in result keys: ``"HRT"`` -> ``"hrt"``."""
    return _slug(label)


def period_key(start: int, end: int) -> str:
    """Key fragment of the interval between two visits: ``year2`` for months 12 to 24."""
    if end - start == 12 and end % 12 == 0:
        return f"year{end // 12}"
    return f"{start}_{end}m"


def join_words(words: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _row(name: str, value: float, unit: str, decimals: int, description: str) -> dict:
    return {"key": f"{TOPIC}.{name}", "value": float(value), "unit": unit, "decimals": decimals,
            "description": description}


def _count(name: str, value: float, description: str, unit: str = "people") -> dict:
    return _row(name, int(value), unit, 0, description)


def _frame(rows: list[dict]) -> pd.DataFrame:
    columns = ["key", "value", "unit", "decimals", "description"]
    return pd.DataFrame(rows, columns=columns).astype({"value": float, "decimals": int})


def results_value(results: pd.DataFrame, name: str) -> float | None:
    """The value of ``cohort.<name>`` in a results frame, or None when absent."""
    hit = results.loc[results["key"] == f"{TOPIC}.{name}", "value"]
    return float(hit.iat[0]) if len(hit) else None


def _text(results: pd.DataFrame, name: str) -> str:
    """The value of ``cohort.<name>`` formatted exactly as the registry glues it."""
    hit = results[results["key"] == f"{TOPIC}.{name}"]
    if hit.empty:
        raise KeyError(f"{TOPIC}.{name} is not in the results frame")
    return format_number(float(hit["value"].iat[0]), int(hit["decimals"].iat[0]))


def _has(results: pd.DataFrame, *names: str) -> bool:
    return all(f"{TOPIC}.{n}" in set(results["key"]) for n in names)


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym (``"Control"`` -> ``"control"``)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _short_label(label: str) -> str:
    """A Table 1 row label for prose: ``"30-s chair stand, count"`` -> ``"30-s chair stand"``."""
    return _lower_first(label.split(",")[0])


def _visit_phrase(design: TrialDesign, month: int) -> str:
    return "baseline" if month == design.baseline else f"month {month}"


# --------------------------------------------------------------------------------------------
# results frames
# --------------------------------------------------------------------------------------------
def flow_results(trial: Trial, flow: pd.DataFrame) -> pd.DataFrame:
    """Who was randomised, who they were, who came back and whose scans are usable.

    Parameters
    ----------
    trial : Trial
    flow : pandas.DataFrame
        :func:`analysis.trial.flow_counts` of ``trial``.

    Returns
    -------
    pandas.DataFrame
        A results frame: ``n_randomised``, ``n_<arm>`` per arm, ``n_attended_<primary>m_<arm>``
        per arm, ``pct_women``, ``age_mean``/``age_sd``/``age_min``/``age_max``,
        ``n_attended_<m>m`` and ``pct_attended_<m>m`` per post-baseline visit and
        ``n_mri_<m>m`` per visit.
    """
    design, people = trial.design, trial.participants
    f = flow.set_index(["arm", "month"])
    primary = design.primary_visit
    rows = [_count("n_randomised", len(people), "People randomised")]
    rows += [_count(f"n_{arm_key(arm)}", f.loc[(arm, design.baseline), "randomised"], f"People randomised to {arm}")
             for arm in design.labels]
    rows += [_count(f"n_attended_{primary}m_{arm_key(arm)}", f.loc[(arm, primary), "attended"],
                    f"{arm} participants attending the {primary}-month visit") for arm in design.labels]
    if "sex" in people.columns:
        rows.append(_row("pct_women", 100 * (people["sex"] == "F").mean(), "%", 1, "Women among those randomised (%)"))
    age = people["age"]
    rows += [_row("age_mean", age.mean(), "y", 1, "Mean age at baseline"),
             _row("age_sd", age.std(), "y", 1, "SD of age at baseline"),
             _row("age_min", age.min(), "y", 1, "Youngest age at baseline"),
             _row("age_max", age.max(), "y", 1, "Oldest age at baseline")]
    totals = flow[flow["arm"] == "All"].set_index("month")
    for month in design.post_baseline:
        attended = totals.loc[month, "attended"]
        rows += [_count(f"n_attended_{month}m", attended, f"People attending the {month}-month visit"),
                 _row(f"pct_attended_{month}m", 100 * attended / len(people), "%", 1,
                      f"Share of the randomised attending the {month}-month visit (%)")]
    rows += [_count(f"n_mri_{month}m", totals.loc[month, "mri_usable"], f"Usable rs-fMRI scans at month {month}",
                    "scans") for month in design.visits]
    return _frame(rows)


def baseline_results(smd: pd.DataFrame) -> pd.DataFrame:
    """``max_smd``: the largest absolute pairwise SMD of Table 1 (from :func:`baseline_smd`)."""
    rows = []
    if len(smd):
        rows.append(_row("max_smd", smd["abs_smd"].max(), "", 2,
                         "Largest standardized mean difference between two arms at baseline"))
    return _frame(rows)


def attendance_results(trial: Trial, *, min_sessions: float = 2.0) -> pd.DataFrame:
    """Training adherence, self-training after the intervention and head motion.

    Adherence (``adherence_sessions_per_week``) is read at the primary visit (it covers the
    intervention period), self-training (``self_training``) at the first follow-up visit.

    Returns
    -------
    pandas.DataFrame
        A results frame with, when the columns exist, ``adherence_ge<min_sessions>_pct`` and
        ``adherence_mean``, ``n_self_training`` and ``n_trainees_<followup>m``, ``fd_median``.
    """
    design, visits = trial.design, trial.visits
    rows = []
    if "adherence_sessions_per_week" in visits.columns:
        adherence = visits.loc[visits["month"] == design.primary_visit, "adherence_sessions_per_week"].dropna()
        if len(adherence):
            rows += [_row(f"adherence_ge{min_sessions:g}_pct", 100 * (adherence >= min_sessions).mean(), "%", 1,
                          f"Trainees training at least {min_sessions:g} times a week over the intervention (%)"),
                     _row("adherence_mean", adherence.mean(), "sessions/week", 2,
                          "Mean training sessions per week over the intervention, trainees")]
    if "self_training" in visits.columns and design.followup_visits:
        month = design.followup_visits[0]
        answers = visits.loc[visits["month"] == month, "self_training"].dropna()
        if len(answers):
            rows += [_count("n_self_training", answers.astype(bool).sum(),
                            "Trainees who kept training on their own after the intervention"),
                     _count(f"n_trainees_{month}m", len(answers), f"Trainees attending the {month}-month visit")]
    if "mean_fd_mm" in visits.columns:
        fd = visits.loc[visits["mri_usable"], "mean_fd_mm"].dropna()
        if len(fd):
            rows.append(_row("fd_median", fd.median(), "mm", 3, "Median mean framewise displacement, usable scans"))
    return _frame(rows)


def missingness_results(mri_patterns: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """``n_mri_all_visits``: people with a usable scan at every visit of the design.

    ``mri_patterns`` is :func:`analysis.trial.missingness_patterns` for ``"mri_usable"``.
    """
    complete = pattern_label(pd.DataFrame([[True] * len(design.visits)], columns=list(design.visits))).iat[0]
    n = mri_patterns.loc[mri_patterns["pattern"] == complete, "n"].sum()
    return _frame([_count("n_mri_all_visits", n, f"People with a usable rs-fMRI scan at all {len(design.visits)} visits")])


def strength_results(trial: Trial, summary: pd.DataFrame, *, reference_arm: str | None = None) -> pd.DataFrame:
    """Mean % change in knee-extensor MVC per arm and visit, baseline MVC, change after the intervention.

    Parameters
    ----------
    trial : Trial
    summary : pandas.DataFrame
        :func:`analysis.trial.strength_summary` of ``trial``.
    reference_arm : str, optional
        Arm whose baseline MVC (mean and SD) is recorded (default: the first active arm).

    Returns
    -------
    pandas.DataFrame
        A results frame: ``mvc_pct_<arm>_<m>m`` for every arm and post-baseline visit,
        ``mvc_<arm>_<baseline>m`` and ``..._sd`` for ``reference_arm``, and
        ``mvc_<period>_self_training`` / ``mvc_<period>_stopped`` (primary visit to first
        follow-up, e.g. ``year2``); empty without a strength column.
    """
    design = trial.design
    if summary.empty:
        return _frame([])
    s = summary.set_index(["arm", "month"])
    rows = [_row(f"mvc_pct_{arm_key(arm)}_{month}m", s.loc[(arm, month), "pct_change_mean"], "%", 1,
                 f"Mean % change in knee-extensor MVC from baseline, {arm}, month {month}")
            for arm in design.labels for month in design.post_baseline if (arm, month) in s.index]
    arm = reference_arm or design.active_arms[0]
    base = design.baseline
    if (arm, base) in s.index:
        rows += [_row(f"mvc_{arm_key(arm)}_{base}m", s.loc[(arm, base), "mvc_mean"], "Nm", 1,
                      f"Mean baseline knee-extensor MVC, {arm}"),
                 _row(f"mvc_{arm_key(arm)}_{base}m_sd", s.loc[(arm, base), "mvc_sd"], "Nm", 1,
                      f"SD of baseline knee-extensor MVC, {arm}")]
    change = strength_change_by_self_training(trial)
    if len(change):
        period = period_key(change.attrs["start"], change.attrs["end"])
        span = f"month {change.attrs['start']} to {change.attrs['end']}"
        for kept, name, who in ((True, "self_training", "kept training"), (False, "stopped", "stopped")):
            if change.loc[kept, "n"] > 0:
                rows.append(_row(f"mvc_{period}_{name}", change.loc[kept, "pct_change_mean"], "%", 1,
                                 f"Mean % MVC change from {span}, trainees who {who}"))
    return _frame(rows)


# --------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------
def design_sentence(design: TrialDesign) -> str:
    """The design in words: arms with descriptions, control, visits and their roles."""
    arms = [", ".join([label, *([_lower_first(desc)] if desc else []),
                       *(["the control arm"] if label == design.control else [])])
            for label, desc in design.descriptions.items()]
    roles = {design.baseline: "baseline", design.primary_visit: "primary comparison"}
    roles.update({m: "after the intervention ended" for m in design.followup_visits})
    visits = [f"{m} ({roles[m]})" if m in roles else str(m) for m in design.visits]
    return (f"This trial randomised people to {len(design.arms)} arms ({'; '.join(arms)}) and measured "
            f"them at months {join_words(visits)}.")


def flow_sentence(results: pd.DataFrame, design: TrialDesign) -> str:
    """Randomised per arm, then attendance at every post-baseline visit (per arm at the primary one)."""
    per_arm = join_words([f"{_text(results, f'n_{arm_key(a)}')} to {a}" for a in design.labels])
    primary = design.primary_visit
    at_primary = join_words([_text(results, f"n_attended_{primary}m_{arm_key(a)}") for a in design.labels])
    text = (f"{_text(results, 'n_randomised')} people were randomised: {per_arm}. At the primary visit "
            f"(month {primary}) {_text(results, f'n_attended_{primary}m')} came back "
            f"({_text(results, f'pct_attended_{primary}m')}%: {at_primary} in {join_words(design.labels)})")
    others = [f"at month {m}, {_text(results, f'n_attended_{m}m')} ({_text(results, f'pct_attended_{m}m')}%)"
              for m in design.post_baseline if m != primary]
    return text + (f", and {join_words(others)}." if others else ".")


def mri_sentence(results: pd.DataFrame, design: TrialDesign) -> str:
    """Usable rs-fMRI scans per visit."""
    per_visit = [f"{_text(results, f'n_mri_{m}m')} at {_visit_phrase(design, m)}" for m in design.visits]
    per_visit[0] = per_visit[0].replace(" at ", " people at ", 1)
    return f"A usable resting-state fMRI scan exists for {join_words(per_visit)}."


def balance_sentence(results: pd.DataFrame, smd: pd.DataFrame) -> str:
    """Whether Table 1's arms look balanced, chosen from the pairwise SMDs (|SMD| < 0.1 negligible)."""
    if smd.empty or not _has(results, "max_smd"):
        return "Standardized mean differences are not available for these data."
    top = smd.iloc[0]
    largest = f"{_text(results, 'max_smd')} ({_short_label(top['label'])}, {top['arm']} vs {top['other']})"
    above = smd[smd["abs_smd"] >= SMD_NEGLIGIBLE]
    if above.empty:
        return (f"Every pairwise standardized mean difference is below {SMD_NEGLIGIBLE:g} (the largest is "
                f"{largest}): the arms are balanced on every characteristic shown.")
    names = list(dict.fromkeys(_short_label(label) for label in above["label"]))
    size = "a little" if top["abs_smd"] < SMD_SMALL else "noticeably"
    return (f"Of the {len(smd)} pairwise standardized mean differences, {len(above)} reach {SMD_NEGLIGIBLE:g}, "
            f"the largest being {largest}: the arms differ {size} in {join_words(names)} and are balanced "
            f"on every other characteristic shown.")


def adherence_sentence(results: pd.DataFrame, *, min_sessions: float = 2.0) -> str:
    """Training adherence over the intervention, or that it is not available."""
    key = f"adherence_ge{min_sessions:g}_pct"
    if not _has(results, key, "adherence_mean"):
        return f"Training adherence is {NOT_AVAILABLE}."
    return (f"In these data {_text(results, key)}% of the trainees with a recorded adherence trained at "
            f"least {min_sessions:g} times a week on average over the intervention (mean "
            f"{_text(results, 'adherence_mean')} sessions a week).")


def self_training_sentence(results: pd.DataFrame, design: TrialDesign) -> str:
    """How many trainees kept training on their own after the intervention, or not available."""
    month = design.followup_visits[0] if design.followup_visits else None
    if month is None or not _has(results, "n_self_training", f"n_trainees_{month}m"):
        return f"Whether trainees kept training on their own after the intervention is {NOT_AVAILABLE}."
    return (f"After the intervention, {_text(results, 'n_self_training')} of the "
            f"{_text(results, f'n_trainees_{month}m')} trainees seen at month {month} said they kept "
            "training on their own.")


def motion_sentence(results: pd.DataFrame) -> str:
    """Median head motion of the usable scans, or not available."""
    if not _has(results, "fd_median"):
        return f"Head motion (mean framewise displacement) is {NOT_AVAILABLE}."
    return (f"Head motion, which degrades functional connectivity, is summarised by each scan's mean "
            f"framewise displacement: median {_text(results, 'fd_median')} mm over usable scans.")


def missingness_sentence(results: pd.DataFrame, design: TrialDesign) -> str:
    """People with a usable scan at every visit."""
    return (f"A usable scan at all {len(design.visits)} visits exists for {_text(results, 'n_mri_all_visits')} "
            "people.")


def _direction(low: float, high: float) -> str:
    if low > 0:
        return "above"
    if high < 0:
        return "below"
    return "not clearly different from"


def strength_sentence(results: pd.DataFrame, summary: pd.DataFrame, design: TrialDesign) -> str:
    """Mean % change per arm and visit, and where each arm stands relative to baseline.

    An arm is "above" (or "below") baseline at a visit when the 95% confidence interval of its
    mean % change lies entirely above (below) zero, else "not clearly different from" baseline.
    """
    if summary.empty:
        return f"Knee-extensor strength is {NOT_AVAILABLE}."
    parts = []
    for month in design.post_baseline:
        arms = [a for a in design.labels if f"{TOPIC}.mvc_pct_{arm_key(a)}_{month}m" in set(results["key"])]
        values = join_words([f"{_text(results, f'mvc_pct_{arm_key(a)}_{month}m')}% ({a})" for a in arms])
        parts.append(f"{values} at month {month}")
    verdicts = _verdicts(summary, design)
    return (f"In these data the mean change in strength from baseline was {'; and '.join(parts)}. Judged by "
            f"the 95% confidence interval of each mean change, {'; '.join(verdicts)}.")


def strength_baseline_sentence(results: pd.DataFrame, design: TrialDesign, *, reference_arm: str | None = None) -> str:
    """Baseline MVC of the reference arm (default: the first active arm)."""
    arm = reference_arm or design.active_arms[0]
    name = f"mvc_{arm_key(arm)}_{design.baseline}m"
    if not _has(results, name, f"{name}_sd"):
        return f"Baseline knee-extensor strength is {NOT_AVAILABLE}."
    return (f"Here {arm} participants started at a mean of {_text(results, name)} Nm "
            f"(SD {_text(results, f'{name}_sd')}).")


def strength_followup_sentence(results: pd.DataFrame, design: TrialDesign,
                               published: TrialAssumptions | None = None) -> str:
    """Strength change after the intervention, trainees who kept training vs those who stopped.

    ``published`` (e.g. ``TrialAssumptions()``, whose defaults are LISA's published numbers) adds
    the published changes for comparison.
    """
    if not design.followup_visits:
        return "The design has no follow-up visit after the intervention."
    start, end = design.primary_visit, design.followup_visits[0]
    period = period_key(start, end)
    kept, stopped = f"mvc_{period}_self_training", f"mvc_{period}_stopped"
    if not _has(results, kept, stopped):
        return f"Strength change by self-training after the intervention is {NOT_AVAILABLE}."
    text = (f"From month {start} to {end}, trainees who kept training changed by {_text(results, kept)}% "
            f"and those who stopped by {_text(results, stopped)}%")
    if published is not None:
        was = [format_number(100 * published.year2_change_self_training, 0),
               format_number(100 * published.year2_change_stopped, 0)]
        text += f" (published: {was[0]}% and {was[1]}%)"
    return text + "."


def dropout_sentence(trial: Trial) -> str:
    """Who missed the last visit, compared with who came, on baseline age (and strength if measured).

    Words are chosen from the difference in means: "older"/"younger" (or "weaker"/"stronger")
    when the people who missed the visit differ from those who came, with both means quoted.
    """
    design = trial.design
    last = design.visits[-1]
    came = trial.visits.loc[trial.visits["month"] == last, ["participant_id", "attended"]]
    people = trial.participants[["participant_id", "age"]].merge(came, on="participant_id")
    if people["attended"].all() or not people["attended"].any():
        return f"Everyone {'attended' if people['attended'].all() else 'missed'} the month-{last} visit."
    base = trial.visits.loc[trial.visits["month"] == design.baseline]
    if MVC in base.columns:
        people = people.merge(base[["participant_id", MVC]], on="participant_id", how="left")
    missed, attended = people[~people["attended"]], people[people["attended"]]
    parts = []
    for column, unit, decimals, more, less in (("age", "years", 1, "older", "younger"), (MVC, "Nm", 0, "stronger", "weaker")):
        if column not in people.columns:
            continue
        a, b = missed[column].mean(), attended[column].mean()
        if np.isnan(a) or np.isnan(b):
            continue
        word = more if a > b else less if a < b else "no different"
        parts.append(f"{word} (mean {format_number(a, decimals)} vs {format_number(b, decimals)} {unit})")
    n = format_number(len(missed), 0)
    if not parts:
        return f"In these data, {n} people missed the month-{last} visit."
    return f"In these data, the {n} people who missed the month-{last} visit were {join_words(parts)} at baseline than those who came."


def consort_alt(design: TrialDesign) -> str:
    """Alt text of the CONSORT diagram for ``design``."""
    return (f"Flow diagram: all randomised people split into the {len(design.arms)} arms "
            f"({join_words(design.labels)}), then for each arm one box per visit (months "
            f"{join_words([str(m) for m in design.visits])}) giving how many attended and how many have a usable "
            "fMRI scan.")


def missingness_alt(attended: pd.DataFrame, mri: pd.DataFrame) -> str:
    """Alt text of the missingness figure: the most common patterns of each panel, with counts."""
    def top(table: pd.DataFrame, k: int) -> str:
        totals = table.groupby("pattern", sort=False)["n"].sum().sort_values(ascending=False, kind="stable")
        return join_words([f"'{p}' ({format_number(n, 0)} people)" for p, n in totals.head(k).items()])

    return ("Two horizontal stacked bar charts of people per pattern of available visits (months present, "
            f"'-' for missing), coloured by arm. Most common attendance pattern: {top(attended, 1)}; most common "
            f"fMRI patterns: {top(mri, 2)}.")


def _verdicts(summary: pd.DataFrame, design: TrialDesign) -> list[str]:
    s = summary.set_index(["arm", "month"])
    verdicts = []
    for month in design.post_baseline:
        groups: dict[str, list[str]] = {}
        for arm in design.labels:
            if (arm, month) in s.index:
                row = s.loc[(arm, month)]
                groups.setdefault(_direction(row["pct_change_ci_low"], row["pct_change_ci_high"]), []).append(arm)
        said = [f"{join_words(arms)} {'was' if len(arms) == 1 else 'were'} {where} baseline"
                for where, arms in groups.items()]
        verdicts.append(f"at month {month} {join_words(said)}")
    return verdicts


def strength_alt(summary: pd.DataFrame, design: TrialDesign) -> str:
    """Alt text of the strength figure, with where each arm stands at each visit."""
    if summary.empty:
        return f"A note saying that knee-extensor strength is {NOT_AVAILABLE}."
    return (f"Two line charts over months {join_words([str(m) for m in design.visits])} by arm: mean "
            f"knee-extensor strength in Nm and mean percentage change from baseline; {'; '.join(_verdicts(summary, design))}.")


#: Display names of the columns of the cohort tables.
DISPLAY_NAMES = {
    "arm": "Arm", "month": "Month", "randomised": "Randomised", "attended": "Attended",
    "mri_acquired": "MRI acquired", "mri_usable": "Usable rs-fMRI", "attended_pct": "Attended (%)",
    "adherence_mean": "Sessions/week (mean)", "self_training_n": "Self-training (n)",
    "mri_usable_pct_of_attended": "Usable rs-fMRI (% of attended)", "mean_fd_mm_median": "Median mean FD (mm)",
    "n": "n", "mvc_mean": "MVC mean (Nm)", "mvc_sd": "MVC SD (Nm)", "pct_change_mean": "Mean change (%)",
    "pct_change_ci_low": "Mean change, 95% CI low (%)", "pct_change_ci_high": "Mean change, 95% CI high (%)",
}


def display_table(table: pd.DataFrame, *, min_sessions: float = 2.0) -> pd.DataFrame:
    """A cohort table (flow, visits, strength) with readers' column names."""
    names = {**DISPLAY_NAMES, "adherence_ge_pct": f"≥ {min_sessions:g} sessions/week (%)"}
    return table.rename(columns=names)


def assumptions_display(assumptions: TrialAssumptions) -> pd.DataFrame:
    """:meth:`TrialAssumptions.describe` with every value as text (tuples and numbers alike)."""
    table = assumptions.describe()
    table["value"] = table["value"].map(str)
    return table
