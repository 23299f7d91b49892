# ---
# jupyter:
#   jupytext:
#     text_representation: {extension: .py, format_name: percent}
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # Did it last? After training ended
#
# In LISA, supervised training stopped at 12 months and participants were seen again at 24 months
# {cite:p}`gylling2020b`; the published brain-clock analysis reported training-arm gaps of about
# two years below control a year after training ended {cite:p}`gonzalezgomez2026`. This page reads
# the primary model of the previous page at the trial's follow-up visits, as the
# {doc}`statistical analysis plan <../book/analysis_plan>` specifies: the arm effects against
# control (the second family of the gatekeeping), the change from the end of the intervention to
# follow-up within each arm, whether the effect at follow-up differs from the one at the end of
# the intervention, and the role of training continued on one's own.

# %% tags=["hide-input"]
from analysis import report
from analysis import trial_analysis as ta

data = ta.load_trial_analysis(seed=0)
table, design = data.table, data.design
report.data_banner(data.trial.source, clock=data.clock_label)
primary = ta.primary_model(table, design)
effects = ta.effects_section(primary, table, "followup")
ta.publish(effects)
report.table(effects.table, "followup-effects",
             caption="Arm effects of the primary model at each follow-up visit: difference in mean brain age gap (years "
                     "of predicted brain age) with 95% Wald CI and unadjusted p; the gatekeeping family and the "
                     "gatekept, Holm-adjusted p ('exploratory': in no family); and the estimate in baseline SDs of the "
                     "gap.")

# %% [markdown]
# The model is the primary model of the previous page: a cLDA of the brain age gap at every visit
# with an unstructured within-person covariance, adjusted for age and head motion at baseline and
# the randomisation strata, fitted once to all visits, in everyone randomised with a usable scan,
# valid under missing at random given the model's terms (see the previous page for that
# assumption and its sensitivity analyses). {glue:text}`followup.design_text` Effects are in years
# of predicted brain age (the clock's shrunken scale, Beheshti correction).
#
# ## Arm effects at follow-up
#
# **Multiplicity.** The follow-up comparisons are the plan's second family: they are tested only if
# every training arm differed from control at the primary visit.
# {glue:text}`followup.gatekeeping_text`
#
# **What the data show**, in sentences chosen from each estimate, its interval and its adjusted p:
# {glue:text}`followup.conclusions` {glue:text}`followup.std_text`

# %% [markdown]
# ## From the end of the intervention to follow-up
#
# Two different questions hide in "did it last?":
#
# 1. **Within each arm, did the gap move after the intervention?** A change within an arm; not a
#    randomised comparison, since everyone also aged and the clock or scanner may drift.
# 2. **Is the arm effect at follow-up different from the one at the end of the intervention?** The
#    difference between the arm's and control's change over that period, a randomised comparison.
#    A zero here means the effect seen at the end of the intervention was neither lost nor grown.
#    It is not in the plan's gatekept families, so it is **exploratory**: its interval is
#    unadjusted and no claim rests on it alone.

# %% tags=["hide-input"]
persistence = ta.persistence_section(primary)
ta.publish(persistence)
report.table(persistence.table, "followup-persistence",
             caption="Exploratory: the arm effect at follow-up minus the arm effect at the primary visit (a randomised "
                     "contrast), and the model-estimated change of the mean gap within each arm over the same period "
                     "(years; 95% CI unadjusted).")

# %% [markdown]
# Within the arms the gap changed by {glue:text}`followup.within_text` The persistence contrast:
# {glue:text}`followup.persistence_text`
#
# **What "persisted" can and cannot mean.** If the follow-up effect against control has an interval
# excluding zero, the trained arms still had a lower gap than control after supervised training
# ended: the effect *did not vanish*. That is not the same as "the effect stayed the same size",
# which needs the persistence interval to be narrow around zero; an interval that spans both a
# sizeable loss and a sizeable gain cannot distinguish "lasted", "faded" and "kept growing". And
# because the effects at the two visits share the same control group and the same people, their
# intervals overlapping says little: only the direct contrast does.
#
# ## Estimates next to the truth (synthetic data)

# %% tags=["hide-input"]
truth = ta.truth_section(data, primary.effects, section="followup", clock_scale_keys=True)
ta.publish(truth)
report.table(truth.table, "followup-truth",
             caption="Synthetic trial only: the simulator's true effects at the last follow-up visit (latent and clock "
                     "scale) next to the estimates; 'covered' says whether the 95% CI contains the realised clock-scale "
                     "value.")

# %% [markdown]
# {glue:text}`followup.truth_text` The simulator's effects were set to the published press
# figures (see the methods page). Whether a trial of this size can detect a change of the true
# size between visits is visible in the width of the persistence interval above.
#
# ## Training on one's own after the trial
#
# At follow-up, trainees reported whether they had kept training on their own
# {cite:p}`gylling2020b`. The plan handles this by the treatment-policy strategy (the estimand is
# the effect of assignment followed by free choice), so the comparison of those who kept training
# with those who stopped is **not an estimand**: it is an **exploratory, non-randomised
# association** (both training arms, adjusted for arm, age, sex and head motion), open to
# confounding by motivation, health and much else, and it is not adjusted for multiplicity.

# %% tags=["hide-input"]
self_training = ta.self_training_section(data)
ta.publish(self_training)
report.table(self_training.table, "followup-self-training",
             caption="Exploratory association: kept training minus stopped, difference in the change of the brain age "
                     "gap from the end of the intervention to follow-up (trainees; not randomised).")

# %% [markdown]
# {glue:text}`followup.self_training_text` {glue:text}`followup.self_training_truth` In the
# synthetic trial the only route from self-training to brain age is through strength (those who
# kept training lost less strength, and strength change is coupled to brain-age change). With real
# data, a difference here would still be an association, open to confounding by who chooses to
# keep training.
