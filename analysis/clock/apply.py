"""Apply the brain-age clock to the trial, with a content-addressed disk cache.

Where the clock comes from -- the first that applies, and never silently:

1. ``clock=``: a :class:`~analysis.clock.persist.SavedClock` or a fitted
   :class:`~analysis.clock.BrainAgeClock` passed in;
2. ``reference=``: a reference cohort passed in, the clock is trained on it;
3. ``BRAINCLOCK_CLOCK``: a saved clock file (:func:`~analysis.clock.persist.clock_from_env`);
4. ``BRAINCLOCK_REFERENCE_DIR``: a reference-cohort directory, the clock is trained on it
   (:func:`~analysis.trial.reference.reference_from_env`);
5. the synthetic reference cohort (:func:`~analysis.trial.simulate_reference`) -- **only for a
   synthetic trial**. Real trial data without 1-4 stop with :class:`ClockSourceError` naming
   both environment variables: a real trial is never measured with a clock trained on
   simulated people unless someone asked for it.

A clock whose atlas differs from the trial's stops with an error naming both atlases.

:func:`apply_clock` returns a :class:`TrialBrainAge`: the per-scan table, the fitted clock
object (so its bias correction, ``clock.correction_``, is used as fitted, never re-derived from
the table), where it came from and its training cohort. :func:`trial_brain_age` returns the
table only. Both are re-exported by :mod:`analysis.clock`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis._paths import (CLOCK_ENV, REFERENCE_DIR_ENV, TRIAL_DATA_MODULES, atomic_write, cache_dir, cache_lock,
                             code_digest, env_path)
from analysis.clock.correction import BIAS_CORRECTIONS, fit_correction
from analysis.clock.estimator import BrainAgeClock, fit_on_features
from analysis.clock.models import MODELS
from analysis.clock.persist import SavedClock, clock_to_bytes, file_sha256, load_clock
from analysis.connectome import KINDS, NamedSeries, SeriesSource, named_features, shrunk_covariances
from analysis.report import ClockLabel
from analysis.trial import simulate_reference
from analysis.trial.reference import atlas_digest, atlas_name, cohort_summary, reference_from_env

__all__ = ["TRIAL_COLUMNS", "ClockSourceError", "TrialBrainAge", "apply_clock", "require_clock_source",
           "trial_brain_age"]

#: Columns of the table :func:`trial_brain_age` returns, in order.
TRIAL_COLUMNS = [
    "participant_id", "month", "age", "predicted_age", "brain_age_gap_uncorrected",
    "brain_age_gap", "gap_beheshti", "gap_cole", "gap_smith", "gap_none",
]
#: Bump when the cached table's meaning changes without a code change elsewhere.
CACHE_VERSION = 2
#: Fewest reference people a refitted bias correction (``correction_ages``) accepts.
MIN_CORRECTION_PEOPLE = 10


#: Source files the table depends on, relative to the package: the code that simulates or
#: loads the data and computes the clock's predictions -- not the validation studies, the
#: statistics or the pages, whose edits must not throw the cached table away.
CODE_FILES = ("_paths.py", "_threads.py", "atlas.py", *(f"trial/{m}.py" for m in TRIAL_DATA_MODULES), "connectome.py",
              "clock/correction.py", "clock/estimator.py", "clock/models.py", "clock/persist.py",
              "clock/apply.py")


class ClockSourceError(ValueError):
    """No allowed source for the brain-age clock, or a clock that does not fit the trial."""


def _code_digest() -> str:
    """sha256 of the ``analysis`` sources the result depends on (a code change = a new key)."""
    return code_digest(CODE_FILES)


def _frame_digest(frame: pd.DataFrame | None) -> str:
    if frame is None:
        return "none"
    hashed = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy()
    columns = "|".join(map(str, frame.columns)) + "|" + "|".join(map(str, frame.dtypes))
    return hashlib.sha256(hashed.tobytes() + columns.encode()).hexdigest()


def _series_digest(arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array, dtype=float)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _synthetic_identity(obj, assumptions) -> str | None:
    """Seed and assumptions of a simulated cohort (with the code digest, they fix its series)."""
    if getattr(obj, "source", None) != "synthetic" or getattr(obj, "seed", None) is None:
        return None
    if assumptions is None:
        return None
    return f"synthetic:seed={obj.seed}:{assumptions!r}"


def _trial_digest(trial) -> str:
    """Identity of the trial's content.

    Tables (participants, visits, scans) are always hashed. A synthetic trial is further
    identified by its seed and assumptions (the code digest covers the simulator), a trial read
    from a directory by the digest of its files (:attr:`analysis.trial.Trial.digest`, no
    parsing), any other trial by a digest of every usable time series.
    """
    tables = [_frame_digest(getattr(trial, name, None)) for name in ("participants", "visits", "scans")]
    identity = _synthetic_identity(trial, getattr(trial, "assumptions", None))
    if identity is None:
        identity = getattr(trial, "digest", None)
    if identity is None:
        scans = trial.scans
        pairs = zip(scans["participant_id"], scans["month"])
        identity = _series_digest(trial.timeseries(pid, month) for pid, month in pairs)
    return "|".join(tables + [identity])


def _reference_digest(reference, seed: int) -> str:
    """Identity of the training cohort: a directory's content digest when it has one."""
    if reference is None:
        return f"simulate_reference(seed={seed})"
    tables = [_frame_digest(getattr(reference, name, None)) for name in ("participants", "truth")]
    model = getattr(reference, "_model", None)
    identity = _synthetic_identity(reference, getattr(model, "a", None))
    if identity is None:
        identity = getattr(reference, "digest", None)
    if identity is None:
        ids = reference.participants["participant_id"]
        identity = _series_digest(reference.timeseries(p) for p in ids)
    return "|".join(tables + [identity])


