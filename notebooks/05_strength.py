# ---
# jupyter:
#   jupytext:
#     text_representation: {extension: .py, format_name: percent}
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # Did stronger legs go with a younger-looking brain?
#
# In LISA, isometric knee-extensor strength rose in both training arms over the training year
# {cite:p}`gylling2020a`. Press coverage of the brain-clock analysis said that gains in leg strength
# tracked the reduction of the brain age gap {cite:p}`gonzalezgomez2026`. This page asks whether, from
# baseline to 12 months, people whose strength rose more also had a larger fall in their gap:
# overall and within each arm, with bootstrap intervals, adjusted for age, sex and baseline values,
# and with a formal test of whether the relation differs between arms.

# %% tags=["hide-input"]
import numpy as np
import pandas as pd

from analysis import figures, report, stats
from analysis import trial_analysis as ta

data = ta.load_trial_analysis(seed=0)
report.data_banner(data.trial.source)
changes = ta.change_table(data.table, 0, 12)
report.record("strength.n_people", len(changes), unit="people", decimals=0,
              description="People with strength and a usable scan at both baseline and 12 months")
summary = changes.groupby("arm").agg(
    n=("participant_id", "size"),
    mvc_change_pct_mean=("mvc_change_pct", "mean"),
    mvc_change_pct_sd=("mvc_change_pct", "std"),
    gap_change_mean=("gap_change", "mean"),
    gap_change_sd=("gap_change", "std"),
).reindex(list(ta.ARMS))
report.table(summary, "strength-changes-by-arm",
             caption="Change from baseline to 12 months by arm: knee-extensor MVC (% of baseline) and brain age gap "
                     "(years of predicted brain age); people with both measures at both visits.")

# %% [markdown]
# The analysis uses the {glue:text}`strength.n_people` people with a strength test and a usable
# scan at both baseline and 12 months. Strength change is expressed in percent of the person's
# baseline maximal voluntary contraction (MVC), so that men and women, whose absolute strength
# differs a lot, are on a common scale; the gap change is in years of predicted brain age.
#
# ## Correlations, overall and within arms

# %% tags=["hide-input"]
correlations = ta.strength_correlations(changes, n_boot=2000, random_state=0)
for row in correlations.itertuples():
    name = {"pearson": "r", "spearman": "rho", "partial": "partial_r"}[row.method]
    group = "overall" if row.group == "All" else row.group.lower()
    report.record(f"strength.{name}_{group}", row.r, ci=(row.ci_low, row.ci_high),
                  description=f"{row.method} correlation of MVC % change and gap change, {row.group}")
report.table(
    correlations.set_index(["group", "method"]),
    "strength-correlations",
    caption="Correlation of the 12-month change in knee-extensor MVC (%) with the change in brain age gap: Pearson, "
            "Spearman and partial (Pearson, adjusted for age, sex, baseline gap and baseline MVC); 95% bootstrap "
            "percentile intervals (2,000 resamples of people); p from the t test of the coefficient.",
)

# %% [markdown]
# Over all arms, the Pearson correlation between strength change and gap change is
# {glue:text}`strength.r_overall_full` (Spearman {glue:text}`strength.rho_overall_full`; partial,
# adjusting for age, sex and the baseline values of both measures,
# {glue:text}`strength.partial_r_overall_full`). Within the arms the Pearson correlations are
# {glue:text}`strength.r_hrt_full` (HRT), {glue:text}`strength.r_mit_full` (MIT) and
# {glue:text}`strength.r_con_full` (CON). A negative value means more strength gain goes with a
# larger fall of the gap.
#
# The overall correlation mixes two sources: *between* arms (training raised strength and lowered
# the gap, so pooled arms correlate even if nothing links the two within a person) and *within*
# arms. The within-arm correlations and the regression below separate them.

# %% tags=["hide-input"]
# Individual points are shown for synthetic data only: with real trial data the figure keeps the fitted
# lines and bands, so no person's values leave the analysis.
fig = figures.plot_strength_scatter(changes, points=data.synthetic)
report.figure(
    "fig-strength-scatter",
    fig,
    alt="Three panels, one per arm (HRT, MIT, CON), of the 12-month change in knee-extensor strength in percent (x) "
        "against the change in brain age gap in years (y), each with a least-squares line and 95% band "
        "(and, for synthetic data, one point per person).",
)

# %% [markdown]
# ```{glue:figure} fig-strength-scatter
# :name: fig-strength-scatter
# Change in knee-extensor MVC (%) against change in brain age gap (years of predicted brain age) from
# baseline to 12 months, per arm, with least-squares lines and 95% confidence bands; one point per
# person for synthetic data only (never for real trial data). Synthetic data unless the banner at the
# top says otherwise.
# ```
#
# ## Does the relation differ between arms?
#
# A regression of the gap change on arm, strength change and their interaction, adjusted for
# age, sex, baseline gap and baseline MVC, gives the slope within each arm (years of gap change per
# percentage point of strength change) and tests whether the slopes differ.

