"""Reading, validating and writing the real-trial directory layout.

Layout (BIDS-derivatives style, as XCP-D writes parcellated time series)::

    trial.json         the design: arms, control, visits (see analysis.trial.design)
    participants.tsv   visits.tsv   atlas.tsv
    qc.tsv             optional: written by ``python -m analysis extract`` (mean FD, volumes kept)
    timeseries/sub-<id>_ses-<month>_task-rest_timeseries.tsv   (time x ROI, header = ROI names)

The columns are functions of the design (:func:`participant_columns`, :func:`visit_columns`):
arm labels and visit months come from ``trial.json``, never from code. Only what every trial
has is required; strength, adherence, self-training, BMI, chair stand and stratum are optional
(validated when present; pages say :data:`NOT_AVAILABLE` otherwise). Missing values are written ``n/a``; booleans ``true``/``false``. Every rule broken raises
:class:`TrialDataError` naming the file, row, column and rule. Nothing is dropped or coerced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from analysis.trial.design import TrialDesign
from analysis.trial.errors import TrialDataError

NA = "n/a"
TS_FLOAT_FORMAT = "%.10g"


@dataclass(frozen=True)
class Column:
    """One column of the contract: its type and the rules its values must obey."""

    name: str
    kind: str  # str | category | float | int | bool | nbool | nint
    required: bool = True
    allow_na: bool = False
    low: float | None = None
    high: float | None = None
    levels: tuple = ()


#: Fewest ROIs an atlas may have (trial and reference cohort alike).
MIN_ROIS = 10
#: Years a visit's age may exceed the inclusion range's upper bound plus the last visit.
VISIT_AGE_MARGIN = 0.5
#: What a page says about a measurement the trial directory does not have.
NOT_AVAILABLE = "not available in these data"

#: Columns every trial has; everything else in the tables below is optional.
REQUIRED_PARTICIPANT_COLUMNS = ("participant_id", "arm", "sex", "age")
REQUIRED_VISIT_COLUMNS = ("participant_id", "month", "attended", "age", "mri_usable", "mean_fd_mm", "n_volumes")
#: Order of the known ``visits.tsv`` columns.
VISIT_ORDER = ("participant_id", "month", "attended", "age", "knee_extensor_mvc_nm", "adherence_sessions_per_week",
               "self_training", "mri_acquired", "mri_usable", "mean_fd_mm", "n_volumes")
#: Visit columns ``qc.tsv`` can supply (``visits.tsv`` may then leave them out).
QC_VISIT_COLUMNS = ("mean_fd_mm", "n_volumes")


def participant_columns(design: TrialDesign) -> tuple[Column, ...]:
    """Columns of ``participants.tsv`` for a trial of ``design``.

    ``arm`` takes the design's labels; ``age`` (baseline) must lie within the design's
    ``inclusion_age`` when it has one, and is only checked to be >= 0 otherwise. ``bmi``,
    ``chair_stand_30s`` and ``stratum`` are optional: checked when present.
    """
    low, high = design.inclusion_age if design.inclusion_age is not None else (0.0, None)
    return (
        Column("participant_id", "str"),
        Column("arm", "category", levels=tuple(design.labels)),
        Column("sex", "category", levels=("F", "M")),
        Column("age", "float", low=float(low), high=None if high is None else float(high)),
        Column("bmi", "float", required=False, low=12.0, high=70.0),
        Column("chair_stand_30s", "int", required=False, low=0, high=60),
        Column("stratum", "str", required=False),
    )


def visit_columns(design: TrialDesign, *, qc: bool = False) -> tuple[Column, ...]:
    """Columns of ``visits.tsv`` for a trial of ``design``.

    ``month`` takes the design's visits; ``age`` lies within ``inclusion_age`` widened by the
    last visit (in years) and :data:`VISIT_AGE_MARGIN`, when the design has an inclusion range.
    Strength (``knee_extensor_mvc_nm``), ``adherence_sessions_per_week``, ``self_training`` and
    ``mri_acquired`` are optional. With ``qc=True`` (a ``qc.tsv`` supplies them)
    ``mean_fd_mm`` and ``n_volumes`` are optional too.
    """
    if design.inclusion_age is not None:
        low, high = design.inclusion_age
        age = Column("age", "float", low=float(low), high=float(high) + design.visits[-1] / 12 + VISIT_AGE_MARGIN)
    else:
        age = Column("age", "float", low=0.0)
    return (
        Column("participant_id", "str"),
        Column("month", "int", levels=tuple(design.visits)),
        Column("attended", "bool"),
        age,
        Column("knee_extensor_mvc_nm", "float", required=False, allow_na=True, low=0.0, high=1000.0),
        Column("adherence_sessions_per_week", "float", required=False, allow_na=True, low=0.0, high=7.0),
        Column("self_training", "nbool", required=False, allow_na=True),
        Column("mri_acquired", "bool", required=False),
        Column("mri_usable", "bool"),
        Column("mean_fd_mm", "float", required=not qc, allow_na=True, low=0.0, high=10.0),
        Column("n_volumes", "nint", required=not qc, allow_na=True, low=1, high=100000),
    )


ATLAS_COLUMNS = (
    Column("roi", "str"), Column("x", "float"), Column("y", "float"), Column("z", "float"),
    Column("network", "str"), Column("region", "str", required=False),
)
#: Typed columns of ``qc.tsv`` (written by ``python -m analysis extract``); ``session``,
#: ``strategy`` and ``source_file`` are free text.
QC_COLUMNS = (
    Column("participant_id", "str"),
    Column("mean_fd_mm", "float", low=0.0, high=10.0),
    Column("n_volumes", "int", low=1, high=100000),
    Column("n_volumes_kept", "int", low=1, high=100000),
    Column("n_scrubbed", "int", low=0, high=100000),
)
QC_TEXT_COLUMNS = ("session", "strategy", "source_file")
QC_ORDER = ("participant_id", "session", "mean_fd_mm", "n_volumes", "n_volumes_kept", "n_scrubbed",
            "strategy", "source_file")


def timeseries_name(participant_id: str, month: int) -> str:
    """File name of one scan's time series."""
    return f"sub-{participant_id}_ses-{int(month)}_task-rest_timeseries.tsv"


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _read_raw(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise TrialDataError(path.name, "file must exist", detail=f"expected {path}")
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    return raw


def _parse_column(raw: pd.Series, col: Column, file: str) -> pd.Series:
    text = raw.to_numpy(dtype=object)
    is_na = text == NA
    if col.kind in ("str", "category") or not col.allow_na:
        for i in np.flatnonzero(is_na | (text == "")):
            raise TrialDataError(file, "value required (no missing values)", row=int(i) + 1, column=col.name,
                                 value=text[i])
    if col.kind in ("str", "category"):
        if col.levels:
            bad = ~np.isin(text, col.levels)
            for i in np.flatnonzero(bad):
                raise TrialDataError(file, f"must be one of {list(col.levels)}", row=int(i) + 1,
                                     column=col.name, value=text[i])
        return pd.Series(text.astype(str), name=col.name, dtype="str")
    if col.kind in ("bool", "nbool"):
        ok = np.isin(text, ("true", "false")) | (is_na & col.allow_na)
        for i in np.flatnonzero(~ok):
            raise TrialDataError(file, "must be 'true' or 'false'" + (" or 'n/a'" if col.allow_na else ""),
                                 row=int(i) + 1, column=col.name, value=text[i])
        if col.kind == "bool":
            return pd.Series(text == "true", name=col.name)
        out = pd.array([pd.NA if t == NA else t == "true" for t in text], dtype="boolean")
        return pd.Series(out, name=col.name)
    values = np.full(len(text), np.nan)
    for i, t in enumerate(text):
        if is_na[i]:
            continue
        try:
            values[i] = float(t)
        except ValueError:
            raise TrialDataError(file, "must be a number", row=i + 1, column=col.name, value=t) from None
        if not np.isfinite(values[i]):
            raise TrialDataError(file, "must be finite (write missing values as 'n/a')", row=i + 1,
                                 column=col.name, value=t)
        if col.kind in ("int", "nint") and values[i] != int(values[i]):
            raise TrialDataError(file, "must be a whole number", row=i + 1, column=col.name, value=t)
        if col.low is not None and values[i] < col.low:
            rule = "must not be negative" if col.low == 0 else f"must be >= {col.low:g}"
            raise TrialDataError(file, rule, row=i + 1, column=col.name, value=t)
        if col.high is not None and values[i] > col.high:
            raise TrialDataError(file, f"must be <= {col.high:g}", row=i + 1, column=col.name, value=t)
        if col.levels and values[i] not in col.levels:
            raise TrialDataError(file, f"must be one of {list(col.levels)}", row=i + 1, column=col.name, value=t)
    if col.kind == "int":
        return pd.Series(values.astype(np.int64), name=col.name)
    if col.kind == "nint":
        out = pd.array([pd.NA if na else int(v) for v, na in zip(values, is_na)], dtype="Int64")
        return pd.Series(out, name=col.name)
    return pd.Series(values, name=col.name)


def read_table(path: Path, columns: tuple[Column, ...]) -> pd.DataFrame:
    """Read one TSV of the contract with every column typed and checked."""
    raw = _read_raw(path)
    for col in columns:
        if col.required and col.name not in raw.columns:
            raise TrialDataError(path.name, "required column missing", column=col.name,
                                 detail=f"columns present: {list(raw.columns)}")
    dupes = raw.columns[raw.columns.duplicated()]
    if len(dupes):
        raise TrialDataError(path.name, "column names must be unique", column=str(dupes[0]))
    known = {c.name: c for c in columns}
    out = {}
    for name in raw.columns:
        col = known.get(name, Column(name, "str", allow_na=True))
        out[name] = _parse_column(raw[name], col, path.name) if name in known else raw[name].astype("str")
    order = [c.name for c in columns if c.name in raw.columns] + [c for c in raw.columns if c not in known]
    return pd.DataFrame(out)[order]


def _unique(frame: pd.DataFrame, keys: list[str], file: str, rule: str) -> None:
    dup = frame.duplicated(keys, keep="first").to_numpy()
    for i in np.flatnonzero(dup):
        raise TrialDataError(file, rule, row=int(i) + 1, column=keys[0], value=frame[keys[0]].iat[i])


def check_participants(people: pd.DataFrame) -> None:
    _unique(people, ["participant_id"], "participants.tsv", "participant_id must be unique")


def check_visits(visits: pd.DataFrame, people: pd.DataFrame, design: TrialDesign) -> None:
    """Rules of ``visits.tsv`` that span rows or files (column rules are checked on reading).

    Optional columns are checked only when present.
    """
    f = "visits.tsv"
    months = list(design.visits)
    known = set(people["participant_id"])
    for i, pid in enumerate(visits["participant_id"]):
        if pid not in known:
            raise TrialDataError(f, "visit for a participant not in participants.tsv", row=i + 1,
                                 column="participant_id", value=pid)
    _unique(visits, ["participant_id", "month"], f, "one row per participant and month")
    counts = visits.groupby("participant_id").size()
    for pid in people["participant_id"]:
        if counts.get(pid, 0) != len(months):
            raise TrialDataError(f, f"every participant needs one row per month {months}",
                                 column="month", value=pid)
    base_age = visits["participant_id"].map(people.set_index("participant_id")["age"])
    planned = base_age + (visits["month"] - design.baseline) / 12
    _rowwise(visits, np.abs(visits["age"] - planned) > 0.5, f, "age",
             "visit age must be baseline age + months since baseline/12 (within 0.5 y)")
    att = visits["attended"].to_numpy()
    baseline = (visits["month"] == design.baseline).to_numpy()
    _rowwise(visits, baseline & ~att, f, "attended", "every randomised person attends baseline")
    if "knee_extensor_mvc_nm" in visits:
        strength = visits["knee_extensor_mvc_nm"]
        _rowwise(visits, att & strength.isna().to_numpy() & baseline, f, "knee_extensor_mvc_nm",
                 "baseline strength is required")
        _rowwise(visits, ~att & strength.notna().to_numpy(), f, "knee_extensor_mvc_nm",
                 "no measurement at a visit not attended (must be n/a)")
    usable = visits["mri_usable"].to_numpy()
    _rowwise(visits, usable & ~att, f, "mri_usable", "a usable scan needs an attended visit")
    if "mri_acquired" in visits:
        _rowwise(visits, usable & ~visits["mri_acquired"].to_numpy(), f, "mri_usable",
                 "a usable scan must be acquired")
    _rowwise(visits, usable & visits["mean_fd_mm"].isna().to_numpy(), f, "mean_fd_mm",
             "a usable scan needs its mean FD (in visits.tsv or qc.tsv)")
    _rowwise(visits, usable & visits["n_volumes"].isna().to_numpy(), f, "n_volumes",
             "a usable scan needs its number of volumes (in visits.tsv or qc.tsv)")


def read_trial_qc(path: Path, design: TrialDesign) -> pd.DataFrame:
    """Read a trial's ``qc.tsv``: one row per participant and visit month.

    ``session`` is the visit month (``12`` or ``ses-12``, as ``python -m analysis extract
    --sessions 01=0,...`` writes it) and must be one of the design's visits.

    Returns
    -------
    pandas.DataFrame
        ``participant_id, month, mean_fd_mm, n_volumes`` (``n_volumes`` = the file's
        ``n_volumes_kept``, the rows of the written time series).
    """
    f = "qc.tsv"
    qc = read_table(path, QC_COLUMNS)
    for name in QC_TEXT_COLUMNS:
        if name not in qc.columns:
            raise TrialDataError(f, "required column missing", column=name,
                                 detail=f"columns present: {list(qc.columns)}")
    months = []
    for i, session in enumerate(qc["session"]):
        label = session.removeprefix("ses-")
        if not label.isdigit() or int(label) not in design.visits:
            raise TrialDataError(f, f"session must be a visit month of trial.json {list(design.visits)}",
                                 row=i + 1, column="session", value=session)
        months.append(int(label))
    qc["month"] = np.asarray(months, dtype=np.int64)
    _unique(qc, ["participant_id", "month"], f, "one row per participant and session")
    for i in np.flatnonzero((qc["n_volumes_kept"] > qc["n_volumes"]).to_numpy()):
        raise TrialDataError(f, "n_volumes_kept must not exceed n_volumes", row=int(i) + 1,
                             column="n_volumes_kept", value=int(qc["n_volumes_kept"].iat[i]))
    out = qc[["participant_id", "month", "mean_fd_mm", "n_volumes_kept"]].rename(
        columns={"n_volumes_kept": "n_volumes"})
    out["n_volumes"] = out["n_volumes"].astype("Int64")
    return out


def _plain(value):
    """A NumPy scalar as the Python number it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def merge_qc(visits: pd.DataFrame, qc: pd.DataFrame) -> pd.DataFrame:
    """``visits`` with ``mean_fd_mm`` and ``n_volumes`` filled in from :func:`read_trial_qc`.

    A value present in both files must agree (``mean_fd_mm`` to 1e-9 relative, ``n_volumes``
    exactly); a QC row for a visit not in ``visits.tsv`` is an error. Missing values of
    ``visits.tsv`` (or the whole column) are taken from ``qc.tsv``.
    """
    f = "qc.tsv"
    keys = ["participant_id", "month"]
    rows = visits[keys].reset_index().merge(qc, on=keys, how="right", validate="one_to_one")
    for i in np.flatnonzero(rows["index"].isna().to_numpy()):
        raise TrialDataError(f, "QC row for a visit not in visits.tsv", row=int(i) + 1, column="session",
                             value=int(rows["month"].iat[i]), detail=f"participant_id {rows['participant_id'].iat[i]!r}")
    out = visits.copy()
    index = rows["index"].astype(int).to_numpy()
    for column in QC_VISIT_COLUMNS:
        qc_values = rows[column]
        if column not in out:
            out[column] = pd.array([pd.NA] * len(out), dtype="Int64") if column == "n_volumes" else np.nan
        present = out[column].iloc[index].reset_index(drop=True)
        both = (present.notna() & qc_values.notna()).to_numpy()
        if column == "mean_fd_mm":
            differ = both & ~np.isclose(present.to_numpy(float, na_value=np.nan),
                                        qc_values.to_numpy(float, na_value=np.nan), rtol=1e-9, atol=0)
        else:
            differ = both & (present.fillna(-1).to_numpy() != qc_values.fillna(-1).to_numpy())
        for i in np.flatnonzero(differ):
            raise TrialDataError(f, f"{column} must agree with visits.tsv", row=int(i) + 1,
                                 column="n_volumes_kept" if column == "n_volumes" else column,
                                 value=_plain(qc_values.iat[i]),
                                 detail=f"visits.tsv row {index[i] + 1} (participant_id "
                                        f"{rows['participant_id'].iat[i]!r}, month {rows['month'].iat[i]}) "
                                        f"says {_plain(present.iat[i])!r}")
        fill = present.isna().to_numpy()
        out.loc[out.index[index[fill]], column] = qc_values[fill].to_numpy()
    order = [c for c in VISIT_ORDER if c in out.columns]
    return out[order + [c for c in out.columns if c not in order]]


def _rowwise(frame: pd.DataFrame, bad, file: str, column: str, rule: str) -> None:
    bad = np.asarray(bad, bool)
    for i in np.flatnonzero(bad):
        raise TrialDataError(file, rule, row=int(i) + 1, column=column, value=frame[column].iat[i],
                             detail=f"participant_id {frame['participant_id'].iat[i]!r}")


def check_atlas(atlas: pd.DataFrame) -> None:
    """ROI names unique; at least :data:`MIN_ROIS` ROIs."""
    _unique(atlas, ["roi"], "atlas.tsv", "ROI names must be unique")
    if len(atlas) < MIN_ROIS:
        raise TrialDataError("atlas.tsv", f"at least {MIN_ROIS} ROIs", column="roi", value=len(atlas))


def read_timeseries(path: Path, roi_names: list[str], n_volumes: int | None = None) -> np.ndarray:
    """Read and check one time-series file: header = atlas ROIs, numeric, finite, not constant."""
    name = f"timeseries/{path.name}"
    if not path.is_file():
        raise TrialDataError(name, "time-series file must exist for a scan marked usable",
                             detail=f"expected {path}")
    with open(path) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        check_header(header, roi_names, name)
        try:
            data = np.loadtxt(fh, delimiter="\t", dtype=np.float64, ndmin=2)
        except ValueError as err:
            raise TrialDataError(name, "every value must be a number", detail=str(err)) from None
    if data.shape[1] != len(roi_names):
        raise TrialDataError(name, f"{len(roi_names)} ROI columns per row", column=None, value=data.shape[1])
    if n_volumes is not None and data.shape[0] != n_volumes:
        raise TrialDataError(name, "number of rows must equal n_volumes in visits.tsv", value=data.shape[0],
                             detail=f"visits.tsv says {n_volumes}")
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise TrialDataError(name, "ROI signal must be finite (no NaN)", row=int(r) + 1, column=roi_names[c],
                             value=data[r, c])
    const = np.ptp(data, axis=0) == 0
    if const.any():
        c = int(np.flatnonzero(const)[0])
        raise TrialDataError(name, "ROI signal must not be constant", column=roi_names[c], value=data[0, c])
    return data


def check_header(header: list[str], roi_names: list[str], name: str) -> None:
    if len(header) != len(roi_names):
        raise TrialDataError(name, f"number of ROI columns must equal atlas.tsv ({len(roi_names)})",
                             row=0, column=None, value=len(header))
    for h, r in zip(header, roi_names):
        if h != r:
            raise TrialDataError(name, "ROI names must match atlas.tsv in order", row=0, column=h,
                                 detail=f"atlas.tsv has {r!r} here")


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def _text_column(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.map(lambda v: NA if pd.isna(v) else ("true" if v else "false")).astype(object)
    if pd.api.types.is_float_dtype(series.dtype):
        return series.map(lambda v: NA if pd.isna(v) else repr(float(v)))
    return series.map(lambda v: NA if pd.isna(v) else str(v))


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as TSV: exact floats (repr), booleans true/false, missing as n/a."""
    text = pd.DataFrame({c: _text_column(frame[c]) for c in frame.columns})
    text.to_csv(path, sep="\t", index=False, lineterminator="\n")


def write_timeseries(data: np.ndarray, roi_names: list[str], path: Path) -> None:
    np.savetxt(path, data, delimiter="\t", fmt=TS_FLOAT_FORMAT, header="\t".join(roi_names), comments="")


def written_values(data: np.ndarray) -> np.ndarray:
    """What :func:`write_timeseries` stores: each value at ``TS_FLOAT_FORMAT`` precision."""
    return np.array([[float(TS_FLOAT_FORMAT % v) for v in row] for row in data])


Reader = Callable[[str, int], np.ndarray]
