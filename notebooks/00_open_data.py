# ---
# jupyter:
#   jupytext:
#     text_representation: {extension: .py, format_name: percent}
#   kernelspec: {display_name: Python 3, language: python, name: python3}
# ---

# %% [markdown]
# # The open data
#
# Before the book trusts its brain-age clock with a (synthetic or real) trial, it runs the same
# code on **real, openly published measurements**. This page loads every open dataset the book
# uses, at a pinned version checked against its sha256 hash, and shows what each one holds:
# how many people, which features, which ages. It also says plainly what each dataset can and
# cannot show. The registry behind this page (sources, commits, licences, hashes) is on the
# {doc}`../book/data` page.
#
# The short version: **none of these datasets is a resting-state fMRI cohort of older adults
# with per-person ages**, the kind of data a clock for the LISA trial (people in their sixties)
# would ideally be validated on. No such data could be obtained openly. The datasets here
# check that the code, the bias correction and the metrics behave on real data; they do not
# validate an older-adult connectivity clock.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import open_data, report

report.data_banner("open-data")
report.glue_text("open_data.origin", open_data.data_origin())
status = open_data.mirror_status()
report.table(
    status,
    "open-data-files",
    caption="Where the open data were read from for this build, and how many registered files were present.",
    index=False,
)

# %% [markdown]
# For this build the files were read from {glue:text}`open_data.origin`. Every file's sha256 was
# checked against the registry before use; a missing or altered file stops the build with a
# message naming the dataset, the file and the fix.

# %% tags=["hide-input"]
dev_features, dev = open_data.load_development_fmri()
dev_matrices = open_data.vector_to_matrix(dev_features)
ica, ica_groups = open_data.load_ds003871()
fcon = open_data.load_fcon1000()
transfer = pd.concat(
    {split: open_data.load_openneuro_transfer(split) for split in ("ad", "te")}, names=["split", "row"]
).reset_index("split")
overview = open_data.overview()

# %% tags=["hide-input"]
def record_count(key: str, value: int, description: str, unit: str = "") -> None:
    """Record a count (no decimals)."""
    report.record(f"open_data.{key}", int(value), unit=unit, description=description, decimals=0)


def record_age(key: str, value: float, description: str) -> None:
    """Record an age in years with one decimal."""
    report.record(f"open_data.{key}", float(value), unit="y", description=description, decimals=1)


n_adults = int((dev["child_adult"] == "adult").sum())
record_count("devfmri_n", len(dev), "People in the development-fMRI connectome file")
record_count("devfmri_n_features", dev_features.shape[1], "Connectivity features per person (BASC-064)")
record_count("devfmri_n_regions", dev_matrices.shape[1], "Regions of the BASC-064 parcellation")
record_count("devfmri_n_adults", n_adults, "Adults among the development-fMRI rows (inferred mapping)")
record_count("devfmri_n_children", len(dev) - n_adults, "Children among the development-fMRI rows")
record_age("devfmri_age_min", dev["age"].min(), "Youngest development-fMRI participant (inferred mapping)")
record_age("devfmri_age_max", dev["age"].max(), "Oldest development-fMRI participant (inferred mapping)")

# %% [markdown]
# ## Development fMRI connectomes (children and young adults)
#
# {glue:text}`open_data.devfmri_n` people from OpenNeuro
# [ds000228](https://openneuro.org/datasets/ds000228) (children and adults watching a short
# animated film), as subsampled by nilearn's `development_fmri` fetcher
# {cite:p}`abraham2014`. For each person, a published feature file holds the
# {glue:text}`open_data.devfmri_n_features` distinct correlations between the
# {glue:text}`open_data.devfmri_n_regions` regions of the BASC-064 parcellation (the lower
# triangle of the correlation matrix). There are {glue:text}`open_data.devfmri_n_children`
# children and {glue:text}`open_data.devfmri_n_adults` adults, aged
# {glue:text}`open_data.devfmri_age_min` to {glue:text}`open_data.devfmri_age_max` years.
#
# ```{warning}
# **The ages of this dataset rest on an inferred row order.** The feature file has no
# participant identifiers. The book takes its rows to be the first
# {glue:text}`open_data.devfmri_n_adults` adults (`sub-pixar123` onwards) followed by the first
# {glue:text}`open_data.devfmri_n_children` children (`sub-pixar001` onwards), in identifier
# order (`analysis.open_data.development_fmri_rows`). The data support this order (the check
# recorded with the data mirror separates children from adults almost perfectly with it, and
# only at chance level with the reverse order), but it is not published. Every age-based result on this dataset inherits
# this assumption.
# ```

