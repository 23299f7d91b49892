# ---
# jupyter:
#   jupytext:
#     text_representation: {extension: .py, format_name: percent}
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # The trial cohort
#
# The LISA trial (Live Active Successful Ageing) randomised home-dwelling adults aged 62 to 70 in
# Copenhagen to a year of heavy resistance training (HRT), moderate-intensity training (MIT) or no
# training (CON), stratified by sex, body-mass index and a 30-second chair-stand test
# {cite:p}`eriksen2016`. They were measured at baseline, after the year of training
# {cite:p}`gylling2020a` and one year after it ended {cite:p}`gylling2020b`. This page describes
# who was randomised, who came back, who trained, whose resting-state fMRI scan is usable, and
# how leg strength changed: the material every later page builds on.
#
# By default the page runs on the **synthetic LISA trial**, a simulated cohort calibrated to the
# published numbers (the banner below says which data this build used). Its people are not real;
# its counts match the published ones by construction, and everything else is drawn from the
# documented assumptions listed at the end of the page.

# %% tags=["hide-input"]
import pandas as pd

from analysis import figures, report, trial as lisa

trial = lisa.load_default_trial(seed=0)
report.data_banner(trial.source)
kind = "synthetic" if trial.source == "synthetic" else "real"
report.glue_text("cohort.data_kind", kind)

flow = lisa.flow_counts(trial)
visit_table = lisa.visit_summary(trial)
strength = lisa.strength_summary(trial)
people = trial.participants
totals = flow[flow["arm"] == "All"].set_index("month")
by_arm = flow[flow["arm"] != "All"].set_index(["arm", "month"])


def record_count(key: str, value: float, description: str, unit: str = "people") -> None:
    """Record a count (no decimals) under ``cohort.<key>``."""
    report.record(f"cohort.{key}", int(value), unit=unit, description=description, decimals=0)


def record_value(key: str, value: float, description: str, unit: str = "", decimals: int = 1) -> None:
    """Record a summary number under ``cohort.<key>``."""
    report.record(f"cohort.{key}", float(value), unit=unit, description=description, decimals=decimals)


record_count("n_randomised", len(people), "People randomised")
for arm in lisa.ARMS:
    record_count(f"n_{arm.lower()}", by_arm.loc[(arm, 0), "randomised"], f"People randomised to {arm}")
    record_count(f"n_attended_12m_{arm.lower()}", by_arm.loc[(arm, 12), "attended"],
                 f"{arm} participants attending the 12-month visit")
record_value("pct_women", 100 * (people["sex"] == "F").mean(), "Women among those randomised (%)", "%")
record_value("age_mean", people["age"].mean(), "Mean age at baseline", "y")
record_value("age_sd", people["age"].std(), "SD of age at baseline", "y")
record_value("age_min", people["age"].min(), "Youngest age at baseline", "y")
record_value("age_max", people["age"].max(), "Oldest age at baseline", "y")
for month in (12, 24):
    record_count(f"n_attended_{month}m", totals.loc[month, "attended"], f"People attending the {month}-month visit")
    record_value(f"pct_attended_{month}m", 100 * totals.loc[month, "attended"] / len(people),
                 f"Share of the randomised attending the {month}-month visit (%)", "%")
for month in (0, 12, 24):
    record_count(f"n_mri_{month}m", totals.loc[month, "mri_usable"], f"Usable rs-fMRI scans at month {month}", "scans")

# %% [markdown]
# ## Participant flow
#
# {glue:text}`cohort.n_randomised` people were randomised: {glue:text}`cohort.n_hrt` to HRT,
# {glue:text}`cohort.n_mit` to MIT and {glue:text}`cohort.n_con` to CON. At the end of the training
# year {glue:text}`cohort.n_attended_12m` came back ({glue:text}`cohort.pct_attended_12m`%:
# {glue:text}`cohort.n_attended_12m_hrt`, {glue:text}`cohort.n_attended_12m_mit` and
# {glue:text}`cohort.n_attended_12m_con` per arm), and one year later {glue:text}`cohort.n_attended_24m`
# ({glue:text}`cohort.pct_attended_24m`%). A usable resting-state fMRI scan exists for
# {glue:text}`cohort.n_mri_0m` people at baseline, {glue:text}`cohort.n_mri_12m` at 12 months and
# {glue:text}`cohort.n_mri_24m` at 24 months. The brain-age analyses can only use these scans.
#
# ```{glue:figure} fig-cohort-consort
# :name: fig-cohort-consort
#
# Participant flow (CONSORT style), drawn from the data: randomised, allocated to each arm, and
# per visit the number attending (share of those allocated) and the number with a usable
# resting-state fMRI scan. The left margin gives the totals over arms (attended / usable scans).
# On the synthetic trial these are simulated people whose counts are calibrated to the published ones.
# ```

