# ---
# jupyter:
#   jupytext:
#     text_representation: {extension: .py, format_name: percent}
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # Did the training make the brain look younger?
#
# This page asks the trial's primary question: at the end of the intervention, does the brain
# age gap (the clock's predicted age minus chronological age) differ between the arms? The
# published analysis of LISA {cite:p}`gonzalezgomez2026` reported that both training arms lowered
# the gap by more than a year relative to control, and that the two training arms did not differ.
# Here the question is asked of the data this book runs on, exactly as the
# {doc}`statistical analysis plan <../book/analysis_plan>` fixes it: the estimand, the primary
# model, the multiplicity rule, the handling of missing scans, the sensitivity analyses and the
# supplementary estimands (compliers, subgroups) are the plan's, and every sentence below that
# says what the data show is chosen by code from the estimates and their intervals.

# %% tags=["hide-input"]
from analysis import figures, report, stats
from analysis import trial_analysis as ta

data = ta.load_trial_analysis(seed=0)
table, design = data.table, data.design
report.data_banner(data.trial.source, clock=data.clock_label, glue_as="arms.data_kind")
population = ta.population_section(table, design)
ta.publish(population)
report.table(population.table, "arms-populations",
             caption="Analysis populations by arm: randomised (ITT), people with any usable scan (the primary model's "
                     "data), modified ITT (usable baseline scan) and per protocol.")
report.table(ta.scan_counts(table, design), "arms-scans-per-visit",
             caption="Usable rs-fMRI scans per arm and visit (the data of the primary model).")

# %% [markdown]
# {glue:text}`arms.design_text`
#
# **Populations.** {glue:text}`arms.population_text` Each analysis below names the population it
# uses: the primary model uses every usable scan of everyone randomised (intention to treat, valid
# under the missing-data assumption below); the ANCOVA-type analyses (complete cases, multiple
# imputation, tipping point, compliers, subgroups) need the baseline value and use the modified ITT
# population; the per-protocol analysis keeps controls and trainees who reached the protocol's
# adherence threshold.
#
# ## The primary model
#
# The primary analysis is a **constrained longitudinal data analysis** (cLDA)
# {cite:p}`liang2000,coffman2016`: a linear model of the gap at every visit, baseline included as
# an outcome, with a mean for each visit and arm-by-visit terms at the post-baseline visits only,
# so all arms share one baseline mean, as randomisation makes it in the population:
#
# $$\text{gap}_{iv} = \mu_v + \sum_{a \ne \text{control}} \delta_{av}\,[\text{arm}_i = a]\,[v > 0]
#   + \gamma^\top x_i + \varepsilon_{iv}, \qquad (\varepsilon_{i1}, \dots, \varepsilon_{iV}) \sim N(0, \Sigma).$$
#
# The arm effect at visit $v$ is $\delta_{av}$: the difference between arm and control in mean gap
# at that visit, equal to the difference in mean change from the common baseline. The covariates
# $x_i$ are the randomisation strata (sex where the trial records no strata), age at baseline and
# head motion (mean framewise displacement) **at baseline**. Head motion at later visits happens
# after randomisation and could be changed by the training, so it is not adjusted for; it is
# reported by arm and visit below. The within-person covariance $\Sigma$ over visits is
# **unstructured**, estimated by restricted maximum likelihood, with model-based Wald intervals.
# The random-intercept model of the earlier analyses (an exchangeable $\Sigma$, an arm main effect
# and age and motion at each visit) is kept as a sensitivity analysis.

# %% tags=["hide-input"]
primary = ta.primary_model(table, design)
choice = ta.model_choice_section(primary)
ta.publish(choice)
report.table(choice.table, "arms-covariance-comparison",
             caption="The same cLDA mean model with an exchangeable (random-intercept) and an unstructured within-person "
                     "covariance: number of covariance parameters, restricted log-likelihood, AIC, BIC and the "
                     "likelihood-ratio test against the exchangeable structure.")

# %% [markdown]
# {glue:text}`arms.model_choice_text`
#
# **Missing scans.** The model uses every available scan, so people with a missing follow-up scan
# still contribute their other scans. It is valid if scans are **missing at random given the
# model's terms**: given arm, visit, the covariates and a person's observed gaps at other visits,
# whether a scan is missing does not depend on the unobserved gap. Adherence, strength change and
# follow-up head motion are *not* in the model; if missingness depends on them and they relate to
# the gap (for example, less adherent trainees skipping their scan), the assumption fails. That is
# why multiple imputation with these auxiliary variables, and a tipping-point analysis that
# departs from missing at random, are reported below as sensitivity analyses. Neither can confirm
# the assumption; they show how much the conclusion depends on it.
#
# **Scale.** The gap is corrected for the clock's age bias with the Beheshti method
# {cite:p}`beheshti2019`, fitted on the clock's training data only. That correction keeps the
# clock's *own* scale: a ridge clock shrinks predictions toward the mean age, so one year of
# "true" brain-age change moves the prediction by less than a year. Every effect on this page is in
# years of **predicted** brain age (the clock scale), not of latent brain age, unless said
# otherwise. {glue:text}`arms.bias_identities` The primary model has age at baseline and a mean
# per visit, so age at a visit differs from a linear function of its terms only by the spread of
# visit timing: these corrections, and a linear correction refitted on other reference people,
# give practically the same arm estimates (the age-matched row of the sensitivity analyses shows
# how little is left). Other clocks can change the result, and are among the sensitivity
# analyses.

