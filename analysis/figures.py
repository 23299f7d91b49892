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

from analysis.open_data import DS003871_TR_S, OLDER_AGE, OpenDataSummary, first_row_of, site_age_counts
from analysis.trial import ARMS, TrialDesign
from analysis.trial.tables import MISSING_MARK, MVC

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
