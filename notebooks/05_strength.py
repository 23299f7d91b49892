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
# tracked the reduction of the brain age gap {cite:p}`gonzalezgomez2026`. This page asks whether,
# from baseline to the end of the intervention, people whose strength rose more also had a larger
# fall in their gap: over all arms and within each arm, with bootstrap intervals, adjusted for age,
# sex and baseline values, and with a formal test of whether the relation differs between arms. As
# the {doc}`statistical analysis plan <../book/analysis_plan>` asks, the tests of this page form one
# family adjusted by Holm's procedure, and they are read as supportive, not confirmatory: strength
# change was not randomised.

# %% tags=["hide-input"]
from analysis import figures, report
from analysis import trial_analysis as ta

data = ta.load_trial_analysis(seed=0)
report.data_banner(data.trial.source, clock=data.clock_label)
strength = ta.strength_analysis(data.table, data.design, random_state=0)
section = ta.strength_section(data, strength)
tables = ta.strength_tables(strength)
ta.publish(section)

# %% [markdown]
# {glue:text}`strength.intro_text` Strength change is expressed in percent of the person's baseline
# maximal voluntary contraction (MVC), so that men and women, whose absolute strength differs a
# lot, are on a common scale; the gap change is in years of predicted brain age.
#
# ## Correlations, over all arms and within arms

# %% tags=["hide-input"]
report.table(section.table, "strength-correlations",
             caption="Correlation of the change in knee-extensor MVC (%) with the change in brain age gap from baseline "
                     "to the primary visit: Pearson, Spearman and partial (Pearson, adjusted for age, sex, baseline gap "
                     f"and baseline MVC); 95% bootstrap percentile intervals ({ta.N_BOOT:,} resamples of people); p from "
                     "the t test of the coefficient; for the partial correlations, the Holm-adjusted p of the strength "
                     "family.")

# %% [markdown]
# {glue:text}`strength.correlation_text` {glue:text}`strength.within_text` A negative value means
# more strength gain goes with a larger fall of the gap.
#
# The correlation over all arms mixes two sources: *between* arms (training raised strength and
# lowered the gap, so pooled arms correlate even if nothing links the two within a person) and
# *within* arms. The within-arm correlations and the regression below separate them.

# %% tags=["hide-input"]
# Individual points are shown for synthetic data only: with real trial data the figure keeps the fitted
# lines and bands, so no person's values leave the analysis.
fig = figures.plot_strength_scatter(tables["changes"], data.design, points=data.synthetic)
report.figure(
    "fig-strength-scatter",
    fig,
    alt="One panel per arm of the change in knee-extensor strength in percent (x) against the change in brain age "
        "gap in years (y), each with a least-squares line and 95% band (and, for synthetic data, one point per "
        "person); or a note that strength is not available in these data.",
)

# %% [markdown]
# ```{glue:figure} fig-strength-scatter
# :name: fig-strength-scatter
# Change in knee-extensor MVC (%) against change in brain age gap (years of predicted brain age) from
# baseline to the primary visit, per arm, with least-squares lines and 95% confidence bands; one point
# per person for synthetic data only (never for real trial data). Synthetic data unless the banner at
# the top says otherwise.
# ```
#
# ## Does the relation differ between arms?
#
# A regression of the gap change on arm, strength change and their interaction, adjusted for age,
# sex, baseline gap and baseline MVC, gives the slope within each arm (years of gap change per
# percentage point of strength change) and tests whether the slopes differ.

# %% tags=["hide-input"]
report.table(tables["slopes"], "strength-slopes-by-arm", decimals=3,
             caption="Slope of the gap change on MVC % change within each arm (years per percentage point), from one "
                     "regression with arm x strength-change interaction, adjusted for age, sex, baseline gap and "
                     "baseline MVC.")
report.table(tables["family"], "strength-family", decimals=3,
             caption="The strength family: the partial correlation over all people and within each arm, and the joint "
                     "interaction test, with Holm-adjusted p-values.")

# %% [markdown]
# {glue:text}`strength.slope_text` A slope in one arm whose interval excludes zero while another's
# does not is **not** evidence that the arms differ (the seed article's "clearest in one arm"):
# only the interaction test compares them, and it needs far more people than a main effect.
#
# **Multiplicity.** {glue:text}`strength.family_text` The Pearson and Spearman coefficients are
# other estimators of the same associations and are shown for description, without tests of their
# own.
#
# ## Regression to the mean and measurement error
#
# Two artefacts shape every change-on-change correlation.
#
# **Regression to the mean.** A person measured with an unusually high gap at baseline (by chance:
# scan noise, a bad day) will tend to have a lower gap at the next visit, and the same for strength.
# The change is therefore negatively correlated with its own baseline value. If baseline gap and
# baseline strength are related, this alone can create a correlation between the two changes. The
# partial correlation and the regression adjust for both baseline values, which removes this path.
# {glue:text}`strength.rtm_text`
#
# **Measurement error.** The strength test has test-retest error; so does the clock. Error in the
# strength change *attenuates* the slope and the correlation toward zero (regression dilution) by
# the reliability of the change score; error in the gap change widens the intervals without biasing
# the slope. A difference of two noisy measurements is noisier than either, so change scores are
# often unreliable.
#
# {glue:text}`strength.truth_text` Set against the slopes and their intervals above, this shows how
# large a trial would need to be to see a within-arm strength–brain link of this size.
#
# ## What this page can and cannot say
#
# * Strength change is not randomised: a correlation between changes is an association, open to
#   confounding (for example by adherence, health or motivation), not a mechanism.
# * A within-arm correlation near zero with a wide interval does not show there is no link; it
#   shows that this sample cannot measure one this small.
# * Gains in leg *power* did not change in any arm in LISA {cite:p}`gylling2020a`; only isometric
#   strength is analysed here.