def _cache_key(trial, reference, seed: int, params: dict, *, clock_identity: str | None = None) -> str:
    parts = {
        "version": CACHE_VERSION, "code": _code_digest(), "trial": _trial_digest(trial),
        "clock": clock_identity if clock_identity is not None else _reference_digest(reference, seed),
        "seed": seed, "params": params,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _unpickled_clock(path: Path) -> BrainAgeClock:
    """The fitted clock of a cache entry.

    The cache is written by this package on this machine, under a key that holds the package's
    code (like the pickled table beside it), so it is read with pickle: a user's clock *file*
    is loaded through skops' allow-list instead (:func:`analysis.clock.load_clock`). skops here
    cost every notebook its import (2-3 s: it scans all of scikit-learn) plus the load itself.
    """
    clock = pickle.loads(path.read_bytes())
    if not isinstance(clock, BrainAgeClock):
        raise TypeError(f"{path} holds a {type(clock).__name__}, not a BrainAgeClock: delete data/cache/brain_age")
    return clock


def _pickled(frame: pd.DataFrame) -> bytes:
    with tempfile.TemporaryFile() as handle:
        frame.to_pickle(handle)
        handle.seek(0)
        return handle.read()


# --------------------------------------------------------------------------------------------
# the clock's source
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    """A resolved clock source: a fitted clock, or a cohort to train one on."""

    kind: str                    # synthetic | real | saved | given
    identity: str                # enters the cache key
    clock: Any = None            # fitted BrainAgeClock (saved / given)
    reference: Any = None        # cohort to train on (synthetic / real)
    training: dict = field(default_factory=dict)
    file: str | None = None      # saved clock file name


def _atlas_text(atlas: pd.DataFrame) -> str:
    return f"{atlas_name(atlas)!r} ({len(atlas)} ROIs, sha256 {atlas_digest(atlas)[:12]}...)"


def _check_reference_atlas(trial, reference, where: str) -> None:
    trial_atlas, ref_atlas = getattr(trial, "atlas", None), getattr(reference, "atlas", None)
    if trial_atlas is None or ref_atlas is None:
        return
    if atlas_digest(trial_atlas) != atlas_digest(ref_atlas):
        raise ClockSourceError(
            f"the reference cohort ({where}) has atlas {_atlas_text(ref_atlas)} but the trial's atlas.tsv has "
            f"{_atlas_text(trial_atlas)}: a clock applies only to time series of the atlas it was trained on")


def _given_training(clock: BrainAgeClock) -> dict[str, Any]:
    age = np.asarray(clock.train_age_, float)
    return {"kind": "unknown", "n": int(len(age)), "age_min": float(age.min()), "age_max": float(age.max()),
            "sites": [], "datasets": [], "digest": None}


def _resolve_source(trial, clock, reference, seed: int) -> _Source:
    """Where the clock comes from (see the module docstring); raises ClockSourceError otherwise."""
    if isinstance(clock, SavedClock):
        clock.check_atlas(trial.atlas)
        file = None if clock.path is None else clock.path.name
        identity = f"saved:{file_sha256(clock.path)}" if clock.path is not None else \
            f"saved:{hashlib.sha256(clock_to_bytes(clock.clock)).hexdigest()}"
        return _Source("saved", identity, clock=clock.clock, training=dict(clock.training), file=file)
    if clock is not None:
        if not isinstance(clock, BrainAgeClock) or not hasattr(clock, "correction_"):
            raise TypeError(f"clock must be a fitted BrainAgeClock or a SavedClock; got {type(clock).__name__}")
        features = getattr(clock, "features_", None)
        if features is not None and features.n_rois_ != len(trial.atlas):
            raise ClockSourceError(f"the clock was fitted on {features.n_rois_} ROIs but the trial's atlas.tsv has "
                                   f"{_atlas_text(trial.atlas)}")
        identity = f"given:{hashlib.sha256(clock_to_bytes(clock)).hexdigest()}"
        return _Source("given", identity, clock=clock, training=_given_training(clock))
    if reference is not None:
        _check_reference_atlas(trial, reference, "reference=")
        kind = "synthetic" if getattr(reference, "source", "real") == "synthetic" else "real"
        return _Source(kind, _reference_digest(reference, seed), reference=reference,
                       training=cohort_summary(reference))
    if env_path(CLOCK_ENV) is not None:
        return _resolve_source(trial, load_clock(env_path(CLOCK_ENV), atlas=trial.atlas), None, seed)
    if env_path(REFERENCE_DIR_ENV) is not None:
        cohort = reference_from_env()
        _check_reference_atlas(trial, cohort, REFERENCE_DIR_ENV)
        return _resolve_source(trial, None, cohort, seed)
    require_clock_source(getattr(trial, "source", None))
    return _Source("synthetic", _reference_digest(None, seed), training={})


def require_clock_source(trial_source: str | None) -> None:
    """Raise :class:`ClockSourceError` unless a trial of ``trial_source`` has an allowed clock source.

    A synthetic trial always has one (the synthetic reference cohort); any other trial needs
    ``BRAINCLOCK_CLOCK`` or ``BRAINCLOCK_REFERENCE_DIR``. Cheap: call it before loading a large
    trial directory.
    """
    if trial_source == "synthetic" or env_path(CLOCK_ENV) is not None or env_path(REFERENCE_DIR_ENV) is not None:
        return
    raise ClockSourceError(
        f"the trial is real data (source {trial_source!r}) and no real brain-age clock was given: set "
        f"{REFERENCE_DIR_ENV} to a reference-cohort directory to train the clock on, or {CLOCK_ENV} to a saved "
        f"clock file (python -m analysis clock fit --reference DIR --out FILE). The synthetic reference cohort "
        f"trains the clock only for the synthetic trial (see data/README.md).")


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialBrainAge:
    """The clock applied to a trial: the table, the fitted clock, and where it came from.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per usable scan (:data:`TRIAL_COLUMNS`; see :func:`trial_brain_age`).
    clock : BrainAgeClock
        The fitted clock; ``clock.correction_`` holds the bias-correction coefficients the
        table's gap columns were computed with (refitted on ``correction_ages`` when given).
    clock_kind : str
        ``"synthetic"`` (trained on the synthetic reference cohort), ``"real"`` (trained on a
        real reference cohort), ``"saved"`` (a saved clock file) or ``"given"`` (passed in).
    training : dict
        The training cohort: ``kind`` (synthetic/real, ``unknown`` for a clock passed in),
        ``n``, ``age_min``, ``age_max``, ``sites``, ``datasets``, ``digest``.
    clock_file : str or None
        Name of the saved clock file (``clock_kind == "saved"``).
    default_reference : bool
        Whether the clock was trained on the book's default synthetic reference cohort.
    correction_ages : tuple of float or None
        Age range of the reference people the bias correction was refitted on.
    n_correction : int or None
        How many reference people that range held.
    """

    table: pd.DataFrame
    clock: Any
    clock_kind: str
    training: dict
    clock_file: str | None = None
    default_reference: bool = False
    correction_ages: tuple[float, float] | None = None
    n_correction: int | None = None

    @property
    def training_kind(self) -> str:
        """The clock's training data kind: ``"synthetic"``, ``"real"`` or ``"unknown"``."""
        return str(self.training.get("kind", "unknown"))

    def _cohort(self) -> str:
        t = self.training
        sites = t.get("sites") or []
        where = f", {len(sites)} site" + ("s" if len(sites) != 1 else "") if self.training_kind == "real" else ""
        return f"n={t['n']}, ages {t['age_min']:.0f}\u2013{t['age_max']:.0f}{where}"

    @property
    def phrase(self) -> str:
        """Short text for a banner title, e.g. "clock trained on a real reference cohort (n=…, ages …)"."""
        if self.clock_kind == "synthetic" and self.default_reference:
            return "clock trained on the synthetic reference cohort"
        if self.clock_kind == "synthetic":
            return f"clock trained on a synthetic reference cohort ({self._cohort()})"
        if self.clock_kind == "real":
            return f"clock trained on a real reference cohort ({self._cohort()})"
        if self.clock_kind == "saved":
            return f"saved clock {self.clock_file} ({self.training_kind} training data)"
        return "clock passed in by the caller"

    @property
    def description(self) -> str:
        """One sentence: model, connectivity, training cohort (kind, n, ages, sites), correction."""
        clock = self.clock
        what = f"{clock.model} on {clock.connectivity} connectivity"
        source = {"synthetic": "the synthetic reference cohort" if self.default_reference
                  else "a synthetic reference cohort", "real": "a real reference cohort",
                  "saved": f"the saved clock file {self.clock_file}, trained on {self.training_kind} reference data",
                  "given": "a fitted clock passed in, training data kind unknown"}[self.clock_kind]
        text = f"{what}, trained on {source} ({self._cohort()})"
        if self.correction_ages is not None:
            low, high = self.correction_ages
            text += (f"; bias correction refitted on the {self.n_correction} reference people aged "
                     f"{low:g}\u2013{high:g}")
        return text + "."

    @property
    def label(self) -> ClockLabel:
        """What pages show about this clock (:func:`analysis.report.data_banner` ``clock=``)."""
        return ClockLabel(self.clock_kind, self.training_kind, self.phrase, self.description)


# --------------------------------------------------------------------------------------------
# computing
# --------------------------------------------------------------------------------------------
def _series(source, keys) -> SeriesSource:
    """Time series of ``source`` for each key (a participant id, or (id, month) for trials)."""
    keys = list(keys)

    def read(i: int) -> np.ndarray:
        return source.timeseries(*keys[i]) if isinstance(keys[i], tuple) else source.timeseries(keys[i])

    return SeriesSource(len(keys), read)


def _fit(reference, connectivity: str, model: str, bias_correction: str, seed: int) -> BrainAgeClock:
    # nilearn's correlation kind shrinks the covariance of z-scored series; the others do not
    standardize = connectivity == "correlation"
    clock = BrainAgeClock(connectivity=connectivity, model=model, bias_correction=bias_correction,
                          random_state=seed)
    # the whole cohort's iterator names a synthetic cohort: its covariances come from the disk
    # cache when another page (or the clock validation) computed them already
    if hasattr(reference, "iter_timeseries"):
        ref_series = reference.iter_timeseries()
    else:  # any object with participants and timeseries(pid)
        ref_series = _series(reference, list(reference.participants["participant_id"]))
    age = reference.participants["age"].to_numpy(float)
    identity = getattr(ref_series, "cache_identity", None)
    if identity is not None:  # a named cohort's features are shared by every clock and page that embeds it
        features, Z = named_features(identity, connectivity,
                                     lambda: shrunk_covariances(ref_series, standardize=standardize),
                                     reference=clock.reference)
        return fit_on_features(clock, features, Z, age)
    return clock.fit(shrunk_covariances(ref_series, standardize=standardize), age)


def _with_correction_ages(clock: BrainAgeClock, ages: tuple[float, float]) -> tuple[BrainAgeClock, int]:
    """A copy of ``clock`` whose bias correction is refitted on training people aged ``ages``.

    The correction is fitted, as always, on the clock's out-of-sample training predictions.
    """
    age = np.asarray(clock.train_age_, float)
    keep = (age >= ages[0]) & (age <= ages[1])
    if keep.sum() < MIN_CORRECTION_PEOPLE:
        raise ValueError(f"correction_ages={tuple(ages)} holds {int(keep.sum())} reference people; at least "
                         f"{MIN_CORRECTION_PEOPLE} are needed (training ages {age.min():g}-{age.max():g})")
    refitted = copy.deepcopy(clock)
    refitted.correction_ = fit_correction(np.asarray(clock.oof_predictions_, float)[keep], age[keep])
    return refitted, int(keep.sum())


def _compute(trial, source: _Source, connectivity: str, model: str, bias_correction: str,
             seed: int) -> tuple[pd.DataFrame, BrainAgeClock]:
    if source.clock is not None:
        clock = source.clock
    else:
        reference = simulate_reference(seed=seed) if source.reference is None else source.reference
        clock = _fit(reference, connectivity, model, bias_correction, seed)
    scans = trial.scans
    scan_keys = list(zip(scans["participant_id"], scans["month"]))
    standardize = clock.connectivity == "correlation"
    # a synthetic trial's scans are named: their covariances are computed once per build (disk cache)
    identity = trial.scans_identity(scans) if hasattr(trial, "scans_identity") else None
    predicted = clock.predict(shrunk_covariances(NamedSeries(_series(trial, scan_keys), identity),
                                                 standardize=standardize))
    return _table(trial.scans, predicted, clock, bias_correction), clock


def _table(scans: pd.DataFrame, predicted: np.ndarray, clock, bias_correction: str) -> pd.DataFrame:
    age = scans["age"].to_numpy(float)
    out = pd.DataFrame({
        "participant_id": scans["participant_id"].to_numpy(),
        "month": scans["month"].to_numpy(),
        "age": age,
        "predicted_age": predicted,
        "brain_age_gap_uncorrected": predicted - age,
    })
    for method in ("beheshti", "cole", "smith", "none"):
        out[f"gap_{method}"] = clock.correct(predicted, age, method)
    out["brain_age_gap"] = out[f"gap_{bias_correction}"]
    return out[TRIAL_COLUMNS]


def _check_params(connectivity, model, bias_correction, correction_ages):
    """Validated (connectivity, model, correction_ages); a clock passed in fixes the first two."""
    if bias_correction not in BIAS_CORRECTIONS:
        raise ValueError(f"bias_correction must be one of {BIAS_CORRECTIONS}; got {bias_correction!r}")
    if connectivity is not None and connectivity not in KINDS:
        raise ValueError(f"connectivity must be one of {KINDS}; got {connectivity!r}")
    if model is not None and model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r}")
    if correction_ages is not None:
        ages = tuple(float(a) for a in correction_ages)
        if len(ages) != 2 or not np.all(np.isfinite(ages)) or not ages[0] < ages[1]:
            raise ValueError(f"correction_ages must be (low, high) with low < high; got {correction_ages!r}")
        correction_ages = ages
    return connectivity or "tangent", model or "ridge", correction_ages


