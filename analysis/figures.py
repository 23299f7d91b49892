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
