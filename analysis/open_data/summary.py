"""What the open data hold: every dataset loaded once, the page's numbers and tables.

:func:`load_all` loads every open dataset the book uses into one :class:`OpenDataSummary`;
:func:`summary_results` turns it into a results frame (keys ``open_data.<name>``) for
:func:`analysis.report.record_frame`; :func:`overview_display`, :func:`scope_display` and
:func:`site_age_counts` give the page's tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .loaders import (
    DS003871_TR_S,
    OLDER_AGE,
    TRANSFER_SPLITS,
    load_development_fmri,
    load_ds003871,
    load_fcon1000,
    load_openneuro_transfer,
    overview,
    thickness_columns,
    vector_to_matrix,
)
from .registry import provenance_table

__all__ = ["TOPIC", "OpenDataSummary", "load_all", "summary_results", "overview_display", "scope_display",
           "site_age_counts", "first_row_of"]

#: Topic of every key of the open-data page.
TOPIC = "open_data"
#: Shown where a dataset does not record a quantity.
DASH = "\u2014"


@dataclass(frozen=True)
class OpenDataSummary:
    """Every open dataset of the book, loaded.

    Attributes
    ----------
    dev_features : numpy.ndarray
        Development-fMRI connectivity vectors (people x features).
    dev : pandas.DataFrame
        Their participants (``age``, ``child_adult``, ...; inferred row mapping).
    dev_matrices : numpy.ndarray
        The same connectomes as (people x regions x regions) matrices.
    ica : list of numpy.ndarray
        ds003871 group-ICA time courses (time x components), one per person.
    ica_groups : pandas.DataFrame
        ds003871 ``subject`` and ``group`` (no ages).
    fcon : pandas.DataFrame
        fcon1000 thickness table.
    transfer : pandas.DataFrame
        OpenNeuro transfer thickness table, both splits stacked, with a ``split`` column.
    thickness : list of str
        Regional thickness columns shared by ``fcon`` and ``transfer``.
    overview : pandas.DataFrame
        :func:`analysis.open_data.overview`.
    """

    dev_features: np.ndarray
    dev: pd.DataFrame
    dev_matrices: np.ndarray
    ica: list
    ica_groups: pd.DataFrame
    fcon: pd.DataFrame
    transfer: pd.DataFrame
    thickness: list
    overview: pd.DataFrame


def load_all() -> OpenDataSummary:
    """Load (fetch and verify) every open dataset of the book."""
    dev_features, dev = load_development_fmri()
    ica, ica_groups = load_ds003871()
    fcon = load_fcon1000()
    transfer = pd.concat({split: load_openneuro_transfer(split) for split in TRANSFER_SPLITS},
                         names=["split", "row"]).reset_index("split").reset_index(drop=True)
    return OpenDataSummary(dev_features, dev, vector_to_matrix(dev_features), ica, ica_groups, fcon, transfer,
                           thickness_columns(fcon, transfer), overview())


def _row(name: str, value: float, description: str, unit: str = "", decimals: int = 0) -> dict:
    return {"key": f"{TOPIC}.{name}", "value": float(value), "unit": unit, "decimals": decimals,
            "description": description}


def _age(name: str, value: float, description: str) -> dict:
    return _row(name, value, description, "y", 1)


def summary_results(data: OpenDataSummary) -> pd.DataFrame:
    """The open-data page's numbers as a results frame (``key``, ``value``, ``unit``, ``decimals``,
    ``description``): sizes, ages, groups, sites and the repeated IDs of the transfer set."""
    dev, fcon, transfer = data.dev, data.fcon, data.transfer
    n_adults = int((dev["child_adult"] == "adult").sum())
    n_younger = int((data.ica_groups["group"] == "Younger").sum())
    n_timepoints, n_components = data.ica[0].shape
    split = transfer["split"]
    first, second = TRANSFER_SPLITS
    shared_ids = set(transfer.loc[split == first, "participant_id"]) & set(transfer.loc[split == second, "participant_id"])
    ov = data.overview
    fmri_with_age = ov["modality"].str.startswith("fMRI") & ov["per_person_age"]
    older = f"{OLDER_AGE:g}"
    rows = [
        _row("devfmri_n", len(dev), "People in the development-fMRI connectome file"),
        _row("devfmri_n_features", data.dev_features.shape[1], "Connectivity features per person (BASC-064)"),
        _row("devfmri_n_regions", data.dev_matrices.shape[1], "Regions of the BASC-064 parcellation"),
        _row("devfmri_n_adults", n_adults, "Adults among the development-fMRI rows (inferred mapping)"),
        _row("devfmri_n_children", len(dev) - n_adults, "Children among the development-fMRI rows"),
        _age("devfmri_age_min", dev["age"].min(), "Youngest development-fMRI participant (inferred mapping)"),
        _age("devfmri_age_max", dev["age"].max(), "Oldest development-fMRI participant (inferred mapping)"),
        _row("ds003871_n", len(data.ica), "People with resting-state ICA time courses in ds003871"),
        _row("ds003871_n_younger", n_younger, "People in the younger group of ds003871"),
        _row("ds003871_n_older", len(data.ica) - n_younger, "People in the older group of ds003871"),
        _row("ds003871_n_timepoints", n_timepoints, f"Time points per ds003871 time course (TR {DS003871_TR_S:g} s)"),
        _row("ds003871_n_components", n_components, "Group-ICA components per ds003871 person"),
        _row("ds003871_minutes", n_timepoints * DS003871_TR_S / 60.0,
             f"Length of each ds003871 resting-state run (time points x TR {DS003871_TR_S:g} s)", "min", 1),
        _row("fcon1000_n", len(fcon), "People in the fcon1000 thickness table"),
        _age("fcon1000_age_min", fcon["age"].min(), "Youngest fcon1000 participant"),
        _age("fcon1000_age_max", fcon["age"].max(), "Oldest fcon1000 participant"),
        _row("fcon1000_n_60plus", (fcon["age"] >= OLDER_AGE).sum(), f"fcon1000 participants aged {older} or more"),
        _row("fcon1000_n_sites", fcon["site"].nunique(), "Acquisition sites in fcon1000"),
        _row("thickness_n_features", len(data.thickness),
             "Regional thickness features shared by fcon1000 and the OpenNeuro transfer set"),
        _row("transfer_n_rows", len(transfer), "Rows in the OpenNeuro transfer thickness tables (both splits)"),
        _row("transfer_n_ad", (split == first).sum(), "Rows in the adaptation split"),
        _row("transfer_n_te", (split == second).sum(), "Rows in the test split"),
        _row("transfer_n_ids", transfer["participant_id"].nunique(), "Distinct participant IDs in the transfer set"),
        _row("transfer_n_shared_ids", len(shared_ids), "Participant IDs present in both transfer splits"),
        _age("transfer_age_min", transfer["age"].min(), "Youngest participant of the transfer set"),
        _age("transfer_age_max", transfer["age"].max(), "Oldest participant of the transfer set"),
        _row("transfer_n_60plus", (transfer["age"] >= OLDER_AGE).sum(), f"Transfer-set rows aged {older} or more"),
        _row("transfer_n_sites", transfer["site"].nunique(), "OpenNeuro datasets (sites) in the transfer set"),
        _row("n_60plus_fmri_with_age", ov.loc[fmri_with_age, "n_aged_60_plus"].sum(),
             f"People aged {older}+ with fMRI and a per-person age in all open data"),
    ]
    return pd.DataFrame(rows).astype({"value": float, "decimals": int})


def overview_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`analysis.open_data.overview` for readers: ages as a range, a dash where not recorded."""
    has_age = table["per_person_age"].astype(bool)
    ages = table["age_min"].map("{:.1f}".format) + " to " + table["age_max"].map("{:.1f}".format)
    return pd.DataFrame({
        "dataset": table["dataset"],
        "rows": table["n_rows"],
        "features": table["n_features"],
        "ages (y)": ages.where(has_age, "group labels only"),
        f"aged {OLDER_AGE:g}+": table["n_aged_60_plus"].astype(object).where(has_age, DASH),
        "sites": table["n_sites"].astype(object).where(table["n_sites"].notna(), DASH),
        "modality": table["modality"],
    })


