"""From fMRIPrep derivatives to the project's data contract: ROI time series, atlas and QC.

:func:`extract_fmriprep` walks a BIDS-derivatives fMRIPrep tree, denoises every resting-state
run with one of nilearn's preset fMRIPrep strategies
(:func:`nilearn.interfaces.fmriprep.load_confounds_strategy`), extracts one signal per ROI with a
nilearn masker, and writes::

    <out>/atlas.tsv                                            roi, x, y, z, network[, region]
    <out>/qc.tsv                                               one row per scan (below)
    <out>/timeseries/sub-<id>[_ses-<label>]_task-rest_timeseries.tsv   time x ROI

in exactly the format of the real-trial directory (``data/README.md``): tab-separated, header row,
time series at 10 significant digits (``%.10g``) with the ``atlas.tsv`` ROI names as header, table
floats written exactly (``repr``), missing values ``n/a``. A trial directory still needs
``participants.tsv`` and ``visits.tsv``; a reference cohort needs ``participants.tsv``.

Input tree
----------
``<fmriprep>/sub-<id>/[ses-<label>/]func/`` holding, per run,
``sub-<id>[_ses-<label>]_task-<task>[_run-<n>]_space-<space>[_res-<r>]_desc-preproc_bold.nii[.gz]``
and its fMRIPrep confounds ``sub-<id>[_ses-<label>]_task-<task>[_run-<n>]_desc-confounds_timeseries.tsv``
(``..._regressors.tsv`` of fMRIPrep < 20.2 is accepted) with the ``.json`` sidecar (needed by the
``compcor`` strategy). With ``strategy="ica_aroma"`` the images are
``..._desc-smoothAROMAnonaggr_bold.nii.gz`` (fMRIPrep < 24 with ``--use-aroma``). Every output
file must come from exactly one BOLD file: several runs or resolutions of one session are an
error unless ``run``/``res`` pick one.

Atlases
-------
``"dosenbach"`` (160 ROIs, Dosenbach 2010), ``"power"`` (264 ROIs, Power 2011) and
``"seitzman"`` (300 ROIs, Seitzman 2018) are the coordinate atlases that nilearn ships (offline);
their ROIs are spheres of ``radius`` mm (default 5 mm, as in those papers; Seitzman's 4-mm
subcortical spheres are also given ``radius``). nilearn does not ship Power's network assignment,
so its ``network`` is ``"unassigned"``. Any other atlas is a TSV file with columns ``roi``
(unique), ``x``, ``y``, ``z`` (MNI mm) and ``network`` (optional ``region``), at least
:data:`MIN_ROIS` rows:

* without a label image beside it, its ROIs are spheres around the coordinates;
* with a label image beside it (same name, ``.nii.gz`` or ``.nii`` instead of ``.tsv``, e.g.
  ``schaefer.tsv`` + ``schaefer.nii.gz``), its ROIs are the regions of that image: the TSV then
  needs an integer column ``label`` giving each ROI's value in the image (0 is background), and
  ``x, y, z`` are the regions' reference coordinates copied to ``atlas.tsv``. The image must be in
  MNI space; it is resampled (nearest neighbour) to each BOLD grid by
  :class:`nilearn.maskers.NiftiLabelsMasker`.

Signals are denoised by the strategy's confounds (which include fMRIPrep's cosine high-pass
regressors), linearly detrended and z-scored per ROI (``standardize="zscore_sample"``);
band-pass filtering is off unless ``low_pass``/``high_pass`` are given. Volumes the strategy
censors (non-steady-state volumes; with ``scrubbing``, high-motion volumes and segments shorter
than 5 volumes between them) are left out of the written time series.

QC table (``qc.tsv``)
---------------------
One row per scan, in (``participant_id``, ``session``) order:

================ ========================================================================
column           meaning
================ ========================================================================
participant_id   the BIDS subject label without ``sub-`` (the contract's ``participant_id``)
session          the session label of the output file name: the ``sessions`` mapping's value
                 (the visit month for a trial, e.g. ``0``/``12``/``24``) or, without a mapping,
                 the fMRIPrep label as given; ``n/a`` for a tree without sessions
mean_fd_mm       mean framewise displacement (mm) over **all** volumes of the run: the mean of
                 the confounds' ``framewise_displacement`` column, ignoring its first ``n/a``
n_volumes        volumes in the BOLD run (= rows of the confounds file)
n_volumes_kept   volumes left after censoring = rows of the written time-series file; this is
                 the value for ``n_volumes`` in a trial's ``visits.tsv``
n_scrubbed       ``n_volumes - n_volumes_kept`` (censored volumes, incl. non-steady-state ones)
strategy         the denoising strategy name (one per output directory)
source_file      the BOLD file, relative to the fMRIPrep directory (POSIX separators)
================ ========================================================================

To merge into a trial's ``visits.tsv``: ``session`` → ``month`` (as integer),
``mean_fd_mm`` → ``mean_fd_mm``, ``n_volumes_kept`` → ``n_volumes``; a scan listed here has a
time-series file (whether it is *usable* is the loader's decision, e.g. a mean-FD threshold).

Safety
------
The whole tree is checked before any extraction, and every problem raises
:class:`ExtractionError` (a ``ValueError``) naming the file and the problem. Time series are
extracted into a staging folder inside ``out_dir`` and moved into place (atomic renames) only when
every scan has succeeded, so a failed run leaves ``out_dir`` as it was. Existing time-series files
are never replaced unless ``overwrite=True``; an existing ``atlas.tsv`` must equal the new one and
existing ``qc.tsv`` rows must share the strategy (other rows are kept, so a directory can be
filled participant by participant).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any, Mapping, Sequence

import nibabel as nib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from nilearn.datasets import fetch_coords_power_2011, fetch_coords_seitzman_2018
from nilearn.interfaces.fmriprep import load_confounds_strategy
from nilearn.maskers import NiftiLabelsMasker, NiftiSpheresMasker
from tqdm import tqdm

from analysis._paths import atomic_write
from analysis.atlas import dosenbach_atlas

__all__ = [
    "ATLASES", "STRATEGIES", "QC_COLUMNS", "MIN_ROIS", "DEFAULT_SPACE", "ExtractionError", "Scan",
    "resolve_atlas", "find_scans", "extract_fmriprep",
]

#: Built-in coordinate atlases (shipped by nilearn, available offline).
ATLASES = ("dosenbach", "power", "seitzman")
#: nilearn's preset denoising strategies for fMRIPrep outputs.
STRATEGIES = ("simple", "scrubbing", "compcor", "ica_aroma")
#: Columns of ``qc.tsv``, in order.
QC_COLUMNS = ["participant_id", "session", "mean_fd_mm", "n_volumes", "n_volumes_kept", "n_scrubbed",
              "strategy", "source_file"]
#: Fewest ROIs an atlas may have.
MIN_ROIS = 10
#: fMRIPrep's default output space.
DEFAULT_SPACE = "MNI152NLin2009cAsym"

ATLAS_REQUIRED = ["roi", "x", "y", "z", "network"]
NA = "n/a"
TS_FLOAT_FORMAT = "%.10g"  # as the real-trial contract writes time series
_LABEL = re.compile(r"^[A-Za-z0-9]+$")


class ExtractionError(ValueError):
    """The fMRIPrep tree, the atlas or the output directory cannot be used.

    Attributes
    ----------
    file : str
        The file or folder concerned.
    problem : str
        What is wrong with it.
    """
    def __init__(self, file: str | os.PathLike, problem: str):
        self.file, self.problem = str(file), problem
        super().__init__(f"{self.file}: {problem}")

    def __reduce__(self):  # picklable across joblib workers
        return type(self), (self.file, self.problem)


# --------------------------------------------------------------------------------------------
# atlases
# --------------------------------------------------------------------------------------------
def resolve_atlas(name_or_path: str | os.PathLike) -> pd.DataFrame:
    """The ROI table of a built-in atlas name or of an atlas TSV file.

    Parameters
    ----------
    name_or_path : str or path-like
        One of :data:`ATLASES` (``"dosenbach"``, ``"power"``, ``"seitzman"``) or the path of a TSV
        with columns ``roi, x, y, z, network`` (optional ``region``; ``label`` when a label image
        of the same name sits beside it, see the module documentation).

    Returns
    -------
    pandas.DataFrame
        Columns ``roi, x, y, z, network`` (plus ``region`` when known, and ``label`` for a label
        image atlas), one row per ROI in output column order. ``attrs["name"]`` is the atlas name
        and ``attrs["label_img"]`` the label image path (``None`` for sphere atlases).

    Raises
    ------
    ExtractionError
        Unknown name, missing file, missing columns, fewer than :data:`MIN_ROIS` ROIs, duplicate
        ROI names, non-numeric coordinates, or labels absent from the label image.
    """
    key = str(name_or_path)
    if key.lower() in ATLASES:
        table = {"dosenbach": _dosenbach, "power": _power, "seitzman": _seitzman}[key.lower()]()
        table.attrs.update(name=key.lower(), label_img=None)
        return table
    path = Path(name_or_path)
    if path.suffix.lower() != ".tsv" and not path.is_file():
        raise ExtractionError(key, f"unknown atlas: use one of {list(ATLASES)} or the path of an atlas .tsv")
    return _atlas_from_tsv(path)


def _dosenbach() -> pd.DataFrame:

    return dosenbach_atlas()


def _power() -> pd.DataFrame:

    rois = fetch_coords_power_2011().rois
    table = pd.DataFrame({"roi": [f"power {int(r):03d}" for r in rois["roi"]]})
    table[["x", "y", "z"]] = rois[["x", "y", "z"]].to_numpy(float)
    table["network"] = "unassigned"  # nilearn ships Power's coordinates, not his network labels
    return table


def _seitzman() -> pd.DataFrame:

    bunch = fetch_coords_seitzman_2018(ordered_regions=False)
    table = pd.DataFrame({"roi": [f"seitzman {int(i) + 1:03d}" for i in bunch.rois.index]})
    table[["x", "y", "z"]] = bunch.rois[["x", "y", "z"]].to_numpy(float)
    table["network"] = [str(n) for n in bunch.networks]
    table["region"] = [str(r) for r in bunch.regions]
    return table


def _label_image_of(path: Path) -> Path | None:
    for ext in (".nii.gz", ".nii"):
        candidate = path.with_name(path.name[: -len(path.suffix)] + ext)
        if candidate.is_file():
            return candidate
    return None


def _atlas_from_tsv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ExtractionError(path, "atlas file does not exist")
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    missing = [c for c in ATLAS_REQUIRED if c not in raw.columns]
    if missing:
        raise ExtractionError(path, f"atlas TSV is missing column(s) {missing}; required columns are "
                                    f"{ATLAS_REQUIRED} (optional 'region', 'label'); found {list(raw.columns)}")
    if len(raw) < MIN_ROIS:
        raise ExtractionError(path, f"atlas has {len(raw)} ROIs; at least {MIN_ROIS} are required")
    table = pd.DataFrame({"roi": raw["roi"].str.strip()})
    for i, name in enumerate(table["roi"]):
        if not name or name == NA or "\t" in name:
            raise ExtractionError(path, f"row {i + 1}, column 'roi': ROI name required (got {name!r})")
    dupes = table["roi"][table["roi"].duplicated()]
    if len(dupes):
        raise ExtractionError(path, f"ROI names must be unique; {dupes.iat[0]!r} appears more than once")
    for axis in ("x", "y", "z"):
        values = pd.to_numeric(raw[axis], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise ExtractionError(path, f"row {bad[0] + 1}, column {axis!r}: MNI coordinate must be a "
                                        f"number (got {raw[axis].iat[bad[0]]!r})")
        table[axis] = values
    for column in ("network", "region"):
        if column in raw:
            empty = np.flatnonzero(raw[column].isin(["", NA]).to_numpy())
            if len(empty):
                raise ExtractionError(path, f"row {empty[0] + 1}, column {column!r}: value required")
            table[column] = raw[column].to_numpy()
    label_img = _label_image_of(path)
    if label_img is not None:
        table["label"] = _check_labels(raw, path, label_img)
    elif "label" in raw:
        raise ExtractionError(path, "column 'label' needs a label image beside the TSV "
                                    f"({path.with_suffix('.nii.gz').name}); none found")
    table.attrs.update(name=path.stem, label_img=None if label_img is None else str(label_img))
    return table


def _check_labels(raw: pd.DataFrame, path: Path, label_img: Path) -> np.ndarray:

    if "label" not in raw:
        raise ExtractionError(path, f"a label image ({label_img.name}) sits beside the atlas, so the TSV "
                                    "needs an integer column 'label' (each ROI's value in the image)")
    values = pd.to_numeric(raw["label"], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)) | (values <= 0))
    if len(bad):
        raise ExtractionError(path, f"row {bad[0] + 1}, column 'label': must be a positive whole number "
                                    f"(got {raw['label'].iat[bad[0]]!r})")
    labels = values.astype(np.int64)
    if len(np.unique(labels)) != len(labels):
        raise ExtractionError(path, "column 'label': values must be unique")
    img = nib.load(label_img)
    if len(img.shape) != 3:
        raise ExtractionError(label_img, f"label image must be 3-D (shape {img.shape})")
    present = set(np.unique(np.asarray(img.dataobj)).astype(np.int64).tolist())
    absent = [int(v) for v in labels if int(v) not in present]
    if absent:
        raise ExtractionError(label_img, f"labels {absent[:5]} of {path.name} do not occur in the image")
    return labels


def _atlas_output(atlas: pd.DataFrame) -> pd.DataFrame:
    """The ``atlas.tsv`` columns of an atlas table."""
    columns = ATLAS_REQUIRED + (["region"] if "region" in atlas else [])
    return atlas[columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# finding the scans
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scan:
    """One BOLD run to extract and where its output goes."""
    participant_id: str
    session: str | None  # fMRIPrep label
    out_session: str | None  # label in the output file name
    bold: Path
    confounds: Path
    n_volumes: int
    t_r: float | None
    out_name: str
    source_file: str


def _entities(name: str) -> tuple[dict[str, str], str] | None:
    """BIDS entities and suffix of a file name, or None when it is not a BIDS name."""
    stem = re.sub(r"\.nii(\.gz)?$|\.tsv$|\.json$", "", name)
    parts = stem.split("_")
    entities = {}
    for part in parts[:-1]:
        key, sep, value = part.partition("-")
        if not sep or not value:
            return None
        entities[key] = value
    return entities, parts[-1]


def _confounds_for(bold: Path, entities: dict[str, str]) -> Path:
    """fMRIPrep's confounds file of a BOLD run: the entities before ``space`` + desc-confounds."""
    kept = []
    for key, value in entities.items():
        if key in ("space", "cohort", "res", "den", "desc"):
            continue
        kept.append(f"{key}-{value}")
    stem = "_".join(kept + ["desc-confounds"])
    for suffix in ("_timeseries.tsv", "_regressors.tsv"):
        candidate = bold.parent / (stem + suffix)
        if candidate.is_file():
            return candidate
    return bold.parent / (stem + "_timeseries.tsv")