# %% tags=["hide-input"]
report.figure(
    "fig-cohort-consort",
    figures.consort_diagram(flow),
    alt="Flow diagram: all randomised people split into the three arms, then for each arm three boxes "
        "(baseline, month 12, month 24) giving how many attended and how many have a usable fMRI scan.",
)
flow_shown = flow.rename(columns={"arm": "Arm", "month": "Month", "randomised": "Randomised",
                                  "attended": "Attended", "mri_acquired": "MRI acquired",
                                  "mri_usable": "Usable rs-fMRI"})
report.table(flow_shown, "cohort-flow", caption="Participant flow per arm and visit (All = all arms).",
             index=False)

# %% [markdown]
# ## Baseline characteristics
#
# Randomisation was stratified by sex, BMI (≤ 28 or > 28 kg/m²) and chair-stand performance
# (≤ 11 or > 11 stands in 30 s), so these should be balanced across arms. The table gives mean
# (SD) or n (%) per arm and the largest standardized mean difference between any two arms; values
# below 0.1 are conventionally read as negligible imbalance. The largest difference over all
# characteristics is {glue:text}`cohort.max_smd`. Participants were {glue:text}`cohort.age_mean` years old on
# average (SD {glue:text}`cohort.age_sd`, range {glue:text}`cohort.age_min` to
# {glue:text}`cohort.age_max`) and {glue:text}`cohort.pct_women`% were women.

# %% tags=["hide-input"]
baseline = lisa.baseline_table(trial)
smd = pd.to_numeric(baseline["Max SMD"], errors="coerce")
record_value("max_smd", smd.max(), "Largest standardized mean difference between two arms at baseline", "",
             decimals=2)
report.table(baseline, "cohort-baseline",
             caption="Baseline characteristics by arm: mean (SD) or n (%); Max SMD is the largest "
                     "absolute standardized mean difference between two arms.")

# %% [markdown]
# ## Attendance, training adherence and MRI availability
#
# Training was planned three times a week. Over the training year
# {glue:text}`cohort.adherence_ge2_pct`% of the people randomised to a training arm trained at
# least twice a week on average (published: 83% {cite:p}`gylling2020a`). After the year, trainees
# were free to keep training on their own: {glue:text}`cohort.n_self_training` of the
# {glue:text}`cohort.n_trainees_24m` trainees seen at 24 months said they did. Head motion, which
# degrades functional connectivity, is summarised by each scan's mean framewise displacement
# (median {glue:text}`cohort.fd_median` mm over usable scans).

# %% tags=["hide-input"]
month12 = trial.visits[trial.visits["month"] == 12]
adherence = month12["adherence_sessions_per_week"].dropna()
record_value("adherence_ge2_pct", 100 * (adherence >= 2).mean(),
             "Trainees training at least twice a week over year 1 (%)", "%")
record_value("adherence_mean", adherence.mean(), "Mean training sessions per week over year 1, trainees",
             "sessions/week", decimals=2)
self_training = trial.visits.loc[trial.visits["month"] == 24, "self_training"].dropna()
record_count("n_self_training", self_training.sum(), "Trainees who kept training on their own in year 2")
record_count("n_trainees_24m", len(self_training), "Trainees attending the 24-month visit")
record_value("fd_median", trial.scans["mean_fd_mm"].median(), "Median mean framewise displacement, usable scans",
             "mm", decimals=3)
shown = visit_table.rename(columns={
    "arm": "Arm", "month": "Month", "randomised": "Randomised", "attended": "Attended",
    "attended_pct": "Attended (%)", "adherence_mean": "Sessions/week (mean)",
    "adherence_ge2_pct": "≥ 2 sessions/week (%)", "self_training_n": "Self-training (n)",
    "mri_usable": "Usable rs-fMRI", "mri_usable_pct_of_attended": "Usable rs-fMRI (% of attended)",
    "mean_fd_mm_median": "Median mean FD (mm)"})
report.table(shown, "cohort-visits", index=False, decimals=1,
             caption="Attendance, training adherence (year 1, training arms), self-training (year 2) "
                     "and usable rs-fMRI per arm and visit.")

# %% [markdown]
# ### Missing data
#
# Missing visits are not missing completely at random: in the simulator, people who were older,
# weaker or less adherent at baseline, and people outside the MRI sub-study, were more likely to
# drop out (published attendance counts per arm are kept exactly). Later pages therefore use
# models that keep every available visit (valid when data are missing at random given what was
# observed) rather than analysing complete cases only. The figure counts each pattern of
# available visits; {glue:text}`cohort.n_mri_all_visits` people have a usable scan at all three
# visits.
#
# ```{glue:figure} fig-cohort-missingness
# :name: fig-cohort-missingness
#
# Patterns of available data per person, counted by arm: which visits were attended (left) and
# which visits have a usable rs-fMRI scan (right); "0 12 24" means all three, "·" marks a missing
# visit. Counts only; on the synthetic trial the people are simulated.
# ```

# %% tags=["hide-input"]
attended_patterns = lisa.missingness_patterns(trial, "attended")
mri_patterns = lisa.missingness_patterns(trial, "mri_usable")
record_count("n_mri_all_visits", mri_patterns.loc[mri_patterns["pattern"] == "0 12 24", "n"].sum(),
             "People with a usable rs-fMRI scan at all three visits")