def scope_display() -> pd.DataFrame:
    """What each open dataset can and cannot show (one row per dataset, from the registry)."""
    scope = provenance_table().drop_duplicates("dataset")[["dataset", "can_show", "cannot_show"]]
    return scope.rename(columns={"can_show": "can show", "cannot_show": "cannot show"})


def site_age_counts(table: pd.DataFrame) -> pd.DataFrame:
    """People per site under and from :data:`OLDER_AGE`, sites from the smallest to the largest.

    Returns a frame indexed by ``site`` with columns ``under <age>`` and ``aged <age>+``.
    """
    young, old = f"under {OLDER_AGE:g}", f"aged {OLDER_AGE:g}+"
    band = np.where(table["age"] >= OLDER_AGE, old, young)
    counts = (table[["site"]].assign(band=band).groupby(["site", "band"]).size().unstack(fill_value=0)
              .reindex(columns=[young, old], fill_value=0))
    return counts.loc[counts.sum(axis=1).sort_values(kind="stable").index]


def first_row_of(labels: pd.Series, value: str) -> int:
    """Position of the first row whose label equals ``value`` (e.g. the first adult)."""
    hits = np.flatnonzero(labels.to_numpy() == value)
    if not len(hits):
        raise ValueError(f"no row labelled {value!r}")
    return int(hits[0])
