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
# how leg strength changed: the material every later page builds on. Arms, visits and their
# roles come from the trial's design file (`trial.json`); for the data used here:
# {glue:text}`cohort.design_text`
#
# By default the page runs on the **synthetic LISA trial**, a simulated cohort calibrated to the
# published numbers (the banner below says which data this build used). Its people are not real;
# its counts match the published ones by construction, and everything else is drawn from the
# documented assumptions listed at the end of the page.

# %% tags=["hide-input"]
from analysis import figures, report, trial as lisa

trial = lisa.load_default_trial(seed=0)
design = trial.design
report.data_banner(trial.source)
report.glue_text("cohort.data_kind", "synthetic" if trial.source == "synthetic" else "real")
report.glue_text("cohort.design_text", lisa.cohort.design_sentence(design))

flow = lisa.flow_counts(trial)
flow_numbers = lisa.cohort.flow_results(trial, flow)
_ = report.record_frame(flow_numbers)
report.glue_text("cohort.flow_text", lisa.cohort.flow_sentence(flow_numbers, design))
report.glue_text("cohort.mri_text", lisa.cohort.mri_sentence(flow_numbers, design))

# %% [markdown]
# ## Participant flow
#
# {glue:text}`cohort.flow_text` {glue:text}`cohort.mri_text` The brain-age analyses can only use
# these scans.
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
report.figure("fig-cohort-consort", figures.consort_diagram(flow, design), alt=lisa.cohort.consort_alt(design))
report.table(lisa.cohort.display_table(flow), "cohort-flow",
             caption="Participant flow per arm and visit (All = all arms).", index=False)

# %% [markdown]
# ## Baseline characteristics
#
# Randomisation was stratified by sex, BMI (≤ 28 or > 28 kg/m²) and chair-stand performance
# (≤ 11 or > 11 stands in 30 s) {cite:p}`eriksen2016`, so these should be balanced across arms.
# The table, built with the `tableone` package {cite:p}`pollard2018`, gives mean (SD) or n (%) per
# arm and the standardized mean difference (SMD) between each pair of arms; absolute values below
# 0.1 are conventionally read as negligible imbalance. {glue:text}`cohort.balance_text` Participants
# were {glue:text}`cohort.age_mean` years old on average (SD {glue:text}`cohort.age_sd`, range
# {glue:text}`cohort.age_min` to {glue:text}`cohort.age_max`) and {glue:text}`cohort.pct_women`%
# were women.

# %% tags=["hide-input"]
baseline = lisa.baseline_table(trial)
smd = lisa.baseline_smd(baseline)
balance = lisa.cohort.baseline_results(smd)
_ = report.record_frame(balance)
report.glue_text("cohort.balance_text", lisa.cohort.balance_sentence(balance, smd))
report.table(lisa.baseline_display(baseline), "cohort-baseline",
             caption="Baseline characteristics by arm (tableone): mean (SD) or n (%), and the "
                     "standardized mean difference (SMD) of each pair of arms. Only the characteristics "
                     "recorded in these data are shown.")

# %% [markdown]
# ## Attendance, training adherence and MRI availability
#
# Training was planned three times a week; the published trial reports that 83% of the people
# randomised to a training arm trained at least twice a week on average over the training year
# {cite:p}`gylling2020a`. {glue:text}`cohort.adherence_text` After the year, trainees were free to
# keep training on their own. {glue:text}`cohort.self_training_text`
# {glue:text}`cohort.motion_text`

# %% tags=["hide-input"]
attendance = lisa.cohort.attendance_results(trial)
_ = report.record_frame(attendance)
report.glue_text("cohort.adherence_text", lisa.cohort.adherence_sentence(attendance))
report.glue_text("cohort.self_training_text", lisa.cohort.self_training_sentence(attendance, design))
report.glue_text("cohort.motion_text", lisa.cohort.motion_sentence(attendance))
report.table(lisa.cohort.display_table(lisa.visit_summary(trial)), "cohort-visits", index=False, decimals=1,
             caption="Attendance, training adherence (training arms, during the intervention), "
                     "self-training (after it) and usable rs-fMRI per arm and visit; empty cells: "
                     "not applicable or not recorded.")

