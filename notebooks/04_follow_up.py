# ---
# jupyter:
#   jupytext:
#     text_representation: {extension: .py, format_name: percent}
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # Did it last? One year after training ended
#
# Supervised training stopped at 12 months; participants were seen again at 24 months
# {cite:p}`gylling2020b`. The published brain-clock analysis reported training-arm gaps of
# about two years below control at 24 months {cite:p}`gonzalezgomez2026`. This page fits the
# same primary model as the previous page and reads it at 24 months: the arm effects against
# control, the change from 12 to 24 months within each arm, an explicit test of whether the
# 24-month effect differs from the 12-month one, and the role of training continued on one's own.

# %% tags=["hide-input"]
import pandas as pd

from analysis import report, stats
from analysis import trial_analysis as ta

data = ta.load_trial_analysis(seed=0)
table = data.table
report.data_banner(data.trial.source)
primary = ta.arm_model(table)
scans_24 = table[table["has_scan"] & (table["month"] == 24)]
report.record("followup.n_scans_24m", len(scans_24), unit="scans", decimals=0,
              description="Usable rs-fMRI scans at 24 months")

# %% [markdown]
# The model is the primary model of the previous page (brain age gap on arm × visit, adjusted for
# age, sex and head motion, random intercept per person, REML, all available scans, missing at
# random), fitted once to all three visits; {glue:text}`followup.n_scans_24m` usable scans come
# from the 24-month visit. Effects are in years of predicted brain age (the clock's shrunken
# scale, Beheshti correction).
#
# ## Arm effects at 24 months

# %% tags=["hide-input"]
effects_24 = ta.arm_effects(primary, 24)
ta.record_effects(effects_24, "followup", 24,
                  "difference in change of the brain age gap from baseline to 24 months")
report.table(effects_24.set_index("comparison"), "followup-effects-24m",
             caption="Arm effects at 24 months: difference in change of the brain age gap from baseline (years of "
                     "predicted brain age), 95% CI, p and Benjamini-Hochberg adjusted p over the three comparisons.")

# %% [markdown]
# Against control, the change from baseline to 24 months was {glue:text}`followup.hrt_vs_con_24m_full`
# in HRT (FDR-adjusted p {glue:text}`followup.p_fdr_hrt_vs_con_24m`) and
# {glue:text}`followup.mit_vs_con_24m_full` in MIT (adjusted p {glue:text}`followup.p_fdr_mit_vs_con_24m`).

# %% [markdown]
# ## From 12 to 24 months
#
# Two different questions hide in "did it last?":
#
# 1. **Within each arm, did the gap move between 12 and 24 months?** (a change within an arm; not a
#    randomised comparison, since everyone also aged and the clock or scanner may drift.)
# 2. **Is the arm effect at 24 months different from the one at 12 months?** This is the
#    difference between the arm's and control's change from 12 to 24 months, a randomised
#    comparison. A zero here means the effect seen at 12 months was neither lost nor grown.

# %% tags=["hide-input"]
within = ta.change_effects(primary, {arm: [(1.0, arm, 12, 24)] for arm in ta.ARMS})
for arm, row in within.iterrows():
    report.record(f"followup.change_12_24_{arm.lower()}", row["estimate"], ci=(row["ci_low"], row["ci_high"]),
                  unit="y", description=f"Model-estimated change of the gap from 12 to 24 months, {arm}")
report.table(within, "followup-within-arm-12-24",
             caption="Change of the brain age gap from 12 to 24 months within each arm (model-estimated, years).")

persistence = ta.change_effects(
    primary,
    {f"{arm} - CON": [(1.0, arm, 12, 24), (-1.0, "CON", 12, 24)] for arm in ("HRT", "MIT")},
)
persistence["p_fdr"] = stats.fdr_bh(persistence["p"].to_numpy())
for comparison, row in persistence.iterrows():
    report.record(ta.effect_key("followup", comparison, suffix="persistence_"), row["estimate"],
                  ci=(row["ci_low"], row["ci_high"]), unit="y",
                  description=f"{comparison}: (effect at 24 m) minus (effect at 12 m)")
report.table(persistence, "followup-persistence-test",
             caption="Does the arm effect change between 12 and 24 months? (arm effect at 24 m) − (arm effect at 12 m), "
                     "i.e. the difference between the arm's and control's change from 12 to 24 months (years).")


def interval_words(row) -> str:
    """What an interval for 'effect at 24 m minus effect at 12 m' allows (negative = larger benefit at 24 m)."""
    lo, hi = row["ci_low"], row["ci_high"]
    if lo > 0:
        return f"the effect shrank: the interval ({report.format_number(lo)} to {report.format_number(hi)} y) excludes no change"
    if hi < 0:
        return f"the effect grew: the interval ({report.format_number(lo)} to {report.format_number(hi)} y) excludes no change"
    return (f"the data are compatible with anything from the effect growing by {report.format_number(-lo)} y "
            f"to it shrinking by {report.format_number(hi)} y")


report.glue_text("followup.persistence_words_hrt", interval_words(persistence.loc["HRT - CON"]))
report.glue_text("followup.persistence_words_mit", interval_words(persistence.loc["MIT - CON"]))