def _check_clock_params(fitted, connectivity, model) -> None:
    for name, wanted in (("connectivity", connectivity), ("model", model)):
        if wanted is not None and getattr(fitted, name) != wanted:
            raise ValueError(f"{name}={wanted!r} was asked for, but the clock used has {name}="
                             f"{getattr(fitted, name)!r}; leave {name} unset to use the clock's")


def apply_clock(
    trial,
    *,
    clock=None,
    reference=None,
    connectivity: str | None = None,
    model: str | None = None,
    bias_correction: str = "beheshti",
    correction_ages: tuple[float, float] | None = None,
    seed: int = 0,
    use_cache: bool = True,
) -> TrialBrainAge:
    """Brain age of every usable trial scan, with the fitted clock and its source.

    The clock's source is resolved as the module docstring says (``clock``, ``reference``,
    ``BRAINCLOCK_CLOCK``, ``BRAINCLOCK_REFERENCE_DIR``, then the synthetic reference cohort for a
    synthetic trial only). The result -- table *and* fitted clock -- is cached under
    ``data/cache/brain_age`` keyed by the trial's content, the clock's source (a reference
    directory's content digest, a saved clock file's sha256), the parameters and the source code
    of the package, so a change in any of them is recomputed and never served stale; files are
    written atomically (temporary file, rename).

    Parameters
    ----------
    trial : analysis.trial.Trial
        The trial (synthetic or real); ``trial.scans`` lists usable scans with
        ``participant_id, month, age``.
    clock : SavedClock or BrainAgeClock, optional
        A fitted clock to apply instead of training one (its atlas must be the trial's).
    reference : analysis.trial.Reference or ReferenceCohort, optional
        Training cohort (``participants`` with ``participant_id, age``; ``timeseries(pid)``).
    connectivity : {"tangent", "correlation", "partial correlation"}, optional
        Connectivity kind of a clock trained here (default ``"tangent"``); a fitted clock
        uses its own (asking for another is an error).
    model : {"ridge", "svr", "hgb"}, optional
        Regression model of a clock trained here (default ``"ridge"``); as ``connectivity``.
    bias_correction : {"beheshti", "cole", "smith", "none"}, default="beheshti"
        Correction copied into the ``brain_age_gap`` column.
    correction_ages : (float, float), optional
        Refit the bias correction on the reference people within this age range only (e.g.
        ``(55, 80)`` around a trial of older adults), from the clock's out-of-sample training
        predictions. The returned clock carries the refitted ``correction_``.
    seed : int, default=0
        Seed of the simulated reference and of the clock's inner CV.
    use_cache : bool, default=True
        Read and write the disk cache.

    Returns
    -------
    TrialBrainAge
        ``table``, ``clock``, ``clock_kind``, ``training``, ``clock_file``, ``label``.

    Raises
    ------
    ClockSourceError
        Real trial data without ``BRAINCLOCK_REFERENCE_DIR`` or ``BRAINCLOCK_CLOCK`` (or an
        explicit ``clock``/``reference``); a reference cohort on another atlas.
    analysis.clock.ClockFileError
        A saved clock that cannot be trusted or was trained on another atlas (naming both).
    """
    connectivity_asked, model_asked = connectivity, model
    connectivity, model, correction_ages = _check_params(connectivity, model, bias_correction,
                                                         correction_ages)
    if correction_ages is not None:
        # the clock and its predictions are those of the full correction (cached): refit only
        # the correction, on the reference people of the age range
        base = apply_clock(trial, clock=clock, reference=reference, connectivity=connectivity_asked,
                           model=model_asked, bias_correction=bias_correction, seed=seed, use_cache=use_cache)
        refitted, n_correction = _with_correction_ages(base.clock, correction_ages)
        table = _table(trial.scans, base.table["predicted_age"].to_numpy(), refitted, bias_correction)
        return replace(base, table=table, clock=refitted, correction_ages=correction_ages, n_correction=n_correction)
    source = _resolve_source(trial, clock, reference, seed)
    if source.clock is not None:
        _check_clock_params(source.clock, connectivity_asked, model_asked)
        connectivity, model = source.clock.connectivity, source.clock.model
    params = {"connectivity": connectivity, "model": model, "bias_correction": bias_correction}
    folder = cache_dir("brain_age")
    key = _cache_key(trial, None, seed, params, clock_identity=f"{source.kind}:{source.identity}")
    paths = {"table": folder / f"{key}.pkl", "clock": folder / f"{key}.clock.pkl", "info": folder / f"{key}.json"}
    if not use_cache:
        return _computed(trial, source, connectivity, model, bias_correction, seed, paths, write=False)
    with cache_lock(paths["table"]):  # a parallel notebook asking for the same clock waits, then reads
        if all(p.exists() for p in paths.values()):
            info = json.loads(paths["info"].read_text(encoding="utf-8"))
            fitted = _unpickled_clock(paths["clock"])
            return _result(pd.read_pickle(paths["table"]), fitted, info)
        return _computed(trial, source, connectivity, model, bias_correction, seed, paths, write=True)


