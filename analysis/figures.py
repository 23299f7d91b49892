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

from analysis.connectome import unvectorize
from analysis.open_data import DS003871_TR_S, OLDER_AGE, OpenDataSummary, first_row_of, site_age_counts
from analysis.trial import TrialDesign
from analysis.trial.tables import MISSING_MARK, MVC


def _nilearn_plotting():
    """``nilearn.plotting``, imported only by the figures that draw matrices and glass brains:
    importing it with this module cost every notebook kernel about a second."""
    from nilearn import plotting

    return plotting


#: Colours of the trial arms, used on every page.
ARM_COLORS = {"HRT": "#c0392b", "MIT": "#2874a6", "CON": "#7f8c8d"}
ARM_NAMES = {"HRT": "Heavy resistance (HRT)", "MIT": "Moderate intensity (MIT)", "CON": "Control (CON)"}


# =============================================================================================
# open data (notebook 00): connectomes, ICA time courses, ages, sites
# =============================================================================================
def open_data_connectomes(data: OpenDataSummary) -> plt.Figure:
    """Correlation matrices of the development-fMRI data: the first adult, the first child, the mean."""
    adult = first_row_of(data.dev["child_adult"], "adult")
    child = first_row_of(data.dev["child_adult"], "child")
    panels = ((data.dev_matrices[adult], f"One adult (row {adult})"),
              (data.dev_matrices[child], f"One child (row {child})"),
              (data.dev_matrices.mean(axis=0), f"Mean of all {len(data.dev)} people"))
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.8), constrained_layout=True)
    for ax, (matrix, title) in zip(axes, panels):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set(title=title, xlabel="BASC-064 region", ylabel="BASC-064 region")
    fig.colorbar(image, ax=axes, shrink=0.8, label="Correlation")
    return fig