# %% tags=["hide-input"]
adult_row = int(np.flatnonzero(dev["child_adult"].to_numpy() == "adult")[0])
child_row = int(np.flatnonzero(dev["child_adult"].to_numpy() == "child")[0])
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), constrained_layout=True)
panels = [
    (dev_matrices[adult_row], f"One adult (row {adult_row})"),
    (dev_matrices[child_row], f"One child (row {child_row})"),
    (dev_matrices.mean(axis=0), f"Mean of all {len(dev)} people"),
]
for ax, (matrix, title) in zip(axes, panels):
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set(title=title, xlabel="BASC-064 region", ylabel="BASC-064 region")
fig.colorbar(image, ax=axes, shrink=0.8, label="Correlation")
report.figure(
    "fig-open-data-connectome",
    fig,
    alt="Three 64 by 64 correlation matrices: one adult, one child and the mean over all 90 people; "
    "positive correlations in red, negative in blue, ones on the diagonal.",
)

# %% [markdown]
# ```{glue:figure} fig-open-data-connectome
# :name: fig-open-data-connectome
# Functional connectomes of the development-fMRI data: correlation between the BASC-064 regions'
# time series for one adult, one child and the mean over everyone. This is the kind of input the
# book's clock turns into a predicted age. Real open data (movie watching, not rest).
# ```

# %% tags=["hide-input"]
n_younger = int((ica_groups["group"] == "Younger").sum())
n_timepoints, n_components = ica[0].shape
record_count("ds003871_n", len(ica), "People with resting-state ICA time courses in ds003871")
record_count("ds003871_n_younger", n_younger, "People in the younger group of ds003871")
record_count("ds003871_n_older", len(ica) - n_younger, "People in the older group of ds003871")
record_count("ds003871_n_timepoints", n_timepoints, "Time points per ds003871 time course (TR 2 s)")
record_count("ds003871_n_components", n_components, "Group-ICA components per ds003871 person")
_ = report.record(
    "open_data.ds003871_minutes",
    n_timepoints * 2.0 / 60.0,
    unit="min",
    description="Length of each ds003871 resting-state run (time points x TR 2 s)",
    decimals=1,
)

# %% [markdown]
# ## Resting-state time courses of younger and older adults (ds003871)
#
# {glue:text}`open_data.ds003871_n` adults scanned at rest (OpenNeuro
# [ds003871](https://openneuro.org/datasets/ds003871)), published as group-ICA time courses by a
# study of intrinsic neural timescales
# ([code and data](https://github.com/zihao-cpu/Mapping_and_Modeling_Age-Related_Changes-in-_Intrinsic_Neural_Timescales)):
# {glue:text}`open_data.ds003871_n_timepoints` time points ({glue:text}`open_data.ds003871_minutes_full`)
# of {glue:text}`open_data.ds003871_n_components` components per person. It is the only open
# resting-state data here that includes older adults, but it carries **group labels only**:
# {glue:text}`open_data.ds003871_n_younger` younger and {glue:text}`open_data.ds003871_n_older`
# older people (the source calls them "Elder"), with no individual ages. It can test the
# connectivity code on real resting-state time series and compare the two groups; it cannot
# measure how accurate a clock's individual age predictions are.

# %% tags=["hide-input"]
examples = {
    group: int(ica_groups.index[ica_groups["group"] == group][0]) for group in ("Younger", "Older")
}
seconds = np.arange(n_timepoints) * 2.0
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True, constrained_layout=True)
for ax, (group, index) in zip(axes, examples.items()):
    series = ica[index][:, :4]
    series = (series - series.mean(axis=0)) / series.std(axis=0)
    for k in range(series.shape[1]):
        ax.plot(seconds, series[:, k] - 5 * k, lw=0.8)
    ax.set(
        title=f"{group} group, subject {ica_groups['subject'][index]}",
        xlabel="Time (s)",
        yticks=-5 * np.arange(series.shape[1]),
        yticklabels=[f"IC {k + 1}" for k in range(series.shape[1])],
    )
report.figure(
    "fig-open-data-ica",
    fig,
    alt="Standardised time courses of the first four group-ICA components over about ten minutes of "
    "rest, for one person of the younger and one of the older group.",
)

# %% [markdown]
# ```{glue:figure} fig-open-data-ica
# :name: fig-open-data-ica
# Example resting-state time courses from ds003871: the first four group-ICA components
# (standardised, offset for display) of one younger and one older person. Real open data.
# ```

