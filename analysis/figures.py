"""Figures of the book: one function per figure, each returning a matplotlib Figure.

Functions take tidy, aggregate tables (or a :class:`~analysis.trial.Trial` from which they draw
only aggregates), so the same figure is safe to publish for real trial data.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

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
    import seaborn as sns

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