# %% tags=["hide-input"]
report.glue_text("arms.bias_identities", stats.BIAS_CORRECTION_IDENTITIES)
effects = ta.effects_section(primary, table, "arms")
ta.publish(effects)
report.table(effects.table, "arms-effects",
             caption="Arm effects of the primary model at each post-baseline visit during the intervention: difference "
                     "in mean brain age gap (years of predicted brain age) with 95% Wald CI and unadjusted p; the "
                     "hypothesis family of the gatekeeping and the gatekept, Holm-adjusted p ('exploratory': in no "
                     "family); and the estimate in baseline SDs of the gap with a CI that includes the SD's "
                     "uncertainty.")

# %% [markdown]
# ## Arm effects at the primary visit
#
# **Multiplicity.** As the plan specifies, claims of an effect rest on serial gatekeeping over
# ordered families with Holm's procedure within each {cite:p}`holm1979,westfall2001`: first each
# training arm against control at the primary visit, then the same at each follow-up visit, then
# the training arms against each other. A family is tested only if every hypothesis before it was
# rejected, and an adjusted p at or below 0.05 reproduces the procedure's decisions.
# {glue:text}`arms.gatekeeping_text`
#
# **What the data show**, in sentences chosen from each estimate, its 95% interval and its
# adjusted p: {glue:text}`arms.conclusions`
#
# An interval that includes zero is not evidence that two arms are equivalent: it says which
# differences the data cannot rule out. {glue:text}`arms.std_text` This is how the effects compare
# with how much people differ from each other at baseline; that spread, with the clock's error,
# limits the precision of a trial of this size.

# %% tags=["hide-input"]
reliability = ta.reliability_section(table, primary)
ta.publish(reliability)
report.table(reliability.table, "arms-reliability",
             caption="Test-retest reliability of the brain age gap in the control arm (baseline and primary visit): "
                     "intraclass correlations with 95% CIs, people, and the standard error of measurement (y).")

# %% [markdown]
# **What the effects mean for one person** {cite:p}`shrout1979,devet2006`.
# {glue:text}`arms.reliability_text`
#
# ## Estimates next to the truth
#
# On the synthetic trial the book knows the answer. The simulator sets each arm's effect on the
# *latent* brain age; the clock sees that effect shrunk by the slope of its predictions on latent
# brain age, estimated from the synthetic scans (see the simulation study). The fair comparison
# for the estimates above is therefore the true effect **on the clock scale**.

# %% tags=["hide-input"]
truth = ta.truth_section(data, primary.effects, design.primary_visit)
ta.publish(truth)
report.table(truth.table, "arms-truth",
             caption="Synthetic trial only: the simulator's true arm effects at the primary visit (assumed, latent and "
                     "clock scale; realised in this sample, clock scale) next to the estimates; 'covered' says whether "
                     "the 95% CI contains the realised clock-scale value.")

# %% [markdown]
# {glue:text}`arms.truth_text` One trial is one draw: an estimate can sit a standard error or two
# from the truth without anything being wrong. Whether the *method* is unbiased and its intervals
# cover at the nominal rate is a question for many simulated trials, answered in the simulation
# study.
#
# ## Trajectories by arm

# %% tags=["hide-input"]
fig = figures.plot_trajectories(ta.model_means(primary, table), ta.observed_means(table), design=design,
                                ylabel="Brain age gap (y, predicted scale)")
report.figure(
    "fig-arms-trajectory",
    fig,
    alt="Line plot of the primary model's estimated brain age gap at each visit for each arm, with 95% confidence "
        "bands, and the observed means with 95% intervals as points beside each line.",
)
report.table(ta.motion_table(table, design).set_index(["month", "arm"]), "arms-motion", decimals=3,
             caption="Head motion (mean framewise displacement, mm) of the usable scans by visit and arm: number of "
                     "scans, mean, SD and median. Baseline motion is a covariate; later motion is reported, not "
                     "adjusted for.")