report.figure(
    "fig-cohort-missingness",
    figures.missingness_patterns_plot(attended_patterns, mri_patterns),
    alt="Two horizontal stacked bar charts of people per pattern of available visits, coloured by arm: "
        "most people attended all three visits; for fMRI the largest groups are all three visits and none.",
)

# %% [markdown]
# ## Leg strength
#
# Isometric knee-extensor strength (maximal voluntary contraction, MVC) rose in both training arms
# during the training year and fell slightly in the control arm; one year after training ended only
# HRT stayed above baseline {cite:p}`gylling2020a,gylling2020b`. Here the mean change from baseline
# was {glue:text}`cohort.mvc_pct_hrt_12m`% (HRT), {glue:text}`cohort.mvc_pct_mit_12m`% (MIT) and
# {glue:text}`cohort.mvc_pct_con_12m`% (CON) at 12 months, and {glue:text}`cohort.mvc_pct_hrt_24m`%,
# {glue:text}`cohort.mvc_pct_mit_24m`% and {glue:text}`cohort.mvc_pct_con_24m`% at 24 months. HRT
# participants started at {glue:text}`cohort.mvc_hrt_0m` Nm (SD {glue:text}`cohort.mvc_hrt_0m_sd`;
# published 149.7 ± 51.5 Nm {cite:p}`blochibenfeldt2024`). Over year 2, trainees who kept training
# changed by {glue:text}`cohort.mvc_year2_self_training`% and those who stopped by
# {glue:text}`cohort.mvc_year2_stopped`% (published −1% and −6%).
#
# ```{glue:figure} fig-cohort-strength
# :name: fig-cohort-strength
#
# Knee-extensor strength by arm and visit among those measured: mean MVC in newton-metres (left)
# and mean percentage change from each person's baseline (right), with 95% confidence intervals.
# Synthetic data where the banner says so.
# ```

# %% tags=["hide-input"]
s = strength.set_index(["arm", "month"])
for arm in lisa.ARMS:
    for month in (12, 24):
        record_value(f"mvc_pct_{arm.lower()}_{month}m", s.loc[(arm, month), "pct_change_mean"],
                     f"Mean % change in knee-extensor MVC from baseline, {arm}, month {month}", "%")
record_value("mvc_hrt_0m", s.loc[("HRT", 0), "mvc_mean"], "Mean baseline knee-extensor MVC, HRT", "Nm")
record_value("mvc_hrt_0m_sd", s.loc[("HRT", 0), "mvc_sd"], "SD of baseline knee-extensor MVC, HRT", "Nm")
wide = trial.visits.pivot(index="participant_id", columns="month")
kept = wide[("self_training", 24)].dropna().astype(bool)
year2 = 100 * (wide[("knee_extensor_mvc_nm", 24)] / wide[("knee_extensor_mvc_nm", 12)] - 1)
record_value("mvc_year2_self_training", year2[kept.index][kept].mean(),
             "Mean % MVC change over year 2, trainees who kept training", "%")
record_value("mvc_year2_stopped", year2[kept.index][~kept].mean(),
             "Mean % MVC change over year 2, trainees who stopped", "%")
strength_visits = trial.visits.merge(people[["participant_id", "arm"]], on="participant_id")
report.figure(
    "fig-cohort-strength",
    figures.strength_trajectories(strength_visits),
    alt="Two line charts over months 0, 12 and 24 by arm: mean knee-extensor strength in Nm and mean "
        "percentage change from baseline; HRT rises most and stays above baseline at 24 months, "
        "MIT rises less and returns to baseline, CON declines.",
)
report.table(strength.rename(columns={"arm": "Arm", "month": "Month", "n": "n", "mvc_mean": "MVC mean (Nm)",
                                      "mvc_sd": "MVC SD (Nm)", "pct_change_mean": "Mean change (%)"}),
             "cohort-strength", index=False, decimals=1,
             caption="Knee-extensor MVC per arm and visit among those measured.")

# %% [markdown]
# ## The simulator's assumptions
#
# When this page runs on the synthetic trial, the table below lists every assumption of the
# simulator: its value, its meaning and where it comes from (a publication, or "assumption: not
# published"). Every one can be changed, e.g. `simulate_trial(seed=0, effect_12m_hrt=0)`, and
# `TrialAssumptions.null()` gives a trial in which training has no effect on the brain. The
# latent brain age of each simulated person is the chronological age plus a stable individual gap,
# the arm effect, a term coupled to the person's strength change, and visit noise; the later pages
# test whether the clock recovers the arm effects that were put in. On real trial data there are
# no assumptions to list and the table is omitted.

# %% tags=["hide-input"]
if trial.assumptions is not None:
    report.table(trial.assumptions.describe().assign(value=lambda d: d["value"].map(str)),
                 "cohort-assumptions", index=False,
                 caption="Assumptions of the synthetic LISA trial (analysis.trial.TrialAssumptions).")
