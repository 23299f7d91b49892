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
from analysis import figures, open_data, report

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
data = open_data.load_all()
_ = report.record_frame(open_data.summary_results(data))

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
report.figure(
    "fig-open-data-connectome",
    figures.open_data_connectomes(data),
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
report.figure(
    "fig-open-data-ica",
    figures.open_data_ica_examples(data),
    alt="Standardised time courses of the first four group-ICA components over about ten minutes of "
    "rest, for one person of the younger and one of the older group.",
)

# %% [markdown]
# ```{glue:figure} fig-open-data-ica
# :name: fig-open-data-ica
# Example resting-state time courses from ds003871: the first four group-ICA components
# (standardised, offset for display) of one younger and one older person. Real open data.
# ```

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
report.figure(
    "fig-open-data-ages",
    figures.open_data_ages(data),
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
report.figure(
    "fig-open-data-sites",
    figures.open_data_sites(data.fcon),
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
report.table(
    open_data.overview_display(data.overview),
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
report.table(
    open_data.scope_display(),
    "open-data-scope",
    caption="What each open dataset can and cannot show (from the data registry).",
    index=False,
)