def _computed(trial, source, connectivity, model, bias_correction, seed, paths, *, write: bool) -> TrialBrainAge:
    table, fitted = _compute(trial, source, connectivity, model, bias_correction, seed)
    training = dict(source.training) if source.training else _synthetic_training(fitted)
    info = {"clock_kind": source.kind, "training": training, "clock_file": source.file,
            "default_reference": source.kind == "synthetic" and source.reference is None}
    if write:
        _write_bytes(paths["clock"], pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL))
        _write_bytes(paths["info"], json.dumps(info, indent=2, default=_jsonable).encode("utf-8"))
        _write_bytes(paths["table"], _pickled(table))  # last: its presence completes the entry
    return _result(table, fitted, json.loads(json.dumps(info, default=_jsonable)))


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _synthetic_training(clock: BrainAgeClock) -> dict[str, Any]:
    """The simulated reference's summary, from the ages the clock was trained on."""
    summary = _given_training(clock)
    summary.update(kind="synthetic", sites=["synthetic"])
    return summary


def _result(table: pd.DataFrame, clock: BrainAgeClock, info: dict) -> TrialBrainAge:
    return TrialBrainAge(table=table, clock=clock, clock_kind=info["clock_kind"], training=info["training"],
                         clock_file=info.get("clock_file"), default_reference=bool(info.get("default_reference")))


def trial_brain_age(
    trial,
    *,
    clock=None,
    reference=None,
    connectivity: str | None = None,
    model: str | None = None,
    bias_correction: str = "beheshti",
    correction_ages: tuple[float, float] | None = None,
    seed: int = 0,
    use_cache: bool = True,
) -> pd.DataFrame:
    """Predicted brain age and brain age gaps for every usable trial scan (the table only).

    Same parameters as :func:`apply_clock`, which also returns the fitted clock and its source;
    use it whenever the clock's bias correction or its training cohort is needed.

    Returns
    -------
    pandas.DataFrame
        One row per scan: ``participant_id, month, age, predicted_age,
        brain_age_gap_uncorrected, brain_age_gap, gap_beheshti, gap_cole, gap_smith, gap_none``.
        ``predicted_age`` and the uncorrected gap are on the clock's (shrunken) scale.
    """
    return apply_clock(trial, clock=clock, reference=reference, connectivity=connectivity, model=model,
                       bias_correction=bias_correction, correction_ages=correction_ages, seed=seed,
                       use_cache=use_cache).table
