"""The reference cohort a brain-age clock is trained on, as data (``BRAINCLOCK_REFERENCE_DIR``).

By default the clock is trained on the synthetic reference cohort
(:func:`analysis.trial.simulate_reference`). A real reference cohort -- healthy adults across
adulthood, e.g. parcellated open datasets -- is a directory in this layout (BIDS-derivatives
style, as XCP-D writes parcellated time series)::

    <reference dir>/
      participants.tsv   participant_id, age, sex, site [, dataset]
      atlas.tsv          roi, x, y, z, network [, region]
      qc.tsv             optional: participant_id, session, mean_fd_mm, n_volumes,
                         n_volumes_kept, n_scrubbed, strategy, source_file
      timeseries/sub-<id>[_ses-<label>]_task-rest_timeseries.tsv   (time x ROI, header = ROI names)

Rules (each broken one raises :class:`~analysis.trial.TrialDataError` naming the file, row,
column, rule and value; nothing is dropped or coerced):

* ``participants.tsv``: ``participant_id`` unique, a BIDS label (letters and digits, without
  the ``sub-`` prefix that file names add); ``age`` in years, 0-120; ``sex`` ``F`` or ``M``;
  ``site`` non-empty text (scanner or acquisition site); optional ``dataset`` (source study).
* ``atlas.tsv``: at least :data:`MIN_ROIS` ROIs with unique names; optional ``region`` (text for
  every ROI; ``prefrontal`` marks the ROIs of the prefrontal analyses, which say "not available
  for this atlas" when the column is absent).
* ``timeseries/``: every participant has a file and every file a participant (the error lists
  all of them); a file's header lists the ``atlas.tsv`` ROI names in order; every value finite,
  no constant ROI signal.
* **Several sessions of one person**: the clock is trained on **one scan per person** (repeated
  scans would weight people unequally and leak between cross-validation folds), the first
  session in natural sort order (``ses-2`` before ``ses-10``). :attr:`ReferenceCohort.notes`
  says how many people this concerned and :attr:`ReferenceCohort.scans` lists the sessions used
  and available.
* ``dataset_description.json`` (optional, BIDS): a cohort whose ``GeneratedBy`` names the
  simulator (:data:`SIMULATOR`, as :func:`write_reference` writes for the synthetic reference)
  is labelled ``source="synthetic"``; every other cohort is ``"real"``. Synthetic data written
  to disk thus never come back labelled real.
* ``qc.tsv`` (optional, written by the extraction tool): ``session`` is the label of the file's
  ``ses-`` entity (``1`` or ``ses-1``) or ``n/a`` for files without one; one row per participant
  and session; every scan used needs its row; ``n_volumes_kept`` must equal the rows of the
  time-series file. The row of the scan used is merged into :attr:`ReferenceCohort.participants`.
  Rows for sessions without a file (e.g. scans excluded by the extraction tool) are allowed.

:func:`write_reference` writes any reference (the synthetic one too) in this layout, and
:func:`load_reference` reads it back (values at the ``%.10g`` precision of the files).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from analysis._paths import REFERENCE_DIR_ENV, env_path
from analysis._series import SeriesSource
from analysis._version import __version__
from analysis.atlas import dosenbach_atlas
from analysis.trial import io
from analysis.trial.errors import TrialDataError
from analysis.trial.io import Column

__all__ = [
    "MIN_ROIS", "REGION_NOT_AVAILABLE", "ReferenceCohort", "load_reference", "reference_from_env",
    "write_reference", "cohort_summary", "atlas_digest", "atlas_name", "has_regions", "region_mask",
]

#: Fewest ROIs an atlas may have.
MIN_ROIS = io.MIN_ROIS
#: What analyses of a named region say when the atlas has no ``region`` column.
REGION_NOT_AVAILABLE = "not available for this atlas"
#: ``GeneratedBy`` name marking a directory written from the synthetic reference.
SIMULATOR = "analysis.trial.simulate_reference"
#: ``session`` value of a time series without a ``ses-`` entity.
NO_SESSION = "n/a"

PARTICIPANT_COLUMNS = (
    Column("participant_id", "str"),
    Column("age", "float", low=0.0, high=120.0),
    Column("sex", "category", levels=("F", "M")),
    Column("site", "str"),
    Column("dataset", "str", required=False),
)
ATLAS_COLUMNS = io.ATLAS_COLUMNS
QC_COLUMNS, QC_TEXT_COLUMNS, QC_ORDER = io.QC_COLUMNS, io.QC_TEXT_COLUMNS, io.QC_ORDER

_LABEL = re.compile(r"[A-Za-z0-9]+")
_FILE = re.compile(r"sub-(?P<pid>[A-Za-z0-9]+)(?:_ses-(?P<ses>[A-Za-z0-9]+))?_task-rest_timeseries\.tsv")
_FILE_RULE = "file name must be sub-<id>[_ses-<label>]_task-rest_timeseries.tsv"
_MAX_LISTED = 20


def timeseries_name(participant_id: str, session: str = NO_SESSION) -> str:
    """File name of one reference scan's time series."""
    ses = "" if session == NO_SESSION else f"_ses-{session}"
    return f"sub-{participant_id}{ses}_task-rest_timeseries.tsv"


