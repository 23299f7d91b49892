# ---
# jupyter:
#   jupytext:
#     text_representation: {extension: .py, format_name: percent}
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # What changes in the brain: connectivity patterns
#
# A brain-age clock is a linear model on 12,720 connectivity edges. Which connections does it
# rely on, is the paper's "whole-brain, no single network" reading {cite:p}`gonzalezgomez2026`
# borne out, and did heavy resistance training change prefrontal connectivity? This page answers
# the first two questions on the synthetic reference cohort, and the third on the trial the book
# runs on.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from nilearn import plotting

from analysis import patterns, report
from analysis.connectome import unvectorize
from analysis.trial import load_default_trial

report.data_banner("synthetic")
N_REFERENCE = 800  # a subset of the 2,433-person reference cohort keeps this page quick
sns.set_theme(style="whitegrid", context="notebook")

# %% [markdown]
# ## From weights to activation patterns
#
# The weights of a regularised linear model on correlated features are not interpretable one by
# one: a large weight can cancel noise shared with other edges rather than carry age information.
# Haufe et al. {cite:p}`haufe2014` showed how to turn a model's weights into an *activation
# pattern*, `cov(X) w`, equivalently the covariance of each feature with the model's prediction,
# which says how each edge changes as the predicted age rises. We fit the clock's model (tangent
# connectivity, standardised ridge {cite:p}`dadi2019,pedregosa2011`) on a subset of
# {glue:text}`connectivity.n_reference` synthetic reference adults and summarise its pattern by
# pairs of the six Dosenbach networks {cite:p}`dosenbach2010`.

# %% tags=["hide-input"]
features, age, atlas = patterns.reference_features(N_REFERENCE, seed=0)
networks = atlas["network"].to_numpy()
pattern, model = patterns.clock_pattern(features, age)
pattern_decade = 10 * pattern  # edge change per decade of predicted age
by_network = patterns.network_matrix(pattern_decade, networks)
first, second = patterns.edge_networks(networks)
within = pattern_decade[first == second].mean()
between = pattern_decade[first != second].mean()
report.record("connectivity.n_reference", len(age), decimals=0, unit="people",
              description="Synthetic reference adults used for patterns and network clocks")
report.record("connectivity.pattern_within", within, decimals=4,
              description="Mean Haufe pattern of within-network edges (tangent units per decade)")
report.record("connectivity.pattern_between", between, decimals=4,
              description="Mean Haufe pattern of between-network edges (tangent units per decade)")
fig = plt.figure(figsize=(6.5, 5.5))
plotting.plot_matrix(by_network.to_numpy(), labels=list(by_network.index), figure=fig, colorbar=True,
                     cmap="RdBu_r", vmax=np.abs(by_network.to_numpy()).max(), vmin=-np.abs(by_network.to_numpy()).max(),
                     title="Clock pattern by network pair (per decade)")
fig.axes[0].grid(False)
report.figure("conn-pattern-networks", fig, alt="Six by six matrix of the clock's mean activation pattern per "
              "pair of Dosenbach networks: negative (blue) on the diagonal, positive (red) off it.")
report.table(by_network, "connectivity-pattern-networks", decimals=4,
             caption="Mean Haufe pattern per network pair (tangent-space units per decade of predicted age; "
                     "synthetic reference cohort).")

# %% [markdown]
# ```{glue:figure} conn-pattern-networks
# :name: fig-conn-pattern-networks
# The clock's activation pattern averaged within each pair of networks (synthetic reference
# cohort): how connectivity changes per decade of predicted age.
# ```
#
# Within-network edges weaken with predicted age (mean pattern
# {glue:text}`connectivity.pattern_within`) and between-network edges strengthen
# ({glue:text}`connectivity.pattern_between`): the clock reads the loss of network segregation
# that the simulator builds in, following Chan et al. {cite:p}`chan2014` and Geerligs et al.
# {cite:p}`geerligs2015`. On the synthetic data this is a check that the pattern recovers the
# generative model; on real data it would be a finding.