def _normalise_sessions(sessions: Mapping[str, Any] | None) -> dict[str, str] | None:
    if sessions is None:
        return None
    out = {}
    for key, value in dict(sessions).items():
        key, value = str(key).removeprefix("ses-"), str(value).removeprefix("ses-")
        if not _LABEL.match(key) or not _LABEL.match(value):
            raise ExtractionError("sessions", f"session labels must be alphanumeric (got {key!r}={value!r})")
        out[key] = value
    if len(set(out.values())) != len(out):
        raise ExtractionError("sessions", f"two fMRIPrep sessions map to the same label: {out}")
    return out


def _output_name(pid: str, session: str | None, task: str) -> str:
    ses = f"_ses-{session}" if session is not None else ""
    return f"sub-{pid}{ses}_task-{task}_timeseries.tsv"


def find_scans(fmriprep_dir: str | os.PathLike, *, strategy: str = "simple", space: str = DEFAULT_SPACE,
               task: str = "rest", sessions: Mapping[str, Any] | None = None,
               participants: Sequence[str] | None = None, run: str | None = None,
               res: str | None = None) -> list[Scan]:
    """Find and check every BOLD run to extract (no image data are read).

    Parameters are those of :func:`extract_fmriprep`. Returns one :class:`Scan` per output file,
    in (participant, session) order.

    Raises
    ------
    ExtractionError
        No BOLD file found, no file in ``space``, a non-MNI ``space``, several runs or resolutions
        for one output file, a missing confounds file, a confounds file without
        ``framewise_displacement``, a volume count that differs between BOLD and confounds, a
        session missing from ``sessions``, or a requested participant without BOLD files.
    """
    root = Path(fmriprep_dir)
    if not root.is_dir():
        raise ExtractionError(root, "fMRIPrep directory does not exist")
    if not str(space).startswith("MNI"):
        raise ExtractionError(root, f"space {space!r} is not an MNI space: atlas coordinates are MNI mm, "
                                    f"use e.g. space={DEFAULT_SPACE!r}")
    if strategy not in STRATEGIES:
        raise ExtractionError(root, f"unknown denoising strategy {strategy!r}; use one of {list(STRATEGIES)}")
    mapping = _normalise_sessions(sessions)
    wanted = None if participants is None else {str(p).removeprefix("sub-") for p in participants}
    desc = "smoothAROMAnonaggr" if strategy == "ica_aroma" else "preproc"

    files = sorted(set(root.glob("sub-*/func/*_bold.nii*")) | set(root.glob("sub-*/ses-*/func/*_bold.nii*")))
    found: list[tuple[Path, dict[str, str]]] = []
    for bold in files:
        parsed = _entities(bold.name)
        if parsed is None or not bold.name.endswith((".nii", ".nii.gz")):
            continue
        ent, _ = parsed
        if ent.get("task") != task or ent.get("desc") != desc or "sub" not in ent:
            continue
        if wanted is not None and ent["sub"] not in wanted:
            continue
        _check_location(bold, root, ent)
        found.append((bold, ent))
    pattern = (f"sub-*/[ses-*/]func/sub-*[_ses-*]_task-{task}[_run-*]_space-{space}[_res-*]"
               f"_desc-{desc}_bold.nii[.gz]")
    if not found:
        raise ExtractionError(root, f"no BOLD files found matching {pattern}")
    in_space = [(b, e) for b, e in found if e.get("space") == space]
    if not in_space:
        spaces = sorted({e.get("space", "<none>") for _, e in found})
        raise ExtractionError(found[0][0], f"no BOLD file in space {space!r} (found spaces {spaces}); "
                                           "extraction needs MNI-space outputs (fMRIPrep --output-spaces)")
    in_space = [(b, e) for b, e in in_space
                if (run is None or e.get("run", "").lstrip("0") == str(run).lstrip("0"))
                and (res is None or e.get("res") == str(res))]
    if not in_space:
        raise ExtractionError(root, f"no BOLD file in space {space!r} with run={run!r}, res={res!r}")
    if wanted is not None:
        missing = sorted(wanted - {e["sub"] for _, e in in_space})
        if missing:
            raise ExtractionError(root, f"no BOLD file for participant(s) {missing} ({pattern})")

    by_output: dict[str, list[tuple[Path, dict[str, str], str | None]]] = {}
    for bold, ent in in_space:
        out_session = ent.get("ses")
        if mapping is not None:
            if out_session is None:
                raise ExtractionError(bold, "file has no ses- entity but a sessions mapping was given")
            if out_session not in mapping:
                raise ExtractionError(bold, f"session {out_session!r} is not in the sessions mapping "
                                            f"{mapping}")
            out_session = mapping[out_session]
        by_output.setdefault(_output_name(ent["sub"], out_session, task), []).append((bold, ent, out_session))
    scans = []
    for out_name, runs in sorted(by_output.items()):
        if len(runs) > 1:
            names = ", ".join(b.name for b, _, _ in runs)
            raise ExtractionError(runs[0][0].parent, f"{len(runs)} BOLD files for one output ({out_name}): "
                                                     f"{names}; choose one with run=/res= (--run/--res)")
        bold, ent, out_session = runs[0]
        confounds = _confounds_for(bold, ent)
        if not confounds.is_file():
            raise ExtractionError(bold, f"confounds file missing: expected {confounds.name} beside it")
        img = nib.load(bold)
        if len(img.shape) != 4:
            raise ExtractionError(bold, f"BOLD image must be 4-D (shape {img.shape})")
        header = pd.read_csv(confounds, sep="\t", nrows=0).columns
        if "framewise_displacement" not in header:
            raise ExtractionError(confounds, "confounds file has no 'framewise_displacement' column")
        with open(confounds) as fh:
            n_rows = sum(1 for line in fh if line.strip()) - 1
        if n_rows != img.shape[3]:
            raise ExtractionError(confounds, f"volume count mismatch: {n_rows} confound rows but "
                                             f"{img.shape[3]} volumes in {bold.name}")
        t_r = float(img.header.get_zooms()[3]) if len(img.header.get_zooms()) > 3 else 0.0
        scans.append(Scan(ent["sub"], ent.get("ses"), out_session, bold, confounds, int(img.shape[3]),
                          t_r if t_r > 0 else _sidecar_tr(bold), out_name, bold.relative_to(root).as_posix()))
    return scans