# %% [markdown]
# Between 12 and 24 months the gap changed by {glue:text}`followup.change_12_24_hrt_full` in HRT,
# {glue:text}`followup.change_12_24_mit_full` in MIT and {glue:text}`followup.change_12_24_con_full`
# in control. The explicit persistence test, effect at 24 months minus effect at 12 months, is
# {glue:text}`followup.persistence_hrt_vs_con_full` for HRT and
# {glue:text}`followup.persistence_mit_vs_con_full` for MIT. For HRT, {glue:text}`followup.persistence_words_hrt`;
# for MIT, {glue:text}`followup.persistence_words_mit`.
#
# **What "persisted" can and cannot mean.** If the 24-month effect against control has an interval
# excluding zero, the trained arms still had a lower gap than control a year after supervised
# training ended: the effect *did not vanish*. That is not the same as "the effect stayed the
# same size", which needs the persistence interval above to be narrow around zero; an interval
# that spans both a sizeable loss and a sizeable gain cannot distinguish "lasted", "faded" and
# "kept growing". And because the 12- and 24-month effects share the same control group and the
# same people, their intervals overlapping says little: only the direct test does.

# %% [markdown]
# ## Estimates next to the truth (synthetic data)

# %% tags=["hide-input"]
if data.synthetic:
    factor = data.scale_factor("beheshti")
    truth = pd.concat([ta.true_effects(data.trial, m, scale_factor=factor) for m in (12, 24)])
    wide = truth.pivot(index="comparison", columns="month", values="assumed_clock")
    truth_24 = truth[truth["month"] == 24].merge(effects_24[["comparison", "estimate", "ci_low", "ci_high"]],
                                                 on="comparison")
    truth_24["true persistence (clock scale)"] = truth_24["comparison"].map(wide[24] - wide[12])
    report.table(
        truth_24.set_index("comparison")[["assumed", "assumed_clock", "estimate", "ci_low", "ci_high",
                                          "true persistence (clock scale)"]].rename(
            columns={"assumed": "true (latent)", "assumed_clock": "true (clock scale)", "estimate": "estimate"}),
        "followup-truth-24m",
        caption="Synthetic trial: the simulator's true 24-month effects (latent and clock scale) and the true "
                "change of the effect from 12 to 24 months, next to the estimates.",
    )
    for row in truth_24.itertuples():
        report.record(ta.effect_key("followup", row.comparison, 24, suffix="true_"), row.assumed_clock, unit="y",
                      description=f"True effect {row.comparison} at 24 m on the clock scale")
    true_persist = float(wide.loc["HRT - CON", 24] - wide.loc["HRT - CON", 12])
    report.record("followup.true_persistence_hrt_vs_con", true_persist, unit="y",
                  description="True HRT effect at 24 m minus at 12 m, clock scale")
else:
    for name in ("followup.true_hrt_vs_con_24m", "followup.true_mit_vs_con_24m",
                 "followup.true_persistence_hrt_vs_con"):
        report.glue_text(name, "not known (real data)")

# %% [markdown]
# The simulator was set to the published press figures: an effect on latent brain age that grows
# from the 12-month value to about two years at 24 months in both arms. On the clock scale the
# true 24-month effects are {glue:text}`followup.true_hrt_vs_con_24m` y (HRT) and
# {glue:text}`followup.true_mit_vs_con_24m` y (MIT), and the true HRT persistence contrast is
# {glue:text}`followup.true_persistence_hrt_vs_con` y. Whether a trial of this size can detect a
# change of that size between visits is visible in the width of the persistence interval.

# %% [markdown]
# ## Training on one's own after the trial
#
# At 24 months trainees reported whether they had kept training on their own
# {cite:p}`gylling2020b`. Comparing the 12-to-24-month change of the gap between those who kept
# training and those who stopped (both training arms, adjusted for arm, age, sex and head motion)
# is **not randomised**: people who keep training differ in motivation, health and much else.

# %% tags=["hide-input"]
self_training = ta.self_training_effect(table)
row = self_training.iloc[0]
report.record("followup.self_training_12_24", row["estimate"], ci=(row["ci_low"], row["ci_high"]), unit="y",
              description="Difference in 12-to-24-month gap change, kept training minus stopped (trainees)")
report.record("followup.n_kept_training", row["n_people_kept"], unit="people", decimals=0,
              description="Trainees with a known self-training status who kept training (in the model)")
report.record("followup.n_stopped_training", row["n_people_stopped"], unit="people", decimals=0,
              description="Trainees with a known self-training status who stopped (in the model)")
report.table(self_training, "followup-self-training",
             caption="Kept training minus stopped: difference in the change of the brain age gap from 12 to 24 months "
                     "(trainees of both arms; observational).")
if data.synthetic:
    report.record("followup.true_self_training_12_24",
                  ta.true_self_training_effect(data.trial) * data.scale_factor("beheshti"), unit="y",
                  description="True (realised) kept-minus-stopped difference in 12-24 m change, clock scale")
else:
    report.glue_text("followup.true_self_training_12_24", "not known (real data)")

# %% [markdown]
# Trainees who kept training ({glue:text}`followup.n_kept_training` people) changed by
# {glue:text}`followup.self_training_12_24_full` relative to those who stopped
# ({glue:text}`followup.n_stopped_training` people). In the synthetic trial the only route from
# self-training to brain age is through strength (those who kept training lost less strength,
# and strength change is coupled to brain-age change), which amounts to a true difference of
# {glue:text}`followup.true_self_training_12_24` y on the clock scale: far smaller than this
# comparison can resolve. With real data, a difference here would still be an association,
# open to confounding by who chooses to keep training.
