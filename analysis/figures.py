"""Figures of the book: one function per figure, each returning a matplotlib Figure.

Functions take tidy, aggregate tables (or a :class:`~analysis.trial.Trial` from which they draw
only aggregates), so the same figure is safe to publish for real trial data.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from nilearn import plotting

from analysis.connectome import unvectorize
from analysis.trial import ARMS

#: Colours of the trial arms, used on every page.
ARM_COLORS = {"HRT": "#c0392b", "MIT": "#2874a6", "CON": "#7f8c8d"}
ARM_NAMES = {"HRT": "Heavy resistance (HRT)", "MIT": "Moderate intensity (MIT)", "CON": "Control (CON)"}


# =============================================================================================
# cohort (notebook 01): CONSORT flow, strength trajectories, missingness patterns
# =============================================================================================
def _box(ax, x: float, y: float, text: str, *, width: float, height: float, color: str = "#34495e",
         fill: str = "white") -> None:
    ax.add_patch(plt.Rectangle((x - width / 2, y - height / 2), width, height, facecolor=fill,
                               edgecolor=color, linewidth=1.4))
    ax.text(x, y, text, ha="center", va="center", fontsize=10, linespacing=1.35)


def _arrow(ax, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="-|>", color="#34495e", lw=1.1, shrinkA=0, shrinkB=0))


def consort_diagram(flow: pd.DataFrame) -> plt.Figure:
    """CONSORT-style flow: randomised -> allocated per arm -> attended / usable MRI per visit.

    Parameters
    ----------
    flow : pandas.DataFrame
        Output of :func:`analysis.trial.flow_counts` (columns ``arm``, ``month``,
        ``randomised``, ``attended``, ``mri_usable``; arm ``"All"`` holds the totals).

    Returns
    -------
    matplotlib.figure.Figure
    """
    arms = [a for a in ARM_COLORS if a in set(flow["arm"])]
    months = sorted(flow["month"].unique())
    f = flow.set_index(["arm", "month"])
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 1.3 * (len(months) + 1)))
    ax.set_xlim(-1.5, 3 * 3.2)
    top = 1.4 * (len(months) + 2)
    ax.set_ylim(top - 1.4 * (len(months) + 1) - 0.6, top + 0.6)
    ax.axis("off")
    xs = [1.6 + 3.2 * i for i in range(len(arms))]
    total = int(f.loc[("All", months[0]), "randomised"])
    _box(ax, 4.8, top, f"Randomised\nn = {total}", width=2.6, height=0.8)
    y_alloc = top - 1.4
    for x, arm in zip(xs, arms):
        _arrow(ax, 4.8, top - 0.4, x, y_alloc + 0.45)
        n = int(f.loc[(arm, months[0]), "randomised"])
        _box(ax, x, y_alloc, f"Allocated to {arm}\nn = {n}", width=2.8, height=0.8, color=ARM_COLORS[arm])
    for k, month in enumerate(months):
        y = y_alloc - 1.4 * (k + 1)
        for x, arm in zip(xs, arms):
            row = f.loc[(arm, month)]
            n = int(row["randomised"])
            att, mri = int(row["attended"]), int(row["mri_usable"])
            _arrow(ax, x, y + 1.4 - (0.4 if k == 0 else 0.55), x, y + 0.55)
            label = "Baseline" if month == 0 else f"Month {month}"
            _box(ax, x, y, f"{label}\nattended {att} ({100 * att / n:.0f}%)\nusable rs-fMRI {mri}",
                 width=2.8, height=1.1, color=ARM_COLORS[arm])
        tot = f.loc[("All", month)]
        ax.text(-1.45, y, f"All arms:\nattended {int(tot['attended'])}\nusable rs-fMRI {int(tot['mri_usable'])}",
                fontsize=8.5, va="center", ha="left", color="#555")
    fig.tight_layout()
    return fig


def strength_trajectories(visits: pd.DataFrame) -> plt.Figure:
    """Knee-extensor MVC by arm and visit: mean (95% CI) in Nm and mean % change from baseline.

    Parameters
    ----------
    visits : pandas.DataFrame
        ``participant_id``, ``arm``, ``month``, ``knee_extensor_mvc_nm`` (NaN when not measured).
        Only means and confidence intervals are drawn.
    """
    d = visits.dropna(subset=["knee_extensor_mvc_nm"]).copy()
    base = d[d["month"] == 0].set_index("participant_id")["knee_extensor_mvc_nm"]
    d["pct_change"] = 100 * (d["knee_extensor_mvc_nm"] / d["participant_id"].map(base) - 1)
    order = [a for a in ARM_COLORS if a in set(d["arm"])]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, col, label in ((axes[0], "knee_extensor_mvc_nm", "Knee-extensor MVC (Nm)"),
                           (axes[1], "pct_change", "Change from baseline (%)")):
        sns.pointplot(data=d, x="month", y=col, hue="arm", hue_order=order, palette=ARM_COLORS,
                      errorbar=("ci", 95), dodge=0.3, markers="o", capsize=0.08, ax=ax, seed=0)
        ax.set_xlabel("Months since randomisation")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[1].axhline(0, color="black", lw=0.8, ls="--")
    axes[0].get_legend().remove()
    axes[1].legend(title="Arm", frameon=False)
    fig.tight_layout()
    return fig


def missingness_patterns_plot(attended: pd.DataFrame, mri: pd.DataFrame) -> plt.Figure:
    """Counts of each visit pattern per arm, for attendance and usable rs-fMRI.

    Parameters
    ----------
    attended, mri : pandas.DataFrame
        Outputs of :func:`analysis.trial.missingness_patterns` for ``"attended"`` and
        ``"mri_usable"`` (columns ``pattern``, ``arm``, ``n``).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    for ax, table, title in ((axes[0], attended, "Visits attended"), (axes[1], mri, "Usable rs-fMRI")):
        wide = table.pivot(index="pattern", columns="arm", values="n")
        wide = wide.loc[list(dict.fromkeys(table["pattern"]))][[a for a in ARM_COLORS if a in wide.columns]]
        left = np.zeros(len(wide))
        y = np.arange(len(wide))
        for arm in wide.columns:
            ax.barh(y, wide[arm], left=left, color=ARM_COLORS[arm], label=arm, height=0.7)
            left += wide[arm].to_numpy()
        for yi, total in zip(y, left):
            ax.text(total + max(left) * 0.01, yi, f"{int(total)}", va="center", fontsize=8)
        ax.set_yticks(y, [p.replace("-", "·") for p in wide.index])
        ax.invert_yaxis()
        ax.set_xlim(0, max(left) * 1.12)
        ax.set_xlabel("People")
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("Months present (· = missing)")
    axes[1].legend(title="Arm", frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


# --- trial-analysis figures ---------------------------------------------------------------


def plot_trajectories(means: pd.DataFrame, observed: pd.DataFrame | None = None, *, ylabel: str,
                      ax: Any = None):
    """Model-estimated mean gap per arm over visits (95% CI), with observed means as points."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    else:
        fig = ax.figure
    offsets = {"HRT": -0.5, "MIT": 0.0, "CON": 0.5}
    for arm, d in means.groupby("arm", sort=False):
        m = d["month"] + offsets.get(arm, 0)
        c = ARM_COLORS.get(arm)
        ax.plot(m, d["estimate"], "-", color=c, label=f"{arm} (model)", lw=2)
        ax.fill_between(m, d["ci_low"], d["ci_high"], color=c, alpha=0.15, lw=0)
        if observed is not None:
            o = observed[observed["arm"] == arm]
            ax.errorbar(o["month"] + offsets.get(arm, 0) + 0.6, o["mean"],
                        yerr=[o["mean"] - o["ci_low"], o["ci_high"] - o["mean"]],
                        fmt="o", color=c, ms=4, capsize=2, alpha=0.7, label=f"{arm} (observed)")
    ax.set_xticks(sorted(means["month"].unique()))
    ax.set_xlabel("Months since randomisation")
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="0.6", lw=0.8, ls=":")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_forest(effects: pd.DataFrame, *, label: str = "analysis", truth: dict[str, float] | None = None,
                xlabel: str = "Difference in change of brain age gap (y)"):
    """Forest plot: one panel per comparison, one row per analysis, estimate with 95% CI.

    ``truth`` maps comparison -> true value, drawn as a dashed line.
    """
    comps = list(dict.fromkeys(effects["comparison"]))
    labels = list(dict.fromkeys(effects[label]))
    fig, axes = plt.subplots(1, len(comps), figsize=(3.3 * len(comps) + 2.6, 0.42 * len(labels) + 1.4),
                             sharey=True, squeeze=False)
    for ax, comp in zip(axes[0], comps):
        d = effects[effects["comparison"] == comp].set_index(label).reindex(labels)
        y = np.arange(len(labels))[::-1]
        ax.errorbar(d["estimate"], y, xerr=[d["estimate"] - d["ci_low"], d["ci_high"] - d["estimate"]],
                    fmt="o", color="k", ms=4, capsize=2)
        ax.axvline(0, color="0.5", lw=0.8)
        if truth and comp in truth:
            ax.axvline(truth[comp], color="#c0392b", ls="--", lw=1, label="true value (clock scale)")
        ax.set_title(comp, fontsize=10)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    if truth:
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, names, loc="upper center", frameon=False, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    return fig


def plot_strength_scatter(changes: pd.DataFrame, x: str = "mvc_change_pct", y: str = "gap_change", *,
                          points: bool = True, xlabel: str = "Change in knee-extensor MVC (%)",
                          ylabel: str = "Change in brain age gap (y)"):
    """Scatter of the two changes, one panel per arm, with least-squares line and 95% band.

    ``points=False`` draws only the fitted lines and bands (for real trial data, whose
    person-level values must not leave the analysis).
    """
    arms = [a for a in ARMS if a in set(changes["arm"])]
    fig, axes = plt.subplots(1, len(arms), figsize=(3.6 * len(arms), 3.6), sharex=True, sharey=True, squeeze=False)
    for ax, arm in zip(axes[0], arms):
        d = changes[changes["arm"] == arm]
        c = ARM_COLORS.get(arm)
        if points:
            ax.scatter(d[x], d[y], s=12, color=c, alpha=0.6, lw=0)
        X = np.column_stack([np.ones(len(d)), d[x]])
        beta, *_ = np.linalg.lstsq(X, d[y], rcond=None)
        grid = np.linspace(d[x].min(), d[x].max(), 50)
        G = np.column_stack([np.ones_like(grid), grid])
        resid = d[y] - X @ beta
        s2 = resid @ resid / max(len(d) - 2, 1)
        se = np.sqrt(np.einsum("ij,jk,ik->i", G, s2 * np.linalg.inv(X.T @ X), G))
        ax.plot(grid, G @ beta, color="k", lw=1.5)
        ax.fill_between(grid, G @ beta - 1.96 * se, G @ beta + 1.96 * se, color=c, alpha=0.2, lw=0)
        ax.axhline(0, color="0.6", lw=0.8, ls=":")
        ax.set_title(f"{arm} (n = {len(d)})", fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].set_ylabel(ylabel, fontsize=9)
    fig.tight_layout()
    return fig


# =============================================================================================
# clock and connectivity figures (notebooks 02 and 06)
# =============================================================================================
#: Gap columns of a held-out table and their labels, in the order the clock page shows them.
GAP_LABELS = {"gap_none": "uncorrected", "gap_beheshti": "Beheshti", "gap_cole": "Cole", "gap_smith": "Smith"}


def clock_predicted_vs_age(test: pd.DataFrame, *, title: str = "Held-out people") -> plt.Figure:
    """Predicted against chronological age, with the identity line and the least-squares fit."""
    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.scatter(test["age"], test["predicted_age"], s=8, alpha=0.5, color="tab:blue")
    lims = [test["age"].min() - 2, test["age"].max() + 2]
    ax.plot(lims, lims, color="black", lw=1, label="identity (perfect clock)")
    fit = np.polyfit(test["age"], test["predicted_age"], 1)
    ax.plot(lims, np.polyval(fit, lims), color="tab:red", lw=1.5, ls="--",
            label=f"least-squares fit (slope {fit[0]:.2f})")
    ax.set(xlabel="chronological age (y)", ylabel="predicted brain age (y)", xlim=lims, ylim=lims, title=title)
    ax.legend(loc="upper left", frameon=False)
    return fig


def clock_gap_vs_age(test: pd.DataFrame, columns: dict[str, str] | None = None) -> plt.Figure:
    """One panel per gap column: gap against age, with r(gap, age) in the title."""
    columns = GAP_LABELS if columns is None else columns
    fig, axes = plt.subplots(1, len(columns), figsize=(3.25 * len(columns), 3.4), sharey=True)
    for ax, (column, label) in zip(np.atleast_1d(axes), columns.items()):
        ax.scatter(test["age"], test[column], s=5, alpha=0.4)
        r_age = np.corrcoef(test["age"], test[column])[0, 1]
        ax.axhline(0, color="black", lw=1)
        ax.set(title=f"{label}\nr(gap, age) = {r_age:.2f}", xlabel="age (y)")
    np.atleast_1d(axes)[0].set_ylabel("brain age gap (y)")
    fig.tight_layout()
    return fig


def clock_learning_curve(curve: pd.DataFrame | None, *, title: str = "Learning curve") -> plt.Figure:
    """Held-out MAE against the number of training people (log axis); a note when ``curve`` is None
    (a saved clock, which has no training split on the page)."""
    if curve is None:
        fig, ax = plt.subplots(figsize=(5.5, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no learning curve: the page validates a saved clock", ha="center", va="center")
        return fig
    mean = curve.groupby("n_train", as_index=False)["mae"].mean()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(mean["n_train"], mean["mae"], marker="o")
    ax.set(xscale="log", xlabel="training people (log scale)", ylabel="held-out MAE (y)", title=title)
    ax.set_xticks(mean["n_train"], [str(n) for n in mean["n_train"]])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    return fig


def group_strip(per_person: pd.DataFrame, *, value: str = "segregation", group: str = "group",
                order: tuple[str, ...] = ("Younger", "Older"), title: str = "") -> plt.Figure:
    """Per-person values by group (jittered), with group means."""
    fig, ax = plt.subplots(figsize=(4.5, 3.8))
    for i, name in enumerate(order):
        values = per_person.loc[per_person[group] == name, value]
        jitter = np.random.default_rng(i).uniform(-0.12, 0.12, len(values))
        ax.scatter(i + jitter, values, s=14, alpha=0.7)
        ax.hlines(values.mean(), i - 0.25, i + 0.25, color="black")
    ax.set_xticks(range(len(order)), list(order))
    ax.set(ylabel=value.replace("_", " "), title=title)
    return fig


def network_pattern_matrix(by_network: pd.DataFrame, *, title: str) -> plt.Figure:
    """A networks x networks matrix of an edge summary, symmetric colour scale."""
    values = by_network.to_numpy()
    limit = float(np.nanmax(np.abs(values)))
    fig = plt.figure(figsize=(6.5, 5.5))
    plotting.plot_matrix(values, labels=list(by_network.index), figure=fig, colorbar=True, cmap="RdBu_r",
                         vmax=limit, vmin=-limit, title=title)
    fig.axes[0].grid(False)
    return fig


def pattern_glass_brain(pattern: np.ndarray, atlas: pd.DataFrame, *, threshold: str = "99.7%",
                        title: str = "Strongest 0.3% of pattern edges") -> plt.Figure:
    """The strongest edges of an edge-wise pattern on a glass brain (ROI coordinates from the atlas)."""
    fig = plt.figure(figsize=(9, 3.5))
    plotting.plot_connectome(unvectorize(pattern)[0], atlas[["x", "y", "z"]].to_numpy(), edge_threshold=threshold,
                             node_size=6, edge_cmap="RdBu_r", figure=fig, colorbar=True, title=title)
    return fig


def network_clock_bars(scores: pd.DataFrame, *, title: str = "Clocks on one network's edges vs all edges"
                       ) -> plt.Figure:
    """CV accuracy of clocks restricted to one network (bars by scope) against all edges (dashed)."""
    all_r = float(scores.loc[scores["network"] == "all", "r"].iloc[0])
    single = scores[scores["network"] != "all"]
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.barplot(data=single, x="network", y="r", hue="scope", ax=ax, palette="Set2")
    ax.axhline(all_r, color="black", linestyle="--", label="all edges")
    ax.set(xlabel="", ylabel="CV correlation (predicted vs age)", ylim=(0, 1), title=title)
    ax.tick_params(axis="x", rotation=20)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def region_change_figure(change, *, arm: str, control: str, fdr: float = 0.05) -> plt.Figure:
    """Edge t-values of a region's connectivity change (matrix) and its FDR-significant edges.

    ``change`` is :func:`analysis.patterns.prefrontal_change`'s result. When no edge survives
    FDR, the strongest 2 % of edges are drawn instead and the title says so. ``change=None``
    (an atlas without prefrontal ROIs) draws a panel saying so.
    """
    if change is None:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "prefrontal connectivity: not available for this atlas", ha="center", va="center")
        return fig
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1, 1.3]})
    labels = list(change.rois["roi"])
    limit = float(np.abs(change.t_matrix).max())
    plotting.plot_matrix(change.t_matrix, labels=labels, axes=axes[0], colorbar=True, cmap="RdBu_r",
                         vmin=-limit, vmax=limit, title=f"t ({arm} vs {control} change)")
    axes[0].tick_params(labelsize=5)
    axes[0].grid(False)
    keep = change.edges["p_fdr"].to_numpy() < fdr
    shown = np.zeros_like(change.t_matrix)
    rows, cols = np.tril_indices(len(labels), k=-1)
    shown[rows[keep], cols[keep]] = shown[cols[keep], rows[keep]] = change.edges["t"].to_numpy()[keep]
    if not keep.any():  # nothing survives FDR: show the unthresholded strongest edges instead
        strong = np.abs(change.t_matrix) >= np.quantile(np.abs(change.t_matrix), 0.98)
        shown = np.where(strong, change.t_matrix, 0.0)
    plotting.plot_connectome(shown, change.rois[["x", "y", "z"]].to_numpy(), axes=axes[1], node_size=10,
                             edge_cmap="RdBu_r", display_mode="xz", colorbar=True)
    axes[1].set_title("FDR-significant edges" if keep.any() else "strongest 2% of edges (none FDR-significant)")
    return fig