def _check_location(bold: Path, root: Path, ent: dict[str, str]) -> None:
    parts = bold.relative_to(root).parts  # sub-X/[ses-Y/]func/name
    if parts[0] != f"sub-{ent['sub']}":
        raise ExtractionError(bold, f"file of sub-{ent['sub']} lies in folder {parts[0]}")
    folder_ses = parts[1][4:] if len(parts) == 4 else None
    if folder_ses != ent.get("ses"):
        raise ExtractionError(bold, f"session entity {ent.get('ses')!r} does not match its folder "
                                    f"{'/'.join(parts[:-1])}")


def _sidecar_tr(bold: Path) -> float | None:
    sidecar = bold.with_name(re.sub(r"\.nii(\.gz)?$", ".json", bold.name))
    if sidecar.is_file():
        value = json.loads(sidecar.read_text()).get("RepetitionTime")
        return float(value) if value else None
    return None


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------
def _masker(atlas: pd.DataFrame, radius: float, t_r: float | None, low_pass: float | None,
            high_pass: float | None):

    clean = dict(standardize="zscore_sample", detrend=True, t_r=t_r, low_pass=low_pass, high_pass=high_pass)
    if atlas.attrs.get("label_img"):
        return NiftiLabelsMasker(atlas.attrs["label_img"], resampling_target="data", **clean)
    seeds = [tuple(row) for row in atlas[["x", "y", "z"]].to_numpy(float)]
    return NiftiSpheresMasker(seeds, radius=radius, allow_overlap=True, **clean)


