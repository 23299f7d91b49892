"""Saved, fitted brain-age clocks: a safe file format with everything needed to trust the clock.

A clock trained once (e.g. on a large real reference cohort) can be applied to any trial with
the same atlas without retraining: ``python -m analysis clock fit --reference DIR --out FILE``
writes one, :func:`load_clock` reads it, and ``BRAINCLOCK_CLOCK=FILE`` makes
:func:`clock_from_env` return it.

File format (a standard zip archive; ``unzip -l`` lists it)::

    metadata.json   what the clock is and what it was trained on (plain JSON, see below)
    model.skops     the fitted BrainAgeClock in skops format (no pickle)
    zip comment     "brainclock-sha256:<sha256 of every byte of the file before the digest>"

``metadata.json`` holds: the format and its version; the clock's parameters and number of
features; the connectivity kind; the bias-correction coefficients of **every** method
(``BrainAgeClock.correction_``) and the default method; the atlas (name, ROI names in order,
number of ROIs, :func:`~analysis.trial.reference.atlas_digest`); the training cohort (data kind
synthetic/real, n, age range, sites, datasets, content digest); the versions of the package,
Python, NumPy, scikit-learn and skops; and ``model_sha256``, the sha256 of ``model.skops``.

Loading refuses, with an error naming the file: a file whose checksum does not match (any byte
changed, metadata edited, re-zipped), a model whose sha256 differs from the metadata, a model
containing any type outside :func:`allowed_types` (skops' own default-trusted types plus the
clock's classes and the few scikit-learn internals its models use -- the file is inspected with
``skops.io.get_untrusted_types`` *before* anything is loaded, and never with ``trusted=True``),
a model that disagrees with its metadata, and -- when an atlas is given -- an atlas other than
the one the clock was trained on (naming both). The checksums guard integrity (corruption,
edits, a mixed-up file), not authenticity: whoever can rewrite the file can recompute them,
but cannot make it load code outside the allow-list.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io as _io
import json
import platform
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import sklearn
from sklearn.utils.validation import check_is_fitted

from analysis._paths import CLOCK_ENV, env_path
from analysis._version import __version__
from analysis.clock.estimator import BrainAgeClock
from analysis.clock.models import LeaveOneOutRidge, ScaleRBFSVR, rbf_scale_kernel
from analysis.connectome import ConnectivityFeatures, shrunk_covariances
from analysis.trial.reference import atlas_digest, cohort_summary
from analysis.trial.reference import atlas_name as _atlas_name

__all__ = [
    "FORMAT", "FORMAT_VERSION", "ClockFileError", "SavedClock", "allowed_types", "save_clock",
    "load_clock", "clock_from_env", "fit_clock", "clock_to_bytes", "clock_from_bytes", "file_sha256",
]

#: Format name written into ``metadata.json``.
FORMAT = "brainclock-saved-clock"
#: Version of the format; bumped when the metadata's meaning changes.
FORMAT_VERSION = 1
#: scikit-learn internals that a fitted clock's models hold and skops does not trust by default
#: (SVR's grid search: its scorer and folds; gradient boosting: its tree predictors).
SKLEARN_TYPES = (
    "sklearn.metrics._regression.mean_absolute_error",
    "sklearn.metrics._scorer._Scorer",
    "sklearn.model_selection._split.KFold",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
METADATA_NAME, MODEL_NAME = "metadata.json", "model.skops"


def _skops_io():
    """``skops.io``, imported when a clock is saved or loaded, not with the package: its import
    scans every scikit-learn estimator and was measured at 2-3 s, paid by every notebook kernel
    and joblib worker that imports :mod:`analysis.clock` without ever touching a clock file."""
    import skops.io

    return skops.io


def _skops_version() -> str:
    return importlib.metadata.version("skops")


_CHECKSUM_PREFIX = b"brainclock-sha256:"
_DIGEST_LENGTH = 64
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same content gives the same bytes
TRAINING_KEYS = ("kind", "n", "age_min", "age_max", "sites")


class ClockFileError(ValueError):
    """A saved clock cannot be trusted or does not fit the data; the message names the file."""
    def __init__(self, file: str | Path, problem: str):
        self.file, self.problem = str(file), problem
        super().__init__(f"saved clock {str(file)!r}: {problem}")


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def allowed_types() -> frozenset[str]:
    """Types a saved clock may contain beyond skops' default-trusted ones.

    The clock's own classes are named from the classes themselves, so the allow-list follows
    them if they move between modules (a file saved before such a move is refused and names
    the old type: refit the clock).
    """
    return frozenset({_type_name(BrainAgeClock), _type_name(ConnectivityFeatures), _type_name(rbf_scale_kernel),
                      _type_name(ScaleRBFSVR), _type_name(LeaveOneOutRidge), *SKLEARN_TYPES})


# --------------------------------------------------------------------------------------------
# the loaded clock
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SavedClock:
    """A fitted clock read from a file, with what the file says about it.

    Attributes
    ----------
    clock : analysis.clock.BrainAgeClock
        The fitted clock (``predict``, ``brain_age_gap``, ``correct`` as usual).
    metadata : dict
        The file's ``metadata.json`` (see the module docstring).
    path : Path or None
        The file read.
    """
    clock: Any
    metadata: dict = field(repr=False)
    path: Path | None = None

    @property
    def training(self) -> dict[str, Any]:
        """The training cohort: kind, n, age range, sites, datasets, digest."""
        return self.metadata["training"]

    @property
    def training_kind(self) -> str:
        """``"synthetic"`` or ``"real"``: the clock's training data kind, for page labels."""
        return self.metadata["training"]["kind"]

    @property
    def atlas(self) -> dict[str, Any]:
        """The training atlas: name, n_rois, sha256, rois."""
        return self.metadata["atlas"]

    def check_atlas(self, atlas: pd.DataFrame, *, source: str = "the trial's atlas.tsv") -> None:
        """Raise :class:`ClockFileError` unless ``atlas`` is the atlas the clock was trained on."""
        _check_atlas(self.metadata, atlas, source, self.path or "<memory>")

    def describe(self) -> str:
        """One line for page labels, e.g. ``ridge clock (tangent) trained on 2433 real ...``."""
        m, t = self.metadata, self.metadata["training"]
        sites = f"{len(t['sites'])} site" + ("s" if len(t["sites"]) != 1 else "")
        return (f"{m['clock']['params']['model']} clock ({m['connectivity']}) trained on {t['n']} {t['kind']} "
                f"reference adults aged {t['age_min']:g}-{t['age_max']:g} ({sites}), atlas "
                f"{m['atlas']['name']!r} ({m['atlas']['n_rois']} ROIs)")

    def __repr__(self) -> str:
        return f"SavedClock({self.describe()})"