# %% tags=["hide-input"]
slopes, interaction = ta.strength_interaction(changes)
for row in slopes.itertuples():
    report.record(f"strength.slope_{row.arm.lower()}", row.estimate, ci=(row.ci_low, row.ci_high),
                  unit="y per %", decimals=3,
                  description=f"Adjusted slope of gap change on MVC % change within {row.arm}")
report.record("strength.interaction_p", interaction["p_joint"].iloc[0], decimals=3,
              description="Joint F-test p of the arm x strength-change interaction")
report.table(slopes.set_index("arm"), "strength-slopes-by-arm", decimals=3,
             caption="Slope of the 12-month gap change on MVC % change within each arm (years per percentage point), "
                     "from one regression with arm x strength-change interaction, adjusted for age, sex, baseline gap "
                     "and baseline MVC.")

# %% [markdown]
# The adjusted slopes are {glue:text}`strength.slope_hrt_full` in HRT,
# {glue:text}`strength.slope_mit_full` in MIT and {glue:text}`strength.slope_con_full` in CON;
# the joint test that the three slopes are equal gives p = {glue:text}`strength.interaction_p`.
# A slope in one arm whose interval excludes zero while another's does not is **not** evidence
# that the arms differ (the seed article's "clearest in MIT"): only the interaction test compares
# them, and it needs far more people than a main effect.

# %% [markdown]
# ## Regression to the mean and measurement error
#
# Two artefacts shape every change-on-change correlation.
#
# **Regression to the mean.** A person measured with an unusually high gap at baseline (by chance:
# scan noise, a bad day) will tend to have a lower gap at 12 months, and the same for strength. The
# change is therefore negatively correlated with its own baseline value, as the numbers below show.
# If baseline gap and baseline strength are related, this alone can create a correlation between
# the two changes. The partial correlation and the regression adjust for both baseline values,
# which removes this path.
#
# **Measurement error.** The strength test has test-retest error; so does the clock. Error in the
# strength change *attenuates* the slope and the correlation toward zero (regression dilution)
# by the reliability of the change score; error in the gap change widens the intervals without
# biasing the slope. A difference of two noisy measurements is noisier than either, so change
# scores are often unreliable.

# %% tags=["hide-input"]
rtm_gap = np.corrcoef(changes["gap_start"], changes["gap_change"])[0, 1]
rtm_mvc = np.corrcoef(changes["mvc_start"], changes["mvc_change_pct"])[0, 1]
report.record("strength.rtm_gap_r", rtm_gap, description="Correlation of baseline gap with gap change")
report.record("strength.rtm_mvc_r", rtm_mvc, description="Correlation of baseline MVC with MVC % change")
if data.synthetic:
    truth = ta.strength_truth(data.trial, changes)
    factor = data.scale_factor("beheshti")
    report.record("strength.true_coupling_clock", truth["coupling"] * factor, unit="y per %", decimals=3,
                  description="True within-arm coupling of gap change to strength change, clock scale")
    report.record("strength.reliability", truth["reliability"],
                  description="Reliability of the measured MVC % change (true variance / measured variance)")
    report.record("strength.expected_slope_clock", truth["coupling"] * factor * truth["reliability"], unit="y per %",
                  decimals=3, description="True coupling on the clock scale times the reliability of MVC change")
else:
    for name in ("strength.true_coupling_clock", "strength.reliability", "strength.expected_slope_clock"):
        report.glue_text(name, "not known (real data)")

# %% [markdown]
# Baseline gap correlates with the change in gap at {glue:text}`strength.rtm_gap_r`, and baseline
# MVC with its percent change at {glue:text}`strength.rtm_mvc_r`: regression to the mean at work.
#
# In the synthetic trial the simulator couples each person's brain-age change to their strength
# change beyond their arm's mean, by {glue:text}`strength.true_coupling_clock` years of gap per
# percentage point on the clock scale. The measured strength change has a reliability of
# {glue:text}`strength.reliability`, so the slope one can expect to recover is attenuated to about
# {glue:text}`strength.expected_slope_clock`. Set against the slopes and their intervals above, this
# shows how large a trial would need to be to see a within-arm strength-brain link of this size.
#
# ## What this page can and cannot say
#
# * Strength change is not randomised: a correlation between changes is an association, open to
#   confounding (for example by adherence, health or motivation), not a mechanism.
# * A within-arm correlation near zero with a wide interval does not show there is no link; it
#   shows that this sample cannot measure one this small.
# * Gains in leg *power* did not change in any arm in LISA {cite:p}`gylling2020a`; only isometric
#   strength is analysed here.