def _label_columns(masker, atlas: pd.DataFrame, signals: np.ndarray, bold: Path) -> np.ndarray:
    """Reorder a labels masker's output to the atlas rows (nilearn orders by label value)."""
    ids = [v for k, v in masker.region_ids_.items() if k != "background"]
    position = {int(v): i for i, v in enumerate(ids)}
    missing = [int(v) for v in atlas["label"] if int(v) not in position]
    if missing:
        raise ExtractionError(bold, f"atlas labels {missing[:5]} fall outside this image's field of view")
    return signals[:, [position[int(v)] for v in atlas["label"]]]


def _extract_scan(scan: Scan, atlas: pd.DataFrame, strategy: str, strategy_kwargs: dict, radius: float,
                  low_pass: float | None, high_pass: float | None, staging: Path) -> dict:


    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            confounds, sample_mask = load_confounds_strategy(str(scan.bold), denoise_strategy=strategy,
                                                             **strategy_kwargs)
    except (ValueError, KeyError, FileNotFoundError, TypeError) as err:
        raise ExtractionError(scan.bold, f"cannot load confounds with strategy {strategy!r}: {err}") from None
    if sample_mask is not None and len(sample_mask) < 2:
        raise ExtractionError(scan.confounds, f"strategy {strategy!r} censors all but {len(sample_mask)} "
                                              f"of {scan.n_volumes} volumes")
    n_kept = scan.n_volumes if sample_mask is None else len(sample_mask)
    n_regressors = 0 if confounds is None else confounds.shape[1]
    if n_kept <= n_regressors + 2:  # + mean and linear trend
        raise ExtractionError(scan.bold, f"strategy {strategy!r} regresses {n_regressors} confounds (+ mean and "
                                         f"trend) out of {n_kept} kept volumes: no degrees of freedom left")
    masker = _masker(atlas, radius, scan.t_r, low_pass, high_pass)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signals = masker.fit_transform(str(scan.bold), confounds=confounds, sample_mask=sample_mask)
    signals = np.asarray(signals, dtype=np.float64)
    if "label" in atlas:
        signals = _label_columns(masker, atlas, signals, scan.bold)
    _check_signals(signals, atlas, scan.bold)
    _write_timeseries(signals, atlas["roi"].tolist(), staging / scan.out_name)
    fd = pd.read_csv(scan.confounds, sep="\t", usecols=["framewise_displacement"],
                     na_values=[NA])["framewise_displacement"].to_numpy(float)
    return {
        "participant_id": scan.participant_id,
        "session": scan.out_session,
        "mean_fd_mm": float(np.nanmean(fd)),
        "n_volumes": scan.n_volumes,
        "n_volumes_kept": int(signals.shape[0]),
        "n_scrubbed": scan.n_volumes - int(signals.shape[0]),
        "strategy": strategy,
        "source_file": scan.source_file,
    }