# --------------------------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------------------------
def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _training_summary(training, clock) -> dict[str, Any]:
    summary = dict(training) if isinstance(training, Mapping) else cohort_summary(training)
    missing = [k for k in TRAINING_KEYS if k not in summary]
    if missing:
        raise ValueError(f"training must give {list(TRAINING_KEYS)}; missing {missing}")
    if summary["kind"] not in ("synthetic", "real"):
        raise ValueError(f"training kind must be 'synthetic' or 'real'; got {summary['kind']!r}")
    age = np.asarray(clock.train_age_, float)
    fitted = (len(age), float(age.min()), float(age.max()))
    claimed = (int(summary["n"]), float(summary["age_min"]), float(summary["age_max"]))
    if fitted != claimed:
        raise ValueError(f"training describes n={claimed[0]}, ages {claimed[1]:g}-{claimed[2]:g}, but the clock "
                         f"was fitted on n={fitted[0]}, ages {fitted[1]:g}-{fitted[2]:g}: not its training cohort")
    summary.update(n=claimed[0], age_min=claimed[1], age_max=claimed[2], sites=[str(s) for s in summary["sites"]])
    summary.setdefault("datasets", [])
    summary.setdefault("digest", None)
    return {k: _jsonable(v) for k, v in summary.items()}


def _versions() -> dict[str, str]:


    return {"analysis": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "skops": _skops_version()}


def _metadata(clock, atlas: pd.DataFrame, training, name: str | None, model_sha256: str) -> dict[str, Any]:
    params = {k: _jsonable(v) for k, v in clock.get_params().items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "clock": {"class": type(clock).__name__, "params": params, "n_features": int(clock.n_features_in_)},
        "connectivity": clock.connectivity,
        "bias_correction": {"default": clock.bias_correction,
                            "coefficients": {k: float(v) for k, v in clock.correction_.items()}},
        "atlas": {"name": name or _atlas_name(atlas), "n_rois": int(len(atlas)), "sha256": atlas_digest(atlas),
                  "rois": [str(r) for r in atlas["roi"]]},
        "training": _training_summary(training, clock),
        "versions": _versions(),
        "model_sha256": model_sha256,
    }


def _canonical(metadata: Mapping[str, Any]) -> bytes:
    return json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False).encode("utf-8")