def _natural(label: str) -> list:
    """Sort key: digit runs compared as numbers (``2`` before ``10``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", label)]


def _listed(items) -> str:
    items = list(items)
    shown = ", ".join(map(str, items[:_MAX_LISTED]))
    return shown + (f", ... ({len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else "")


# --------------------------------------------------------------------------------------------
# atlas helpers
# --------------------------------------------------------------------------------------------
def atlas_digest(atlas: pd.DataFrame) -> str:
    """sha256 of the atlas's ROI names and MNI coordinates, in order.

    Coordinates enter rounded to 0.001 mm, so the same atlas read from files written with
    different float formatting has the same digest. Networks and regions do not enter: they
    are labels, not geometry.
    """
    digest = hashlib.sha256()
    for roi, x, y, z in zip(atlas["roi"], atlas["x"], atlas["y"], atlas["z"]):
        digest.update(f"{roi}\t{float(x):.3f}\t{float(y):.3f}\t{float(z):.3f}\n".encode())
    return digest.hexdigest()


def atlas_name(atlas: pd.DataFrame) -> str:
    """``"dosenbach160"`` for the Dosenbach 2010 atlas the book uses, else ``"custom<n>"``."""
    if len(atlas) == 160 and atlas_digest(atlas) == atlas_digest(dosenbach_atlas()):
        return "dosenbach160"
    return f"custom{len(atlas)}"


def has_regions(atlas: pd.DataFrame) -> bool:
    """Whether the atlas labels ROIs by region (optional ``region`` column of ``atlas.tsv``)."""
    return "region" in atlas.columns


def region_mask(atlas: pd.DataFrame, region: str = "prefrontal") -> np.ndarray:
    """Boolean mask of the ROIs whose ``region`` is ``region``.

    Raises
    ------
    ValueError
        "... not available for this atlas" when the atlas has no ``region`` column.
    """
    if not has_regions(atlas):
        raise ValueError(f"region {region!r} {REGION_NOT_AVAILABLE} (atlas.tsv has no 'region' column)")
    return (atlas["region"] == region).to_numpy()


# --------------------------------------------------------------------------------------------
# the cohort
# --------------------------------------------------------------------------------------------
@dataclass(eq=False)
class ReferenceCohort:
    """A reference cohort read from a directory: tables, atlas and lazily read time series.

    Same interface as the synthetic :class:`analysis.trial.Reference` (``participants``,
    ``atlas``, ``source``, ``timeseries(pid)``, ``iter_timeseries()``), so the clock code trains
    on either.

    Attributes
    ----------
    participants : pandas.DataFrame
        One row per person: ``participant_id``, ``age``, ``sex``, ``site`` [, ``dataset``], and
        with ``qc.tsv`` the QC row of the scan used (``mean_fd_mm``, ``n_volumes``,
        ``n_volumes_kept``, ``n_scrubbed``, ``strategy``, ``source_file``).
    atlas : pandas.DataFrame
        ``roi, x, y, z, network`` [, ``region``].
    scans : pandas.DataFrame
        One row per person: ``participant_id``, ``session`` used (``n/a`` without a ``ses-``
        entity), ``file`` (relative path), ``sessions_available`` (comma-separated).
    source : str
        ``"real"``, or ``"synthetic"`` for a directory written from the synthetic reference.
    notes : tuple of str
        What the reader decided that a reader of the results should know (sessions chosen).
    path : Path or None
        The directory read.
    """
    participants: pd.DataFrame
    atlas: pd.DataFrame
    scans: pd.DataFrame
    _reader: Callable[[str], np.ndarray] = field(repr=False)
    source: str = "real"
    notes: tuple[str, ...] = ()
    path: Path | None = None
    _digest: str | None = field(default=None, repr=False)

    @property
    def roi_names(self) -> list[str]:
        return self.atlas["roi"].tolist()

    def timeseries(self, participant_id: str) -> np.ndarray:
        """The (n_volumes, n_rois) float64 time series of one person (checked on every read)."""
        return self._reader(participant_id)

    def iter_timeseries(self, participants: pd.DataFrame | None = None) -> SeriesSource:
        """Time series of every (or the given) person, in row order (readable in any order)."""
        ids = list((self.participants if participants is None else participants)["participant_id"])
        return SeriesSource(len(ids), lambda i: self.timeseries(ids[i]))

    @property
    def digest(self) -> str:
        """sha256 of the cohort's content: the tables and the time-series files used.

        Computed from the file bytes on first use (no parsing), then kept.
        """
        if self._digest is None:
            self._digest = _content_digest(self)
        return self._digest

    def summary(self) -> dict[str, Any]:
        """Kind, n, age range, sites, datasets and digest (see :func:`cohort_summary`)."""
        return cohort_summary(self)

    def write(self, path: str | Path) -> Path:
        """Write this cohort in the reference layout (see :func:`write_reference`)."""
        return write_reference(self, path)

    def __repr__(self) -> str:
        sites = self.participants["site"].nunique()
        return f"ReferenceCohort(source={self.source!r}, n={len(self.participants)}, sites={sites}, rois={len(self.atlas)})"


def _content_digest(cohort: ReferenceCohort) -> str:
    if cohort.path is None:
        digest = hashlib.sha256()
        for array in cohort.iter_timeseries():
            digest.update(np.ascontiguousarray(array, dtype=float).tobytes())
        return digest.hexdigest()
    files = [name for name in ("participants.tsv", "atlas.tsv", "qc.tsv", "dataset_description.json")
             if (cohort.path / name).is_file()]
    files += list(cohort.scans["file"])
    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{name}\n".encode())
        digest.update(hashlib.sha256((cohort.path / name).read_bytes()).digest())
    return digest.hexdigest()


def cohort_summary(reference) -> dict[str, Any]:
    """What a saved clock records about its training cohort.

    Works for a :class:`ReferenceCohort` and for the synthetic
    :class:`analysis.trial.Reference` (sites ``["synthetic"]``; digest from its seed, size,
    assumptions and atlas).

    Returns
    -------
    dict
        ``kind`` (``"synthetic"``/``"real"``), ``n``, ``age_min``, ``age_max``, ``sites``,
        ``datasets`` (sorted unique), ``digest``.
    """
    people = reference.participants
    kind = getattr(reference, "source", "real")
    sites = sorted(map(str, people["site"].unique())) if "site" in people else [kind]
    datasets = sorted(map(str, people["dataset"].unique())) if "dataset" in people else []
    digest = getattr(reference, "digest", None)
    if digest is None:
        model = getattr(reference, "_model", None)
        atlas = atlas_digest(reference.atlas) if getattr(reference, "atlas", None) is not None else None
        identity = (f"simulate_reference(n={len(people)}, seed={getattr(reference, 'seed', None)}, "
                    f"assumptions={getattr(model, 'a', None)!r}, atlas={atlas})")
        digest = hashlib.sha256(identity.encode()).hexdigest()
    age = people["age"].to_numpy(float)
    return {"kind": kind, "n": int(len(people)), "age_min": float(age.min()), "age_max": float(age.max()),
            "sites": sites, "datasets": datasets, "digest": digest}


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _check_participants(people: pd.DataFrame) -> None:
    f = "participants.tsv"
    for i, pid in enumerate(people["participant_id"]):
        if pid.startswith("sub-"):
            raise TrialDataError(f, "participant_id without the 'sub-' prefix (file names add it)",
                                 row=i + 1, column="participant_id", value=pid)
        if not _LABEL.fullmatch(pid):
            raise TrialDataError(f, "participant_id must be a BIDS label (letters and digits only)",
                                 row=i + 1, column="participant_id", value=pid)
    io.check_participants(people)
    if people.empty:
        raise TrialDataError(f, "at least one participant", column="participant_id", value=0)


def _check_atlas(atlas: pd.DataFrame) -> None:
    io.check_atlas(atlas)


def _find_timeseries(folder: Path, people: pd.DataFrame) -> dict[str, list[str]]:
    """Sessions on disk per participant; every file named correctly and owned by a participant."""
    found: dict[str, list[str]] = {}
    names = sorted(p.name for p in folder.glob("*_timeseries.tsv")) if folder.is_dir() else []
    for name in names:
        match = _FILE.fullmatch(name)
        if match is None:
            raise TrialDataError(f"timeseries/{name}", _FILE_RULE)
        found.setdefault(match["pid"], []).append(match["ses"] or NO_SESSION)
    for pid, sessions in found.items():
        if NO_SESSION in sessions and len(sessions) > 1:
            raise TrialDataError(f"timeseries/{timeseries_name(pid)}",
                                 "a participant's files either all carry a ses- entity or there is one file",
                                 column="participant_id", value=pid, detail=f"sessions found: {sessions}")
    known = set(people["participant_id"])
    orphans = [timeseries_name(pid, ses) for pid in sorted(found) if pid not in known for ses in found[pid]]
    if orphans:
        raise TrialDataError("timeseries/", "every time-series file belongs to a participant in participants.tsv",
                             column="participant_id", value=orphans[0],
                             detail=f"{len(orphans)} file(s) without a participant: {_listed(orphans)}")
    missing = [pid for pid in people["participant_id"] if pid not in found]
    if missing:
        raise TrialDataError("timeseries/", "every participant has a time-series file", column="participant_id",
                             value=missing[0],
                             detail=f"{len(missing)} participant(s) without a file: {_listed(missing)}")
    return found


def _choose_sessions(people: pd.DataFrame, found: dict[str, list[str]]) -> tuple[pd.DataFrame, tuple[str, ...]]:
    rows = []
    for pid in people["participant_id"]:
        sessions = sorted(found[pid], key=_natural)
        rows.append({"participant_id": pid, "session": sessions[0],
                     "file": f"timeseries/{timeseries_name(pid, sessions[0])}",
                     "sessions_available": ",".join(sessions)})
    scans = pd.DataFrame(rows, columns=["participant_id", "session", "file", "sessions_available"])
    several = scans[scans["sessions_available"].str.contains(",")]
    notes = ()
    if len(several):
        used = scans.loc[several.index, "session"].value_counts()
        notes = (f"{len(several)} of {len(scans)} participants have several sessions; the clock uses one scan "
                 f"per person, the first session in natural sort order ("
                 + ", ".join(f"ses-{s}: {n}" for s, n in used.items()) + ").",)
    return scans, notes


def _read_qc(path: Path, people: pd.DataFrame, scans: pd.DataFrame) -> pd.DataFrame:
    f = "qc.tsv"
    qc = io.read_table(path, QC_COLUMNS)
    for name in QC_TEXT_COLUMNS:
        if name not in qc.columns:
            raise TrialDataError(f, "required column missing", column=name,
                                 detail=f"columns present: {list(qc.columns)}")
    for i, ses in enumerate(qc["session"]):
        if ses != NO_SESSION and not _LABEL.fullmatch(ses.removeprefix("ses-")):
            raise TrialDataError(f, "session must be a label (e.g. 1 or ses-1) or n/a", row=i + 1,
                                 column="session", value=ses)
    qc["session"] = qc["session"].map(lambda s: s.removeprefix("ses-"))
    known = set(people["participant_id"])
    for i, pid in enumerate(qc["participant_id"]):
        if pid not in known:
            raise TrialDataError(f, "QC row for a participant not in participants.tsv", row=i + 1,
                                 column="participant_id", value=pid)
    dup = qc.duplicated(["participant_id", "session"]).to_numpy()
    for i in np.flatnonzero(dup):
        raise TrialDataError(f, "one row per participant and session", row=int(i) + 1, column="session",
                             value=qc["session"].iat[i], detail=f"participant_id {qc['participant_id'].iat[i]!r}")
    for column in ("n_volumes_kept", "n_scrubbed"):
        for i in np.flatnonzero((qc[column] > qc["n_volumes"]).to_numpy()):
            raise TrialDataError(f, f"{column} must not exceed n_volumes", row=int(i) + 1, column=column,
                                 value=int(qc[column].iat[i]))
    used = scans[["participant_id", "session"]].merge(qc, on=["participant_id", "session"], how="left",
                                                     indicator=True)
    absent = used.loc[used["_merge"] == "left_only"]
    if len(absent):
        listed = [f"{p} (session {s})" for p, s in zip(absent["participant_id"], absent["session"])]
        raise TrialDataError(f, "every scan used needs its QC row", column="participant_id",
                             value=absent["participant_id"].iat[0],
                             detail=f"{len(listed)} scan(s) without a row: {_listed(listed)}")
    return used.drop(columns=["_merge", "session"])


def load_reference(path: str | Path, *, check_timeseries: bool = True) -> ReferenceCohort:
    """Read and validate a reference-cohort directory (layout in the module docstring).

    Parameters
    ----------
    path : str or Path
        Folder holding ``participants.tsv``, ``atlas.tsv``, ``timeseries/`` and optionally
        ``qc.tsv``.
    check_timeseries : bool, default=True
        Read every time-series file now and check its values. File presence and headers are
        always checked; values are checked again on every read.

    Raises
    ------
    TrialDataError
        On any broken rule, naming file, row, column, rule and value.
    """
    path = Path(path)
    if not path.is_dir():
        raise TrialDataError(str(path), "reference directory must exist")
    people = io.read_table(path / "participants.tsv", PARTICIPANT_COLUMNS)
    _check_participants(people)
    atlas = io.read_table(path / "atlas.tsv", ATLAS_COLUMNS)
    _check_atlas(atlas)
    names = atlas["roi"].tolist()
    scans, notes = _choose_sessions(people, _find_timeseries(path / "timeseries", people))
    for file in scans["file"]:
        with open(path / file) as fh:
            io.check_header(fh.readline().rstrip("\n").split("\t"), names, file)
    participants = people
    n_volumes: dict[str, int | None] = dict.fromkeys(people["participant_id"])
    if (path / "qc.tsv").is_file():
        qc = _read_qc(path / "qc.tsv", people, scans)
        participants = people.merge(qc, on="participant_id", how="left", validate="one_to_one")
        n_volumes = dict(zip(qc["participant_id"], qc["n_volumes_kept"].astype(int)))
    files = dict(zip(scans["participant_id"], scans["file"]))

    def reader(pid: str) -> np.ndarray:
        if pid not in files:
            raise KeyError(f"unknown reference participant_id={pid!r}")
        return io.read_timeseries(path / files[pid], names, n_volumes[pid])

    source = "synthetic" if _generated_by_simulator(path) else "real"
    cohort = ReferenceCohort(participants, atlas, scans, reader, source=source, notes=notes, path=path)
    if check_timeseries:
        for _ in cohort.iter_timeseries():
            pass
    return cohort


def _generated_by_simulator(path: Path) -> bool:
    file = path / "dataset_description.json"
    if not file.is_file():
        return False
    try:
        description = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TrialDataError(file.name, "must be valid UTF-8 JSON", detail=str(err)) from None
    generated = description.get("GeneratedBy", []) if isinstance(description, dict) else []
    return any(isinstance(g, dict) and g.get("Name") == SIMULATOR for g in generated)


def reference_from_env(*, check_timeseries: bool = True) -> ReferenceCohort | None:
    """The reference cohort at ``BRAINCLOCK_REFERENCE_DIR``, or None when it is unset."""
    path = env_path(REFERENCE_DIR_ENV)
    return None if path is None else load_reference(path, check_timeseries=check_timeseries)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def write_reference(reference, path: str | Path, *, site: str = "synthetic", dataset: str | None = None) -> Path:
    """Write a reference cohort (synthetic or read) in the reference layout; returns ``path``.

    Parameters
    ----------
    reference : ReferenceCohort or analysis.trial.Reference
        Anything with ``participants`` (``participant_id, age, sex`` [, ``site``, ``dataset``]),
        ``atlas`` and ``timeseries(pid)``.
    path : str or Path
        Output directory (created).
    site, dataset : str
        Values written when ``participants`` has no ``site`` / ``dataset`` column. ``dataset``
        defaults to ``simulate_reference(seed=<seed>)`` for a synthetic reference.

    Notes
    -----
    A synthetic reference's ``mean_fd_mm`` and ``n_volumes`` go to ``qc.tsv`` (no session, no
    scrubbing); a read cohort's QC columns are written back for the sessions used.
    """
    path = Path(path)
    (path / "timeseries").mkdir(parents=True, exist_ok=True)
    people = reference.participants
    table = people[["participant_id", "age", "sex"]].copy()
    table["site"] = people["site"] if "site" in people else site
    if "dataset" in people:
        table["dataset"] = people["dataset"]
    elif dataset is not None or getattr(reference, "source", None) == "synthetic":
        table["dataset"] = dataset or f"simulate_reference(seed={getattr(reference, 'seed', 0)})"
    io.write_table(table, path / "participants.tsv")
    io.write_table(reference.atlas, path / "atlas.tsv")
    scans = getattr(reference, "scans", None)
    sessions = (dict(zip(scans["participant_id"], scans["session"])) if scans is not None
                else dict.fromkeys(people["participant_id"], NO_SESSION))
    qc = _qc_table(people, sessions)
    if qc is not None:
        io.write_table(qc, path / "qc.tsv")
    source_dir = getattr(reference, "path", None)
    if source_dir is not None and (Path(source_dir) / "dataset_description.json").is_file():
        shutil.copyfile(Path(source_dir) / "dataset_description.json", path / "dataset_description.json")
    elif getattr(reference, "source", None) == "synthetic":

        description = {"Name": "Synthetic reference cohort", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
                       "GeneratedBy": [{"Name": SIMULATOR, "Version": __version__,
                                        "Description": f"seed {getattr(reference, 'seed', None)}"}]}
        (path / "dataset_description.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    names = reference.atlas["roi"].tolist()
    for pid in people["participant_id"]:
        io.write_timeseries(reference.timeseries(pid), names,
                            path / "timeseries" / timeseries_name(pid, sessions[pid]))
    return path


def _qc_table(people: pd.DataFrame, sessions: dict[str, str]) -> pd.DataFrame | None:
    if all(c in people for c in QC_ORDER if c != "session"):
        qc = people[[c for c in QC_ORDER if c != "session"]].copy()
    elif "mean_fd_mm" in people and "n_volumes" in people:  # the synthetic reference
        qc = people[["participant_id", "mean_fd_mm", "n_volumes"]].copy()
        qc["n_volumes_kept"], qc["n_scrubbed"] = qc["n_volumes"], 0
        qc["strategy"], qc["source_file"] = "synthetic (no scrubbing)", NO_SESSION
    else:
        return None
    qc.insert(1, "session", qc["participant_id"].map(sessions))
    return qc[list(QC_ORDER)]