def _check_signals(signals: np.ndarray, atlas: pd.DataFrame, bold: Path) -> None:
    bad = ~np.isfinite(signals).all(axis=0) | (np.ptp(signals, axis=0) == 0)
    if bad.any():
        rois = atlas["roi"].to_numpy()[bad].tolist()
        raise ExtractionError(bold, f"{len(rois)} ROI signal(s) constant or not finite, e.g. {rois[:3]}: "
                                    "the ROI lies outside the image's brain coverage")


# --------------------------------------------------------------------------------------------
# writing (the real-trial contract's formats)
# --------------------------------------------------------------------------------------------
def _write_timeseries(data: np.ndarray, roi_names: list[str], path: Path) -> None:
    np.savetxt(path, data, delimiter="\t", fmt=TS_FLOAT_FORMAT, header="\t".join(roi_names), comments="")


def _table_text(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return NA
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (float, np.floating)):
            return repr(float(v))
        return str(v)

    lines = ["\t".join(frame.columns)]
    lines += ["\t".join(cell(v) for v in row) for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _read_qc(path: Path) -> pd.DataFrame:
    qc = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    missing = [c for c in QC_COLUMNS if c not in qc.columns]
    if missing:
        raise ExtractionError(path, f"existing qc.tsv lacks column(s) {missing}")
    return qc


def _typed_qc(rows: list[dict]) -> pd.DataFrame:
    qc = pd.DataFrame(rows, columns=QC_COLUMNS)
    qc["session"] = qc["session"].astype(object)
    for column in ("n_volumes", "n_volumes_kept", "n_scrubbed"):
        qc[column] = qc[column].astype(np.int64)
    qc["mean_fd_mm"] = qc["mean_fd_mm"].astype(float)
    return qc


def _check_outputs(out: Path, scans: list[Scan], atlas_text: str, strategy: str, overwrite: bool) -> None:
    existing_atlas = out / "atlas.tsv"
    if existing_atlas.is_file() and existing_atlas.read_text() != atlas_text:
        raise ExtractionError(existing_atlas, "the output directory holds another atlas; extract into a new "
                                              "directory (one atlas per directory)")
    if (out / "qc.tsv").is_file():
        qc = _read_qc(out / "qc.tsv")
        others = qc[~_row_keys(qc).isin(_scan_keys(scans))]
        other_strategies = sorted(set(others["strategy"]) - {strategy})
        if other_strategies:
            raise ExtractionError(out / "qc.tsv", f"the output directory holds scans denoised with "
                                                  f"{other_strategies}, not {strategy!r} (one strategy per "
                                                  "directory)")
    if not overwrite:
        for scan in scans:
            target = out / "timeseries" / scan.out_name
            if target.exists():
                raise ExtractionError(target, "output exists; pass overwrite=True (--overwrite) to replace it")


# --------------------------------------------------------------------------------------------
# the whole run
# --------------------------------------------------------------------------------------------
def extract_fmriprep(fmriprep_dir: str | os.PathLike, atlas: str | os.PathLike | pd.DataFrame, strategy: str,
                     out_dir: str | os.PathLike, *, space: str = DEFAULT_SPACE, task: str = "rest",
                     sessions: Mapping[str, Any] | None = None, participants: Sequence[str] | None = None,
                     run: str | None = None, res: str | None = None, radius: float = 5.0,
                     low_pass: float | None = None, high_pass: float | None = None,
                     strategy_kwargs: Mapping[str, Any] | None = None, n_jobs: int = 1,
                     overwrite: bool = False, progress: bool = True) -> pd.DataFrame:
    """Extract denoised ROI time series from fMRIPrep outputs into the data-contract layout.

    Parameters
    ----------
    fmriprep_dir : str or path-like
        The fMRIPrep derivatives folder (holding ``sub-*/``).
    atlas : str, path-like or pandas.DataFrame
        A name of :data:`ATLASES`, an atlas TSV path, or a table from :func:`resolve_atlas`.
    strategy : str
        A nilearn preset denoising strategy, one of :data:`STRATEGIES`.
    out_dir : str or path-like
        Output folder (created): ``atlas.tsv``, ``qc.tsv`` and ``timeseries/``.
    space : str
        fMRIPrep output space of the BOLD files; must be an MNI space.
    task : str
        BIDS task label of the resting-state runs.
    sessions : mapping, optional
        fMRIPrep session label -> output session label, e.g. ``{"01": 0, "02": 12, "03": 24}``
        to get the trial contract's visit months. Without it the labels are kept as given (a
        trial needs them to be the months already; a reference cohort may use any label).
        Every session found must be in the mapping.
    participants : sequence of str, optional
        Subject labels to extract (with or without ``sub-``); default all.
    run, res : str, optional
        Pick one run / one resolution when a session has several.
    radius : float
        Sphere radius in mm for coordinate atlases.
    low_pass, high_pass : float, optional
        Band-pass filter cut-offs in Hz (off by default; the strategy's cosine regressors
        already remove slow drifts).
    strategy_kwargs : mapping, optional
        Extra keyword arguments of ``load_confounds_strategy``, e.g. ``{"fd_threshold": 0.3}``.
    n_jobs : int
        Scans extracted in parallel (joblib); each worker holds one BOLD run in memory.
    overwrite : bool
        Replace existing time-series files of the same scans.
    progress : bool
        Show a progress bar (tqdm, on stderr).

    Returns
    -------
    pandas.DataFrame
        The QC rows of the scans extracted in this call (columns :data:`QC_COLUMNS`; see the
        module documentation). ``qc.tsv`` holds these plus rows of earlier calls into ``out_dir``.

    Raises
    ------
    ExtractionError
        On any problem with the tree, the atlas or the output folder, naming the file; nothing
        is written then.
    """
    table = _checked_table(atlas) if isinstance(atlas, pd.DataFrame) else resolve_atlas(atlas)
    if radius is None or not radius > 0:
        raise ExtractionError("radius", f"sphere radius must be > 0 mm (got {radius!r})")
    scans = find_scans(fmriprep_dir, strategy=strategy, space=space, task=task, sessions=sessions,
                       participants=participants, run=run, res=res)
    out = Path(out_dir)
    atlas_text = _table_text(_atlas_output(table))
    _check_outputs(out, scans, atlas_text, strategy, overwrite)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-staging-", dir=out))  # same file system: atomic moves
    committed = False
    try:
        jobs = (delayed(_extract_scan)(scan, table, strategy, dict(strategy_kwargs or {}), radius, low_pass,
                                       high_pass, staging) for scan in scans)
        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs)
        rows = list(tqdm(results, total=len(scans), desc=f"extract ({strategy})", unit="scan",
                         disable=not progress))
        qc = _typed_qc(rows).sort_values(["participant_id", "source_file"], kind="stable")
        qc = qc.reset_index(drop=True)
        _commit(out, staging, scans, qc, atlas_text)
        committed = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not committed and not any(out.iterdir()):
            out.rmdir()  # a failed first run leaves no trace
    return qc