def _container(metadata: Mapping[str, Any], model: bytes) -> bytes:
    """The file's bytes: a zip of metadata and model whose comment is the checksum of the rest."""
    buffer = _io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in ((METADATA_NAME, _canonical(metadata)), (MODEL_NAME, model)):
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
        archive.comment = _CHECKSUM_PREFIX + b"0" * _DIGEST_LENGTH
    data = buffer.getvalue()
    digest = hashlib.sha256(data[:-_DIGEST_LENGTH]).hexdigest().encode()
    return data[:-_DIGEST_LENGTH] + digest


def _write_container(path: Path, metadata: Mapping[str, Any], model: bytes) -> Path:
    """Write the file atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(_container(metadata, model))
    tmp.replace(path)
    return path


def save_clock(clock, path: str | Path, *, atlas: pd.DataFrame, training, atlas_name: str | None = None) -> Path:
    """Save a fitted clock with its atlas, bias correction and training-cohort description.

    Parameters
    ----------
    clock : analysis.clock.BrainAgeClock
        A fitted clock.
    path : str or Path
        Output file (conventionally ``*.brainclock.zip``); parent folders are created.
    atlas : pandas.DataFrame
        The atlas of the training time series (``roi, x, y, z`` ...), in column order.
    training : ReferenceCohort, analysis.trial.Reference or mapping
        The training cohort (summarised with :func:`~analysis.trial.reference.cohort_summary`) or its
        summary (``kind, n, age_min, age_max, sites`` [, ``datasets``, ``digest``]); n and age
        range must match the ages the clock was fitted on.
    atlas_name : str, optional
        Name recorded for the atlas (default: ``dosenbach160`` when it is, else ``custom<n>``).

    Returns
    -------
    Path
        The file written.
    """

    if not isinstance(clock, BrainAgeClock):
        raise TypeError(f"clock must be a BrainAgeClock; got {type(clock).__name__}")
    check_is_fitted(clock, ["model_", "correction_", "train_age_"])
    features = getattr(clock, "features_", None)
    if features is not None and features.n_rois_ != len(atlas):
        raise ValueError(f"atlas has {len(atlas)} ROIs but the clock was fitted on {features.n_rois_} ROIs")
    model = clock_to_bytes(clock)  # never writes a file that load_clock would refuse
    metadata = _metadata(clock, atlas, training, atlas_name, hashlib.sha256(model).hexdigest())
    return _write_container(Path(path), metadata, model)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def _read_container(path: Path) -> tuple[dict[str, Any], bytes]:
    if not path.is_file():
        raise ClockFileError(path, "file must exist")
    data = path.read_bytes()
    trailer = len(_CHECKSUM_PREFIX) + _DIGEST_LENGTH
    if len(data) < trailer or not data[-trailer:].startswith(_CHECKSUM_PREFIX):
        raise ClockFileError(path, "not a saved brain-age clock, or damaged (no checksum at its end)")
    expected = data[-_DIGEST_LENGTH:].decode("ascii", "replace")
    actual = hashlib.sha256(data[:-_DIGEST_LENGTH]).hexdigest()
    if actual != expected:
        raise ClockFileError(path, f"checksum mismatch: the file was damaged or modified after saving "
                                   f"(recorded sha256 {expected[:12]}..., content {actual[:12]}...)")
    try:
        with zipfile.ZipFile(_io.BytesIO(data)) as archive:
            metadata_bytes, model = archive.read(METADATA_NAME), archive.read(MODEL_NAME)
        metadata = json.loads(metadata_bytes.decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ClockFileError(path, f"unreadable saved clock ({err})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ClockFileError(path, f"metadata.json is not a {FORMAT!r} description")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ClockFileError(path, f"format version {metadata.get('format_version')!r} is not supported "
                                   f"(this package reads version {FORMAT_VERSION})")
    if hashlib.sha256(model).hexdigest() != metadata.get("model_sha256"):
        raise ClockFileError(path, "model.skops does not match the sha256 recorded in metadata.json")
    return metadata, model


def _check_atlas(metadata: Mapping[str, Any], atlas: pd.DataFrame, source: str, path) -> None:
    trained = metadata["atlas"]
    digest = atlas_digest(atlas)
    if digest == trained["sha256"]:
        return
    detail = ""
    rois = [str(r) for r in atlas["roi"]]
    if len(rois) == trained["n_rois"]:
        diff = [(i, a, b) for i, (a, b) in enumerate(zip(trained["rois"], rois)) if a != b]
        detail = (f"; first ROI that differs: #{diff[0][0] + 1} {diff[0][1]!r} vs {diff[0][2]!r}" if diff
                  else "; same ROI names, different coordinates")
    raise ClockFileError(path, f"clock was trained on atlas {trained['name']!r} ({trained['n_rois']} ROIs, sha256 "
                               f"{trained['sha256'][:12]}...); {source} has {len(rois)} ROIs (sha256 "
                               f"{digest[:12]}...){detail}")


def clock_to_bytes(clock) -> bytes:
    """A fitted clock in skops format (what ``model.skops`` holds), refusing types outside the allow-list."""
    if not isinstance(clock, BrainAgeClock):
        raise TypeError(f"clock must be a BrainAgeClock; got {type(clock).__name__}")
    sio = _skops_io()
    model = sio.dumps(clock)
    refused = sorted(set(sio.get_untrusted_types(data=model)) - allowed_types())
    if refused:
        raise ValueError(f"clock holds types outside the saved-clock allow-list: {refused}")
    return model


def clock_from_bytes(model: bytes, source: str | Path = "<memory>"):
    """The clock of :func:`clock_to_bytes`, checked against the allow-list before loading.

    Raises :class:`ClockFileError` naming ``source`` when it cannot be trusted or read.
    """
    clock = _load_model(Path(source), model)
    if not isinstance(clock, BrainAgeClock):
        raise ClockFileError(source, f"holds a {type(clock).__name__}, not a BrainAgeClock")
    return clock


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (a saved clock's identity in cache keys and build fingerprints)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load_model(path: Path, model: bytes):
    sio = _skops_io()
    try:
        untrusted = sio.get_untrusted_types(data=model)
    except Exception as err:  # a malformed skops schema
        raise ClockFileError(path, f"model.skops is not a valid skops file ({err})") from None
    refused = sorted(set(untrusted) - allowed_types())
    if refused:
        raise ClockFileError(path, f"model.skops contains types outside the allow-list, refused without "
                                   f"loading: {refused}")
    try:
        return sio.loads(model, trusted=sorted(untrusted))
    except Exception as err:
        raise ClockFileError(path, f"model.skops could not be loaded ({type(err).__name__}: {err})") from None


def _check_consistent(path: Path, clock, metadata: Mapping[str, Any]) -> None:

    if not isinstance(clock, BrainAgeClock):
        raise ClockFileError(path, f"model.skops holds a {type(clock).__name__}, not a BrainAgeClock")
    params = {k: _jsonable(v) for k, v in clock.get_params().items()}
    coefficients = {k: float(v) for k, v in getattr(clock, "correction_", {}).items()}
    if params != metadata["clock"]["params"] or coefficients != metadata["bias_correction"]["coefficients"]:
        raise ClockFileError(path, "the model's parameters or bias correction differ from metadata.json")
    features = getattr(clock, "features_", None)
    if features is not None and features.n_rois_ != metadata["atlas"]["n_rois"]:
        raise ClockFileError(path, "the model's number of ROIs differs from its atlas in metadata.json")


def load_clock(path: str | Path, *, atlas: pd.DataFrame | None = None,
               atlas_source: str = "the trial's atlas.tsv") -> SavedClock:
    """Read a saved clock, refusing anything that cannot be trusted (see the module docstring).

    Parameters
    ----------
    path : str or Path
        File written by :func:`save_clock`.
    atlas : pandas.DataFrame, optional
        Atlas of the data the clock will be applied to; refused unless it is the training atlas.
    atlas_source : str
        How the error message names ``atlas``.

    Raises
    ------
    ClockFileError
        Naming the file and the problem.
    """
    path = Path(path)
    metadata, model = _read_container(path)
    if atlas is not None:
        _check_atlas(metadata, atlas, atlas_source, path)
    clock = _load_model(path, model)
    _check_consistent(path, clock, metadata)
    return SavedClock(clock, metadata, path)


def clock_from_env(*, atlas: pd.DataFrame | None = None,
                   atlas_source: str = "the trial's atlas.tsv") -> SavedClock | None:
    """The clock saved at ``BRAINCLOCK_CLOCK``, or None when it is unset."""
    path = env_path(CLOCK_ENV)
    return None if path is None else load_clock(path, atlas=atlas, atlas_source=atlas_source)


def fit_clock(reference, *, connectivity: str = "tangent", model: str = "ridge", bias_correction: str = "beheshti",
              seed: int = 0):
    """Fit a :class:`~analysis.clock.BrainAgeClock` (default parameters otherwise) on a reference cohort.

    Time series are read one at a time and reduced to covariances, as the trial pipeline does.
    """
    clock = BrainAgeClock(connectivity=connectivity, model=model, bias_correction=bias_correction,
                          random_state=seed)
    stack = shrunk_covariances(reference.iter_timeseries(), standardize=connectivity == "correlation")
    return clock.fit(stack, reference.participants["age"].to_numpy(float))
