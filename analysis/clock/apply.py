"""Apply the brain-age clock to the trial, with a content-addressed disk cache.

The public entry point is re-exported as :func:`analysis.clock.trial_brain_age`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from analysis._paths import cache_dir, code_digest
from analysis.clock.correction import BIAS_CORRECTIONS
from analysis.clock.estimator import BrainAgeClock
from analysis.connectome import KINDS, shrunk_covariances
from analysis.trial import simulate_reference

#: Columns of the table :func:`trial_brain_age` returns, in order.
TRIAL_COLUMNS = [
    "participant_id", "month", "age", "predicted_age", "brain_age_gap_uncorrected",
    "brain_age_gap", "gap_beheshti", "gap_cole", "gap_smith", "gap_none",
]
#: Bump when the cached table's meaning changes without a code change elsewhere.
CACHE_VERSION = 1


#: Source files the table depends on, relative to the package: the code that simulates or
#: loads the data and computes the clock's predictions -- not the validation studies, the
#: statistics or the pages, whose edits must not throw the cached table away.
CODE_FILES = ("_paths.py", "_threads.py", "atlas.py", "trial/*.py", "connectome.py",
              "clock/correction.py", "clock/estimator.py", "clock/models.py", "clock/apply.py")


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
    identified by its seed and assumptions (the code digest covers the simulator); any other
    trial by a digest of every usable time series (read once per call).
    """
    tables = [_frame_digest(getattr(trial, name, None)) for name in ("participants", "visits", "scans")]
    identity = _synthetic_identity(trial, getattr(trial, "assumptions", None))
    if identity is None:
        scans = trial.scans
        pairs = zip(scans["participant_id"], scans["month"])
        identity = _series_digest(trial.timeseries(pid, month) for pid, month in pairs)
    return "|".join(tables + [identity])


def _reference_digest(reference, seed: int) -> str:
    if reference is None:
        return f"simulate_reference(seed={seed})"
    tables = [_frame_digest(getattr(reference, name, None)) for name in ("participants", "truth")]
    model = getattr(reference, "_model", None)
    identity = _synthetic_identity(reference, getattr(model, "a", None))
    if identity is None:
        ids = reference.participants["participant_id"]
        identity = _series_digest(reference.timeseries(p) for p in ids)
    return "|".join(tables + [identity])


def _cache_key(trial, reference, seed: int, params: dict) -> str:
    parts = {
        "version": CACHE_VERSION, "code": _code_digest(), "trial": _trial_digest(trial),
        "reference": _reference_digest(reference, seed), "seed": seed, "params": params,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        frame.to_pickle(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files; the cache is ordinary data
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _series(source, keys):
    """Time series of ``source`` for each key (a participant id, or (id, month) for trials)."""
    for key in keys:
        yield source.timeseries(*key) if isinstance(key, tuple) else source.timeseries(key)


def _compute(trial, reference, connectivity: str, bias_correction: str, seed: int) -> pd.DataFrame:
    # nilearn's correlation kind shrinks the covariance of z-scored series; the others do not
    standardize = connectivity == "correlation"
    scan_keys = list(zip(trial.scans["participant_id"], trial.scans["month"]))
    clock = BrainAgeClock(connectivity=connectivity, bias_correction=bias_correction, random_state=seed)
    # the whole cohort's iterator names a synthetic cohort: its covariances come from the disk
    # cache when another page (or the clock validation) computed them already
    if hasattr(reference, "iter_timeseries"):
        ref_series = reference.iter_timeseries()
    else:  # any object with participants and timeseries(pid)
        ref_series = _series(reference, list(reference.participants["participant_id"]))
    clock.fit(shrunk_covariances(ref_series, standardize=standardize),
              reference.participants["age"].to_numpy(float))
    predicted = clock.predict(shrunk_covariances(_series(trial, scan_keys), standardize=standardize))
    return _table(trial.scans, predicted, clock, bias_correction)


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


def trial_brain_age(
    trial,
    *,
    reference=None,
    connectivity: str = "tangent",
    bias_correction: str = "beheshti",
    seed: int = 0,
    use_cache: bool = True,
) -> pd.DataFrame:
    """Predicted brain age and brain age gaps for every usable trial scan.

    A :class:`~analysis.clock.BrainAgeClock` (ridge) is trained on the reference cohort and
    applied to each row of ``trial.scans``. The result is cached under
    ``data/cache/brain_age`` keyed by a hash of the trial's content, the reference, the
    parameters and the source code of the ``analysis`` package, so a change in any of them is
    recomputed and never served stale; files are written atomically (temporary file, rename).

    Parameters
    ----------
    trial : analysis.trial.Trial
        The trial (synthetic or real); ``trial.scans`` lists usable scans with
        ``participant_id, month, age``.
    reference : analysis.trial.Reference or None, default=None
        Training cohort (``participants`` with ``participant_id, age``; ``timeseries(pid)``).
        ``None`` simulates the 2,433-person synthetic reference with ``seed``.
    connectivity : {"tangent", "correlation", "partial correlation"}, default="tangent"
        Connectivity kind.
    bias_correction : {"beheshti", "cole", "smith", "none"}, default="beheshti"
        Correction copied into the ``brain_age_gap`` column.
    seed : int, default=0
        Seed of the simulated reference and of the clock's inner CV.
    use_cache : bool, default=True
        Read and write the disk cache.

    Returns
    -------
    pandas.DataFrame
        One row per scan: ``participant_id, month, age, predicted_age,
        brain_age_gap_uncorrected, brain_age_gap, gap_beheshti, gap_cole, gap_smith, gap_none``.
        ``predicted_age`` and the uncorrected gap are on the clock's (shrunken) scale.
    """
    if connectivity not in KINDS:
        raise ValueError(f"connectivity must be one of {KINDS}; got {connectivity!r}")
    if bias_correction not in BIAS_CORRECTIONS:
        raise ValueError(f"bias_correction must be one of {BIAS_CORRECTIONS}; got {bias_correction!r}")
    params = {"connectivity": connectivity, "bias_correction": bias_correction}
    path = cache_dir("brain_age") / f"{_cache_key(trial, reference, seed, params)}.pkl"
    if use_cache and path.exists():
        return pd.read_pickle(path)
    if reference is None:
        reference = simulate_reference(seed=seed)
    table = _compute(trial, reference, connectivity, bias_correction, seed)
    if use_cache:
        _write_atomic(table, path)
    return table
