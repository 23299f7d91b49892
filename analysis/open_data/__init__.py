"""Real open data: a registry of pinned public files, verified fetching, and tidy loaders.

Three parts, each importing only the ones before it:

1. :mod:`~analysis.open_data.registry` -- the registry as **data**: ``registry.json``, shipped
   in this package, lists every file the book uses from public sources (dataset, file,
   sha256, GitHub repository, commit and path, what it holds) and per dataset its title,
   origin, licence, citation and what it can and cannot show. ``registry.py`` reads it into
   :class:`OpenDataset` / :class:`OpenDataFile` objects (:data:`REGISTRY`) and renders
   :func:`provenance_table` and :func:`file_table`.
2. :mod:`~analysis.open_data.fetching` -- :func:`fetch` returns a verified local path:

   * with ``BRAINCLOCK_OPEN_DATA=DIR`` set, it reads ``DIR/<dataset>/<file>`` (a local mirror,
     byte-identical to the originals) directly, sha256-checked once per file version, and
     downloads nothing;
   * otherwise it downloads the pinned raw URL with **pooch** into the git-ignored cache
     ``data/cache/open-data/<dataset>/<file>`` (temporary file, hash check, retries, then
     moved into place: no partial or unverified file is ever left behind).

   Any failure (missing file, wrong hash, no network) raises :class:`OpenDataError` naming the
   dataset, the file, what was tried and how to fix it.
3. :mod:`~analysis.open_data.loaders` -- tidy objects from the files:

   * :func:`load_development_fmri` -- 90 BASC-064 connectomes (movie watching, ages 3.5-39)
     with ages. **The row -> participant mapping is inferred, not published** (see
     :func:`development_fmri_rows`).
   * :func:`load_ds003871` -- 62 resting-state ICA time-course arrays (295 x 60) with
     *group labels only* (younger / older; no per-person ages exist).
   * :func:`load_fcon1000`, :func:`load_openneuro_transfer` -- cortical thickness tables
     (structural MRI, not fMRI) with ages, sex and site; :func:`thickness_columns` gives the
     feature columns the two share.
4. :mod:`~analysis.open_data.summary` -- the open-data page: :func:`load_all` loads every
   dataset into an :class:`OpenDataSummary`, :func:`summary_results` gives its numbers as a
   results frame, :func:`overview_display` / :func:`scope_display` / :func:`site_age_counts`
   its tables.

None of these is an older-adult resting-state cohort with per-person ages: they check that
the clock code, bias correction and metrics behave on real measurements; they do not validate
an older-adult connectivity clock.
"""

from __future__ import annotations

from .fetching import data_origin, fetch, is_available, mirror_status
from .loaders import (
    DEV_FMRI_N_ADULTS,
    DEV_FMRI_N_CHILDREN,
    DS003871_TR_S,
    OLDER_AGE,
    TRANSFER_SPLITS,
    development_fmri_rows,
    harmonise_thickness_names,
    load_development_fmri,
    load_ds003871,
    load_fcon1000,
    load_openneuro_transfer,
    overview,
    thickness_columns,
    vector_to_matrix,
)
from .registry import (
    DEV_FMRI,
    DS003871,
    FCON1000,
    RAW_URL_BASE,
    REGISTRY,
    TRANSFER,
    OpenDataError,
    OpenDataFile,
    OpenDataset,
    file_table,
    get_file,
    provenance_table,
)
from .summary import (
    OpenDataSummary,
    first_row_of,
    load_all,
    overview_display,
    scope_display,
    site_age_counts,
    summary_results,
)

__all__ = [
    "OpenDataError",
    "OpenDataFile",
    "OpenDataset",
    "REGISTRY",
    "RAW_URL_BASE",
    "get_file",
    "fetch",
    "is_available",
    "data_origin",
    "mirror_status",
    "provenance_table",
    "file_table",
    "development_fmri_rows",
    "load_development_fmri",
    "vector_to_matrix",
    "load_ds003871",
    "load_fcon1000",
    "load_openneuro_transfer",
    "harmonise_thickness_names",
    "thickness_columns",
    "overview",
    "OLDER_AGE",
    "DS003871_TR_S",
    "TRANSFER_SPLITS",
    "OpenDataSummary",
    "load_all",
    "summary_results",
    "overview_display",
    "scope_display",
    "site_age_counts",
    "first_row_of",
]