def _checked_table(atlas: pd.DataFrame) -> pd.DataFrame:
    """An atlas given as a table: the columns and size :func:`resolve_atlas` guarantees."""
    missing = [c for c in ATLAS_REQUIRED if c not in atlas.columns]
    if missing or len(atlas) < MIN_ROIS or not atlas["roi"].is_unique:
        raise ExtractionError("atlas", f"an atlas table needs unique 'roi' names, columns {ATLAS_REQUIRED} and "
                                       f">= {MIN_ROIS} rows (missing {missing}, {len(atlas)} rows)")
    if "label" in atlas and not atlas.attrs.get("label_img"):
        raise ExtractionError("atlas", "a 'label' column needs attrs['label_img'] (use resolve_atlas)")
    return atlas


def _commit(out: Path, staging: Path, scans: list[Scan], qc: pd.DataFrame, atlas_text: str) -> None:
    """Move the staged files into place: atlas first, then time series, then the QC table."""
    (out / "timeseries").mkdir(exist_ok=True)
    if not (out / "atlas.tsv").is_file():
        atomic_write(out / "atlas.tsv", lambda tmp: tmp.write_text(atlas_text, encoding="utf-8"))
    for scan in scans:
        os.replace(staging / scan.out_name, out / "timeseries" / scan.out_name)
    text = _table_text(qc)
    if (out / "qc.tsv").is_file():
        old = _read_qc(out / "qc.tsv")
        old = old[~_row_keys(old).isin(_scan_keys(scans))]
        new = pd.read_csv(StringIO(text), sep="\t", dtype=str, keep_default_na=False, na_filter=False)
        merged = pd.concat([old[QC_COLUMNS], new], ignore_index=True)
        merged = merged.sort_values(["participant_id", "source_file"], kind="stable")
        text = _table_text(merged)
    atomic_write(out / "qc.tsv", lambda tmp: tmp.write_text(text, encoding="utf-8"))



def _scan_keys(scans: list[Scan]) -> set[str]:
    """Output identity of scans: participant and output session (``n/a`` without sessions)."""
    return {f"{scan.participant_id}\t{NA if scan.out_session is None else scan.out_session}" for scan in scans}


def _row_keys(qc: pd.DataFrame) -> pd.Series:
    return qc["participant_id"].astype(str) + "\t" + qc["session"].astype(str)