def open_data_ica_examples(data: OpenDataSummary, *, n_components: int = 4, offset: float = 5.0) -> plt.Figure:
    """Standardised time courses of the first ``n_components`` ICA components of the first person
    of each ds003871 group, offset by ``offset`` standard deviations for display."""
    groups = list(dict.fromkeys(data.ica_groups["group"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(12, 3.8), sharey=True, constrained_layout=True)
    for ax, group in zip(np.atleast_1d(axes), groups):
        index = first_row_of(data.ica_groups["group"], group)
        series = data.ica[index][:, :n_components]
        series = (series - series.mean(axis=0)) / series.std(axis=0)
        seconds = np.arange(series.shape[0]) * DS003871_TR_S
        ax.plot(seconds, series - offset * np.arange(series.shape[1]), lw=0.8)
        ax.set(title=f"{group} group, subject {data.ica_groups['subject'].iat[index]}", xlabel="Time (s)",
               yticks=-offset * np.arange(series.shape[1]),
               yticklabels=[f"IC {k + 1}" for k in range(series.shape[1])])
    return fig


def _older_line(ax) -> None:
    ax.axvline(OLDER_AGE, color="black", ls="--", lw=1)
    ax.text(OLDER_AGE - 1, ax.get_ylim()[1] * 0.95, f"{OLDER_AGE:g} y ", fontsize=9, ha="right", va="top")


def open_data_ages(data: OpenDataSummary, *, bin_width: float = 2.5, max_age: float = 90) -> plt.Figure:
    """Who is in the open data: age histograms (development fMRI, fcon1000, transfer set by split,
    a dashed line at :data:`~analysis.open_data.OLDER_AGE`) and ds003871's group sizes."""
    dev, fcon, transfer = data.dev, data.fcon, data.transfer
    bins = np.arange(0, max_age, bin_width)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    ax = axes[0, 0]
    ax.hist([dev.loc[dev["child_adult"] == label, "age"] for label in ("child", "adult")], bins=bins,
            color=["tab:orange", "tab:blue"], alpha=0.8, label=["children", "adults"], histtype="stepfilled")
    ax.set(title="Development fMRI (ages from inferred row order)", xlabel="Age (years)", ylabel="People",
           xlim=(0, max_age))
    ax.legend()
    ax = axes[0, 1]
    counts = data.ica_groups["group"].value_counts().reindex(list(dict.fromkeys(data.ica_groups["group"])))
    bars = ax.bar(counts.index, counts.to_numpy(), color=["tab:green", "tab:purple"][: len(counts)])
    ax.bar_label(bars)
    ax.set(title="ds003871: group labels only (no ages)", ylabel="People", ylim=(0, counts.max() * 1.15))
    ax = axes[1, 0]
    ax.hist(fcon["age"], bins=bins, color="tab:gray")
    ax.set(title="fcon1000 thickness", xlabel="Age (years)", ylabel="People", xlim=(0, max_age))
    ax = axes[1, 1]
    splits = list(dict.fromkeys(transfer["split"]))
    ax.hist([transfer.loc[transfer["split"] == split, "age"] for split in splits], bins=bins, stacked=True,
            color=["tab:cyan", "tab:olive"][: len(splits)],
            label=[{"ad": "adaptation split", "te": "test split"}.get(s, s) for s in splits])
    ax.set(title="OpenNeuro transfer thickness", xlabel="Age (years)", ylabel="Rows", xlim=(0, max_age))
    ax.legend(loc="center right")
    _older_line(axes[0, 0])
    _older_line(axes[1, 0])
    _older_line(axes[1, 1])
    return fig


def open_data_sites(fcon: pd.DataFrame) -> plt.Figure:
    """fcon1000 people per site, split at :data:`~analysis.open_data.OLDER_AGE`."""
    counts = site_age_counts(fcon)
    fig, ax = plt.subplots(figsize=(8, 6.5), constrained_layout=True)
    counts.plot.barh(stacked=True, ax=ax, color=["tab:gray", "tab:red"], width=0.8)
    ax.set(xlabel="People", ylabel="", title="fcon1000: people per site", xlim=(0, counts.sum(axis=1).max() * 1.05))
    ax.legend(title="")
    return fig


# =============================================================================================
# cohort (notebook 01): CONSORT flow, strength trajectories, missingness patterns
# =============================================================================================
#: Colour of the control arm when its label has no colour in :data:`ARM_COLORS`.
CONTROL_COLOR = "#7f8c8d"


def arm_colors(design: TrialDesign) -> dict[str, str]:
    """A colour per arm of ``design``: :data:`ARM_COLORS` where known, else a qualitative palette
    for active arms and grey for the control arm."""
    palette = iter(sns.color_palette("colorblind", len(design.labels)).as_hex())
    out = {}
    for label in design.labels:
        fallback = next(palette)
        out[label] = ARM_COLORS.get(label, CONTROL_COLOR if label == design.control else fallback)
    return out


def not_available_figure(message: str, *, figsize: tuple[float, float] = (8, 1.6)) -> plt.Figure:
    """A small figure that says, in words, why there is nothing to plot."""
    fig, ax = plt.subplots(figsize=figsize)
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#555", wrap=True)
    return fig


def _box(ax, x: float, y: float, text: str, *, width: float, height: float, color: str = "#34495e",
         fill: str = "white") -> None:
    ax.add_patch(plt.Rectangle((x - width / 2, y - height / 2), width, height, facecolor=fill,
                               edgecolor=color, linewidth=1.4))
    ax.text(x, y, text, ha="center", va="center", fontsize=10, linespacing=1.35)


def _arrow(ax, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="-|>", color="#34495e", lw=1.1, shrinkA=0, shrinkB=0))


def _visit_name(design: TrialDesign, month: int) -> str:
    if month == design.baseline:
        return "Baseline"
    return f"Month {month}" + (" (follow-up)" if design.is_followup(month) else "")


def consort_diagram(flow: pd.DataFrame, design: TrialDesign) -> plt.Figure:
    """CONSORT-style flow: randomised -> allocated per arm -> attended / usable MRI per visit.

    Parameters
    ----------
    flow : pandas.DataFrame
        Output of :func:`analysis.trial.flow_counts` (columns ``arm``, ``month``,
        ``randomised``, ``attended``, ``mri_usable``; arm ``"All"`` holds the totals).
    design : TrialDesign
        Arms (one column of boxes each, in design order) and visits (one row each).

    Returns
    -------
    matplotlib.figure.Figure
    """
    arms, months, colors = design.labels, list(design.visits), arm_colors(design)
    f = flow.set_index(["arm", "month"])
    step, dx = 1.4, 3.2
    width = dx * len(arms)
    fig, ax = plt.subplots(figsize=(2.8 * len(arms) + 0.1, 1.2 + 1.3 * (len(months) + 1)))
    ax.set_xlim(-1.5, width)
    top = step * (len(months) + 2)
    ax.set_ylim(top - step * (len(months) + 1) - 0.6, top + 0.6)
    ax.axis("off")
    xs = [1.6 + dx * i for i in range(len(arms))]
    centre = (xs[0] + xs[-1]) / 2
    _box(ax, centre, top, f"Randomised\nn = {int(f.loc[('All', months[0]), 'randomised'])}", width=2.6, height=0.8)
    y_alloc = top - step
    for x, arm in zip(xs, arms):
        _arrow(ax, centre, top - 0.4, x, y_alloc + 0.45)
        n = int(f.loc[(arm, months[0]), "randomised"])
        _box(ax, x, y_alloc, f"Allocated to {arm}\nn = {n}", width=2.8, height=0.8, color=colors[arm])
    for k, month in enumerate(months):
        y = y_alloc - step * (k + 1)
        for x, arm in zip(xs, arms):
            row = f.loc[(arm, month)]
            n, att, mri = int(row["randomised"]), int(row["attended"]), int(row["mri_usable"])
            _arrow(ax, x, y + step - (0.4 if k == 0 else 0.55), x, y + 0.55)
            _box(ax, x, y, f"{_visit_name(design, month)}\nattended {att} ({100 * att / max(n, 1):.0f}%)\n"
                           f"usable rs-fMRI {mri}", width=2.8, height=1.1, color=colors[arm])
        tot = f.loc[("All", month)]
        ax.text(-1.45, y, f"All arms:\nattended {int(tot['attended'])}\nusable rs-fMRI {int(tot['mri_usable'])}",
                fontsize=8.5, va="center", ha="left", color="#555")
    fig.tight_layout()
    return fig


def strength_trajectories(visits: pd.DataFrame, design: TrialDesign) -> plt.Figure:
    """Knee-extensor MVC by arm and visit: mean (95% CI) in Nm and mean % change from baseline.

    Parameters
    ----------
    visits : pandas.DataFrame
        ``participant_id``, ``arm``, ``month`` and, when measured, ``knee_extensor_mvc_nm``
        (NaN when not measured). Only means and confidence intervals are drawn; without the
        strength column the figure says so.
    design : TrialDesign
        Arm order and colours, baseline visit.
    """
    if MVC not in visits.columns or visits[MVC].isna().all():
        return not_available_figure("Knee-extensor strength is not available in these data.")
    d = visits.dropna(subset=[MVC]).copy()
    d["arm"] = d["arm"].astype(str)
    base = d[d["month"] == design.baseline].set_index("participant_id")[MVC]
    d["pct_change"] = 100 * (d[MVC] / d["participant_id"].map(base) - 1)
    order = [a for a in design.labels if a in set(d["arm"])]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, col, label in ((axes[0], MVC, "Knee-extensor MVC (Nm)"),
                           (axes[1], "pct_change", "Change from baseline (%)")):
        sns.pointplot(data=d, x="month", y=col, hue="arm", hue_order=order, palette=arm_colors(design),
                      errorbar=("ci", 95), dodge=0.3, markers="o", capsize=0.08, ax=ax, seed=0)
        ax.set_xlabel("Months since randomisation")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[1].axhline(0, color="black", lw=0.8, ls="--")
    axes[0].get_legend().remove()
    axes[1].legend(title="Arm", frameon=False)
    fig.tight_layout()
    return fig


def missingness_patterns_plot(attended: pd.DataFrame, mri: pd.DataFrame, design: TrialDesign) -> plt.Figure:
    """Counts of each visit pattern per arm, for attendance and usable rs-fMRI.

    Parameters
    ----------
    attended, mri : pandas.DataFrame
        Outputs of :func:`analysis.trial.missingness_patterns` for ``"attended"`` and
        ``"mri_usable"`` (columns ``pattern``, ``arm``, ``n``).
    design : TrialDesign
        Arm order and colours.
    """
    colors = arm_colors(design)
    fig, axes = plt.subplots(1, 2, figsize=(10, 1.6 + 0.3 * max(attended["pattern"].nunique(),
                                                                 mri["pattern"].nunique())),
                             gridspec_kw={"width_ratios": [1, 1.3]})
    for ax, table, title in ((axes[0], attended, "Visits attended"), (axes[1], mri, "Usable rs-fMRI")):
        wide = table.pivot(index="pattern", columns="arm", values="n")
        wide = wide.loc[list(dict.fromkeys(table["pattern"]))][[a for a in design.labels if a in wide.columns]]
        left = np.zeros(len(wide))
        y = np.arange(len(wide))
        for arm in wide.columns:
            ax.barh(y, wide[arm], left=left, color=colors[arm], label=arm, height=0.7)
            left += wide[arm].to_numpy()
        for yi, total in zip(y, left):
            ax.text(total + max(left) * 0.01, yi, f"{int(total)}", va="center", fontsize=8)
        ax.set_yticks(y, [p.replace(MISSING_MARK, "·") for p in wide.index])
        ax.invert_yaxis()
        ax.set_xlim(0, max(left) * 1.12)
        ax.set_xlabel("People")
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("Months present (· = missing)")
    axes[1].legend(title="Arm", frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


# --- trial-analysis figures ---------------------------------------------------------------


def plot_trajectories(means: pd.DataFrame, observed: pd.DataFrame | None = None, *, design: TrialDesign,
                      ylabel: str, ax: Any = None):
    """Model-estimated mean gap per arm over visits (95% CI), with observed means as points.

    ``means``: ``arm, month, estimate, ci_low, ci_high``; ``observed``: ``arm, month, mean,
    ci_low, ci_high``. Arms, their order and colours come from ``design``.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    else:
        fig = ax.figure
    colors = arm_colors(design)
    spacing = np.diff(design.visits).min() / 24 if len(design.visits) > 1 else 0.5
    offsets = {arm: (i - (len(design.labels) - 1) / 2) * spacing for i, arm in enumerate(design.labels)}
    for arm in design.labels:
        d = means[means["arm"] == arm]
        if d.empty:
            continue
        m = d["month"] + offsets[arm]
        c = colors[arm]
        ax.plot(m, d["estimate"], "-", color=c, label=f"{arm} (model)", lw=2)
        ax.fill_between(m, d["ci_low"], d["ci_high"], color=c, alpha=0.15, lw=0)
        if observed is not None:
            o = observed[observed["arm"] == arm]
            ax.errorbar(o["month"] + offsets[arm] + spacing, o["mean"],
                        yerr=[o["mean"] - o["ci_low"], o["ci_high"] - o["mean"]],
                        fmt="o", color=c, ms=4, capsize=2, alpha=0.7, label=f"{arm} (observed)")
    ax.set_xticks(list(design.visits))
    ax.set_xlabel("Months since randomisation")
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="0.6", lw=0.8, ls=":")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_forest(effects: pd.DataFrame, *, label: str = "analysis", truth: dict[str, float] | None = None,
                xlabel: str = "Difference in brain age gap (y)"):
    """Forest plot: one panel per comparison, one row per ``label`` value, estimate with 95% CI.

    ``truth`` maps comparison -> true value, drawn as a dashed line.
    """
    comps = list(dict.fromkeys(effects["comparison"]))
    labels = list(dict.fromkeys(effects[label]))
    fig, axes = plt.subplots(1, len(comps), figsize=(3.3 * len(comps) + 3.4, 0.42 * len(labels) + 1.4),
                             sharey=True, squeeze=False)
    for ax, comp in zip(axes[0], comps):
        d = effects[effects["comparison"] == comp].set_index(label).reindex(labels)
        y = np.arange(len(labels))[::-1]
        ax.errorbar(d["estimate"], y, xerr=[d["estimate"] - d["ci_low"], d["ci_high"] - d["estimate"]],
                    fmt="o", color="k", ms=4, capsize=2)
        ax.axvline(0, color="0.5", lw=0.8)
        if truth and comp in truth:
            ax.axvline(truth[comp], color="#c0392b", ls="--", lw=1, label="true value (clock scale)")
        ax.set_title(comp.replace(" - ", " \u2212 "), fontsize=10)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    if truth:
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, names, loc="upper center", frameon=False, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    return fig


def plot_subgroups(subgroups: pd.DataFrame, names: dict[str, str] | None = None):
    """Forest plot of arm effects within subgroups (:func:`analysis.trial_analysis.heterogeneity`).

    One panel per comparison; rows are modifier levels (categorical) or the effect at the mean
    and +-1 SD (continuous), each block titled with its Holm-adjusted interaction p.
    """
    names = names or {}
    d = subgroups[subgroups["kind"] == "subgroup"].copy()
    d["row"] = [f"{names.get(m, m)}: {lv}" for m, lv in zip(d["modifier"], d["level"])]
    fig = plot_forest(d, label="row", xlabel="Arm effect within subgroup (y)")
    for ax, (comp, g) in zip(fig.axes, d.groupby("comparison", sort=False)):
        p = g.drop_duplicates("modifier").set_index("modifier")["p_interaction_holm"]
        text = "\n".join(f"{names.get(m, m)}: {v:.2f}" for m, v in p.items())
        ax.set_title(comp.replace(" - ", " \u2212 ") + "\nHolm-adjusted interaction p\n" + text, fontsize=8)
    fig.tight_layout()
    return fig


def plot_strength_scatter(changes: pd.DataFrame | None, design: TrialDesign, x: str = "mvc_change_pct",
                          y: str = "gap_change", *, points: bool = True,
                          xlabel: str = "Change in knee-extensor MVC (%)", ylabel: str = "Change in brain age gap (y)"):
    """Scatter of the two changes, one panel per arm (design order), least-squares line and 95% band.

    ``points=False`` draws only the fitted lines and bands (for real trial data, whose
    person-level values must not leave the analysis). ``changes=None`` (no strength data) gives a
    figure that says so.
    """
    if changes is None or changes.empty:
        return not_available_figure("Knee-extensor strength is not available in these data.")
    colors = arm_colors(design)
    arms = [a for a in design.labels if a in set(changes["arm"])]
    fig, axes = plt.subplots(1, len(arms), figsize=(3.6 * len(arms), 3.6), sharex=True, sharey=True, squeeze=False)
    for ax, arm in zip(axes[0], arms):
        d = changes[changes["arm"] == arm]
        c = colors[arm]
        if points:
            ax.scatter(d[x], d[y], s=12, color=c, alpha=0.6, lw=0)
        X = np.column_stack([np.ones(len(d)), d[x]])
        beta, *_ = np.linalg.lstsq(X, d[y], rcond=None)
        grid = np.linspace(d[x].min(), d[x].max(), 50)
        G = np.column_stack([np.ones_like(grid), grid])
        resid = d[y] - X @ beta
        s2 = resid @ resid / max(len(d) - 2, 1)
        se = np.sqrt(np.einsum("ij,jk,ik->i", G, s2 * np.linalg.pinv(X.T @ X), G))
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
# ======================================================================================

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
    plotting = _nilearn_plotting()
    plotting.plot_matrix(values, labels=list(by_network.index), figure=fig, colorbar=True, cmap="RdBu_r",
                         vmax=limit, vmin=-limit, title=title)
    fig.axes[0].grid(False)
    return fig


def pattern_glass_brain(pattern: np.ndarray, atlas: pd.DataFrame, *, threshold: str = "99.7%",
                        title: str = "Strongest 0.3% of pattern edges") -> plt.Figure:
    """The strongest edges of an edge-wise pattern on a glass brain (ROI coordinates from the atlas)."""
    fig = plt.figure(figsize=(9, 3.5))
    plotting = _nilearn_plotting()
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
    plotting = _nilearn_plotting()
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


# =============================================================================================
# simulation figures (notebook 07)
# =============================================================================================
def simulation_power_curves(grid: pd.DataFrame, *, book_error_sd: float, lisa_per_arm: float,
                            effect: float = -1.4) -> plt.Figure:
    """Simulated power (with 95% Monte Carlo bars; dotted: analytic) against participants per arm,
    one curve per clock error SD (a :func:`analysis.simstudy.power_grid` table)."""
    error_sds = sorted(grid["error_sd"].unique())
    fig, ax = plt.subplots(figsize=(7, 4.5))
    palette = sns.color_palette("viridis", len(error_sds))
    for colour, (sd, part) in zip(palette, grid.groupby("error_sd")):
        book = " (book's clock)" if np.isclose(sd, book_error_sd) else ""
        ax.errorbar(part["n_per_arm"], part["power"], yerr=1.96 * part["power_mcse"], marker="o", color=colour,
                    capsize=2, label=f"{sd:g} y{book}")
        ax.plot(part["n_per_arm"], part["analytic_power"], color=colour, linestyle=":", linewidth=1)
    ax.axhline(0.8, color="grey", linestyle="--", linewidth=1)
    ax.axvline(lisa_per_arm, color="black", linewidth=1, linestyle="-.")
    ax.text(lisa_per_arm + 4, 0.05, "LISA", fontsize=9)
    ax.set(xlabel="participants randomised per arm", ylabel="power (HRT-CON, 12 months)", ylim=(0, 1.02),
           title=f"Power to detect a {abs(effect):g}-year latent change (synthetic)")
    ax.legend(title="clock error SD", loc="lower right", fontsize=8)
    return fig


def simulation_scenarios(verdicts: pd.DataFrame, *, alpha: float = 0.05) -> plt.Figure:
    """Type-I error and coverage (95% Monte Carlo bars) of each analysis per scenario
    (an :func:`analysis.simstudy.full.scenario_verdicts` table)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    scenarios = list(dict.fromkeys(verdicts["scenario"]))
    analyses = list(dict.fromkeys(verdicts["analysis"]))
    offsets = np.linspace(-0.25, 0.25, len(analyses))
    for ax, (col, nominal, label) in zip(axes, (("type1_error", alpha, "type-I error"),
                                                ("coverage_95", 0.95, "95% CI coverage"))):
        for offset, (analysis, part) in zip(offsets, verdicts.groupby("analysis", sort=False)):
            y = part.set_index("scenario").reindex(scenarios)
            ax.errorbar(y[col], np.arange(len(scenarios)) + offset, xerr=1.96 * y[f"{col}_mcse"], fmt="o",
                        capsize=2, label=analysis)
        ax.axvline(nominal, color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel=label, yticks=np.arange(len(scenarios)), yticklabels=scenarios)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Full-pipeline study: HRT-CON at 12 months, per scenario (synthetic)")
    fig.tight_layout()
    return fig
