"""Tidy loaders of the registered open datasets (each file obtained through :func:`fetch`).

* :func:`load_development_fmri` -- 90 BASC-064 connectomes (movie watching, ages 3.5-39) with
  ages. **The row -> participant mapping is inferred, not published** (see
  :func:`development_fmri_rows`).
* :func:`load_ds003871` -- 62 resting-state ICA time-course arrays (295 x 60) with
  *group labels only* (younger / older; no per-person ages exist).
* :func:`load_fcon1000`, :func:`load_openneuro_transfer` -- cortical thickness tables
  (structural MRI, not fMRI) with ages, sex and site; :func:`thickness_columns` gives the
  feature columns the two share.
* :func:`overview` -- one row per dataset (split): size, features, ages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import loadmat

from .fetching import fetch
from .registry import DEV_FMRI, DS003871, FCON1000, TRANSFER, OpenDataError

# --- development fMRI (ds000228, BASC-064 connectomes) ---------------------------------------

#: Rows of the feature file: the first 19 adults, then the first 71 children, each in
#: participant-ID order. INFERRED (see :func:`development_fmri_rows`).
DEV_FMRI_N_ADULTS = 19
#: Age (years) from which the book counts a participant as "older" (the LISA participants' decade).
OLDER_AGE = 60.0
#: Repetition time of the ds003871 resting-state runs (seconds).
DS003871_TR_S = 2.0
#: The two splits of the OpenNeuro transfer set: adaptation and test.
TRANSFER_SPLITS = ("ad", "te")
DEV_FMRI_N_CHILDREN = 71


def _id_number(participant_id: pd.Series) -> pd.Series:
    return participant_id.str.extract(r"(\d+)$", expand=False).astype(int)


def development_fmri_rows(participants: pd.DataFrame) -> pd.DataFrame:
    """The participant behind each row of the BASC-064 feature file -- an INFERRED mapping.

    The published feature file carries no participant IDs. Its 90 rows are taken to be the
    first 19 adults (``sub-pixar123`` ... ``sub-pixar141``) followed by the first 71 children
    (``sub-pixar001`` ... ``sub-pixar071``), each in participant-ID order. Evidence, not
    documentation: with this order a classifier separates children from adults with
    cross-validated accuracy 0.97 and predicted age correlates with age (r about 0.67); the
    reverse order gives chance accuracy. Every result that uses these ages inherits this
    assumption.

    Parameters
    ----------
    participants : pandas.DataFrame
        ``participants.tsv`` of ds000228 (columns ``participant_id``, ``Age``, ``Gender``,
        ``Child_Adult``).

    Returns
    -------
    pandas.DataFrame
        90 rows in feature-file order: ``participant_id``, ``age`` (years), ``sex``
        ("F"/"M"), ``child_adult`` ("child"/"adult").
    """
    missing = {"participant_id", "Age", "Gender", "Child_Adult"} - set(participants.columns)
    if missing:
        raise ValueError(f"participants table lacks column(s) {sorted(missing)}")
    ordered = participants.assign(_num=_id_number(participants["participant_id"])).sort_values("_num")
    groups = []
    for label, n in (("adult", DEV_FMRI_N_ADULTS), ("child", DEV_FMRI_N_CHILDREN)):
        group = ordered[ordered["Child_Adult"] == label].head(n)
        if len(group) != n:
            raise ValueError(f"participants table has {len(group)} {label}s, need {n}")
        groups.append(group)
    rows = pd.concat(groups, ignore_index=True)
    return pd.DataFrame({
        "participant_id": rows["participant_id"].astype(str),
        "age": rows["Age"].astype(float),
        "sex": rows["Gender"].astype(str),
        "child_adult": rows["Child_Adult"].astype(str),
    })


def load_development_fmri() -> tuple[np.ndarray, pd.DataFrame]:
    """BASC-064 connectomes of 90 people from ds000228 with their (inferred) ages.

    The scans are movie watching, not rest; ages 3.5-39. The features are vectorised lower
    triangles (no diagonal) of 64 x 64 correlation matrices, in row-major order of
    ``numpy.tril_indices(64, k=-1)`` (nilearn's ``sym_matrix_to_vec(discard_diagonal=True)``);
    :func:`vector_to_matrix` turns them back into matrices.

    Returns
    -------
    features : numpy.ndarray, shape (90, 2016)
    participants : pandas.DataFrame
        One row per feature row, see :func:`development_fmri_rows` -- the row -> participant
        mapping is INFERRED, not published.
    """
    with np.load(fetch(DEV_FMRI, "MAIN2019_BASC064_subsamp_features.npz")) as npz:
        features = np.asarray(npz["a"], dtype=float)
    participants = pd.read_csv(fetch(DEV_FMRI, "participants.tsv"), sep="\t")
    rows = development_fmri_rows(participants)
    if features.shape[0] != len(rows):
        raise OpenDataError(
            f"open data {DEV_FMRI!r}: feature file has {features.shape[0]} rows but the inferred "
            f"mapping has {len(rows)}"
        )
    return features, rows


def vector_to_matrix(vectors: np.ndarray, *, diagonal: float = 1.0) -> np.ndarray:
    """Symmetric matrices from vectorised lower triangles without diagonal.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (k,) or (m, k)
        ``k = n (n - 1) / 2`` values in ``numpy.tril_indices(n, k=-1)`` order (e.g. 2016 -> 64).
    diagonal : float
        Value put on the diagonal (1 for correlation matrices).

    Returns
    -------
    numpy.ndarray, shape (n, n) or (m, n, n)
    """
    vectors = np.asarray(vectors, dtype=float)
    k = vectors.shape[-1]
    n = int(round((1 + np.sqrt(1 + 8 * k)) / 2))
    if n * (n - 1) // 2 != k:
        raise ValueError(f"vectors: last dimension {k} is not n(n-1)/2 for any integer n")
    out = np.full(vectors.shape[:-1] + (n, n), diagonal, dtype=float)
    rows, cols = np.tril_indices(n, k=-1)
    out[..., rows, cols] = vectors
    out[..., cols, rows] = vectors
    return out


# --- ds003871 (resting-state ICA time courses, group labels only) ----------------------------

#: The CSV calls the older group "Elder"; the book says "Older".
_DS003871_GROUPS = {"Younger": "Younger", "Elder": "Older"}
_ICA_KEY = "ICA_timesereis"  # sic, as in the .mat files


def _load_ica(path: Path) -> np.ndarray:
    content = loadmat(path)
    if _ICA_KEY not in content:
        raise OpenDataError(f"open data {DS003871!r}: {path.name} has no key {_ICA_KEY!r}")
    return np.asarray(content[_ICA_KEY], dtype=float)


def load_ds003871() -> tuple[list[np.ndarray], pd.DataFrame]:
    """Resting-state group-ICA time courses of 62 adults (ds003871), with group labels only.

    Returns
    -------
    timeseries : list of numpy.ndarray
        62 arrays of shape (295, 60): time points (TR 2 s) x group-ICA components, in subject
        order.
    subjects : pandas.DataFrame
        ``subject`` (1..62), ``group`` ("Younger" for 1-34, "Older" for 35-62; the source CSV
        says "Elder"), ``global_int`` (the source's global intrinsic neural timescale,
        column ``Grobal_int``). No per-person ages exist.
    """
    table = pd.read_csv(fetch(DS003871, "global_int_df.csv"))
    unknown = set(table["Group"]) - set(_DS003871_GROUPS)
    if unknown:
        raise OpenDataError(f"open data {DS003871!r}: global_int_df.csv has unknown Group value(s) {sorted(unknown)}")
    subjects = pd.DataFrame({
        "subject": table["Subject"].astype(int),
        "group": table["Group"].map(_DS003871_GROUPS),
        "global_int": table["Grobal_int"].astype(float),
    })
    timeseries = [_load_ica(fetch(DS003871, f"BOLD/sub{s:03d}_timecourses_ica.mat")) for s in subjects["subject"]]
    return timeseries, subjects


# --- cortical thickness tables ----------------------------------------------------------------

#: FreeSurfer 6 names in the OpenNeuro transfer files -> the FreeSurfer 5.3 names of fcon1000.csv.
#: The transfer files also carry the 5.3 names, but as all-zero placeholder columns.
_FS6_TO_FS53 = {
    **{
        f"{h}_{new}_thickness": f"{h}_{old}_thickness"
        for h in ("lh", "rh")
        for new, old in (
            ("G_Ins_lG&S_cent_ins", "G_Ins_lg&S_cent_ins"),
            ("S_intrapariet_and_P_trans", "S_intrapariet&P_trans"),
            ("S_oc_middle_and_Lunatus", "S_oc_middle&Lunatus"),
            ("S_oc_sup_and_transversal", "S_oc_sup&transversal"),
            ("S_oc-temp_med_and_Lingual", "S_oc-temp_med&Lingual"),
        )
    },
    "Left-Thalamus": "Left-Thalamus-Proper",
    "Right-Thalamus": "Right-Thalamus-Proper",
}
_ID_COLUMNS = ["participant_id", "age", "sex", "site"]


def _tidy_thickness(table: pd.DataFrame) -> pd.DataFrame:
    table = table.rename(columns={"sub_id": "participant_id"})
    return table[_ID_COLUMNS + [c for c in table.columns if c not in _ID_COLUMNS]].copy()


def load_fcon1000() -> pd.DataFrame:
    """FreeSurfer thickness and volumes of 1078 people from 23 sites (1000 Functional Connectomes).

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``age`` (years), ``sex`` (0/1 as in the source; the source does not
        document the coding), ``site``, then 150 ``*_thickness`` columns (148 Destrieux regions
        + 2 hemisphere means, mm) and subcortical / global volumes, as in the source.
        Structural MRI, not fMRI. A thickness of 0 marks a region that was not measured
        (2 cells in the file).
    """
    return _tidy_thickness(pd.read_csv(fetch(FCON1000, "fcon1000.csv")))


def harmonise_thickness_names(table: pd.DataFrame) -> pd.DataFrame:
    """Give FreeSurfer-6-named columns the fcon1000 (FreeSurfer 5.3) names.

    Placeholder columns are dropped first: those named ``*.1`` and the 5.3-named columns a
    6-named column replaces (all zero in the OpenNeuro transfer files), then any column that
    is zero in every row. Tables without 6-named columns come back unchanged.
    """
    renames = {new: old for new, old in _FS6_TO_FS53.items() if new in table.columns}
    placeholders = [c for c in table.columns if c.endswith(".1") or c in renames.values()]
    if not renames and not placeholders:
        return table
    table = table.drop(columns=placeholders)
    numeric = table.select_dtypes("number")
    all_zero = [c for c in numeric.columns if (numeric[c] == 0).all()]
    return table.drop(columns=all_zero).rename(columns=renames)


def load_openneuro_transfer(split: str) -> pd.DataFrame:
    """Cortical thickness of people from 6 OpenNeuro datasets (braincharts transfer example).

    Parameters
    ----------
    split : {"ad", "te"}
        ``"ad"``: adaptation split (110 people, for site calibration); ``"te"``: test split (436).

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``age``, ``sex`` (0/1 as in the source), ``site`` (OpenNeuro
        accession), ``sitenum``, thickness and volume columns with names harmonised to
        fcon1000 (see :func:`harmonise_thickness_names`; placeholder all-zero columns dropped).
        Rows are kept as published, which matters for validation: in ds003416 (a longitudinal
        child study) 19 IDs appear twice in the test split and 9 IDs appear in both splits,
        each time with identical thickness values but ages about a year apart (546 rows, 518
        distinct IDs over both splits). A value of 0 marks a region that was not measured.
    """
    if split not in ("ad", "te"):
        raise ValueError(f"split must be 'ad' (adaptation) or 'te' (test), got {split!r}")
    table = pd.read_csv(fetch(TRANSFER, f"OpenNeuroTransfer_ct_{split}.csv"))
    return _tidy_thickness(harmonise_thickness_names(table))


def thickness_columns(a: pd.DataFrame, b: pd.DataFrame, *, include_mean: bool = False) -> list[str]:
    """The regional thickness columns two tables share, in the order of ``a``.

    Parameters
    ----------
    a, b : pandas.DataFrame
        Thickness tables, e.g. :func:`load_fcon1000` and :func:`load_openneuro_transfer`
        (which already harmonises FreeSurfer 6 names; raw tables go through
        :func:`harmonise_thickness_names` here).
    include_mean : bool
        Also return the two hemisphere means (``*_MeanThickness_thickness``).

    Returns
    -------
    list of str
        148 Destrieux columns for fcon1000 vs the transfer set (150 with the means). Columns
        that are zero in every row of either table are excluded.
    """
    a, b = harmonise_thickness_names(a), harmonise_thickness_names(b)

    def usable(table: pd.DataFrame) -> set[str]:
        cols = [c for c in table.columns if c.endswith("_thickness")]
        return {c for c in cols if not (table[c] == 0).all()}

    shared = usable(a) & usable(b)
    columns = [c for c in a.columns if c in shared and (include_mean or "MeanThickness" not in c)]
    if not columns:
        raise ValueError("the two tables share no '*_thickness' column")
    return columns


# --- overview -----------------------------------------------------------------------------------


def _age_row(dataset: str, what: str, n: int, n_features: int, age: pd.Series | None, **extra) -> dict:
    has_age = age is not None
    return {
        "dataset": dataset,
        "what": what,
        "n_rows": n,
        "n_features": n_features,
        "per_person_age": has_age,
        "age_min": float(age.min()) if has_age else float("nan"),
        "age_max": float(age.max()) if has_age else float("nan"),
        "n_aged_60_plus": int((age >= OLDER_AGE).sum()) if has_age else pd.NA,
        **extra,
    }


def overview() -> pd.DataFrame:
    """One row per open dataset (split): size, features, ages -- loads every dataset.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``what``, ``n_rows``, ``n_features``, ``per_person_age`` (bool),
        ``age_min``, ``age_max`` (NaN where ages do not exist), ``n_aged_60_plus`` (Int64,
        missing where ages do not exist),
        ``n_sites`` (Int64; missing for the fMRI sets, whose files do not record a site),
        ``modality``.
    """
    features, dev = load_development_fmri()
    series, groups = load_ds003871()
    fcon = load_fcon1000()
    rows = [
        _age_row(DEV_FMRI, "BASC-064 connectomes", len(dev), features.shape[1], dev["age"], n_sites=pd.NA,
                 modality="fMRI, movie watching"),
        _age_row(DS003871, "group-ICA time courses", len(groups), series[0].shape[1], None, n_sites=pd.NA,
                 modality="fMRI, rest"),
        _age_row(FCON1000, "Destrieux thickness", len(fcon), len(thickness_columns(fcon, fcon)), fcon["age"],
                 n_sites=fcon["site"].nunique(), modality="structural MRI"),
    ]
    for split in TRANSFER_SPLITS:
        table = load_openneuro_transfer(split)
        rows.append(_age_row(f"{TRANSFER} ({split})", "Destrieux thickness", len(table),
                             len(thickness_columns(fcon, table)), table["age"],
                             n_sites=table["site"].nunique(), modality="structural MRI"))
    return pd.DataFrame(rows).astype({"n_aged_60_plus": "Int64", "n_sites": "Int64"})
