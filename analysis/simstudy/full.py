"""Full-pipeline simulation study: the real pipeline, at the trial's size, thousands of times.

The fast path of :mod:`analysis.simstudy` draws predicted ages from the very Gaussian
random-intercept model the analysis then fits, so its calibration says little about the real
pipeline. This module repeats the real thing per replicate::

    simulate the trial (analysis.trial.simulate_trial: people, visits, latent brain ages)
      -> every usable scan's resting-state time series (the simulator's own signal model)
      -> Ledoit-Wolf covariance -> tangent embedding at the clock's FIXED reference mean
      -> the clock (trained ONCE on the 2,433-person reference cohort; inference is
         conditional on it) -> bias correction (Beheshti, Cole, none)
      -> the primary mixed model and every pre-specified contrast (+ a baseline-adjusted
         ANCOVA), and the pre-specified multiplicity procedure.

Speed without changing the result
---------------------------------
* time series of a chunk of scans are generated as one batched array: each scan still draws
  from its own seeded stream of the simulator, so the series are **bit-identical** to
  ``Trial.timeseries`` (a test checks); mixing, AR(1) filtering and covariances are batched;
* the Ledoit-Wolf shrinkage uses ``sum_t (sum_i x_ti^2)^2`` for the sum of ``X2' X2``
  (identical in exact arithmetic to scikit-learn's, equal to ~1e-15 in floating point);
* the clock is a linear function of the tangent vector ``logm(W C W)`` (``W``: the inverse
  square root of its fixed reference mean), so a prediction is
  ``const + tr(B logm(W C W)) = const + sum_k log(l_k) (V' B V)_kk`` with ``B`` the ridge
  coefficients (divided by the scaler's SDs) as a symmetric matrix: one batched ``eigh`` per
  chunk and no 12,720-edge vectors (a test checks it against ``BrainAgeClock.predict``).

Estimand and truth
------------------
The estimand of a contrast "A-B at month m" is the difference between arms in the change of
the bias-corrected brain age gap from baseline to month m (the arm x visit interaction of
the primary model). Its true value per replicate is the population latent effect of the
simulator's assumptions (``effect_<m>m_<arm>``; ``truth_latent``) times the clock's scale
factor (``truth``): the slope ``b`` of the clock's predicted age on latent brain age for the
Beheshti and uncorrected scales, ``b / alpha`` for Cole's -- exactly
``trial_analysis.true_effects(...)["assumed_clock"]`` with ``clock_scale_factor``. ``b`` is
estimated once per study from a calibration trial (``simstudy.measurement_from_clock``).
Under the null every arm has zero latent effect, so every truth is 0.

Scenarios that break assumptions (:class:`Scenario`; every knob overridable)
---------------------------------------------------------------------------
``mnar``     dropout at 12/24 months depends on the person's own latent brain-age-gap change
             (``mnar_logodds`` per SD; training arms only by default: trainees whose brain
             does not respond stop coming). Per-arm attendance counts stay the published ones.
``slopes``   person-specific linear brain-age slopes (``slope_sd`` y per y): within-person
             correlation no longer exchangeable.
``offaxis``  the intervention changes connectivity only in prefrontal ROIs
             (``offaxis_fraction`` of it elsewhere), so the clock sees a fraction of it.
``drift``    a global connectivity shift at 24 months in every arm (scanner drift:
             ``drift_loading`` of a global signal on every ROI).
``motion``   head motion of the training arms at follow-up scaled by
             ``motion_ratio_training`` (fitter people lie stiller).

Command line (runs on dask.distributed; resumable; Ctrl-C keeps everything finished)::

    python -m analysis.simstudy full run --workers 1 --plan default
    python -m analysis.simstudy full summary
    python -m analysis.simstudy full audit
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform
import signal
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, as_completed
from scipy import stats as sps
from scipy.linalg import cholesky, solve_triangular
from scipy.linalg.blas import dtrmm
from threadpoolctl import threadpool_info, threadpool_limits
from tqdm.auto import tqdm

from analysis._format import format_number
from analysis._paths import PROJECT_ROOT, atomic_write, cache_dir, cache_lock, code_digest
from analysis._threads import parallel_map
from analysis.atlas import dosenbach_atlas
from analysis.clock import BrainAgeClock, apply_correction
from analysis.clock.evaluation import cached_study
from analysis.connectome import CovarianceStack
from analysis.simstudy import fast as simstudy
from analysis.stats import clda, fdr_bh_rows
from analysis.trial import (
    KIND_TRIAL,
    SCAN_STREAM,
    SignalModel,
    TrialAssumptions,
    simulate_reference,
    simulate_trial,
    stream,
)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: The committed artifact's stem (``results/simulation_full`` of the project).
DEFAULT_ARTIFACT = PROJECT_ROOT / "results" / "simulation_full"

__all__ = [
    "ANALYSES", "CONTRASTS", "FAMILIES", "HYPOTHESES", "SCENARIOS", "Scenario", "ReplicateKey",
    "ClockForm", "Study", "AuditError", "build_study", "scan_covariances", "scan_predictions", "clock_form",
    "predict", "replicate_seed", "run_replicate", "plan", "run_study", "load_table",
    "summarise", "multiplicity", "gatekeeping_holm", "compare_fast_path", "result_values",
    "verdict", "scenario_verdicts", "code_fingerprint", "audit", "replicate_digests", "bias_sentence",
    "clock_reading", "against_reading", "READING_SEEDS", "artifact_study", "coverage_reason", "audit_sentence", "result_rows", "provenance", "progress", "progress_sentence",
    "fast_path_verdict", "fast_path_sentence", "recommendation", "main",
]

#: Contrasts of the primary analysis (name -> (arm A, arm B, month)), as in simstudy.
CONTRASTS = simstudy.CONTRASTS
#: Pre-specified multiplicity (book/analysis_plan.md, ``stats.trial_families``): Holm within each
#: family, families tested in this order as a serial gatekeeping sequence (a family is tested
#: only if every hypothesis before it was rejected): primary (each training arm vs control at
#: 12 months), follow-up (the same at 24 months), active arms (HRT vs MIT at 12 months). HRT vs
#: MIT at 24 months is not a confirmatory hypothesis.
FAMILIES = (("HRT-CON 12m", "MIT-CON 12m"), ("HRT-CON 24m", "MIT-CON 24m"), ("HRT-MIT 12m",))
#: The confirmatory hypotheses: family-wise error and FDR are counted over these.
CONFIRMATORY = tuple(c for family in FAMILIES for c in family)
#: Analyses fitted to every replicate: (name, gap scale). ``clda_beheshti``: the plan's primary
#: model (book/analysis_plan.md: constrained longitudinal analysis, unstructured within-person
#: covariance, baseline age, baseline head motion and sex as covariates, as page 03 fits it);
#: ``mixed_*``: the random-intercept mixed model on that gap (the model the fast path draws from
#: and fits); ``ancova_beheshti``: baseline-adjusted ANCOVA of complete cases at each visit.
ANALYSES = {"clda_beheshti": "beheshti", "mixed_beheshti": "beheshti", "mixed_cole": "cole",
            "mixed_none": "none", "ancova_beheshti": "beheshti"}
PRIMARY_ANALYSIS = "clda_beheshti"
#: The model of each analysis in words (for the page's recommendations; the scales share a model).
ANALYSIS_NAMES = {"clda_beheshti": "the primary CLDA",
                  "mixed_beheshti": "the random-intercept model with head motion at every scan",
                  "mixed_cole": "the random-intercept model with head motion at every scan",
                  "mixed_none": "the random-intercept model with head motion at every scan",
                  "ancova_beheshti": "the per-visit ANCOVA"}
#: The analysis the fast path is compared with: the random-intercept model it simulates and fits.
FAST_PATH_ANALYSIS = "mixed_beheshti"
PRIMARY_CONTRAST = "HRT-CON 12m"
HYPOTHESES = ("null", "alt")
#: Default study: (scenario, hypothesis, replicates) in the order they are run.
#: A first round of :data:`PILOT` replicates of every cell comes first, so that every number of
#: the page exists early (with its wide Monte Carlo SE); seeds are keyed by replicate identity,
#: so the order changes no result. ``offaxis`` has no null run: without an arm effect nothing is
#: off-axis, and its null world is the baseline null world (same data-generating process).
PILOT = 10
TARGET = {"baseline": 1000, "scenario": 300}
DEFAULT_PLAN = (("baseline", "null", PILOT), ("baseline", "alt", PILOT), ("mnar", "null", PILOT), ("mnar", "alt", PILOT),
                ("slopes", "null", PILOT), ("slopes", "alt", PILOT), ("offaxis", "alt", PILOT),
                ("drift", "null", PILOT), ("drift", "alt", PILOT), ("motion", "null", PILOT), ("motion", "alt", PILOT),
                ("baseline", "null", 1000), ("baseline", "alt", 1000),
                ("mnar", "null", 300), ("mnar", "alt", 300), ("slopes", "null", 300), ("slopes", "alt", 300),
                ("offaxis", "alt", 300), ("drift", "null", 300), ("drift", "alt", 300),
                ("motion", "null", 300), ("motion", "alt", 300))
#: Columns of the replicate-level table (one row per replicate x analysis x contrast).
COLUMNS = ["scenario", "hypothesis", "replicate", "trial_seed", "analysis", "contrast", "estimate", "se",
           "df", "truth_latent", "truth", "n_scans", "n_people", "seconds"]
#: Columns an audit compares (``seconds`` is wall time, never reproducible).
AUDITED = [c for c in COLUMNS if c != "seconds"]
CHUNK = 64  # scans per batched array (about 20 MB of float64 per array)
_Z95 = sps.norm.ppf(0.975)


# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """Departures from the analysis's assumptions, layered on :class:`TrialAssumptions`.

    Every knob defaults to "off" (the simulator as it is); :data:`SCENARIOS` turns one on.

    Parameters
    ----------
    name : str
        Label (also keys the replicate seeds).
    mnar_logodds : float
        Log-odds of dropout per SD of the person's own latent brain-age-gap change since
        baseline (12-month dropout: change to 12 m; 24-month: change to 24 m). Positive:
        people whose brain aged more drop out more. 0 = dropout as in the simulator.
    mnar_arms : {"training", "all"}
        Arms whose dropout is redrawn that way (the others keep the simulator's dropout).
    slope_sd : float
        SD (years of brain age per year) of person-specific linear brain-age slopes.
    offaxis_fraction : float
        Fraction of each arm effect expressed outside the prefrontal ROIs (1 = the whole brain
        ages/rejuvenates along the clock's age axis, as in the simulator; 0 = prefrontal only).
    drift_loading : float
        Loading of a global signal added to every ROI at the 24-month visit (all arms).
    motion_ratio_training : float
        Factor on the training arms' mean framewise displacement at 12 and 24 months (scans
        above the exclusion threshold become unusable, and the motion signal scales with it).
    """

    name: str = "baseline"
    mnar_logodds: float = 0.0
    mnar_arms: str = "training"
    slope_sd: float = 0.0
    offaxis_fraction: float = 1.0
    drift_loading: float = 0.0
    motion_ratio_training: float = 1.0

    def __post_init__(self) -> None:
        if self.mnar_arms not in ("training", "all"):
            raise ValueError(f"mnar_arms must be 'training' or 'all', got {self.mnar_arms!r}")
        for name in ("slope_sd", "drift_loading"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.offaxis_fraction <= 1:
            raise ValueError(f"offaxis_fraction must lie in [0, 1], got {self.offaxis_fraction!r}")
        if not self.motion_ratio_training > 0:
            raise ValueError(f"motion_ratio_training must be > 0, got {self.motion_ratio_training!r}")

    def with_overrides(self, **overrides: Any) -> Scenario:
        """A copy with some knobs replaced; unknown names raise ``TypeError`` naming them."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown scenario parameter(s) {unknown}; known: {sorted(known)}")
        return dataclasses.replace(self, **overrides)


#: The scenarios of the study (assumption: sizes chosen to be plausible yet visible; see docs).
SCENARIOS: dict[str, Scenario] = {
    "baseline": Scenario("baseline"),
    "mnar": Scenario("mnar", mnar_logodds=1.0),
    "slopes": Scenario("slopes", slope_sd=1.0),
    "offaxis": Scenario("offaxis", offaxis_fraction=0.0),
    "drift": Scenario("drift", drift_loading=0.5),
    "motion": Scenario("motion", motion_ratio_training=0.7),
}


def world(hypothesis: str, n_per_arm: int | None = None) -> TrialAssumptions:
    """The simulator's assumptions under ``hypothesis``: ``"null"`` (no arm effect at all:
    ``TrialAssumptions.null()``) or ``"alt"`` (the published effects, ``TrialAssumptions()``).

    ``n_per_arm`` shrinks the trial (``simstudy.scaled_assumptions``; for tests); ``None`` is
    LISA's size.
    """
    if hypothesis not in HYPOTHESES:
        raise ValueError(f"hypothesis must be one of {HYPOTHESES}, got {hypothesis!r}")
    a = TrialAssumptions.null() if hypothesis == "null" else TrialAssumptions()
    return a if n_per_arm is None else simstudy.scaled_assumptions(a, int(n_per_arm))


@dataclass(frozen=True, order=True)
class ReplicateKey:
    """Identity of one replicate; its seeds derive from it alone."""

    scenario: str
    hypothesis: str
    replicate: int


def replicate_seed(root: int, key: ReplicateKey) -> np.random.SeedSequence:
    """``SeedSequence(root, spawn_key=(crc32(scenario), hypothesis index, replicate))``.

    Keyed by what the replicate *is*, so results never depend on the number of workers, the
    order of completion, or which other replicates are run.
    """
    return np.random.SeedSequence(int(root), spawn_key=(zlib.crc32(key.scenario.encode()),
                                                        HYPOTHESES.index(key.hypothesis), int(key.replicate)))