# %% [markdown]
# ```{glue:figure} fig-arms-trajectory
# :name: fig-arms-trajectory
# Brain age gap by arm and visit: lines and bands are the primary model's estimated means (covariates
# at their means) with 95% CIs, sharing the baseline mean by construction; points are the observed
# means of the scans at each visit (95% t intervals; different people contribute at different
# visits). Years of predicted brain age. Synthetic data unless the banner at the top says otherwise.
# ```
#
# The table above it shows head motion by arm and visit: a training arm moving less in the scanner
# at follow-up would be a route by which training could change the gap without changing the brain.
#
# ## Complete cases: ANCOVA at the primary visit
#
# The classical alternative compares the gap at the primary visit between arms adjusting for the
# baseline gap and the same covariates, by ordinary least squares, in the people of the modified ITT
# population scanned at both visits. It discards the people the cLDA keeps with one scan, but
# assumes nothing about the correlation between visits.

# %% tags=["hide-input"]
ancova = ta.ancova_section(ta.ancova_effects(table, design), design)
ta.publish(ancova)
report.table(ancova.table, "arms-ancova",
             caption="ANCOVA at the primary visit, complete cases of the modified ITT population: adjusted differences "
                     "in the brain age gap (years of predicted brain age), 95% CI, p, people.")

# %% [markdown]
# {glue:text}`arms.ancova_text`
#
# ## Missing data: multiple imputation and tipping point
#
# **Multiple imputation with auxiliary variables** {cite:p}`rubin1987,white2011`. The missing gaps
# at the primary visit of the modified ITT population are imputed within each arm by chained
# equations with draws from the posterior predictive distribution, from the baseline gap, the
# covariates and the auxiliary variables the trial records (adherence, strength change, head motion
# at the visit); each completed data set is analysed by ANCOVA and the results are pooled by
# Rubin's rules with Barnard–Rubin degrees of freedom {cite:p}`barnard1999`. This is valid under
# missing at random given the auxiliaries too, a weaker assumption than the primary model's. To keep
# the page fast the imputations are few and drawn once, and the same imputations serve every delta
# of the tipping-point grid; the multiple-imputation estimate is the delta = 0 row.
#
# **Tipping point** {cite:p}`ratitch2013`. The imputed gaps of trainees with a missing outcome are
# made worse (an older-looking brain) by delta years, over a grid from 0 upward; the tipping point
# is the smallest delta at which a contrast is no longer significant at the level that applies to
# it in the primary family's Holm step.

# %% tags=["hide-input"]
missing = ta.missing_data_analysis(table, primary, seed=0)
missing_section = ta.missing_data_section(missing, table, design)
ta.publish(missing_section)
report.table(missing_section.table, "arms-tipping-point", decimals=4,
             caption="Tipping point of each training arm versus control at the primary visit: the Holm level the "
                     "contrast is tested at, the smallest delta (years added to the imputed gaps of trainees with a "
                     "missing outcome) at which it is no longer significant, and its status.")

# %% [markdown]
# {glue:text}`arms.missing_text` Tipping points: {glue:text}`arms.tipping_text` Whether a departure
# of that size from missing at random is plausible is a judgement about why scans were missed,
# which the data cannot settle; the number of outcomes imputed bounds how much any such departure
# can move the estimate.
#
# ## Compliers: the effect of training actually done
#
# The estimand above is the effect of *assignment* to training, whatever training was done. The
# complier average causal effect {cite:p}`angrist1996` estimates the effect of the training itself
# among people who would train as allocated: randomisation is the instrument for adherence (sessions
# per week; zero for controls, who were not offered training), by two-stage least squares with
# robust standard errors, adjusted for the baseline gap and the covariates, in the modified ITT
# people with an outcome. It rests on the exclusion restriction (assignment changes the gap only
# through training done) and monotonicity; a large first-stage F shows the instrument is strong.
# The naive per-protocol estimate (adherent trainees against all controls) is shown beside it; it
# compares groups that were not randomised and can be confounded by whatever makes people adhere.

# %% tags=["hide-input"]
cace = ta.cace_section(ta.complier_effects(table, design), design)
ta.publish(cace)
report.table(cace.table, "arms-cace",
             caption="Effect of assignment (ITT, ANCOVA), per protocol, as treated (naive dose-response) and the "
                     "complier average causal effect (2SLS), per planned dose of sessions per week for the dose-based "
                     "rows; 95% robust CIs; first-stage F of the instrument.")

# %% [markdown]
# {glue:text}`arms.cace_text`
#
# ## Sensitivity analyses
#
# The primary model refitted, with the same estimand and without multiplicity adjustment, under
# analyses that can disagree with it:
#
# * **Model-based**: the exchangeable covariance; the random-intercept model of the earlier
#   analyses; the per-protocol population; the complete-case ANCOVA; multiple imputation.
# * **Other clocks** {cite:p}`dadi2019`: a clock on correlation instead of tangent-space
#   connectivity, and a clock with a support-vector regressor instead of ridge regression, both
#   retrained on the same reference cohort. Each has its own shrinkage, so its estimates are on its
#   own scale.
# * **Age-matched bias correction**: the Beheshti correction refitted on the reference people of
#   the trial's age range, widened on each side (the table names the range and the number of
#   people; the clock is unchanged).
# * **Longitudinal correction** {cite:p}`levakov2023`: each person's follow-up prediction is
#   compared with the one expected from their baseline prediction and the clock's age trend over
#   the elapsed time, and arms are compared on the excess change. With the clock's own age trend
#   this excess equals the change of the Beheshti-corrected gap, so the analysis is the
#   change-score comparison: it differs from the primary one by not conditioning on the baseline.