# %% tags=["hide-input"]
fcon_thickness = open_data.thickness_columns(fcon, transfer)
record_count("fcon1000_n", len(fcon), "People in the fcon1000 thickness table")
record_age("fcon1000_age_min", fcon["age"].min(), "Youngest fcon1000 participant")
record_age("fcon1000_age_max", fcon["age"].max(), "Oldest fcon1000 participant")
record_count("fcon1000_n_60plus", (fcon["age"] >= 60).sum(), "fcon1000 participants aged 60 or more")
record_count("fcon1000_n_sites", fcon["site"].nunique(), "Acquisition sites in fcon1000")
record_count("thickness_n_features", len(fcon_thickness), "Regional thickness features shared by fcon1000 and the OpenNeuro transfer set")
record_count("transfer_n_rows", len(transfer), "Rows in the OpenNeuro transfer thickness tables (both splits)")
record_count("transfer_n_ad", (transfer["split"] == "ad").sum(), "Rows in the adaptation split")
record_count("transfer_n_te", (transfer["split"] == "te").sum(), "Rows in the test split")
record_count("transfer_n_ids", transfer["participant_id"].nunique(), "Distinct participant IDs in the transfer set")
shared_ids = set(transfer.loc[transfer["split"] == "ad", "participant_id"]) & set(
    transfer.loc[transfer["split"] == "te", "participant_id"]
)
record_count("transfer_n_shared_ids", len(shared_ids), "Participant IDs present in both transfer splits")
record_age("transfer_age_min", transfer["age"].min(), "Youngest participant of the transfer set")
record_age("transfer_age_max", transfer["age"].max(), "Oldest participant of the transfer set")
record_count("transfer_n_60plus", (transfer["age"] >= 60).sum(), "Transfer-set rows aged 60 or more")
record_count("transfer_n_sites", transfer["site"].nunique(), "OpenNeuro datasets (sites) in the transfer set")

# %% [markdown]
# ## Cortical thickness across the lifespan (fcon1000 and an OpenNeuro transfer set)
#
# Two tables of FreeSurfer cortical thickness (Destrieux atlas): the
# [1000 Functional Connectomes](https://fcon_1000.projects.nitrc.org/) sample as distributed with
# [PCNtoolkit](https://github.com/amarquand/PCNtoolkit) ({glue:text}`open_data.fcon1000_n`
# people from {glue:text}`open_data.fcon1000_n_sites` sites, aged
# {glue:text}`open_data.fcon1000_age_min` to {glue:text}`open_data.fcon1000_age_max` years,
# {glue:text}`open_data.fcon1000_n_60plus` of them aged 60 or more), and a transfer set from
# {glue:text}`open_data.transfer_n_sites` OpenNeuro datasets distributed with
# [braincharts](https://github.com/predictive-clinical-neuroscience/braincharts)
# ({glue:text}`open_data.transfer_n_rows` rows, aged {glue:text}`open_data.transfer_age_min` to
# {glue:text}`open_data.transfer_age_max`, {glue:text}`open_data.transfer_n_60plus` aged 60 or
# more), split into an adaptation part ({glue:text}`open_data.transfer_n_ad` rows, for site
# calibration) and a test part ({glue:text}`open_data.transfer_n_te` rows). The two share
# {glue:text}`open_data.thickness_n_features` regional thickness features once a few FreeSurfer
# naming differences are harmonised.
#
# These tables have many people, many sites and per-person ages into old age, so they can show
# how the clock's regression, bias correction and site handling behave. But **thickness is
# structural MRI, not fMRI**: nothing here says how well a *connectivity* clock works.
#
# ```{note}
# The transfer set is not quite what its size suggests: it has
# {glue:text}`open_data.transfer_n_ids` distinct participant IDs for
# {glue:text}`open_data.transfer_n_rows` rows. In one longitudinal child study (ds003416), some IDs
# appear twice with identical thickness values but ages a year apart, and
# {glue:text}`open_data.transfer_n_shared_ids` IDs appear in both the adaptation and the test
# split. Any analysis that treats the splits as independent people must first remove these
# repeats.
# ```

# %% tags=["hide-input"]
fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
bins = np.arange(0, 90, 2.5)
ax = axes[0, 0]
for label, name, color in (("child", "children", "tab:orange"), ("adult", "adults", "tab:blue")):
    ax.hist(dev.loc[dev["child_adult"] == label, "age"], bins=bins, color=color, alpha=0.8, label=name)
ax.set(title="Development fMRI (ages from inferred row order)", xlabel="Age (years)", ylabel="People",
       xlim=(0, 90))
ax.legend()
ax = axes[0, 1]
counts = ica_groups["group"].value_counts().reindex(["Younger", "Older"])
ax.bar(counts.index, counts.to_numpy(), color=["tab:green", "tab:purple"])
ax.set(title="ds003871: group labels only (no ages)", ylabel="People", ylim=(0, counts.max() * 1.15))
for x, n in enumerate(counts.to_numpy()):
    ax.text(x, n, str(n), ha="center", va="bottom")
ax = axes[1, 0]
ax.hist(fcon["age"], bins=bins, color="tab:gray")
ax.set(title="fcon1000 thickness", xlabel="Age (years)", ylabel="People", xlim=(0, 90))
ax = axes[1, 1]
ax.hist([transfer.loc[transfer["split"] == split, "age"] for split in ("ad", "te")], bins=bins, stacked=True,
        color=["tab:cyan", "tab:olive"], label=["adaptation split", "test split"])