# --------------------------------------------------------------------------------------
# The clock as a linear form on the tangent space
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClockForm:
    """A fitted tangent + ridge clock reduced to what prediction needs.

    With ``L`` the Cholesky factor of the clock's fixed tangent reference mean ``R = L L'``,
    ``L^-1 C L^-T = Q (W C W) Q'`` for an orthogonal ``Q`` (``W = R^-1/2``), so
    ``tr(B logm(W C W)) = tr(Bq logm(L^-1 C L^-T))`` with ``Bq = Q B Q'``: the prediction is
    ``const + sum_k log(l_k) (V' Bq V)_kk`` over the eigenpairs of ``L^-1 C L^-T`` (triangular
    whitening costs half a full one). ``correction``: ``BrainAgeClock.correction_``.
    """

    inv_chol: np.ndarray
    B: np.ndarray
    const: float
    correction: Mapping[str, float]

    def digest(self) -> str:
        h = hashlib.sha256()
        for array in (self.inv_chol, self.B, np.array([self.const])):
            h.update(np.ascontiguousarray(array, dtype=float).tobytes())
        h.update(json.dumps(dict(self.correction), sort_keys=True).encode())
        return h.hexdigest()[:16]


def clock_form(clock: BrainAgeClock) -> ClockForm:
    """:class:`ClockForm` of a fitted ``BrainAgeClock(connectivity="tangent", model="ridge")``."""
    if clock.connectivity != "tangent" or clock.model != "ridge":
        raise ValueError(f"need a tangent + ridge clock, got connectivity={clock.connectivity!r}, model={clock.model!r}")
    scaler, ridge = clock.model_[0], clock.model_[-1]
    coef = ridge.coef_ / scaler.scale_
    const = float(ridge.intercept_ - coef @ scaler.mean_)
    p = clock.features_.n_rois_
    rows, cols = np.tril_indices(p, k=-1)
    B = np.zeros((p, p))
    B[rows, cols] = coef / 2
    B[cols, rows] = coef / 2
    W = clock.features_.whitening_
    R = clock.features_.mean_
    L = cholesky((R + R.T) / 2, lower=True)
    inv_chol = solve_triangular(L, np.eye(p), lower=True)
    Q = inv_chol @ np.linalg.inv(W)  # orthogonal: L^-1 = Q W
    Bq = Q @ B @ Q.T
    return ClockForm(np.ascontiguousarray(np.tril(inv_chol)), (Bq + Bq.T) / 2, const,
                     {k: float(v) for k, v in clock.correction_.items()})


def predict(form: ClockForm, covariances: np.ndarray, *, chunk: int = CHUNK) -> np.ndarray:
    """Predicted (uncorrected) age of each covariance (see :class:`ClockForm`), batched by chunk."""
    covariances = np.asarray(covariances, dtype=float)
    return np.concatenate([_predict(form, covariances[i:i + chunk]) for i in range(0, len(covariances), chunk)])


def _predict(form: ClockForm, covariances: np.ndarray) -> np.ndarray:
    c, p, _ = covariances.shape
    # C_i L^-T for all i at once (rows stacked), then L^-1 (.) for all i (columns stacked)
    right = dtrmm(1.0, form.inv_chol, covariances.reshape(c * p, p), side=1, lower=1, trans_a=1)
    stacked = np.ascontiguousarray(right.reshape(c, p, p).transpose(1, 0, 2).reshape(p, c * p))
    both = dtrmm(1.0, form.inv_chol, stacked, side=0, lower=1, trans_a=0)
    whitened = both.reshape(p, c, p).transpose(1, 0, 2)
    values, vectors = np.linalg.eigh(whitened)
    if np.any(values <= 0):
        raise ValueError(f"a whitened covariance is not positive definite (smallest eigenvalue {values.min():.3g})")
    cat = np.ascontiguousarray(vectors.transpose(1, 0, 2).reshape(p, c * p))
    weights = np.einsum("ij,ij->j", cat, form.B @ cat).reshape(c, p)
    return form.const + np.einsum("ck,ck->c", np.log(values), weights)


# --------------------------------------------------------------------------------------
# Batched time series and covariances
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _signal_model(assumptions: TrialAssumptions):
    return SignalModel(assumptions, dosenbach_atlas())