# %% tags=["hide-input"]
matrix = unvectorize(pattern_decade)[0]
coords = atlas[["x", "y", "z"]].to_numpy()
fig = plt.figure(figsize=(9, 3.5))
plotting.plot_connectome(matrix, coords, edge_threshold="99.7%", node_size=6, edge_cmap="RdBu_r",
                         figure=fig, colorbar=True, title="Strongest 0.3% of pattern edges")
report.figure("conn-pattern-glass", fig, alt="Glass-brain view of the clock's strongest activation-pattern "
              "edges, spread over the whole brain rather than one network.")

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
scores = patterns.network_clock_scores(features, age, networks, random_state=0)
all_r = float(scores.loc[scores["network"] == "all", "r"].iloc[0])
single = scores[scores["network"] != "all"]
best = single.loc[single["r"].idxmax()]
report.record("connectivity.r_all_edges", all_r, description="CV correlation of predicted and true age, all edges")
report.record("connectivity.r_best_network", best["r"],
              description="Best CV correlation of a clock restricted to one network's edges")
report.glue_text("connectivity.best_network", f"{best['network']} ({best['scope']} edges)")
report.table(scores.set_index(["network", "scope"]), "connectivity-network-clocks", decimals=3,
             caption="Cross-validated accuracy of clocks restricted to one network (synthetic reference cohort).")
fig, ax = plt.subplots(figsize=(7, 4))
sns.barplot(data=single, x="network", y="r", hue="scope", ax=ax, palette="Set2")
ax.axhline(all_r, color="black", linestyle="--", label="all edges")
ax.set(xlabel="", ylabel="CV correlation (predicted vs age)", ylim=(0, 1),
       title="Clocks on one network's edges vs all edges (synthetic)")
ax.tick_params(axis="x", rotation=20)
ax.legend(loc="lower right", fontsize=8)
report.figure("conn-network-clocks", fig, alt="Bar chart of cross-validated accuracy of clocks trained on one "
              "network's edges, each below the dashed line of the all-edges clock.")

# %% [markdown]
# ```{glue:figure} conn-network-clocks
# :name: fig-conn-network-clocks
# Cross-validated correlation between predicted and chronological age for clocks trained on one
# network's edges (within-network, or all edges touching the network) and on all edges (dashed),
# synthetic reference cohort.
# ```
#
# The all-edges clock reaches r = {glue:text}`connectivity.r_all_edges`; the best single-network
# clock, {glue:text}`connectivity.best_network`, reaches r = {glue:text}`connectivity.r_best_network`.
# In this synthetic world every network carries some age information, because segregation
# declines everywhere, and no single network matches the whole brain — the pattern the paper
# describes. That the simulator was built this way is the caveat: the check shows the analysis
# can tell the two situations apart, not which one holds in real brains.
#
# ## Did heavy resistance training change prefrontal connectivity?
#
# The paper reports increased (pre)frontal connectivity after HRT compared with control. We take
# the prefrontal ROIs of the atlas (named prefrontal or frontal regions anterior to y = 0 mm), and
# for everyone with a usable scan at baseline and 12 months, the change in Fisher-z correlation of
# every prefrontal edge. HRT and control are compared edge by edge (Welch's t-test, with
# Benjamini–Hochberg FDR over all prefrontal edges {cite:p}`benjamini1995`) and on the mean over
# all prefrontal edges and over each network pair. This part runs on the trial the book is
# pointed at:

# %% tags=["hide-input"]
trial = load_default_trial()
report.data_banner(trial.source)
change = patterns.prefrontal_change(trial, arm="HRT", control="CON", month=12)
overall = change.summary.loc["all prefrontal"]
n_fdr = int((change.edges["p_fdr"] < 0.05).sum())
report.record("connectivity.n_prefrontal_rois", len(change.rois), decimals=0, unit="ROIs",
              description="Prefrontal ROIs of the Dosenbach atlas")
report.record("connectivity.prefrontal_hrt_vs_con_12m", overall["difference"],
              ci=(overall["ci_low"], overall["ci_high"]), decimals=3, unit="z",
              description="HRT minus CON change in mean prefrontal connectivity (Fisher z), 0 to 12 months")
