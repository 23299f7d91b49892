# ---
# jupyter:
#   jupytext:
#     text_representation: {extension: .py, format_name: percent}
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # What changes in the brain: connectivity patterns
#
# A brain-age clock is a linear model on every connectivity edge
# ({glue:text}`connectivity.n_edges` here). Which connections does it
# rely on, is the paper's "whole-brain, no single network" reading {cite:p}`gonzalezgomez2026`
# borne out, and did heavy resistance training change prefrontal connectivity? This page answers
# the first two questions on the reference cohort (the synthetic one unless
# `BRAINCLOCK_REFERENCE_DIR` names a real one), and the third on the trial the book runs on.

# %% tags=["hide-input"]
import seaborn as sns

from analysis import figures, patterns, report
from analysis.trial import load_default_trial

N_REFERENCE = 800  # a subset of the 2,433-person reference cohort keeps this page quick
reference = patterns.pattern_reference(N_REFERENCE, seed=0)
if reference.source == "synthetic":
    report.data_banner("synthetic")
report.glue_text("connectivity.cohort", patterns.describe_cohort(reference))
sns.set_theme(style="whitegrid", context="notebook")

# %% [markdown]
# ## From weights to activation patterns
#
# The weights of a regularised linear model on correlated features are not interpretable one by
# one: a large weight can cancel noise shared with other edges rather than carry age information.
# Haufe et al. {cite:p}`haufe2014` showed how to turn a model's weights into an *activation
# pattern*, `cov(X) w`, equivalently the covariance of each feature with the model's prediction,
# which says how each edge changes as the predicted age rises. We fit the clock's model (tangent
# connectivity, standardised ridge {cite:p}`dadi2019,pedregosa2011`) on
# {glue:text}`connectivity.cohort` and summarise its pattern by pairs of the atlas's networks
# (the `network` column of its atlas table; for the synthetic data, the six Dosenbach networks
# {cite:p}`dosenbach2010`).

# %% tags=["hide-input"]
features, age, atlas = patterns.reference_features(reference=reference)
networks = atlas["network"].to_numpy()
report.glue_text("connectivity.n_edges", f"{features.shape[1]:,} edges between {len(atlas)} ROIs")
pattern, model = patterns.clock_pattern(features, age)
by_network, pattern_results = patterns.pattern_summary(pattern, networks, n_reference=len(age),
                                                       kind=reference.source)
report.record_frame(pattern_results)
report.glue_text("connectivity.pattern_sentence", patterns.pattern_sentence(pattern_results))
report.figure("conn-pattern-networks",
              figures.network_pattern_matrix(by_network, title="Clock pattern by network pair (per decade)"),
              alt="Matrix of the clock's mean activation pattern per pair of atlas networks: negative (blue) "
                  "on the diagonal, positive (red) off it.")
report.table(by_network, "connectivity-pattern-networks", decimals=4,
             caption="Mean Haufe pattern per network pair (tangent-space units per decade of predicted age; "
                     "reference cohort).")

# %% [markdown]
# ```{glue:figure} conn-pattern-networks
# :name: fig-conn-pattern-networks
# The clock's activation pattern averaged within each pair of networks (synthetic reference
# cohort): how connectivity changes per decade of predicted age.
# ```
#
# {glue:text}`connectivity.pattern_sentence` (within-network mean
# {glue:text}`connectivity.pattern_within`, between-network mean
# {glue:text}`connectivity.pattern_between`). The synthetic world builds in a loss of segregation
# with age, following Chan et al. {cite:p}`chan2014` and Geerligs et al. {cite:p}`geerligs2015`:
# on the synthetic data this is a check that the pattern recovers the generative model; on real
# data it would be a finding.

# %% tags=["hide-input"]
report.figure("conn-pattern-glass", figures.pattern_glass_brain(10 * pattern, atlas),
              alt="Glass-brain view of the clock's strongest activation-pattern edges, spread over the whole "
                  "brain rather than one network.")

# %% [markdown]
# ```{glue:figure} conn-pattern-glass
# :name: fig-conn-pattern-glass
# The strongest 0.3% of edges of the clock's activation pattern on a glass brain (synthetic
# reference cohort). Red: stronger with predicted age; blue: weaker.
# ```
#
# ## Whole brain or one network?
#
# If one network carried the age information, a clock trained on that network's edges alone
# would be about as accurate as the whole-brain clock. We train ridge clocks on each network's
# within-network edges and on all edges touching it, with the same five cross-validation folds,
# and compare them with the clock on all edges.