# %% [markdown]
# ### Missing data
#
# Missing visits need not be missing completely at random. In the simulator, people who were
# older, weaker or less adherent at baseline, and people outside the MRI sub-study, were more
# likely to drop out (published attendance counts per arm are kept exactly).
# {glue:text}`cohort.dropout_text` Later pages therefore use models that keep every available
# visit (valid when data are missing at random given what was observed) rather than analysing
# complete cases only. The figure counts each pattern of available visits.
# {glue:text}`cohort.missingness_text`
#
# ```{glue:figure} fig-cohort-missingness
# :name: fig-cohort-missingness
#
# Patterns of available data per person, counted by arm: which visits were attended (left) and
# which visits have a usable rs-fMRI scan (right). A pattern lists the months with data, "·" marks
# a missing visit. Counts only; on the synthetic trial the people are simulated.
# ```

# %% tags=["hide-input"]
attended_patterns = lisa.missingness_patterns(trial, "attended")
mri_patterns = lisa.missingness_patterns(trial, "mri_usable")
missing = lisa.cohort.missingness_results(mri_patterns, design)
_ = report.record_frame(missing)
report.glue_text("cohort.missingness_text", lisa.cohort.missingness_sentence(missing, design))
report.glue_text("cohort.dropout_text", lisa.cohort.dropout_sentence(trial))
report.figure("fig-cohort-missingness", figures.missingness_patterns_plot(attended_patterns, mri_patterns, design),
              alt=lisa.cohort.missingness_alt(attended_patterns, mri_patterns))

# %% [markdown]
# ## Leg strength
#
# In the published trial, isometric knee-extensor strength (maximal voluntary contraction, MVC)
# rose in both training arms during the training year and fell slightly in the control arm; one
# year after training ended only HRT stayed above baseline {cite:p}`gylling2020a,gylling2020b`,
# and HRT participants started at 149.7 ± 51.5 Nm {cite:p}`blochibenfeldt2024`.
# {glue:text}`cohort.strength_text` {glue:text}`cohort.strength_baseline_text`
# {glue:text}`cohort.strength_followup_text`
#
# ```{glue:figure} fig-cohort-strength
# :name: fig-cohort-strength
#
# Knee-extensor strength by arm and visit among those measured: mean MVC in newton-metres (left)
# and mean percentage change from each person's baseline (right), with 95% confidence intervals.
# Synthetic data where the banner says so.
# ```

# %% tags=["hide-input"]
strength = lisa.strength_summary(trial)
strength_numbers = lisa.cohort.strength_results(trial, strength)
_ = report.record_frame(strength_numbers)
report.glue_text("cohort.strength_text", lisa.cohort.strength_sentence(strength_numbers, strength, design))
report.glue_text("cohort.strength_baseline_text", lisa.cohort.strength_baseline_sentence(strength_numbers, design))
report.glue_text("cohort.strength_followup_text",
                 lisa.cohort.strength_followup_sentence(strength_numbers, design, published=lisa.TrialAssumptions()))
report.figure("fig-cohort-strength", figures.strength_trajectories(lisa.arm_visits(trial), design),
              alt=lisa.cohort.strength_alt(strength, design))
report.table(lisa.cohort.display_table(strength), "cohort-strength", index=False, decimals=1,
             caption="Knee-extensor MVC per arm and visit among those measured, with the mean change "
                     "from baseline and its 95% confidence interval.")

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
    report.table(lisa.cohort.assumptions_display(trial.assumptions), "cohort-assumptions", index=False,
                 caption="Assumptions of the synthetic LISA trial (analysis.trial.TrialAssumptions).")