ax.set(title="OpenNeuro transfer thickness", xlabel="Age (years)", ylabel="Rows", xlim=(0, 90))
ax.legend(loc="center right")
for ax in (axes[0, 0], axes[1, 0], axes[1, 1]):
    ax.axvline(60, color="black", ls="--", lw=1)
    ax.text(59, ax.get_ylim()[1] * 0.95, "60 y ", fontsize=9, ha="right", va="top")
report.figure(
    "fig-open-data-ages",
    fig,
    alt="Four panels. Age histograms of the development-fMRI data (children under 10, adults 18 to 39), "
    "fcon1000 and the OpenNeuro transfer set (mostly people in their twenties, few above the 60-year line), "
    "and a bar chart of the younger and older groups of ds003871.",
)

# %% [markdown]
# ```{glue:figure} fig-open-data-ages
# :name: fig-open-data-ages
# Who is in the open data. Ages of the development-fMRI people (from the inferred row order), of
# fcon1000 and of the OpenNeuro transfer set (both splits stacked), with a dashed line at 60 years;
# ds003871 has group labels only. Few people anywhere are of the LISA participants' age.
# Real open data.
# ```

# %% tags=["hide-input"]
site_age = (
    fcon[["site", "age"]].assign(band=np.where(fcon["age"] >= 60, "aged 60+", "under 60"))
    .groupby(["site", "band"]).size().unstack(fill_value=0)
    .reindex(columns=["under 60", "aged 60+"], fill_value=0)
)
site_age = site_age.loc[site_age.sum(axis=1).sort_values().index]
fig, ax = plt.subplots(figsize=(8, 6.5), constrained_layout=True)
site_age.plot.barh(stacked=True, ax=ax, color=["tab:gray", "tab:red"], width=0.8)
ax.set(xlabel="People", ylabel="", title="fcon1000: people per site", xlim=(0, site_age.sum(axis=1).max() * 1.05))
ax.legend(title="")
report.figure(
    "fig-open-data-sites",
    fig,
    alt="Horizontal bar chart of the 23 fcon1000 sites, from about 200 people (Beijing, Cambridge) down "
    "to 3 (Pittsburgh); people aged 60 or more, in red, come from only a few sites.",
)

# %% [markdown]
# ```{glue:figure} fig-open-data-sites
# :name: fig-open-data-sites
# fcon1000 sites and their sizes, with the people aged 60 or more in red. Site and age are
# entangled: most older people come from a few sites, which is why site effects must be
# handled before reading anything into age effects. Real open data.
# ```

# %% tags=["hide-input"]
fmri_with_age = overview["modality"].str.startswith("fMRI") & overview["per_person_age"]
record_count(
    "n_60plus_fmri_with_age",
    overview.loc[fmri_with_age, "n_aged_60_plus"].sum(),
    "People aged 60+ with fMRI and a per-person age in all open data",
)
ages = overview["age_min"].map("{:.1f}".format) + " to " + overview["age_max"].map("{:.1f}".format)
shown = pd.DataFrame({
    "dataset": overview["dataset"],
    "rows": overview["n_rows"],
    "features": overview["n_features"],
    "ages (y)": ages.where(overview["per_person_age"], "group labels only"),
    "aged 60+": overview["n_aged_60_plus"].astype(object).where(overview["per_person_age"], "\u2014"),
    "sites": overview["n_sites"].astype(object).where(overview["n_sites"].notna(), "\u2014"),
    "modality": overview["modality"],
})
report.table(
    shown,
    "open-data-overview",
    caption="The open datasets at a glance: rows (people, except for the repeated IDs of the transfer set), "
    "features per row, ages, people aged 60 or more, sites and modality. A dash: not recorded.",
    index=False,
)

# %% [markdown]
# ## What each dataset can and cannot show
#
# Across all the open fMRI data there are {glue:text}`open_data.n_60plus_fmri_with_age` people
# aged 60 or more with an individual age. The book therefore uses the open data to check its
# methods, never to claim an accurate brain clock for older adults. {numref}`fig-open-data-ages`
# shows who is in each dataset; the table below states what each one is used for and what it
# cannot tell us. No claim about a connectivity clock's accuracy at the LISA participants' ages
# can rest on these data.

# %% tags=["hide-input"]
scope = open_data.provenance_table().drop_duplicates("dataset")[["dataset", "can_show", "cannot_show"]]
report.table(
    scope.rename(columns={"can_show": "can show", "cannot_show": "cannot show"}),
    "open-data-scope",
    caption="What each open dataset can and cannot show (from the data registry).",
    index=False,
)