# %% tags=["hide-input"]
scores = patterns.network_clock_scores(features, age, networks, random_state=0, cache=True)  # kept on disk
network_results, best_network = patterns.network_clock_summary(scores)
report.record_frame(network_results)
report.glue_text("connectivity.best_network", best_network)
report.glue_text("connectivity.network_sentence", patterns.network_clock_sentence(scores))
report.table(scores.set_index(["network", "scope"]), "connectivity-network-clocks", decimals=3,
             caption="Cross-validated accuracy of clocks restricted to one network (reference cohort).")
report.figure("conn-network-clocks", figures.network_clock_bars(scores),
              alt="Bar chart of cross-validated accuracy of clocks trained on one network's edges, each below "
                  "the dashed line of the all-edges clock.")

# %% [markdown]
# ```{glue:figure} conn-network-clocks
# :name: fig-conn-network-clocks
# Cross-validated correlation between predicted and chronological age for clocks trained on one
# network's edges (within-network, or all edges touching the network) and on all edges (dashed),
# reference cohort.
# ```
#
# The all-edges clock reaches r = {glue:text}`connectivity.r_all_edges`; the best single-network
# clock, {glue:text}`connectivity.best_network`, reaches r = {glue:text}`connectivity.r_best_network`:
# {glue:text}`connectivity.network_sentence`. "Whole-brain, no single network" is the pattern the
# paper describes. The synthetic world lets segregation decline in every network, which is the
# caveat on synthetic data: the check shows the analysis can tell the two situations apart, not
# which one holds in real brains.
#
# ## Did training change prefrontal connectivity?
#
# The paper reports increased (pre)frontal connectivity after heavy resistance training compared
# with control. We take the ROIs the atlas marks as prefrontal (its `region` column; for the
# Dosenbach atlas, the named prefrontal or frontal regions anterior to y = 0 mm) and, for
# everyone with a usable scan at baseline and at the trial design's primary visit, the change in
# Fisher-z correlation of every prefrontal edge. Each active arm is compared with the control arm
# on the mean over all prefrontal edges; the first active arm is also compared edge by edge
# (Welch's t-test, with Benjamini–Hochberg FDR over all prefrontal edges {cite:p}`benjamini1995`)
# and per network pair. This part runs on the trial the book is pointed at:

# %% tags=["hide-input"]
trial = load_default_trial()
report.data_banner(trial.source)
prefrontal = patterns.prefrontal_study(trial)
report.record_frame(prefrontal.results())
report.glue_text("connectivity.prefrontal_arm", prefrontal.arm)
report.glue_text("connectivity.prefrontal_control", prefrontal.control)
report.glue_text("connectivity.prefrontal_month", str(prefrontal.month))
report.glue_text("connectivity.prefrontal_p_text", prefrontal.p_text())
report.glue_text("connectivity.prefrontal_sentence", prefrontal.sentence())
report.table(prefrontal.arm_table(), "connectivity-prefrontal-arms", decimals=4,
             caption="Change from baseline to the primary visit in mean prefrontal connectivity (Fisher z), each "
                     "active arm minus control: difference, 95% CI, Welch p, people per arm.")

# %% tags=["hide-input"]
report.glue_text("connectivity.prefrontal_truth", patterns.prefrontal_truth_note(trial))
report.table(prefrontal.network_table(), "connectivity-prefrontal-networks", decimals=3,
             caption="First active arm minus control: change in mean prefrontal connectivity (Fisher z), "
                     "overall and per network pair; Welch t-tests, unadjusted.")
report.table(prefrontal.top_edges(), "connectivity-prefrontal-top-edges", decimals=4,
             caption="The ten prefrontal edges with the smallest p-values (first active arm vs control).")
report.figure("conn-prefrontal", figures.region_change_figure(prefrontal.main, arm=prefrontal.arm,
                                                              control=prefrontal.control),
              alt="Left: matrix of t-values for the first active arm versus control change in connectivity "
                  "between prefrontal ROIs. Right: glass brain with the FDR-significant edges.")

# %% [markdown]
# ```{glue:figure} conn-prefrontal
# :name: fig-conn-prefrontal
# Change in prefrontal connectivity from baseline to the primary visit, first active arm
# ({glue:text}`connectivity.prefrontal_arm`) versus control
# ({glue:text}`connectivity.prefrontal_control`): t-values of every edge among the prefrontal ROIs
# (left) and the edges significant after FDR correction (right). See the banner above for the
# data this ran on.
# ```
#
# {glue:text}`connectivity.prefrontal_sentence` The edge-wise view is much less powerful than the
# network mean: a diffuse change spread over hundreds of edges reaches significance when averaged
# but few single edges pass a correction for every edge tested.
# {glue:text}`connectivity.prefrontal_truth`