# %% tags=["hide-input"]
clock_rows, clock_notes = ta.clock_sensitivity(data, primary, seed=0)
sensitivity = ta.sensitivity_section([ta.model_sensitivity(table, primary), clock_rows, ta.mi_rows(missing)],
                                     clock_notes, design)
ta.publish(sensitivity)
report.table(sensitivity.table.set_index(["comparison", "analysis"]).drop(columns=["arm", "reference"]),
             "arms-sensitivity",
             caption="Arm effects at the primary visit under each analysis (first row of each contrast: the primary "
                     "analysis); 'scale' names the clock whose gap is analysed (another clock's estimates are on its "
                     "own scale); 95% CIs unadjusted.")
fig = figures.plot_forest(sensitivity.table, truth=ta.truth_lines(data, design.primary_visit))
report.figure(
    "fig-arms-forest",
    fig,
    alt="Forest plot with one panel per arm contrast at the primary visit; each row is one analysis (the primary "
        "cLDA, the other covariance, the random-intercept model, per protocol, complete-case ANCOVA, other clocks, "
        "the age-matched correction, the longitudinal correction, multiple imputation) with its estimate and 95% "
        "confidence interval; a dashed line marks the true value on the clock scale when known.",
)

# %% [markdown]
# ```{glue:figure} fig-arms-forest
# :name: fig-arms-forest
# Arm effects at the primary visit under each analysis (estimate and 95% CI, years). The dashed red
# line is the simulator's true effect on the primary clock's scale (synthetic data only); rows of
# another clock are on that clock's scale.
# ```
#
# {glue:text}`arms.sensitivity_text` Where the analyses disagree, the primary analysis is the one
# specified in advance, and the disagreement is part of the result: in particular an effect seen by
# one clock and not by another is a property of that clock as much as of the brain.
#
# ## Heterogeneity of the effect
#
# Three effect modifiers are pre-specified: sex, the baseline gap and baseline knee-extensor
# strength (when the trial records it). For each, an ANCOVA of the gap at the primary visit with an
# arm × modifier interaction, adjusted for the baseline gap, age and motion at baseline and sex,
# gives each training arm's effect within each sex or at the mean and ±1 SD of a continuous
# modifier. The interaction tests of all modifiers and arms form one family adjusted by Holm's
# procedure; these analyses are exploratory.

# %% tags=["hide-input"]
subgroups = ta.heterogeneity(table, design)
heterogeneity = ta.heterogeneity_section(subgroups, design)
ta.publish(heterogeneity)
report.table(heterogeneity.table, "arms-heterogeneity",
             caption="Arm effects within subgroups (sex) or at the mean and ±1 SD of a continuous modifier, the change "
                     "of the effect per SD, and the interaction p-values, unadjusted and Holm-adjusted over all "
                     "modifiers and arms (modified ITT, complete cases).")
fig = figures.plot_subgroups(subgroups, ta.MODIFIERS)
report.figure(
    "fig-arms-subgroups",
    fig,
    alt="Forest plot with one panel per training arm versus control: the arm effect within each sex and at the "
        "mean and plus or minus one SD of the baseline gap and of baseline strength, with 95% confidence intervals "
        "and the Holm-adjusted interaction p-value of each modifier in the panel title.",
)

# %% [markdown]
# ```{glue:figure} fig-arms-subgroups
# :name: fig-arms-subgroups
# Arm effects at the primary visit within subgroups (estimate and 95% CI, years of predicted brain
# age). Differences between the rows of a block are judged by the interaction test in the panel
# title, not by whether one row's interval excludes zero.
# ```
#
# {glue:text}`arms.heterogeneity_text`
#
# ## What this page can and cannot say
#
# * The arm comparison is randomised, so a difference in the gap is caused by the assignment to
#   training (within the precision shown), under the missing-data assumption stated above and with
#   the sensitivity to it shown in the tipping point.
# * The gap is a property of **one clock**: a younger-looking connectivity pattern to this clock, on
#   the clock's shrunken scale. It is not a measured slowing of biological ageing, and another clock
#   can see a different effect (sensitivity analyses).
# * Whether the effect lasts after training ends is the subject of the next page; whether it tracks
#   the gain in leg strength, of the page after.