report.record("connectivity.prefrontal_p", overall["p"], decimals=4,
              description="p-value of the HRT vs CON difference in mean prefrontal connectivity change")
report.glue_text("connectivity.prefrontal_p_text",
                 "< 0.0001" if overall["p"] < 1e-4 else f"= {report.format_number(overall['p'], 4)}")
report.record("connectivity.prefrontal_fdr_edges", n_fdr, decimals=0, unit="edges",
              description="Prefrontal edges with FDR-adjusted p < 0.05 (HRT vs CON, 12 months)")
report.record("connectivity.prefrontal_n_edges", len(change.edges), decimals=0, unit="edges",
              description="Prefrontal edges tested")
report.table(change.summary.drop(columns=["n_a", "n_b"]), "connectivity-prefrontal-networks", decimals=3,
             caption="HRT minus CON change from baseline to 12 months in mean prefrontal connectivity "
                     "(Fisher z), overall and per network pair; Welch t-tests, unadjusted.")
report.table(change.edges.nsmallest(10, "p").reset_index(drop=True), "connectivity-prefrontal-top-edges",
             decimals=4, caption="The ten prefrontal edges with the smallest p-values (HRT vs CON, 12 months).")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1, 1.3]})
labels = list(change.rois["roi"])
limit = np.abs(change.t_matrix).max()
plotting.plot_matrix(change.t_matrix, labels=labels, axes=axes[0], colorbar=True, cmap="RdBu_r",
                     vmin=-limit, vmax=limit, title="t (HRT vs CON change)")
axes[0].tick_params(labelsize=5)
axes[0].grid(False)
significant = np.zeros_like(change.t_matrix)
rows, cols = np.tril_indices(len(labels), k=-1)
keep = change.edges["p_fdr"].to_numpy() < 0.05
significant[rows[keep], cols[keep]] = significant[cols[keep], rows[keep]] = change.edges["t"].to_numpy()[keep]
if not keep.any():  # nothing survives FDR: show the unthresholded strongest edges instead
    significant = np.where(np.abs(change.t_matrix) >= np.quantile(np.abs(change.t_matrix), 0.98),
                           change.t_matrix, 0.0)
plotting.plot_connectome(significant, change.rois[["x", "y", "z"]].to_numpy(), axes=axes[1], node_size=10,
                         edge_cmap="RdBu_r", display_mode="xz", colorbar=True)
axes[1].set_title("FDR-significant prefrontal edges" if keep.any() else "strongest 2% of edges (none FDR-significant)")
report.figure("conn-prefrontal", fig, alt="Left: matrix of t-values for the HRT versus control change in "
              "connectivity between prefrontal ROIs. Right: glass brain with the FDR-significant edges.")

# %% [markdown]
# ```{glue:figure} conn-prefrontal
# :name: fig-conn-prefrontal
# Change in prefrontal connectivity from baseline to 12 months, HRT versus control: t-values of
# every edge among the prefrontal ROIs (left) and the edges significant after FDR correction
# (right). See the banner above for the data this ran on.
# ```
#
# Over all {glue:text}`connectivity.prefrontal_n_edges` edges among the
# {glue:text}`connectivity.n_prefrontal_rois` prefrontal ROIs, mean connectivity rose more in HRT
# than in control by {glue:text}`connectivity.prefrontal_hrt_vs_con_12m_full` (p
# {glue:text}`connectivity.prefrontal_p_text`), and {glue:text}`connectivity.prefrontal_fdr_edges`
# edges survive FDR correction on their own. The edge-wise view is much less powerful than the
# network mean: a diffuse change spread over hundreds of edges reaches significance when averaged
# but few single edges pass a correction for {glue:text}`connectivity.prefrontal_n_edges` tests. On the synthetic trial, the simulator adds a
# shared prefrontal signal in the HRT arm at 12 months, so this is a recovery check with a known
# answer; whether the clock reads that change as "younger" is a separate question, since it was
# not trained on it.