def _ledoit_wolf(x: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf covariance of one (time x ROI) series (scikit-learn's estimator)."""
    n, p = x.shape
    X = x - x.mean(axis=0)
    S = X.T @ X / n
    X2 = X * X
    trace = X2.sum(axis=0) / n
    mu = trace.sum() / p
    beta_ = np.sum(X2.sum(axis=1) ** 2)
    delta_ = np.sum(S * S)
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * trace.sum() + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    C = (1.0 - shrinkage) * S
    C.flat[:: p + 1] += shrinkage * mu
    return C


def scan_covariances(
    assumptions: TrialAssumptions,
    seed: int,
    person: np.ndarray,
    month: np.ndarray,
    brain_age: np.ndarray,
    fd: np.ndarray,
    prefrontal: np.ndarray,
    *,
    drift: np.ndarray | None = None,
    drift_seed: np.random.SeedSequence | None = None,
    chunk: int = CHUNK,
) -> np.ndarray:
    """Ledoit-Wolf covariances of trial scans generated by the simulator's signal model.

    Parameters
    ----------
    assumptions : TrialAssumptions
        The world (its signal-model fields).
    seed : int
        The trial's seed (``simulate_trial(seed)``): each scan draws from the simulator's own
        stream for (person, month), so without scenario terms the series are bit-identical to
        ``simulate_trial(seed).timeseries(...)``.
    person, month : ndarray of shape (n_scans,)
        Row index of the person in ``participants`` and the visit month.
    brain_age : ndarray of shape (n_scans,) or (n_scans, n_rois)
        Latent brain age driving the loadings (per ROI for off-axis effects).
    fd, prefrontal : ndarray of shape (n_scans,)
        Mean framewise displacement and the loading of the HRT prefrontal signal.
    drift : ndarray of shape (n_scans,), optional
        Loading of an extra global signal on every ROI, drawn from ``drift_seed``'s streams.

    Returns
    -------
    ndarray of shape (n_scans, n_rois, n_rois)
    """
    p = _signal_model(assumptions).p
    out = np.empty((len(person), p, p))
    for sel, covariances in _covariance_chunks(assumptions, seed, person, month, brain_age, fd, prefrontal,
                                               drift=drift, drift_seed=drift_seed, chunk=chunk):
        out[sel] = covariances
    return out


def scan_predictions(form: ClockForm, assumptions: TrialAssumptions, seed: int, person: np.ndarray,
                     month: np.ndarray, brain_age: np.ndarray, fd: np.ndarray, prefrontal: np.ndarray, *,
                     drift: np.ndarray | None = None, drift_seed: np.random.SeedSequence | None = None) -> np.ndarray:
    """``predict(form, scan_covariances(...))``, each chunk predicted as soon as it is estimated.

    The same numbers bit for bit (both work in chunks of :data:`CHUNK` scans), without holding
    every scan's covariance: a LISA-sized replicate kept ~230 MB of them per running replicate.
    """
    out = np.empty(len(person))
    for sel, covariances in _covariance_chunks(assumptions, seed, person, month, brain_age, fd, prefrontal,
                                               drift=drift, drift_seed=drift_seed, chunk=CHUNK):
        out[sel] = _predict(form, covariances)
    return out


def _covariance_chunks(assumptions, seed, person, month, brain_age, fd, prefrontal, *, drift=None,
                       drift_seed=None, chunk: int = CHUNK):
    """:func:`scan_covariances`, one chunk of scans at a time: yields (rows, covariances)."""
    a, model = assumptions, _signal_model(assumptions)
    p, T, nn = model.p, a.n_volumes, model.n_networks
    r_f, r_s = a.fingerprint_rank, a.session_rank
    k = nn + 1 + r_f + r_s + 2
    b = np.sqrt(1 - a.ar1**2)
    brain_age = np.asarray(brain_age, float)
    fingerprints: dict[int, np.ndarray] = {}
    for start in range(0, len(person), chunk):
        sel = np.arange(start, min(start + chunk, len(person)))
        c = len(sel)
        ages = brain_age[sel] if brain_age.ndim == 2 else brain_age[sel, None]
        w, u = model.loadings(ages)
        load = np.empty((c, k, p))
        load[:, :nn] = model.member[None] * w[:, None, :]
        load[:, nn] = u
        latent = np.empty((c, T, k))
        noise = np.empty((c, T, p))
        for j, i in enumerate(sel):
            who, when = int(person[i]), int(month[i])
            rng = stream(seed, KIND_TRIAL, SCAN_STREAM, who, when)
            if who not in fingerprints:
                fingerprints[who] = model.fingerprint(seed, KIND_TRIAL, who)
            load[j, nn + 1:nn + 1 + r_f] = fingerprints[who]
            load[j, nn + 1 + r_f:k - 2] = a.session_sd * rng.standard_normal((r_s, p))
            load[j, k - 2] = a.motion_sd_per_mm * fd[i] * model.motion
            load[j, k - 1] = prefrontal[i] * model.pfc
            latent[j] = rng.standard_normal((T, k))
            noise[j] = rng.standard_normal((T, p))
        x = np.matmul(latent, load) + a.unique_sd * noise
        if drift is not None and np.any(drift[sel] != 0):
            for j, i in enumerate(sel):
                if drift[i] != 0:
                    g = np.random.default_rng(np.random.SeedSequence(
                        drift_seed.entropy, spawn_key=(*drift_seed.spawn_key, 7, int(person[i]), int(month[i]))))
                    x[j] += drift[i] * g.standard_normal((T, 1))
        # AR(1) with a stationary start, as the simulator's lfilter (same operations, same bits)
        x = np.ascontiguousarray(x.transpose(1, 0, 2))
        y = np.empty_like(x)
        y[0] = b * x[0] + (1 - b) * x[0]
        for t in range(1, T):
            y[t] = b * x[t] + a.ar1 * y[t - 1]
        yield sel, np.stack([_ledoit_wolf(y[:, j, :]) for j in range(c)])


# --------------------------------------------------------------------------------------
# The study: clock trained once, scale factors, worlds
# --------------------------------------------------------------------------------------
@dataclass
class Study:
    """Everything fixed across replicates: shipped to each worker once.

    Attributes
    ----------
    form : ClockForm
        The clock (trained once on the reference cohort).
    scale_factor : dict
        Latent-to-clock factor per gap scale (``b`` for beheshti/none, ``b/alpha`` for cole).
    measurement : dict
        The clock's measurement model (``simstudy.MeasurementModel`` fields) for the fast path.
    root_seed : int
        Root of every replicate seed.
    scenarios : dict
        Scenario name -> :class:`Scenario`.
    info : dict
        Provenance of the clock (reference size, seed, penalty, digest, training time).
    n_per_arm : int or None
        Trial size (``None``: LISA's; smaller only for tests).
    """

    form: ClockForm
    scale_factor: dict
    measurement: dict
    root_seed: int = 2026
    scenarios: dict = field(default_factory=lambda: dict(SCENARIOS))
    info: dict = field(default_factory=dict)
    n_per_arm: int | None = None


def _train_clock(n_reference: int, seed: int) -> BrainAgeClock:
    reference = simulate_reference(n_reference, seed=seed)
    a = TrialAssumptions()
    model = _signal_model(a)
    covs = np.empty((n_reference, model.p, model.p))
    for i, series in enumerate(reference.iter_timeseries()):
        covs[i] = _ledoit_wolf(series)
    return BrainAgeClock(connectivity="tangent", random_state=seed).fit(
        CovarianceStack(covs), reference.participants["age"].to_numpy(float))


def build_study(n_reference: int = 2433, *, seed: int = 0, root_seed: int = 2026,
                calibration_seed: int = 10_000, scenarios: Mapping[str, Scenario] | None = None,
                n_per_arm: int | None = None) -> Study:
    """Train the clock once on the synthetic reference cohort and characterise it.

    The clock is the book's (tangent + ridge, ``random_state=seed``) trained on
    ``simulate_reference(n_reference, seed)``; its measurement model (hence the scale factors
    that define the truth) comes from applying it to a separate calibration trial
    (``simulate_trial(calibration_seed)``, published world).
    """
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        clock = _train_clock(n_reference, seed)
        seconds = time.perf_counter() - start
        form = clock_form(clock)
        trial = simulate_trial(calibration_seed, assumptions=world("alt", n_per_arm))
        scans = trial.scans
        arrays = _person_month(trial)
        idx = scans["participant_id"].map(arrays["index"]).to_numpy()
        month = scans["month"].to_numpy(int)
        col = month // 12
        a = trial.assumptions
        covs = scan_covariances(a, calibration_seed, idx, month, arrays["brain_age"][idx, col],
                                arrays["fd"][idx, col], arrays["prefrontal"][idx, col])
        predicted = predict(form, covs)
    model = simstudy.MeasurementModel.fit(arrays["brain_age"][idx, col], predicted, idx,
                                          mean_fd_mm=arrays["fd"][idx, col], correction=form.correction)
    factors = {scale: float(model.scale_factor(scale)) for scale in simstudy.SCALES}
    info = {"n_reference": n_reference, "clock_seed": seed, "calibration_seed": calibration_seed,
            "ridge_alpha": float(clock.model_[-1].alpha_), "clock_digest": form.digest(),
            "clock_training_seconds": round(seconds, 1)}
    return Study(form, factors, dataclasses.asdict(model), root_seed,
                 dict(SCENARIOS if scenarios is None else scenarios), info, n_per_arm)


def _person_month(trial) -> dict[str, np.ndarray]:
    """Person x month (0, 12, 24) arrays of a simulated trial."""
    people = trial.participants
    n = len(people)
    index = {pid: i for i, pid in enumerate(people["participant_id"])}
    v = trial.visits
    rows = v["participant_id"].map(index).to_numpy()
    cols = (v["month"].to_numpy(int) // 12)

    def grid(values, fill, dtype=float):
        out = np.full((n, 3), fill, dtype=dtype)
        out[rows, cols] = values
        return out

    a = trial.assumptions
    arm = people["arm"].map({name: i for i, name in enumerate(simstudy.ARMS)}).to_numpy()
    effect = np.zeros((n, 3))
    for j, month in ((1, 12), (2, 24)):
        effect[:, j] = np.select([arm == 0, arm == 1], [getattr(a, f"effect_{month}m_hrt"),
                                                        getattr(a, f"effect_{month}m_mit")], 0.0)
    prefrontal = np.zeros((n, 3))
    prefrontal[arm == 0, 1] = a.prefrontal_hrt_12m
    prefrontal[arm == 0, 2] = a.prefrontal_hrt_24m
    return {
        "index": index, "arm": arm, "female": (people["sex"].to_numpy() == "F").astype(float),
        "age": grid(v["age"].to_numpy(float), np.nan),
        "attended": grid(v["attended"].to_numpy(bool), False, bool),
        "acquired": grid(v["mri_acquired"].to_numpy(bool), False, bool),
        "usable": grid(v["mri_usable"].to_numpy(bool), False, bool),
        "fd": grid(v["mean_fd_mm"].to_numpy(float), np.nan),
        "brain_age": _truth_grid(trial.truth, index, n),
        "effect": effect, "prefrontal": prefrontal,
    }


def _truth_grid(truth: pd.DataFrame, index: dict, n: int) -> np.ndarray:
    out = np.full((n, 3), np.nan)
    out[truth["participant_id"].map(index).to_numpy(), truth["month"].to_numpy(int) // 12] = truth["brain_age"].to_numpy(float)
    return out


# --------------------------------------------------------------------------------------
# One replicate
# --------------------------------------------------------------------------------------
def _gumbel_keep(rng, logits: np.ndarray, n_drop: int) -> np.ndarray:
    keys = logits + rng.gumbel(size=len(logits))
    keep = np.ones(len(logits), bool)
    if n_drop > 0:
        keep[np.argsort(-keys, kind="stable")[:n_drop]] = False
    return keep


def _apply_mnar(d: dict, sc: Scenario, a: TrialAssumptions, rng) -> None:
    """Redraw dropout of the chosen arms from the person's own latent gap change (exact counts)."""
    gap = d["brain_age"] - d["age_true"]
    change = gap - gap[:, [0]]
    z = (change - np.nanmean(change, axis=0)) / np.where(np.nanstd(change, axis=0) > 0, np.nanstd(change, axis=0), 1)
    eligible = d["acquired"][:, 0]
    base = a.dropout_no_mri_logodds * ~eligible
    arms = (0, 1) if sc.mnar_arms == "training" else (0, 1, 2)
    missed = rng.random((len(z), 2)) < a.mri_followup_missed
    for k in arms:
        idx = np.flatnonzero(d["arm"] == k)
        keep12 = idx[_gumbel_keep(rng, base[idx] + sc.mnar_logodds * z[idx, 1], len(idx) - a.attended_12m[k])]
        keep24 = keep12[_gumbel_keep(rng, base[keep12] + sc.mnar_logodds * z[keep12, 2],
                                     len(keep12) - a.attended_24m[k])]
        att = np.zeros((len(idx), 3), bool)
        att[:, 0] = True
        att[np.isin(idx, keep12), 1] = True
        att[np.isin(idx, keep24), 2] = True
        d["attended"][idx] = att
        d["acquired"][idx, 1:] = eligible[idx, None] & att[:, 1:] & ~missed[idx]
    d["fd"] = np.where(d["acquired"], d["fd_all"], np.nan)
    d["usable"] = d["acquired"] & (d["fd_all"] <= a.fd_exclusion_mm)


def _scenario_data(trial, sc: Scenario, rng) -> dict:
    """Person x month arrays with the scenario's departures applied."""
    a = trial.assumptions
    d = _person_month(trial)
    n = len(d["arm"])
    # visit age without the recorded jitter is not needed: chronological age at the visit
    d["age_true"] = d["age"]
    # a person's FD at unscanned visits is not recorded; for redrawn attendance draw it
    # from the simulator's motion model given the person's recorded visits (only MNAR needs it)
    d["fd_all"] = d["fd"].copy()
    if sc.slope_sd > 0:
        slope = sc.slope_sd * rng.standard_normal(n)
        d["brain_age"] = d["brain_age"] + slope[:, None] * np.array([0.0, 1.0, 2.0])
    if sc.motion_ratio_training != 1.0:
        training = d["arm"] != 2
        d["fd"][training, 1:] = d["fd"][training, 1:] * sc.motion_ratio_training
        d["fd_all"] = d["fd"].copy()
        d["usable"] = d["acquired"] & (np.nan_to_num(d["fd"], nan=np.inf) <= a.fd_exclusion_mm)
    if sc.mnar_logodds != 0:
        fill = _fill_fd(d["fd_all"], a, rng)
        d["fd_all"] = fill
        _apply_mnar(d, sc, a, rng)
    d["usable"] &= ~np.isnan(d["brain_age"])
    return d


def _fill_fd(fd: np.ndarray, a: TrialAssumptions, rng) -> np.ndarray:
    """Mean FD at visits the simulator did not record: the person's mean log FD + visit noise."""
    log = np.log(fd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # people never scanned: median used
        person = np.nanmean(log, axis=1)
    person = np.where(np.isnan(person), np.log(a.fd_median_mm), person)
    drawn = np.exp(person[:, None] + a.fd_visit_sd * rng.standard_normal(fd.shape))
    return np.where(np.isnan(fd), np.round(drawn, 3), fd)


def _ancova(gap: np.ndarray, d: dict, person: np.ndarray, col: np.ndarray, month: int) -> list[tuple]:
    """Baseline-adjusted ANCOVA at ``month`` (people scanned at 0 and ``month``): estimate, SE, df."""
    n = len(d["arm"])
    g = np.full((n, 3), np.nan)
    g[person, col] = gap
    j = month // 12
    ok = ~np.isnan(g[:, 0]) & ~np.isnan(g[:, j])
    arm = d["arm"][ok]
    X = np.column_stack([np.ones(ok.sum()), arm == 0, arm == 1, g[ok, 0], d["age"][ok, j] - 66.0,
                         d["female"][ok], d["fd"][ok, j]]).astype(float)
    y = g[ok, j]
    xtx_inv = np.linalg.inv(X.T @ X)
    beta = xtx_inv @ X.T @ y
    df = len(y) - X.shape[1]
    s2 = float(np.sum((y - X @ beta) ** 2) / df)
    cov = s2 * xtx_inv
    out = []
    for weights in ((0, 1, 0), (0, 0, 1), (0, 1, -1)):
        w = np.zeros(X.shape[1])
        w[:3] = weights
        out.append((float(w @ beta), float(np.sqrt(w @ cov @ w)), float(df)))
    return out  # HRT-CON, MIT-CON, HRT-MIT


def _clda(gap: np.ndarray, d: dict, person: np.ndarray, col: np.ndarray) -> list[tuple]:
    """The plan's primary cLDA (unstructured covariance) of one replicate: (estimate, SE, df) per contrast.

    Covariates as page 03's (``trial_analysis.covariate_terms``): age at inclusion, head motion
    at baseline (recorded FD, the baseline mean where no baseline scan was acquired) and sex.
    """
    fd0 = d["fd"][:, 0]
    fd0 = np.where(np.isnan(fd0), np.nanmean(fd0), fd0)
    labels = np.asarray(simstudy.ARMS)
    data = pd.DataFrame({"person": person, "arm": labels[d["arm"][person]], "month": col * 12, "gap": gap,
                         "baseline_age": d["age"][person, 0], "baseline_fd": fd0[person],
                         "female": d["female"][person]})
    fit = clda(data, "gap", subject="person", group="arm", visit="month", control=simstudy.ARMS[2],
               visits=[0, 12, 24], arms=list(simstudy.ARMS[:2]),
               covariates=["baseline_age", "baseline_fd", "female"], covariance="unstructured")
    effects = fit.effects.set_index(["comparison", "month"])
    return [(float(effects.loc[(f"{x} - {y}", m), "estimate"]), float(effects.loc[(f"{x} - {y}", m), "se"]), np.inf)
            for x, y, m in CONTRASTS.values()]


def run_replicate(key: ReplicateKey, study: Study) -> pd.DataFrame:
    """One full-pipeline replicate: rows of :data:`COLUMNS` (analysis x contrast)."""
    start = time.perf_counter()
    sc = study.scenarios[key.scenario]
    a = world(key.hypothesis, study.n_per_arm)
    seq = replicate_seed(study.root_seed, key)
    trial_seed = int(seq.generate_state(1, np.uint32)[0])
    scenario_seq = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, 1))
    rng = np.random.default_rng(scenario_seq)
    with threadpool_limits(limits=1):
        trial = simulate_trial(trial_seed, assumptions=a)
        d = _scenario_data(trial, sc, rng)
        person, col = np.nonzero(d["usable"])
        month = col * 12
        ba = d["brain_age"][person, col]
        if sc.offaxis_fraction != 1.0:  # the arm effect reaches non-prefrontal ROIs only partly
            pfc = _signal_model(a).pfc
            effect = d["effect"][person, col]
            share = pfc + sc.offaxis_fraction * (1 - pfc)
            ba = (ba - effect)[:, None] + effect[:, None] * share[None, :]
        drift = (month == 24) * sc.drift_loading if sc.drift_loading else None
        predicted = scan_predictions(study.form, a, trial_seed, person, month, ba, d["fd"][person, col],
                                     d["prefrontal"][person, col], drift=drift, drift_seed=scenario_seq)
        age = d["age"][person, col]
        scans = {"person": person, "arm": d["arm"][person], "month": month, "age": age,
                 "female": d["female"][person], "mean_fd_mm": d["fd"][person, col]}
        truth_latent = simstudy.true_contrasts(a)
        rows = []
        for analysis, scale in ANALYSES.items():
            gap = apply_correction(predicted, age, study.form.correction, scale)
            if analysis.startswith("clda"):
                res = _clda(gap, d, person, col)
            elif analysis.startswith("mixed"):
                res = [(e, s, np.inf) for e, s in simstudy.primary_contrasts(gap, scans)]
            else:
                per = {m: _ancova(gap, d, person, col, m) for m in (12, 24)}
                order = {"HRT-CON": 0, "MIT-CON": 1, "HRT-MIT": 2}
                res = [per[m][order[f"{x}-{y}"]] for x, y, m in CONTRASTS.values()]
            for name, (est, se, df), tl in zip(CONTRASTS, res, truth_latent):
                rows.append((key.scenario, key.hypothesis, key.replicate, trial_seed, analysis, name,
                             est, se, df, float(tl), float(tl * study.scale_factor[scale]),
                             len(person), len(np.unique(person))))
    seconds = time.perf_counter() - start
    frame = pd.DataFrame(rows, columns=COLUMNS[:-1])
    frame["seconds"] = round(seconds, 3)
    return frame


# --------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------
#: Package files a replicate runs (globs relative to ``analysis/``): the code fingerprint.
SOURCE_PATTERNS = ("simstudy/*.py", "trial/*.py", "clock/*.py", "connectome.py", "atlas.py", "stats/*.py",
                   "_threads.py")


def _source_files() -> list[str]:
    """Package files (relative to ``analysis/``) a replicate depends on."""
    package = PACKAGE_DIR
    return sorted({p.relative_to(package).as_posix() for pattern in SOURCE_PATTERNS for p in package.glob(pattern)})


def code_fingerprint() -> str:
    """sha256 over the source files of every module a replicate runs (relative names + contents).

    Strict on purpose -- any edit changes it -- and used as a *trigger*, not a verdict: when it
    differs from the artifact's, :func:`audit` (and a resumed :func:`run_study`) re-run a sample
    of stored replicates and accept the artifact if the numbers reproduce.
    """
    return code_digest(SOURCE_PATTERNS)


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "scipy", "scikit-learn", "pandas", "nilearn", "threadpoolctl", "dask", "distributed"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine() -> dict:
    blas = sorted(({k: i.get(k) for k in ("internal_api", "version", "architecture")} for i in threadpool_info()
                   if i.get("user_api") == "blas"), key=lambda b: json.dumps(b, sort_keys=True))  # load order varies
    return {"cpu": _cpu(), "machine": platform.machine(), "system": platform.system(), "blas": blas}


# --------------------------------------------------------------------------------------
# Artifact: table + provenance + clock, resumable parts
# --------------------------------------------------------------------------------------
def _paths(out: str | Path) -> dict[str, Path]:
    out = Path(out)
    stem = out.name
    return {"table": out.parent / f"{stem}.csv.gz", "json": out.parent / f"{stem}.json",
            "clock": out.parent / f"{stem}_clock.npz", "parts": out.parent / f"{stem}.parts"}


def save_study(study: Study, path: Path) -> None:
    """The clock form, scale factors and measurement model as a committed ``.npz``."""
    meta = json.dumps({"scale_factor": study.scale_factor, "measurement": study.measurement,
                       "root_seed": study.root_seed, "info": study.info, "n_per_arm": study.n_per_arm,
                       "correction": dict(study.form.correction), "const": study.form.const,
                       "scenarios": {k: dataclasses.asdict(v) for k, v in study.scenarios.items()}})

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, inv_chol=study.form.inv_chol, B=study.form.B, meta=np.array(meta))
    atomic_write(path, write)


def load_study(path: Path) -> Study:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        form = ClockForm(z["inv_chol"].copy(), z["B"].copy(), float(meta["const"]), meta["correction"])
    scenarios = {k: Scenario(**v) for k, v in meta["scenarios"].items()}
    return Study(form, meta["scale_factor"], meta["measurement"], int(meta["root_seed"]), scenarios, meta["info"],
                 meta.get("n_per_arm"))


def artifact_study(out: str | Path = DEFAULT_ARTIFACT) -> Study:
    """The study stored with an artifact (``<stem>_clock.npz``: the clock, scale factors, scenarios)."""
    path = _paths(out)["clock"]
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make simulation`")
    return load_study(path)


def load_table(out: str | Path = DEFAULT_ARTIFACT) -> pd.DataFrame:
    """Every stored replicate row: the consolidated table plus any parts not yet merged."""
    return _load(out)[0]


def _load(out) -> tuple[pd.DataFrame, list[Path]]:
    paths = _paths(out)
    frames, parts = [], []
    if paths["table"].exists():
        frames.append(_read_csv(paths["table"]))
    if paths["parts"].is_dir():
        parts = sorted(paths["parts"].glob("part-*.csv"))
        frames += [_read_csv(p) for p in parts]
    if not frames:
        return pd.DataFrame(columns=COLUMNS), parts
    table = pd.concat(frames, ignore_index=True)
    table = table.drop_duplicates(["scenario", "hypothesis", "replicate", "analysis", "contrast"], keep="first")
    return _sorted(table), parts


def _read_csv(path: Path) -> pd.DataFrame:
    # exact float round trip (pandas >= 3 parses exactly by default); "null" is a hypothesis,
    # not a missing value
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN"], **exact,
                       dtype={"scenario": str, "hypothesis": str, "analysis": str, "contrast": str})


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    order = {name: i for i, name in enumerate(CONTRASTS)}
    aorder = {name: i for i, name in enumerate(ANALYSES)}
    keys = table.assign(_c=table["contrast"].map(order), _a=table["analysis"].map(aorder))
    keys = keys.sort_values(["scenario", "hypothesis", "replicate", "_a", "_c"], kind="stable")
    return keys.drop(columns=["_c", "_a"]).reset_index(drop=True)[COLUMNS]


def consolidate(out: str | Path) -> pd.DataFrame:
    """Merge part files into the compressed table (atomically), then remove the parts merged.

    Safe while a run is writing new parts: only the parts read are removed.
    """
    paths = _paths(out)
    table, parts = _load(out)
    if len(table):
        atomic_write(paths["table"], lambda tmp: table.to_csv(tmp, index=False, compression={"method": "gzip", "mtime": 0}))
    for part in parts:
        part.unlink()
    return table


def _write_part(paths: dict, frames: list[pd.DataFrame]) -> None:
    paths["parts"].mkdir(parents=True, exist_ok=True)
    name = f"part-{time.time_ns()}-{os.getpid()}.csv"
    frame = pd.concat(frames, ignore_index=True)
    atomic_write(paths["parts"] / name, lambda tmp: frame.to_csv(tmp, index=False))


def plan(spec: Sequence[tuple[str, str, int]] = DEFAULT_PLAN) -> list[ReplicateKey]:
    """Replicate keys of a study plan, in run order."""
    keys = []
    for scenario, hypothesis, n in spec:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {sorted(SCENARIOS)}")
        if hypothesis not in HYPOTHESES:
            raise ValueError(f"hypothesis must be one of {HYPOTHESES}, got {hypothesis!r}")
        keys += [ReplicateKey(scenario, hypothesis, i) for i in range(int(n))]
    return list(dict.fromkeys(keys))  # a key listed twice (pilot round, then the rest) runs once


def _done_keys(table: pd.DataFrame) -> set[ReplicateKey]:
    if table.empty:
        return set()
    unique = table[["scenario", "hypothesis", "replicate"]].drop_duplicates()
    return {ReplicateKey(s, h, int(r)) for s, h, r in unique.itertuples(index=False)}


def _bit_exact_fingerprint(prov: Mapping[str, Any]) -> str | None:
    """The code whose numbers every stored replicate equals bit for bit on the writing machine.

    The writer's fingerprint, moved on by a code change only when the audit of that change found
    no difference at all; ``None`` once replicates written by different code or on different
    machines are mixed (then every audit uses the tolerance).
    """
    return prov.get("bit_exact_fingerprint", prov.get("code_fingerprint"))


def _provenance(paths, study, command, workers, wall, fingerprint, table, appends_exactly: bool = True) -> dict:
    old = json.loads(paths["json"].read_text()) if paths["json"].exists() else {}
    added = set(replicate_digests(table)) - set(old.get("replicate_digests", {}))
    bit_exact = (_bit_exact_fingerprint(old) if old else fingerprint) if not added \
        else (fingerprint if appends_exactly else None)
    runs = old.get("runs", []) + [{"command": command, "workers": workers, "wall_seconds": round(wall, 1),
                                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": _machine(),
                                   "versions": _versions()}]
    counts = (table.groupby(["scenario", "hypothesis"])["replicate"].nunique().reset_index()
              .rename(columns={"replicate": "n"}).to_dict("records")) if len(table) else []
    return {
        "artifact": "full-pipeline simulation study (analysis.simstudy.full)",
        "fingerprint_history": old.get("fingerprint_history", []),
        "code_fingerprint": fingerprint, "bit_exact_fingerprint": bit_exact, "source_files": _source_files(),
        "root_seed": study.root_seed,
        "seeding": "SeedSequence(root_seed, spawn_key=(crc32(scenario), hypothesis index (null=0, alt=1), replicate))",
        "scenarios": {k: dataclasses.asdict(v) for k, v in study.scenarios.items()},
        "clock": study.info, "scale_factor": study.scale_factor, "measurement": study.measurement,
        "replicates": counts, "rows": int(len(table)),
        "versions": _versions(), "machine": _machine(), "runs": runs,
        "truth": "truth = truth_latent (assumed effect difference) x scale_factor[scale] (slope of predicted on latent brain age; /cole_slope for Cole)",
        "replicate_digests": replicate_digests(table),
    }


def _key_text(key: ReplicateKey) -> str:
    return f"{key.scenario}/{key.hypothesis}/{key.replicate}"


def replicate_digests(table: pd.DataFrame) -> dict[str, str]:
    """A 64-bit digest of each replicate's audited rows, as read back from the artifact.

    Stored in the provenance when the table is written, so :func:`audit` finds *any* edited
    replicate, not only those its sample re-runs. Numbers are hashed as float64 and labels as
    text (the dtype a CSV round trip gives them does not matter); the rows of a replicate are
    combined by a sum modulo 2**64, which does not depend on their order.
    """
    if table.empty:
        return {}
    canon = pd.DataFrame({c: (table[c].astype(float) if table[c].dtype.kind in "fiub" else table[c].astype(str))
                          for c in AUDITED})
    rows = pd.util.hash_pandas_object(canon, index=False).to_numpy(np.uint64)
    keys = (table["scenario"].astype(str) + "/" + table["hypothesis"].astype(str) + "/"
            + table["replicate"].astype(int).astype(str)).to_numpy()
    codes, uniques = pd.factorize(keys)
    sums = np.zeros(len(uniques), dtype=np.uint64)
    np.add.at(sums, codes, rows)  # wraps modulo 2**64
    return {str(k): f"{int(v):016x}" for k, v in sorted(zip(uniques, sums))}


def provenance(out: str | Path = DEFAULT_ARTIFACT) -> dict:
    """The artifact's provenance (``<stem>.json``): fingerprint, clock, measurement model, runs."""
    return json.loads(_paths(out)["json"].read_text())


def run_study(
    keys: Sequence[ReplicateKey],
    *,
    out: str | Path = DEFAULT_ARTIFACT,
    workers: int = 1,
    scheduler: str | None = None,
    n_reference: int = 2433,
    root_seed: int = 2026,
    flush_every: int = 10,
    progress: bool = True,
    command: str = "",
    study: Study | None = None,
) -> pd.DataFrame:
    """Run the replicates ``keys`` not already stored in ``out``, on dask.distributed.

    ``workers=0`` runs serially in this process; otherwise a ``LocalCluster`` of ``workers``
    single-threaded processes, or the cluster at ``scheduler``. Finished replicates are written
    every ``flush_every`` as an atomic part file, so an interruption (Ctrl-C) loses only the
    replicates still running; the parts are merged into ``<out>.csv.gz`` at the end.
    """
    paths = _paths(out)
    paths["table"].parent.mkdir(parents=True, exist_ok=True)
    fingerprint = code_fingerprint()
    if paths["json"].exists() and paths["clock"].exists():
        stored = json.loads(paths["json"].read_text()).get("code_fingerprint")
        if stored and stored != fingerprint and not load_table(out).empty:
            # the code changed: resume only if stored replicates still reproduce with it
            try:
                audit(out, record=True)
            except AuditError as error:
                raise RuntimeError(f"{paths['table']} was written by other code whose numbers the current code "
                                   f"does not reproduce ({error}); move it away or pass another --out to start "
                                   "afresh") from error
    if study is None:
        if paths["clock"].exists():
            study = load_study(paths["clock"])
        else:
            study = build_study(n_reference, root_seed=root_seed)
            save_study(study, paths["clock"])
    done = _done_keys(load_table(out))
    todo = [k for k in keys if k not in done]
    prior = json.loads(paths["json"].read_text()) if paths["json"].exists() else {}
    # new replicates keep the artifact bit-exact only if this code and machine reproduce the stored ones exactly
    appends_exactly = not done or (_same_machine(prior) and _bit_exact_fingerprint(prior) == fingerprint)
    start = time.perf_counter()
    if todo:  # provenance first, so an unfinished artifact is self-describing
        prov = _provenance(paths, study, command + "  [running]", workers, 0.0, fingerprint, load_table(out),
                           appends_exactly)
        prov["runs"] = prov["runs"][:-1]
        prov["status"] = f"running: {len(todo)} replicates to go"
        atomic_write(paths["json"], lambda tmp: Path(tmp).write_text(json.dumps(prov, indent=2, default=str) + "\n"))
    try:
        if todo:
            _execute(todo, study, paths, workers, scheduler, flush_every, progress)
    finally:
        table = consolidate(out)
        prov = _provenance(paths, study, command, workers, time.perf_counter() - start, fingerprint, table,
                           appends_exactly)
        missing = len([k for k in keys if k not in _done_keys(table)])
        prov["status"] = "complete" if not missing else f"incomplete: {missing} replicates of the plan to go (rerun to resume)"
        atomic_write(paths["json"], lambda tmp: Path(tmp).write_text(json.dumps(prov, indent=2, default=str) + "\n"))
    return table


def _execute(todo, study, paths, workers, scheduler, flush_every, progress) -> None:
    bar = tqdm(total=len(todo), disable=not progress, unit="replicate", smoothing=0.05)
    pending: list[pd.DataFrame] = []

    def finished(frame):
        pending.append(frame)
        bar.update(1)
        if len(pending) >= flush_every:
            _write_part(paths, pending)
            pending.clear()
            if len(list(paths["parts"].glob("part-*.csv"))) >= 20:
                consolidate(paths["table"].parent / paths["table"].name[: -len(".csv.gz")])

    try:
        if workers == 0 and scheduler is None:
            for key in todo:
                finished(run_replicate(key, study))
        else:
            _execute_dask(todo, study, workers, scheduler, finished)
    finally:
        if pending:
            _write_part(paths, pending)
        bar.close()


def _execute_dask(todo, study, workers, scheduler, finished) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    root = str(PACKAGE_DIR.parent)  # workers import this very package
    os.environ["PYTHONPATH"] = root + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=40)
    client = Client(scheduler if scheduler else cluster)
    try:
        shipped = client.scatter(study, broadcast=True)  # the clock goes to each worker once
        window = max(4, 4 * len(client.scheduler_info()["workers"]))
        queue = list(todo)
        futures = as_completed()
        for key in queue[:window]:
            futures.add(client.submit(run_replicate, key, shipped, pure=False))
        queue = queue[window:]
        for future in futures:
            finished(future.result())
            future.release()
            if queue:
                futures.add(client.submit(run_replicate, queue.pop(0), shipped, pure=False))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------------------
# Operating characteristics
# --------------------------------------------------------------------------------------
def _inference(table: pd.DataFrame) -> pd.DataFrame:
    """p-values and 95% CIs from estimate, SE and df (normal for the mixed model, t for ANCOVA)."""
    out = table.copy()
    df = out["df"].to_numpy(float)
    z = (out["estimate"] / out["se"]).to_numpy(float)
    finite = np.isfinite(df)
    p = 2 * sps.norm.sf(np.abs(z))
    p[finite] = 2 * sps.t.sf(np.abs(z[finite]), df[finite])
    crit = np.full(len(out), _Z95)
    crit[finite] = sps.t.ppf(0.975, df[finite])
    out["p"] = p
    out["ci_low"] = out["estimate"] - crit * out["se"]
    out["ci_high"] = out["estimate"] + crit * out["se"]
    return out


def _binomial_mcse(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n)) if n > 0 else float("nan")


def _contrast_table(table: pd.DataFrame, alpha: float, null_tolerance: float) -> pd.DataFrame:
    rows = []
    for (scenario, hypothesis, analysis, contrast), g in table.groupby(
            ["scenario", "hypothesis", "analysis", "contrast"], sort=False):
        n = len(g)
        truth = float(g["truth"].mean())
        err = g["estimate"] - g["truth"]
        sd = float(g["estimate"].std(ddof=1)) if n > 1 else float("nan")
        rmse = float(np.sqrt(np.mean(err**2)))
        cover = float(np.mean((g["ci_low"] <= g["truth"]) & (g["truth"] <= g["ci_high"])))
        reject = float(np.mean(g["p"] < alpha))
        rows.append({
            "scenario": scenario, "hypothesis": hypothesis, "analysis": analysis, "contrast": contrast, "n": n,
            "truth_latent": float(g["truth_latent"].mean()), "truth": truth,
            "null": bool(abs(g["truth_latent"].mean()) < null_tolerance),
            "mean_estimate": float(g["estimate"].mean()), "bias": float(err.mean()),
            "bias_mcse": sd / np.sqrt(n),
            "fraction_seen": float(g["estimate"].mean() / truth) if abs(truth) > 1e-12 else float("nan"),
            "empirical_sd": sd, "sd_mcse": sd / np.sqrt(2 * (n - 1)) if n > 1 else float("nan"),
            "mean_se": float(g["se"].mean()), "se_ratio": float(g["se"].mean()) / sd if sd > 0 else float("nan"),
            "rmse": rmse,
            "rmse_mcse": float(np.std(err**2, ddof=1) / (2 * rmse * np.sqrt(n))) if n > 1 and rmse > 0 else float("nan"),
            "coverage": cover, "coverage_mcse": _binomial_mcse(cover, n),
            "rejection": reject, "rejection_mcse": _binomial_mcse(reject, n),
        })
    return pd.DataFrame(rows)


def _holm(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down within one family; ``p`` of shape (n_replicates, m)."""
    n, m = p.shape
    order = np.argsort(p, axis=1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=1)
    passes = sorted_p <= alpha / (m - np.arange(m))[None, :]
    keep = np.cumprod(passes, axis=1).astype(bool)  # stop at the first failure
    out = np.zeros_like(keep)
    np.put_along_axis(out, order, keep, axis=1)
    return out


def gatekeeping_holm(p: np.ndarray, alpha: float = 0.05, families: Sequence[Sequence[str]] = FAMILIES) -> np.ndarray:
    """The pre-specified procedure: Holm within each family, families as a serial gatekeeping sequence.

    Family 1 (each training arm vs control at 12 months) is tested with Holm at ``alpha``; only
    if *all* its hypotheses are rejected is family 2 (the same at 24 months) tested, likewise at
    ``alpha``; then the active-arm family (HRT vs MIT at 12 months). Serial gatekeeping with a
    FWER-controlling test in each family controls the family-wise error over the confirmatory
    hypotheses strongly. A vectorised form of ``stats.gatekeeping(stats.trial_families(...))``
    (the analysis plan's procedure; a test checks they decide alike); hypotheses outside
    :data:`FAMILIES` are never rejected.

    Parameters
    ----------
    p : ndarray of shape (n_replicates, 6)
        Unadjusted p-values in :data:`CONTRASTS` order.

    Returns
    -------
    ndarray of bool, same shape: rejected.
    """
    p = np.atleast_2d(np.asarray(p, float))
    names = list(CONTRASTS)
    rejected = np.zeros(p.shape, bool)
    gate = np.ones(len(p), bool)
    for family in families:
        cols = [names.index(c) for c in family]
        fam = _holm(p[:, cols], alpha) & gate[:, None]
        rejected[:, cols] = fam
        gate = gate & fam.all(axis=1)
    return rejected


def _bh_per_visit(p: np.ndarray, alpha: float) -> np.ndarray:
    out = np.zeros(p.shape, bool)
    months = np.array([m for _, _, m in CONTRASTS.values()])
    for m in np.unique(months):
        cols = np.flatnonzero(months == m)
        out[:, cols] = fdr_bh_rows(p[:, cols]) < alpha
    return out


PROCEDURES = {"holm_gatekeeping": gatekeeping_holm, "bh_per_visit": _bh_per_visit,
              "unadjusted": lambda p, alpha: p < alpha}


def multiplicity(table: pd.DataFrame, *, alpha: float = 0.05, null_tolerance: float = 0.05,
                 analysis: str = PRIMARY_ANALYSIS) -> pd.DataFrame:
    """Family-wise error and false discovery rate of each multiplicity procedure, with MC SEs.

    A hypothesis is a true null when its latent truth is within ``null_tolerance`` years of 0
    (the published HRT - MIT difference at 12 months is -0.01 y: equal effects for practical
    purposes; under the null world every truth is exactly 0). Per replicate, the false
    discovery proportion is V / max(R, 1) over the five confirmatory hypotheses
    (:data:`CONFIRMATORY`; the same set for every procedure); FWER is P(V >= 1).
    ``power_primary``: both 12-month hypotheses rejected.
    """
    table = table if "p" in table else _inference(table)
    rows = []
    names = list(CONTRASTS)
    for (scenario, hypothesis), g in table[table["analysis"] == analysis].groupby(["scenario", "hypothesis"], sort=False):
        wide = g.pivot(index="replicate", columns="contrast", values="p")[names]
        truth = g.groupby("contrast")["truth_latent"].mean()[names].to_numpy()
        # errors are counted over the confirmatory hypotheses (HRT-MIT 24m is exploratory)
        null = (np.abs(truth) < null_tolerance) & np.isin(names, CONFIRMATORY)
        n = len(wide)
        for name, procedure in PROCEDURES.items():
            rej = procedure(wide.to_numpy(float), alpha)
            false = (rej & null[None, :]).sum(axis=1)
            total = rej[:, np.isin(names, CONFIRMATORY)].sum(axis=1)
            fdp = np.where(total > 0, false / np.maximum(total, 1), 0.0)
            fwer = float(np.mean(false > 0))
            primary = rej[:, [names.index(c) for c in FAMILIES[0]]].all(axis=1)
            rows.append({"scenario": scenario, "hypothesis": hypothesis, "procedure": name, "n": n,
                         "n_true_null": int(null.sum()),
                         "fwer": fwer, "fwer_mcse": _binomial_mcse(fwer, n),
                         "fdr": float(fdp.mean()), "fdr_mcse": float(fdp.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
                         "power_primary": float(primary.mean()), "power_primary_mcse": _binomial_mcse(float(primary.mean()), n)})
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, *, alpha: float = 0.05, null_tolerance: float = 0.05) -> dict[str, pd.DataFrame]:
    """Operating-characteristics tables of a replicate table, every number with its MC SE.

    Returns
    -------
    dict
        ``"contrasts"``: per scenario x hypothesis x analysis x contrast: truth, bias, empirical
        SD, mean SE, RMSE, coverage, rejection rate (type-I error where ``null``, else power),
        each with ``*_mcse``; ``"multiplicity"``: :func:`multiplicity` of the primary analysis;
        ``"verdicts"``: :func:`scenario_verdicts`.
    """
    if table.empty:
        raise ValueError("the replicate table is empty: run `python -m analysis.simstudy full run` first")
    full = _inference(table)
    contrasts = _contrast_table(full, alpha, null_tolerance)
    return {"contrasts": contrasts, "multiplicity": multiplicity(full, alpha=alpha, null_tolerance=null_tolerance),
            "verdicts": scenario_verdicts(contrasts, alpha=alpha)}


#: Fast trials per hypothesis beside the artifact's replicates (page 07).
FAST_PATH_N = 2000
#: Columns of the stored replicates :func:`compare_fast_path` reads (its cache key hashes them).
_COMPARED = ("hypothesis", "replicate", "contrast", "estimate", "se", "df", "truth")


def compare_fast_path(table: pd.DataFrame, measurement: Mapping[str, Any], *, n_fast: int = 2000,
                      seed: int = 0, scenario: str = "baseline", analysis: str = FAST_PATH_ANALYSIS,
                      n_per_arm: int | None = None, cache: bool = False) -> pd.DataFrame:
    """The fast path beside the full pipeline, per hypothesis x contrast, with MC SEs.

    The fast path (``simstudy.run_simulation``) uses the clock's measurement model; both
    analyse the Beheshti gap. ``sd_ratio`` = full-pipeline empirical SD / fast-path SD (MC SE
    by the delta method on the log ratio); ``coverage_difference`` = full - fast coverage
    (MC SE of a difference of independent proportions).

    ``cache=True`` keeps the result in ``data/cache/studies``, keyed by the compared rows of
    ``table`` (their values), the measurement model, every argument and the code fingerprint:
    the build computes it beside the other shared products (``tools/products.py``) from the
    committed artifact, which does not depend on the trial, and the page reads it.
    """
    rows = table[(table["scenario"] == scenario) & (table["analysis"] == analysis)]
    if cache:
        content = pd.util.hash_pandas_object(rows[list(_COMPARED)].astype(
            {c: str for c in ("hypothesis", "contrast")}), index=False).to_numpy(np.uint64)
        parts = [hashlib.sha256(content.tobytes()).hexdigest(), json.dumps(measurement, sort_keys=True, default=str),
                 n_fast, seed, scenario, analysis, n_per_arm, code_fingerprint()]  # the fast path's code too
        return cached_study("fastpath", parts, lambda: compare_fast_path(
            rows, measurement, n_fast=n_fast, seed=seed, scenario=scenario, analysis=analysis, n_per_arm=n_per_arm))
    model = simstudy.MeasurementModel(**{k: v for k, v in measurement.items()})
    full = _inference(rows)
    rows = []
    for hypothesis, g in full.groupby("hypothesis", sort=False):
        fast = simstudy.run_simulation(n_fast, assumptions=world(hypothesis, n_per_arm), measurement=model,
                                       scale=ANALYSES[analysis], seed=seed).replicates
        for contrast, f in g.groupby("contrast", sort=False):
            q = fast[fast["contrast"] == contrast]
            n1, n2 = len(f), len(q)
            sd1, sd2 = f["estimate"].std(ddof=1), q["estimate"].std(ddof=1)
            ratio = float(sd1 / sd2)
            c1 = float(np.mean((f["ci_low"] <= f["truth"]) & (f["truth"] <= f["ci_high"])))
            c2 = float(np.mean((q["ci_low"] <= q["truth"]) & (q["truth"] <= q["ci_high"])))
            rows.append({"hypothesis": hypothesis, "contrast": contrast, "n_full": n1, "n_fast": n2,
                         "full_sd": float(sd1), "fast_sd": float(sd2), "sd_ratio": ratio,
                         "sd_ratio_mcse": ratio * float(np.sqrt(1 / (2 * (n1 - 1)) + 1 / (2 * (n2 - 1)))),
                         "full_mean_se": float(f["se"].mean()), "fast_mean_se": float(q["se"].mean()),
                         "full_coverage": c1, "fast_coverage": c2, "coverage_difference": c1 - c2,
                         "coverage_difference_mcse": float(np.sqrt(c1 * (1 - c1) / n1 + c2 * (1 - c2) / n2)),
                         "full_mean_estimate": float(f["estimate"].mean()), "fast_mean_estimate": float(q["estimate"].mean()),
                         "truth": float(f["truth"].mean())})
    return pd.DataFrame(rows)


def verdict(type1: float, type1_mcse: float, coverage: float, coverage_mcse: float, *,
            alpha: float = 0.05, type1_margin: float = 0.01, coverage_margin: float = 0.01,
            n: int | None = None, min_n: int = 100) -> str:
    """Verdict words from the numbers.

    Type-I error is "inflated" when even its lower 2-MCSE bound exceeds ``alpha + type1_margin``
    and "conservative" when its upper bound is below ``alpha - type1_margin``; coverage is
    "below nominal" when its upper 2-MCSE bound is below ``0.95 - coverage_margin`` and "above
    nominal" when its lower bound exceeds ``0.95 + coverage_margin``. NaN inputs give
    "not assessed". Returns e.g. "keeps type-I error and coverage" or
    "inflates type-I error; coverage below nominal". With ``n`` (the smaller number of
    replicates behind the two rates) below ``min_n``: "too few replicates for a verdict (n=...)"
    -- a binomial MC SE is unreliable there (0 rejections give an MC SE of 0).
    """
    if n is not None and n < min_n:
        return f"too few replicates for a verdict (n={n})"
    words = []
    if np.isnan(type1):
        words.append("type-I error not assessed")
    elif type1 - 2 * type1_mcse > alpha + type1_margin:
        words.append("inflates type-I error")
    elif type1 + 2 * type1_mcse < alpha - type1_margin:
        words.append("conservative type-I error")
    if np.isnan(coverage):
        words.append("coverage not assessed")
    elif coverage + 2 * coverage_mcse < 0.95 - coverage_margin:
        words.append("coverage below nominal")
    elif coverage - 2 * coverage_mcse > 0.95 + coverage_margin:
        words.append("coverage above nominal")
    if not words:
        return "keeps type-I error and coverage"
    if len(words) == 1 and not np.isnan(type1) and not np.isnan(coverage):
        kept = "coverage" if "type-I" in words[0] else "type-I error"
        return f"{words[0]}; keeps {kept}"
    return "; ".join(words)


#: What to do when a scenario breaks an analysis (used by :func:`scenario_verdicts`).
REMEDIES = {
    "baseline": "none needed",
    "mnar": "add a missing-not-at-random sensitivity analysis (delta-adjusted multiple imputation / pattern mixture); report retention by arm",
    "slopes": "model the within-person correlation (random slopes or unstructured covariance) or use cluster-robust SEs",
    "offaxis": "report effects on the clock's scale only; a clock sees only the part of a change along its age axis, so do not read them as latent years",
    "drift": "keep visit effects in the model and harmonise scanners; arm contrasts are protected by randomisation",
    "motion": "report head motion (FD) by arm and visit and, beside the primary analysis, the plan's sensitivity model with head motion at every scan; scrub or match motion more strictly",
}


def scenario_verdicts(contrasts: pd.DataFrame, *, contrast: str = PRIMARY_CONTRAST, alpha: float = 0.05) -> pd.DataFrame:
    """Per scenario x analysis: type-I error (null world), coverage (alternative world if run,
    else null), their MC SEs, the :func:`verdict` and a recommendation."""
    rows = []
    c = contrasts[contrasts["contrast"] == contrast]
    base_null = c[(c["scenario"] == "baseline") & (c["hypothesis"] == "null")].set_index("analysis")
    for (scenario, analysis), g in c.groupby(["scenario", "analysis"], sort=False):
        null = g[g["hypothesis"] == "null"]
        alt = g[g["hypothesis"] == "alt"]
        if len(null):
            t1, t1se, t1src = float(null["rejection"].iloc[0]), float(null["rejection_mcse"].iloc[0]), "null"
        elif SCENARIOS.get(scenario) is not None and scenario == "offaxis" and analysis in base_null.index:
            # no arm effect = nothing off-axis: the null world is the baseline null world
            t1, t1se, t1src = float(base_null.loc[analysis, "rejection"]), float(base_null.loc[analysis, "rejection_mcse"]), "baseline null"
        else:
            t1, t1se, t1src = float("nan"), float("nan"), "-"
        src = alt if len(alt) else null
        cov, covse = float(src["coverage"].iloc[0]), float(src["coverage_mcse"].iloc[0])
        n_t1 = int(null["n"].iloc[0]) if len(null) else (int(base_null.loc[analysis, "n"]) if t1src == "baseline null" else 0)
        n_cov = int(src["n"].iloc[0])
        words = verdict(t1, t1se, cov, covse, alpha=alpha, n=min(n_t1, n_cov) if n_t1 else n_cov)
        ok = words == "keeps type-I error and coverage"
        rows.append({"scenario": scenario, "analysis": analysis, "contrast": contrast,
                     "type1_error": t1, "type1_error_mcse": t1se, "type1_from": t1src, "n_type1": n_t1,
                     "coverage_95": cov, "coverage_95_mcse": covse,
                     "coverage_from": "alt" if len(alt) else "null", "n_coverage": n_cov,
                     "bias": float(src["bias"].iloc[0]), "fraction_seen": float(src["fraction_seen"].iloc[0]),
                     "verdict": words,
                     "recommendation": "trustworthy here" if ok else ("wait for more replicates" if words.startswith("too few")
                                                                      else REMEDIES.get(scenario, "investigate"))})
    return pd.DataFrame(rows)


def result_values(summary: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """Headline numbers (HRT - CON at 12 months, primary analysis on the Beheshti scale).

    ``full_n_null``, ``full_n_alt``, ``full_type1_error`` (+``_mcse``), ``full_coverage_95``
    (under the published alternative, +``_mcse``), ``full_power_lisa`` (unadjusted Wald test,
    +``_mcse``), ``full_power_lisa_holm`` (both primary hypotheses rejected by Holm), and per
    scenario ``<scenario>_type1_error`` and ``<scenario>_coverage_95`` (+``_mcse``).
    """
    c = summary["contrasts"]
    sel = c[(c["analysis"] == PRIMARY_ANALYSIS) & (c["contrast"] == PRIMARY_CONTRAST) & (c["scenario"] == "baseline")]
    null, alt = sel[sel["hypothesis"] == "null"], sel[sel["hypothesis"] == "alt"]
    nan = float("nan")
    out = {
        "full_n_null": int(null["n"].iloc[0]) if len(null) else 0,
        "full_n_alt": int(alt["n"].iloc[0]) if len(alt) else 0,
        "full_type1_error": float(null["rejection"].iloc[0]) if len(null) else nan,
        "full_type1_error_mcse": float(null["rejection_mcse"].iloc[0]) if len(null) else nan,
        "full_coverage_95": float(alt["coverage"].iloc[0]) if len(alt) else nan,
        "full_coverage_95_mcse": float(alt["coverage_mcse"].iloc[0]) if len(alt) else nan,
        "full_power_lisa": float(alt["rejection"].iloc[0]) if len(alt) else nan,
        "full_power_lisa_mcse": float(alt["rejection_mcse"].iloc[0]) if len(alt) else nan,
    }
    m = summary["multiplicity"]
    holm = m[(m["scenario"] == "baseline") & (m["hypothesis"] == "alt") & (m["procedure"] == "holm_gatekeeping")]
    out["full_power_lisa_holm"] = float(holm["power_primary"].iloc[0]) if len(holm) else nan
    v = summary["verdicts"]
    for row in v[v["analysis"] == PRIMARY_ANALYSIS].itertuples():
        if row.scenario == "baseline":
            continue
        out[f"{row.scenario}_type1_error"] = row.type1_error
        out[f"{row.scenario}_type1_error_mcse"] = row.type1_error_mcse
        out[f"{row.scenario}_coverage_95"] = row.coverage_95
        out[f"{row.scenario}_coverage_95_mcse"] = row.coverage_95_mcse
    return out


_DESCRIPTIONS = {
    "full_n_null": ("Full-pipeline replicates behind the null-world numbers (baseline)", 0, ""),
    "full_n_alt": ("Full-pipeline replicates behind the published-effect numbers (baseline)", 0, ""),
    "full_type1_error": ("Full pipeline: type-I error of HRT-CON at 12 months (Beheshti scale, null world)", 3, ""),
    "full_coverage_95": ("Full pipeline: coverage of the nominal 95% CI of HRT-CON at 12 months (Beheshti scale, "
                         "published effects)", 3, ""),
    "full_power_lisa": ("Full pipeline: power of the unadjusted test of HRT-CON at 12 months at LISA's size "
                        "(published effects)", 2, ""),
    "full_power_lisa_holm": ("Full pipeline: probability that the gatekeeping procedure rejects both primary "
                             "hypotheses at LISA's size", 2, ""),
}
_MC = " [interval: 95% Monte Carlo interval, value +/- 1.96 MC SE, truncated to [0, 1]]"


def mc_interval(rate: float, mcse: float) -> tuple[float, float]:
    """95% Monte Carlo interval of a simulated rate: rate +/- 1.96 MC SE, truncated to [0, 1]
    (a bracket beyond [0, 1] would name impossible rates)."""
    return max(0.0, rate - _Z95 * mcse), min(1.0, rate + _Z95 * mcse)


def result_rows(values: Mapping[str, float], *, prefix: str = "simulation.") -> pd.DataFrame:
    """:func:`result_values` as a frame for ``report.record_frame``: each rate with its 95% Monte
    Carlo interval (value +/- 1.96 MC SE truncated to [0, 1], said in the description); NaN values are left out
    (nothing to report yet), never registered."""
    rows = []
    for name, value in values.items():
        if name.endswith("_mcse") or not np.isfinite(value):
            continue
        mcse = values.get(f"{name}_mcse", float("nan"))
        if name in _DESCRIPTIONS:
            text, decimals, unit = _DESCRIPTIONS[name]
        else:
            scenario, what = name.split("_", 1)
            text = (f"Scenario {scenario}: {'type-I error' if what == 'type1_error' else 'coverage of the nominal 95% CI'}"
                    " of HRT-CON at 12 months, full pipeline, Beheshti scale"
                    + (" (null world = baseline null: nothing is off-axis without an effect)"
                       if scenario == "offaxis" and what == "type1_error" else ""))
            decimals, unit = 3, ""
        has_ci = np.isfinite(mcse)
        low, high = mc_interval(value, mcse) if has_ci else (np.nan, np.nan)
        rows.append({"key": prefix + name, "value": float(value), "ci_low": low, "ci_high": high,
                     "unit": unit, "decimals": decimals, "description": text + (_MC if has_ci else ""),
                     "interval": "95% Monte Carlo interval"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Words for the page, chosen from the numbers
# --------------------------------------------------------------------------------------
def progress(table: pd.DataFrame, spec: Sequence[tuple[str, str, int]] = DEFAULT_PLAN) -> pd.DataFrame:
    """Replicates stored per scenario x hypothesis against the plan's target, with a status word."""
    target: dict[tuple[str, str], int] = {}
    for scenario, hypothesis, n in spec:
        target[(scenario, hypothesis)] = max(target.get((scenario, hypothesis), 0), int(n))
    done = table.groupby(["scenario", "hypothesis"])["replicate"].nunique() if len(table) else pd.Series(dtype=int)
    rows = [{"scenario": s, "hypothesis": h, "replicates": int(done.get((s, h), 0)), "target": n}
            for (s, h), n in target.items()]
    out = pd.DataFrame(rows)
    out["status"] = np.select([out["replicates"] >= out["target"], out["replicates"] > 0],
                              ["complete", "in progress"], "not started")
    return out


def progress_sentence(counts: pd.DataFrame, *, short: bool = False) -> str:
    """Whether the study is complete, from :func:`progress`'s counts (``short``: one clause)."""
    have, want = int(counts["replicates"].clip(upper=counts["target"]).sum()), int(counts["target"].sum())
    if short:
        state = "complete" if have >= want else "in progress"
        return f"the study is {state} ({have:,} of {want:,} planned replicates stored)."
    if have >= want:
        return f"The study is complete: {have:,} replicates, every cell at its target."
    short = counts[counts["replicates"] < counts["target"]]
    return (f"The study is **in progress**: {have:,} of the {want:,} planned replicates are stored "
            f"({len(short)} of {len(counts)} cells below target; targets {TARGET['baseline']:,} per baseline "
            f"hypothesis and {TARGET['scenario']:,} per scenario). Every number below is given with the number "
            "of replicates behind it and its Monte Carlo SE; read them with that precision, and expect them to "
            "change as replicates are added.")


#: Seeds of the trials whose paired counterfactual scans give :func:`clock_reading` (not replicate seeds).
READING_SEEDS = (20_001, 20_002)


def _reading_one(study: Study, seed: int, hypothesis: str) -> pd.DataFrame:
    """Per follow-up scan of a trained arm: predictions of the scan as simulated and of its counterfactuals."""
    a = world(hypothesis, study.n_per_arm)
    with threadpool_limits(limits=1):
        trial = simulate_trial(seed, assumptions=a)
        d = _person_month(trial)
        person, col = np.nonzero(d["usable"])
        keep = (col > 0) & (d["arm"][person] != simstudy.ARMS.index("CON"))
        person, col = person[keep], col[keep]
        month, ba, fd = col * 12, d["brain_age"][person, col], d["fd"][person, col]
        effect, prefrontal = d["effect"][person, col], d["prefrontal"][person, col]
        versions = {"simulated": (ba, prefrontal), "no_prefrontal": (ba, 0.0 * prefrontal),
                    "untrained": (ba - effect, 0.0 * prefrontal)}
        pred = {name: scan_predictions(study.form, a, seed, person, month, b, fd, pf)
                for name, (b, pf) in versions.items()}
    return pd.DataFrame({"arm": np.asarray(simstudy.ARMS)[d["arm"][person]], "month": month,
                         "latent_effect": effect, "total": pred["simulated"] - pred["untrained"],
                         "brain_age_part": pred["no_prefrontal"] - pred["untrained"],
                         "prefrontal_part": pred["simulated"] - pred["no_prefrontal"]})


def _reading_scans(study: Study, seeds: Sequence[int], hypothesis: str, use_cache: bool) -> pd.DataFrame:
    """The paired predictions of :func:`clock_reading`, kept in ``data/cache/studies`` (keyed by the
    clock's digest, the seeds, the world and the code's fingerprint)."""
    def compute():
        return pd.concat(parallel_map(lambda seed: _reading_one(study, int(seed), hypothesis), list(seeds),
                                      threads=True), ignore_index=True)

    if not use_cache:
        return compute()
    identity = f"reading|{study.form.digest()}|{list(seeds)}|{hypothesis}|{study.n_per_arm}|{code_fingerprint()}"
    path = cache_dir("studies") / f"reading-{hashlib.sha256(identity.encode()).hexdigest()[:32]}.pkl"
    with cache_lock(path):
        if path.exists():
            return pd.read_pickle(path)
        scans = compute()
        atomic_write(path, lambda tmp: scans.to_pickle(tmp))
        return scans


def clock_reading(study: Study, *, seeds: Sequence[int] = READING_SEEDS, hypothesis: str = "alt",
                  scale: str = "beheshti", use_cache: bool = True) -> pd.DataFrame:
    """What the study's clock reads of each contrast's simulated change: paired counterfactual scans.

    Every follow-up scan of a trained arm in the trials ``simulate_trial(seed)`` (the world of
    ``hypothesis``) is generated three times from its own random stream -- as simulated; without the
    HRT prefrontal signal; and untrained (latent brain age without the arm effect, no prefrontal
    signal) -- and the clock predicts each. Same noise, same person, so the paired differences are
    the clock's reading of the training change itself: its total, the part from the change in latent
    brain age and the part from the prefrontal signal. A contrast's reading is the difference of
    its arms' mean readings (control: 0) on ``scale`` (Beheshti and uncorrected gaps move with the
    prediction; Cole's divides by its slope). ``truth`` is the artifact's: latent effect x the
    measurement model's scale factor.

    Returns
    -------
    DataFrame
        Indexed by contrast: ``truth``, ``reading`` and ``reading_se`` (between-scan SE),
        ``brain_age_part``, ``prefrontal_part``, ``per_latent_year`` (brain-age part per year of
        latent change, for latent contrasts of at least 0.1 y; compare ``scale_factor``),
        ``scale_factor``, ``n_scans``.
    """
    if scale not in study.scale_factor:
        raise ValueError(f"scale must be one of {sorted(study.scale_factor)}, got {scale!r}")
    scans = _reading_scans(study, seeds, hypothesis, use_cache)
    unit = study.scale_factor[scale] / study.scale_factor["none"]
    parts = ["total", "brain_age_part", "prefrontal_part"]
    per_arm = scans.groupby(["arm", "month"])
    mean, se, n = per_arm[parts].mean() * unit, per_arm["total"].sem() * unit, per_arm.size()
    latent_effect = per_arm["latent_effect"].mean()
    a = world(hypothesis, study.n_per_arm)
    truth = dict(zip(simstudy.CONTRASTS, simstudy.true_contrasts(a) * study.scale_factor[scale]))
    rows = {}
    for name, (x, y, m) in simstudy.CONTRASTS.items():
        def arm(column, who):
            return 0.0 if who == "CON" else float(mean.loc[(who, m), column])
        latent = sum(sign * float(latent_effect.loc[(w, m)]) for w, sign in ((x, 1), (y, -1)) if w != "CON")
        brain = arm("brain_age_part", x) - arm("brain_age_part", y)
        rows[name] = {
            "truth": truth[name], "reading": arm("total", x) - arm("total", y),
            "reading_se": float(np.sqrt(sum(float(se.loc[(w, m)]) ** 2 for w in (x, y) if w != "CON"))),
            "brain_age_part": brain, "prefrontal_part": arm("prefrontal_part", x) - arm("prefrontal_part", y),
            "per_latent_year": brain / latent if abs(latent) >= 0.1 else np.nan,  # not of a near-null
            "scale_factor": study.scale_factor[scale],
            "n_scans": int(sum(int(n.loc[(w, m)]) for w in (x, y) if w != "CON"))}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("contrast")


def against_reading(table: pd.DataFrame, reading: pd.DataFrame, *, analysis: str = PRIMARY_ANALYSIS,
                    scenario: str = "baseline", hypothesis: str = "alt") -> pd.DataFrame:
    """Bias and 95% CI coverage of the stored estimates against the clock's reading of each contrast.

    ``bias_reading_se`` combines the Monte Carlo SE of the mean estimate and the reading's own SE; the
    coverage counts intervals containing the reading (its own uncertainty, ~1/20 of a trial's SE,
    is ignored there).
    """
    rows = _primary_rows(table, analysis, scenario, hypothesis)
    out = {}
    for name, g in rows.groupby("contrast", sort=False):
        r = reading.loc[name]
        est, se = g["estimate"].to_numpy(float), g["se"].to_numpy(float)
        n = len(est)
        cover = float(np.mean(np.abs(est - r["reading"]) <= _Z95 * se))
        out[name] = {"n": n, "truth": r["truth"], "reading": r["reading"], "mean_estimate": float(est.mean()),
                     "bias_truth": float(est.mean() - r["truth"]), "bias_reading": float(est.mean() - r["reading"]),
                     "bias_reading_se": float(np.sqrt(est.var(ddof=1) / n + r["reading_se"] ** 2)),
                     "coverage_reading": cover, "coverage_reading_mcse": float(np.sqrt(cover * (1 - cover) / n))}
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("contrast").reindex(
        [c for c in simstudy.CONTRASTS if c in out])


def _primary_rows(contrasts: pd.DataFrame, analysis: str, scenario: str = "baseline",
                  hypothesis: str = "alt") -> pd.DataFrame:
    return contrasts[(contrasts["scenario"] == scenario) & (contrasts["hypothesis"] == hypothesis)
                     & (contrasts["analysis"] == analysis)]


def _reading_explains(versus: pd.DataFrame | None, z: float) -> bool:
    """Every contrast's estimates sit on the clock's reading within ``z`` SEs."""
    return versus is not None and len(versus) > 0 and bool(
        np.all(np.abs(versus["bias_reading"]) <= z * versus["bias_reading_se"]))


def bias_sentence(contrasts: pd.DataFrame, *, analysis: str = PRIMARY_ANALYSIS, scenario: str = "baseline",
                  hypothesis: str = "alt", z: float = 2.0, se_margin: float = 0.10,
                  reading: pd.DataFrame | None = None, versus: pd.DataFrame | None = None) -> str:
    """Where the analysis's estimates miss their truth beyond Monte Carlo error, and why, in words.

    A contrast is called biased when ``|bias| > z`` Monte Carlo SEs. The standard errors are
    called right when every ``se_ratio`` (mean SE / empirical SD) is within ``se_margin`` of 1;
    coverage that falls short is then bias, not too narrow intervals. With the clock's reading
    (:func:`clock_reading`) and the estimates against it (:func:`against_reading`), the sentence
    says whether the reading accounts for the bias and splits it into its measured parts.
    """
    rows = _primary_rows(contrasts, analysis, scenario, hypothesis)
    if rows.empty:
        return "No full-pipeline replicates under the published effects are stored yet."
    biased = rows[np.abs(rows["bias"]) > z * rows["bias_mcse"]]
    n = int(rows["n"].max())
    if biased.empty:
        text = (f"Under the published effects the estimates of every contrast sit on their truth within "
                f"{z:g} Monte Carlo SEs ({n:,} trials).")
    else:
        parts = [f"{r.contrast} by {format_number(r.bias, 2)} y (Monte Carlo SE {format_number(r.bias_mcse, 2)}; "
                 f"truth {format_number(r.truth, 2)} y on the clock's scale)" for r in biased.itertuples()]
        text = (f"Under the published effects the estimates miss their truth by more than {z:g} Monte Carlo SEs "
                f"for {'; '.join(parts)} ({n:,} trials).")
    ratios = rows["se_ratio"].to_numpy(float)
    if np.all(np.abs(ratios - 1) <= se_margin):
        text += (f" The standard errors match the spread of the estimates (mean SE / SD from "
                 f"{format_number(ratios.min(), 2)} to {format_number(ratios.max(), 2)}), so where coverage falls "
                 "short of 95% the cause is this bias, not too narrow intervals.")
    if biased.empty or reading is None or versus is None:
        return text
    largest = float(np.abs(versus["bias_reading"]).max())
    if not _reading_explains(versus, z):
        return text + (f" The clock's reading of the simulated change does not account for it either (largest "
                       f"distance {format_number(largest, 2)} y beyond {z:g} SEs).")
    slope = reading["per_latent_year"].dropna()
    pfc = reading.loc[reading["prefrontal_part"].abs().idxmax()]
    text += (f" It is the truth, not the analysis: against what the clock itself reads of each arm's simulated "
             f"change (the same scans generated with and without it), every contrast's estimates sit within {z:g} "
             f"SEs (largest distance {format_number(largest, 2)} y). The clock reads a within-person change of one "
             f"year of latent brain age as {format_number(slope.min(), 2)}–{format_number(slope.max(), 2)} y, "
             f"more than the {format_number(float(reading['scale_factor'].iloc[0]), 2)} of the measurement model that "
             "defines the truth (fitted on the scans of one calibration trial)")
    if abs(pfc["prefrontal_part"]) > z * pfc["reading_se"]:
        text += (f", and it reads the simulated HRT arm's extra prefrontal connectivity as "
                 f"{format_number(pfc['prefrontal_part'], 2)} y at {pfc.name.split()[-1]} (a simulator assumption "
                 "the latent-brain-age truth does not count). A clock's reading of a training effect is "
                 "therefore not a pure measure of slower brain ageing.")
    else:
        text += "."
    return text


def coverage_reason(contrasts: pd.DataFrame, *, analysis: str = PRIMARY_ANALYSIS, contrast: str = PRIMARY_CONTRAST,
                    z: float = 2.0, versus: pd.DataFrame | None = None) -> str:
    """A short clause for summaries: why the primary contrast's coverage falls short, or ``""``.

    Non-empty only when its 95% Monte Carlo interval lies below 0.95 and its bias exceeds ``z``
    Monte Carlo SEs. With ``versus`` (:func:`against_reading`) that accounts for the bias, it
    gives the coverage of the clock's reading instead (:func:`bias_sentence` gives the numbers).
    """
    rows = _primary_rows(contrasts, analysis)
    rows = rows[rows["contrast"] == contrast]
    if rows.empty:
        return ""
    r = rows.iloc[0]
    if not (r["coverage"] + _Z95 * r["coverage_mcse"] < 0.95 and abs(r["bias"]) > z * r["bias_mcse"]):
        return ""
    if _reading_explains(versus, z) and contrast in versus.index:
        return (f" of the latent-brain-age truth; the intervals cover what the clock reads of the simulated change "
                f"at a rate of {format_number(float(versus.loc[contrast, 'coverage_reading']), 3)}, so the shortfall "
                "is the clock's, not the analysis's")
    return " (below 95% through bias, not too narrow intervals)"


def fast_path_verdict(comparison: pd.DataFrame, *, margin_sd: float = 0.10, margin_coverage: float = 0.02) -> pd.DataFrame:
    """Does the fast path reproduce the full pipeline? Per row of :func:`compare_fast_path`.

    "reproduces" when the SD ratio's 2-MCSE interval lies within ``1 +/- margin_sd`` and the
    coverage difference's within ``+/- margin_coverage``; "differs" when either interval lies
    wholly outside its margin; otherwise "undetermined (too few replicates)".
    """
    out = comparison.copy()
    lo_r, hi_r = out["sd_ratio"] - 2 * out["sd_ratio_mcse"], out["sd_ratio"] + 2 * out["sd_ratio_mcse"]
    lo_c = out["coverage_difference"] - 2 * out["coverage_difference_mcse"]
    hi_c = out["coverage_difference"] + 2 * out["coverage_difference_mcse"]
    inside = (lo_r >= 1 - margin_sd) & (hi_r <= 1 + margin_sd) & (lo_c >= -margin_coverage) & (hi_c <= margin_coverage)
    outside = (lo_r > 1 + margin_sd) | (hi_r < 1 - margin_sd) | (lo_c > margin_coverage) | (hi_c < -margin_coverage)
    out["verdict"] = np.select([inside, outside], ["reproduces", "differs"], "undetermined (too few replicates)")
    return out


def fast_path_sentence(verdicts: pd.DataFrame, *, margin_sd: float = 0.10, margin_coverage: float = 0.02) -> str:
    """One sentence on the fast path's fidelity, from :func:`fast_path_verdict`."""
    counts = verdicts["verdict"].value_counts()
    n = len(verdicts)
    claim = (f"within {margin_sd:.0%} in SD and {margin_coverage * 100:.0f} points in coverage "
             "(2 Monte Carlo SEs)")
    if counts.get("differs", 0):
        bad = ", ".join(verdicts.loc[verdicts["verdict"] == "differs", "contrast"] + " (" +
                        verdicts.loc[verdicts["verdict"] == "differs", "hypothesis"] + ")")
        return f"The fast path does **not** reproduce the full pipeline {claim} for {bad}."
    if counts.get("reproduces", 0) == n:
        return f"The fast path reproduces the full pipeline {claim} for all {n} contrasts and hypotheses."
    return (f"Not yet determined: the fast path reproduces the full pipeline {claim} for "
            f"{counts.get('reproduces', 0)} of {n} contrast x hypothesis rows; for the others the Monte Carlo "
            "SEs of the full-pipeline study are still too wide to tell.")


def motion_sentence(verdicts: pd.DataFrame, *, adjusted: str = FAST_PATH_ANALYSIS) -> str:
    """The motion world's primary analysis beside the model adjusting for head motion at every scan.

    Rates with 95% Monte Carlo intervals (±1.96 MC SE, truncated to [0, 1]); empty when the
    motion world has not been run for both analyses.
    """
    rows = verdicts[verdicts["scenario"] == "motion"].set_index("analysis")
    if PRIMARY_ANALYSIS not in rows.index or adjusted not in rows.index:
        return ""

    def rate(r: pd.Series, what: str) -> str:
        value, se = float(r[what]), float(r[f"{what}_mcse"])
        if np.isnan(value):
            return "not assessed"
        low, high = mc_interval(value, se)
        return f"{value:.3f} ({low:.3f} to {high:.3f})"

    p, a = rows.loc[PRIMARY_ANALYSIS], rows.loc[adjusted]
    ratio = SCENARIOS["motion"].motion_ratio_training
    return (f"In the motion world (the training arms' head motion at follow-up scaled by {ratio:g}), the primary "
            f"analysis's type-I error is {rate(p, 'type1_error')} and its coverage {rate(p, 'coverage_95')}; "
            f"{ANALYSIS_NAMES[adjusted]} has {rate(a, 'type1_error')} and "
            f"{rate(a, 'coverage_95')} (95% Monte Carlo intervals).")


def recommendation(verdicts: pd.DataFrame, *, analysis: str = PRIMARY_ANALYSIS) -> str:
    """What the page recommends, from :func:`scenario_verdicts` (the primary analysis's rows)."""
    kept = "keeps type-I error and coverage"
    v = verdicts[(verdicts["analysis"] == analysis) & (verdicts["scenario"] != "baseline")]
    keeps = v.loc[v["verdict"] == kept, "scenario"].tolist()
    fails = v[v["verdict"].str.contains("inflates|below nominal")]
    open_ = v[~v["scenario"].isin(keeps) & ~v["scenario"].isin(fails["scenario"])]

    def others_keep(scenario: str) -> str:  # the analyses that hold where the primary one fails
        ok = verdicts[(verdicts["scenario"] == scenario) & (verdicts["analysis"] != analysis)
                      & (verdicts["verdict"] == kept)]["analysis"]
        names = list(dict.fromkeys(ANALYSIS_NAMES.get(a, a) for a in ok))
        return f"; {' and '.join(names)} {'keep' if len(names) > 1 else 'keeps'} both there" if names else ""

    parts = []
    if keeps:
        parts.append("the primary analysis keeps type-I error and coverage under " + ", ".join(keeps))
    if len(fails):
        parts.append("it fails under " + "; ".join(f"{r.scenario} ({r.verdict}: {r.recommendation}"
                                                    f"{others_keep(r.scenario)})" for r in fails.itertuples()))
    if len(open_):
        parts.append("under " + ", ".join(open_["scenario"]) + " the Monte Carlo error is still too wide for a "
                     "verdict either way (or the departure is only conservative)")
    text = "; ".join(parts) if parts else "no scenario has been run yet"
    return text[0].upper() + text[1:] + "."


# --------------------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------------------
class AuditError(AssertionError):
    """A stored replicate does not reproduce (or the artifact is stale)."""


def _same_machine(prov: dict) -> bool:
    return prov.get("machine", {}).get("cpu") == _cpu() and prov.get("versions") == _versions() \
        and prov.get("machine", {}).get("blas") == _machine()["blas"]


#: Replicates re-run by the audit of every book build, and on a code change before resuming.
AUDIT_N = 2
#: Tolerance of the audit on a machine other than the writer's (CPU, BLAS or package versions):
#: relative, and absolute per column scale; on the writing machine the check is bit-for-bit.
#: Why 1e-4: the inputs of the models agree to ~1e-14 across OpenBLAS kernels (the ANCOVA's
#: estimates: 3.5e-14), but the primary CLDA model's optimiser (quasi-Newton on a numerical
#: gradient) stops within ~1e-6 of its optimum, so its estimates moved by up to 3.0e-6 y between
#: OpenBLAS's SkylakeX and Haswell kernels (measured on 8 replicates). 1e-4 is 30x that and still
#: 50x finer than the two decimals the page reports; an edited replicate fails on its digest anyway.
AUDIT_TOLERANCE = 1e-4
#: At most this many replicates whose rows no longer match their recorded digest are re-run
#: (to name the differing column); more than that fails at once.
AUDIT_EDITED_MAX = 5


def _sample(keys: Sequence[ReplicateKey], choose_by: str, n: int) -> list[ReplicateKey]:
    seed = int(hashlib.sha256(choose_by.encode()).hexdigest()[:16], 16)
    picked = np.random.default_rng(seed).choice(len(keys), min(n, len(keys)), replace=False)
    return [keys[i] for i in sorted(picked)]


def _compare(key: ReplicateKey, stored: pd.DataFrame, fresh: pd.DataFrame, exact: bool,
             tolerance: float, changed: str) -> float:
    """Largest absolute difference over the audited numeric columns; raises on a mismatch."""
    largest = 0.0
    for col in AUDITED:
        a, b = stored[col].to_numpy(), fresh[col].to_numpy()
        if a.dtype.kind in "fiu" and b.dtype.kind in "fiu":
            a, b = a.astype(float), b.astype(float)
            finite = np.isfinite(a) & np.isfinite(b)
            if finite.any():
                largest = max(largest, float(np.max(np.abs(a[finite] - b[finite]))))
            scale = max(1.0, float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0)))
            same = ((a == b) | (np.isnan(a) & np.isnan(b))) if exact else \
                np.isclose(a, b, rtol=tolerance, atol=tolerance * scale, equal_nan=True)
        else:
            same = a.astype(str) == b.astype(str)
        if not np.all(same):
            i = int(np.flatnonzero(~same)[0])
            where = f"{stored['analysis'].iat[i]} / {stored['contrast'].iat[i]}"
            raise AuditError(
                f"replicate (scenario={key.scenario}, hypothesis={key.hypothesis}, replicate={key.replicate}) "
                f"does not reproduce{changed}: column {col!r} at {where}: stored {a[i]!r}, recomputed {b[i]!r} "
                f"({'bit-identical' if exact else f'tolerance {tolerance:g}'} check): run `make simulation`")
    return largest


def audit(artifact: str | Path = DEFAULT_ARTIFACT, n: int = AUDIT_N, tolerance: float = AUDIT_TOLERANCE,
          *, choose_by: str | None = None, exact: bool | None = None, record: bool = False,
          cache: bool = False) -> dict:
    """Re-run a deterministic sample of stored replicates and compare every audited column.

    The numbers are the test, not the code's fingerprint: when the code changed since the
    artifact was written (another module edited, a refactoring), the artifact stays valid as
    long as the sampled replicates still reproduce -- bit for bit on the writing machine,
    within ``tolerance`` elsewhere -- and ``record=True`` then stores the new fingerprint in
    the provenance (``fingerprint_history``).

    Parameters
    ----------
    artifact : path
        Stem of the artifact (``<stem>.csv.gz``, ``<stem>.json``, ``<stem>_clock.npz``).
    n : int
        Replicates re-run (a few CPU-seconds each at LISA's size).
    tolerance : float
        Relative (and absolute, per column scale) tolerance on a machine other than the writer's.
    choose_by : str, optional
        String that chooses the sample (default: the current code fingerprint, so every
        change of the code audits other replicates).
    exact : bool, optional
        Force (True) or waive (False) bit-identity; default: exact on the writing machine.
    record : bool
        On a code change that reproduces, write the new fingerprint into ``<stem>.json``.
    cache : bool
        Keep the result in ``data/cache/studies``, keyed by everything it depends on: the
        artifact's three files (their bytes), the code fingerprint, the package versions, this
        machine (CPU, BLAS) and the arguments. The build computes it once, beside the other shared
        products (``tools/products.py``), and the page reads it; any change of those re-runs it.
        Not with ``record`` (which writes the artifact). A failed audit is never kept.

    Returns
    -------
    dict
        ``replicates`` (one dict per re-run replicate: scenario, hypothesis, replicate,
        max_abs_difference), ``max_abs_difference``, ``exact``, ``tolerance``, ``code_changed``,
        ``stored_fingerprint``, ``fingerprint``, ``n_stored`` (replicates in the artifact).

    Raises
    ------
    AuditError
        Naming the replicate and the differing column ("run `make simulation`"), or a missing file.
    """
    paths = _paths(artifact)
    for what in ("table", "json", "clock"):
        if not paths[what].exists():
            raise AuditError(f"{paths[what]} is missing: run `make simulation`")
    if cache and not record:
        digest = hashlib.sha256()
        for what in ("table", "json", "clock"):
            digest.update(hashlib.sha256(paths[what].read_bytes()).digest())
        identity = json.dumps({"files": digest.hexdigest(), "code": code_fingerprint(), "versions": _versions(),
                               "machine": _machine(), "n": n, "tolerance": tolerance, "choose_by": choose_by,
                               "exact": exact}, sort_keys=True, default=str)
        path = cache_dir("studies") / f"audit-{hashlib.sha256(identity.encode()).hexdigest()[:32]}.json"
        with cache_lock(path):
            if path.exists():
                return json.loads(path.read_text())
            result = audit(artifact, n, tolerance, choose_by=choose_by, exact=exact)  # raises: nothing kept
            atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(result, default=str)))
            return json.loads(path.read_text())  # the same values whether computed now or read
    prov = json.loads(paths["json"].read_text())
    current, stored_fp = code_fingerprint(), str(prov.get("code_fingerprint"))
    changed = stored_fp != current
    table = load_table(artifact)
    study = load_study(paths["clock"])
    keys = sorted(_done_keys(table))
    if not keys:
        raise AuditError(f"{paths['table']} holds no replicates: run `make simulation`")
    chosen = _sample(keys, choose_by or current, n)
    recorded, edited = prov.get("replicate_digests"), []
    if recorded:  # every replicate edited since it was written is re-run too (first), whichever the sample
        now = replicate_digests(table)
        edited = [k for k in keys if recorded.get(_key_text(k)) != now[_key_text(k)]]
        if len(edited) > AUDIT_EDITED_MAX:
            raise AuditError(f"{len(edited)} replicates of {paths['table']} differ from the digests recorded when "
                             f"they were written (first: {', '.join(_key_text(k) for k in edited[:3])}): the table "
                             "was edited or written without its provenance; run `make simulation`")
        chosen = edited + [k for k in chosen if k not in edited]
    bit_exact = _bit_exact_fingerprint(prov)
    if exact is None:  # bit for bit only where the artifact's numbers are this code's on this machine
        exact = _same_machine(prov) and bit_exact == current
    why = ("" if exact else "another machine wrote the artifact" if not _same_machine(prov)
           else "the code changed since the artifact was written, in ways that move the last digits"
           if bit_exact is not None else "the artifact mixes replicates written by different code or machines")
    note = f" with the current code (fingerprint {current[:12]}; the artifact's is {stored_fp[:12]})" if changed else ""
    checked = []
    # the re-runs in threads: a replicate's NumPy work releases the GIL (2 replicates: 4.2 s vs 7.9 s serial,
    # identical numbers); no process start, no pickling of the clock
    # warnings a re-run raises (a platform's floating-point path can differ) are kept for the page, not printed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recomputed = parallel_map(lambda key: _sorted(run_replicate(key, study)), chosen, threads=True)
    raised = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    for key, fresh in zip(chosen, recomputed):
        stored = table[(table["scenario"] == key.scenario) & (table["hypothesis"] == key.hypothesis)
                       & (table["replicate"] == key.replicate)].reset_index(drop=True)
        # an edited replicate fails whatever the tolerance: its digest says the table is not what was written
        diff = _compare(key, stored, fresh, exact or key in edited, tolerance,
                        note + (" (its rows differ from the digest recorded when it was written)" if key in edited else ""))
        if key in edited:
            raise AuditError(f"replicate (scenario={key.scenario}, hypothesis={key.hypothesis}, replicate={key.replicate}) "
                             f"of {paths['table']} differs from the digest recorded when it was written: "
                             "run `make simulation`")
        checked.append({"scenario": key.scenario, "hypothesis": key.hypothesis, "replicate": key.replicate,
                        "max_abs_difference": diff})
    result = {"replicates": checked, "max_abs_difference": max(c["max_abs_difference"] for c in checked),
              "exact": exact, "tolerance": None if exact else tolerance, "code_changed": changed,
              "stored_fingerprint": stored_fp, "fingerprint": current, "n_stored": len(keys),
              "tolerance_reason": why, "warnings": raised}
    if record and changed:
        prov = json.loads(paths["json"].read_text())
        prov.setdefault("fingerprint_history", []).append(
            {"from": stored_fp, "to": current, "audited": [dataclasses.astuple(k) for k in chosen],
             "exact": exact, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        prov["code_fingerprint"] = current
        if bit_exact == stored_fp and _same_machine(prov) and result["max_abs_difference"] == 0:
            prov["bit_exact_fingerprint"] = current  # the new code writes the same bits
        else:
            prov["bit_exact_fingerprint"] = bit_exact
        prov["source_files"] = _source_files()
        atomic_write(paths["json"], lambda tmp: Path(tmp).write_text(json.dumps(prov, indent=2, default=str) + "\n"))
    return result


def audit_sentence(result: Mapping[str, Any]) -> str:
    """What an :func:`audit` found, in words for the page (chosen from its numbers)."""
    reps = ", ".join(f"{r['scenario']}/{r['hypothesis']} #{r['replicate']}" for r in result["replicates"])
    how = ("bit for bit (this machine and this code wrote the artifact's numbers)" if result["exact"]
           else f"within a relative tolerance of {result['tolerance']:g} "
                f"({result.get('tolerance_reason') or 'another machine wrote the artifact'})")
    code = (" The code has changed since the run (fingerprint "
            f"{result['stored_fingerprint'][:12]} → {result['fingerprint'][:12]}), and the numbers still reproduce, "
            "so the artifact stays valid." if result["code_changed"] else " The code is the code that wrote the artifact.")
    raised = result.get("warnings") or []
    said = (f" The re-runs raised {len(raised)} distinct warning{'s' if len(raised) != 1 else ''}: "
            + "; ".join(raised) + "." if raised else "")
    return (f"Re-ran {len(result['replicates'])} of the {result['n_stored']:,} stored replicates ({reps}): they "
            f"reproduce {how}; largest absolute difference {result['max_abs_difference']:.3g}.{code}{said}")


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def _parse_plan(items: Sequence[str] | None) -> list[tuple[str, str, int]]:
    if not items or items == ["default"]:
        return list(DEFAULT_PLAN)
    spec = []
    for item in items:
        parts = item.split(":")
        if len(parts) != 3:
            raise SystemExit(f"--plan items are SCENARIO:HYPOTHESIS:N (e.g. baseline:null:1000), got {item!r}")
        spec.append((parts[0], parts[1], int(parts[2])))
    return spec


def _parse_sets(items: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        try:
            target, value = item.split("=", 1)
            scenario, name = target.split(".", 1)
        except ValueError:
            raise SystemExit(f"--set items are SCENARIO.PARAMETER=VALUE (e.g. mnar.mnar_logodds=0.5), got {item!r}")
        out.setdefault(scenario, {})[name] = value if name == "mnar_arms" else float(value)
    return out


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM (``kill``; background jobs ignore Ctrl-C's SIGINT) like Ctrl-C: keep finished work."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # pragma: no cover - not in the main thread
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m analysis.simstudy full {run, summary, audit}``."""
    parser = argparse.ArgumentParser(prog="python -m analysis.simstudy full", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or resume) the study on dask.distributed")
    run.add_argument("--out", default=str(DEFAULT_ARTIFACT), help="artifact stem (default %(default)s)")
    run.add_argument("--workers", type=int, default=1, help="local worker processes, 1 thread each (0 = serial, no dask)")
    run.add_argument("--scheduler", help="address of an existing dask scheduler (overrides --workers)")
    run.add_argument("--plan", nargs="*", default=["default"],
                     help="SCENARIO:HYPOTHESIS:N items in run order (default: baseline null/alt 1000 each, then each scenario 300)")
    run.add_argument("--set", action="append", help="override a scenario knob: SCENARIO.PARAMETER=VALUE")
    run.add_argument("--n-reference", type=int, default=2433, help="reference cohort of the clock")
    run.add_argument("--root-seed", type=int, default=2026)
    run.add_argument("--flush-every", type=int, default=10, help="replicates per atomic part file")
    run.add_argument("--no-progress", action="store_true")
    for name in ("summary", "audit"):
        p = sub.add_parser(name)
        p.add_argument("--out", default=str(DEFAULT_ARTIFACT))
    sub.choices["summary"].add_argument("--n-fast", type=int, default=2000, help="fast-path replicates beside the full ones")
    sub.choices["audit"].add_argument("--n", type=int, default=AUDIT_N, help="replicates re-run (default %(default)s)")
    sub.choices["audit"].add_argument("--tolerance", type=float, default=AUDIT_TOLERANCE,
                                      help="relative tolerance on another machine (default %(default)g)")
    sub.choices["audit"].add_argument("--record", action="store_true",
                                      help="after a code change that reproduces, store the new fingerprint")
    args = parser.parse_args(argv)
    if args.command == "run":
        sets = _parse_sets(args.set)
        paths = _paths(args.out)
        study = load_study(paths["clock"]) if paths["clock"].exists() else None
        if study is None:
            study = build_study(args.n_reference, root_seed=args.root_seed)
        for scenario, knobs in sets.items():
            if scenario not in study.scenarios:
                raise SystemExit(f"unknown scenario {scenario!r}; known: {sorted(study.scenarios)}")
            study.scenarios[scenario] = study.scenarios[scenario].with_overrides(**knobs)
        if paths["clock"].exists() and sets and load_study(paths["clock"]).scenarios != study.scenarios:
            raise SystemExit(f"--set changes scenarios already stored in {paths['clock']}: use another --out")
        save_study(study, paths["clock"])
        keys = plan(_parse_plan(args.plan))
        _interrupt_on_sigterm()
        command = "python -m analysis.simstudy full " + " ".join(argv if argv is not None else sys.argv[1:])
        try:
            table = run_study(keys, out=args.out, workers=args.workers, scheduler=args.scheduler,
                              flush_every=args.flush_every, progress=not args.no_progress, command=command, study=study)
        except KeyboardInterrupt:
            print(f"interrupted: finished replicates are kept in {paths['table']}; rerun the same command to resume",
                  file=sys.stderr)
            return 130
        print(f"{table[['scenario', 'hypothesis', 'replicate']].drop_duplicates().shape[0]} replicates in {paths['table']}")
        return 0
    table = load_table(args.out)
    if args.command == "audit":
        print(audit_sentence(audit(args.out, n=args.n, tolerance=args.tolerance, record=args.record)))
        return 0
    summary = summarise(table)
    prov = json.loads(_paths(args.out)["json"].read_text())
    with pd.option_context("display.width", 220, "display.max_columns", 30, "display.max_rows", 500):
        cols = ["scenario", "hypothesis", "analysis", "contrast", "n", "truth", "bias", "bias_mcse", "empirical_sd",
                "mean_se", "rmse", "coverage", "coverage_mcse", "rejection", "rejection_mcse"]
        print(summary["contrasts"][cols].round(4).to_string(index=False))
        print(summary["multiplicity"].round(4).to_string(index=False))
        print(summary["verdicts"].round(4).to_string(index=False))
        if ((table["scenario"] == "baseline")).any():
            print(compare_fast_path(table, prov["measurement"], n_fast=args.n_fast).round(4).to_string(index=False))
    print(json.dumps(result_values(summary), indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
