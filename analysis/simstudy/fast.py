"""Simulation-based validation of the whole pipeline: does the analysis find the truth?

The book's primary analysis is a linear mixed model of the brain age gap on arm x visit (age,
sex and head motion as covariates, random intercept per person). This module repeats
*simulate trial -> clock -> primary analysis* many times and summarises bias, RMSE, 95% CI
coverage, type-I error, false discovery rate and power.

Two ways to run a replicate
---------------------------
**Full pipeline** (:func:`full_pipeline_replicate`): simulate a whole synthetic trial with its
resting-state time series (:func:`analysis.trial.simulate_trial`), compute connectivity, apply
the trained clock, bias-correct and fit the mixed model. Faithful, but seconds per replicate.

**Fast path** (:func:`run_simulation`): everything that does not change between replicates is
done once. The clock is trained once, and its *measurement model* is characterised once by
applying it to synthetic scans whose latent brain age is known (:meth:`MeasurementModel.fit`)::

    predicted age = a + b * latent brain age + c * mean FD + u_person + e_scan

Per replicate only people, visits, latent brain ages and head motion are simulated (vectorised
NumPy), predicted ages are drawn from that model, gaps are bias-corrected with the clock's own
correction coefficients, and the mixed model is fitted with a profiled-REML solver
(:func:`fit_random_intercept`) that reproduces statsmodels' ``MixedLM`` (a test checks it) in a
few milliseconds. Replicates run in parallel with joblib; each gets its own seed from
:class:`numpy.random.SeedSequence`, so results are identical for any ``n_jobs``.

Scales
------
A ridge clock shrinks predictions towards the training mean (slope ``b < 1``), so a true change
of ``d`` years of latent brain age appears as about ``b * d`` on the predicted-age scale.
The Beheshti correction and the uncorrected gap keep that shrunken scale; Cole's correction
divides by the slope of predicted on chronological age (``alpha``), giving ``b / alpha * d``.
Every table states the true effect on the scale the estimate is on.

Command line::

    python -m analysis.simstudy --replicates 5000 --n-jobs 2 --out sim.csv
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import special, stats

from analysis._threads import single_threaded_blas
from analysis.clock import BrainAgeClock, trial_brain_age
from analysis.connectome import shrunk_covariances
from analysis.stats import RandomInterceptFit, fdr_bh_rows, fit_random_intercept, fit_random_intercepts
from analysis.trial import ARMS, TrialAssumptions, simulate_reference, simulate_trial

__all__ = [
    "ARMS",
    "CONTRASTS",
    "SCALES",
    "MeasurementModel",
    "measurement_from_trial",
    "correction_from_table",
    "RandomInterceptFit",
    "SimulationResult",
    "fit_random_intercept",
    "simulate_scans",
    "design_matrix",
    "primary_contrasts",
    "true_contrasts",
    "run_replicate",
    "run_simulation",
    "summarise",
    "fdr_summary",
    "power_grid",
    "analytic_power",
    "required_n",
    "effect_readings",
    "full_pipeline_replicate",
    "book_measurement_model",
    "scaled_assumptions",
    "train_clock",
    "measurement_from_clock",
    "main",
]

#: Arms in the order of :class:`~analysis.trial.TrialAssumptions` (``arm_sizes``).
#: Contrast family of the primary analysis: name -> (arm A, arm B or None for CON, month).
CONTRASTS: dict[str, tuple[str, str, int]] = {
    "HRT-CON 12m": ("HRT", "CON", 12),
    "MIT-CON 12m": ("MIT", "CON", 12),
    "HRT-MIT 12m": ("HRT", "MIT", 12),
    "HRT-CON 24m": ("HRT", "CON", 24),
    "MIT-CON 24m": ("MIT", "CON", 24),
    "HRT-MIT 24m": ("HRT", "MIT", 24),
}
#: Gap scales a replicate can analyse.
SCALES = ("beheshti", "cole", "none")
#: Columns of the design matrix built by :func:`design_matrix`.
TERMS = (
    "Intercept", "HRT", "MIT", "month12", "month24",
    "HRT:month12", "MIT:month12", "HRT:month24", "MIT:month24", "age", "female", "mean_fd_mm",
)
_Z95 = stats.norm.ppf(0.975)


# --------------------------------------------------------------------------------------
# The clock's measurement model
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeasurementModel:
    """How a trained clock turns latent brain age into predicted age.

    ``predicted = intercept + slope * latent + motion_slope * mean_fd_mm + u + e`` with a
    person-level error ``u ~ N(0, sd_person^2)`` shared by a person's scans and a scan-level
    error ``e ~ N(0, sd_scan^2)``. ``correction`` holds the clock's bias-correction
    coefficients (keys of :func:`analysis.clock.fit_correction`: ``beheshti_slope``,
    ``beheshti_intercept``, ``cole_slope``, ``cole_intercept``).

    Parameters
    ----------
    intercept, slope : float
        Linear map from latent brain age to expected predicted age.
    sd_person, sd_scan : float
        Error SDs (years) of the stable and the scan-specific parts of the clock's error.
    motion_slope : float
        Years of predicted age per mm of mean framewise displacement.
    correction : mapping
        Bias-correction coefficients fitted on the clock's training data.
    """

    intercept: float = 13.0
    slope: float = 0.8
    sd_person: float = 3.0
    sd_scan: float = 3.0
    motion_slope: float = 0.0
    correction: Mapping[str, float] = field(default_factory=lambda: {
        "beheshti_slope": -0.2, "beheshti_intercept": 11.0,
        "cole_slope": 0.8, "cole_intercept": 11.0,
    })

    def __post_init__(self) -> None:
        for name in ("sd_person", "sd_scan"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not np.isfinite(self.slope) or self.slope == 0:
            raise ValueError(f"slope must be finite and non-zero, got {self.slope!r}")
        missing = {"beheshti_slope", "beheshti_intercept", "cole_slope", "cole_intercept"} - set(self.correction)
        if missing:
            raise ValueError(f"correction lacks {sorted(missing)}; got keys {sorted(self.correction)}")

    @property
    def error_sd(self) -> float:
        """Total SD of the clock's error around ``intercept + slope * latent`` (years)."""
        return float(np.hypot(self.sd_person, self.sd_scan))

    @property
    def icc(self) -> float:
        """Within-person correlation of the clock's errors."""
        total = self.error_sd**2
        return float(self.sd_person**2 / total) if total > 0 else 0.0

    def with_error_sd(self, error_sd: float) -> MeasurementModel:
        """A copy with total error SD ``error_sd`` and the same within-person correlation."""
        if not np.isfinite(error_sd) or error_sd < 0:
            raise ValueError(f"error_sd must be a finite number >= 0, got {error_sd!r}")
        icc = self.icc if self.error_sd > 0 else 0.5
        return replace(self, sd_person=float(error_sd * np.sqrt(icc)),
                       sd_scan=float(error_sd * np.sqrt(1 - icc)))

    def scale_factor(self, scale: str) -> float:
        """Factor turning a latent effect (years) into the expected effect on gap ``scale``."""
        _check_scale(scale)
        if scale == "cole":
            return self.slope / self.correction["cole_slope"]
        return self.slope

    def gap(self, predicted: np.ndarray, age: np.ndarray, scale: str) -> np.ndarray:
        """Brain age gap on ``scale`` with the clock's correction coefficients."""
        _check_scale(scale)
        c = self.correction
        if scale == "beheshti":
            return predicted - age - (c["beheshti_slope"] * age + c["beheshti_intercept"])
        if scale == "cole":
            return (predicted - c["cole_intercept"]) / c["cole_slope"] - age
        return predicted - age

    @classmethod
    def fit(
        cls,
        latent: np.ndarray,
        predicted: np.ndarray,
        person: np.ndarray,
        *,
        mean_fd_mm: np.ndarray | None = None,
        correction: Mapping[str, float],
    ) -> MeasurementModel:
        """Estimate the model from scans whose latent brain age is known.

        The linear part is fitted by least squares (it is the marginal relation the simulation
        must reproduce); the residual variance is split into person and scan parts by the
        one-way random-effects ANOVA (method-of-moments) estimator.

        Parameters
        ----------
        latent, predicted : ndarray of shape (n_scans,)
            True latent brain age and the clock's prediction for each scan.
        person : array-like of shape (n_scans,)
            Person label of each scan (people with several scans identify ``sd_person``).
        mean_fd_mm : ndarray of shape (n_scans,), optional
            Head motion per scan; estimates ``motion_slope`` when given.
        correction : mapping
            The clock's bias-correction coefficients (``clock.correction_``).
        """
        latent, predicted = np.asarray(latent, float), np.asarray(predicted, float)
        if latent.shape != predicted.shape or latent.ndim != 1 or len(latent) < 10:
            raise ValueError(
                f"latent and predicted must be 1-D of equal length >= 10; got {latent.shape}, {predicted.shape}"
            )
        columns = [np.ones_like(latent), latent]
        if mean_fd_mm is not None:
            columns.append(np.asarray(mean_fd_mm, float))
        X = np.column_stack(columns)
        coef, *_ = np.linalg.lstsq(X, predicted, rcond=None)
        sd_person, sd_scan = _variance_components(predicted - X @ coef, np.asarray(person))
        return cls(
            intercept=float(coef[0]), slope=float(coef[1]), sd_person=sd_person, sd_scan=sd_scan,
            motion_slope=float(coef[2]) if mean_fd_mm is not None else 0.0,
            correction={k: float(v) for k, v in correction.items()},
        )


def correction_from_table(brain_age: pd.DataFrame) -> dict[str, float]:
    """Recover a clock's Beheshti and Cole coefficients from its per-scan output table.

    ``gap_none - gap_beheshti`` is the fitted Beheshti line in age, and ``predicted_age`` is
    linear in ``gap_cole + age`` with Cole's slope and intercept, so both are exact fits.

    Parameters
    ----------
    brain_age : DataFrame
        Output of :func:`analysis.clock.trial_brain_age` (``age, predicted_age, gap_none,
        gap_beheshti, gap_cole``).
    """
    missing = {"age", "predicted_age", "gap_none", "gap_beheshti", "gap_cole"} - set(brain_age.columns)
    if missing:
        raise ValueError(f"brain_age lacks column(s) {sorted(missing)}")
    age = brain_age["age"].to_numpy(float)
    b_slope, b_icept = np.polyfit(age, brain_age["gap_none"] - brain_age["gap_beheshti"], 1)
    c_slope, c_icept = np.polyfit(brain_age["gap_cole"].to_numpy(float) + age, brain_age["predicted_age"], 1)
    return {"beheshti_slope": float(b_slope), "beheshti_intercept": float(b_icept),
            "cole_slope": float(c_slope), "cole_intercept": float(c_icept)}


def measurement_from_trial(trial, brain_age: pd.DataFrame) -> MeasurementModel:
    """Characterise the book's clock on a synthetic trial whose latent brain ages are known.

    Parameters
    ----------
    trial : analysis.trial.Trial
        A synthetic trial (``trial.truth`` holds the latent ``brain_age`` per person x month).
    brain_age : DataFrame
        The clock applied to its scans (:func:`analysis.clock.trial_brain_age`).

    Returns
    -------
    MeasurementModel
        Fitted by :meth:`MeasurementModel.fit` with head motion, and the clock's corrections.
    """
    if getattr(trial, "truth", None) is None:
        raise ValueError("trial has no truth table: the measurement model needs a synthetic trial")
    keys = ["participant_id", "month"]
    table = brain_age[keys + ["predicted_age"]].merge(
        trial.truth[keys + ["brain_age"]], on=keys, how="left", validate="one_to_one").merge(
        trial.visits[keys + ["mean_fd_mm"]], on=keys, how="left", validate="one_to_one")
    if table[["brain_age", "mean_fd_mm"]].isna().any().any():
        raise ValueError("brain_age has scans that are not in trial.truth / trial.visits")
    return MeasurementModel.fit(table["brain_age"].to_numpy(), table["predicted_age"].to_numpy(),
                                table["participant_id"].to_numpy(), mean_fd_mm=table["mean_fd_mm"].to_numpy(),
                                correction=correction_from_table(brain_age))


def _variance_components(residual: np.ndarray, person: np.ndarray) -> tuple[float, float]:
    """Person and scan SDs of residuals by one-way random-effects ANOVA (moments, truncated at 0)."""
    _, codes = np.unique(person, return_inverse=True)
    counts = np.bincount(codes).astype(float)
    n, G = len(residual), len(counts)
    means = np.bincount(codes, residual) / counts
    ss_within = np.sum((residual - means[codes]) ** 2)
    ss_between = np.sum(counts * (means - residual.mean()) ** 2)
    if n == G:  # no repeated scans: the split is not identified
        return 0.0, float(np.sqrt(ss_within + ss_between) / np.sqrt(n - 1))
    ms_within = ss_within / (n - G)
    ms_between = ss_between / (G - 1)
    n0 = (n - np.sum(counts**2) / n) / (G - 1)
    tau2 = max((ms_between - ms_within) / n0, 0.0)
    return float(np.sqrt(tau2)), float(np.sqrt(ms_within))


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")


# --------------------------------------------------------------------------------------
# One fast replicate
# --------------------------------------------------------------------------------------
def _effects(assumptions: TrialAssumptions) -> np.ndarray:
    """Latent arm effects, shape (3 arms, 3 months), in ARMS x (0, 12, 24) order."""
    a = assumptions
    return np.array([
        [0.0, a.effect_12m_hrt, a.effect_24m_hrt],
        [0.0, a.effect_12m_mit, a.effect_24m_mit],
        [0.0, 0.0, 0.0],
    ])


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, low: float, high: float,
                      n: int) -> np.ndarray:
    """``n`` draws of a normal truncated to ``[low, high]`` by inversion of its CDF.

    The same uniforms and the same inversion as ``scipy.stats.truncnorm.rvs(..., random_state=rng)``
    (equal to ~1e-12 for the trial's central age window; tested), without its log-space tail
    machinery, which took 60% of a fast-path replicate's simulation (cProfile).
    """
    lo, hi = special.ndtr((low - mean) / sd), special.ndtr((high - mean) / sd)
    return mean + sd * special.ndtri(lo + rng.uniform(size=n) * (hi - lo))


def simulate_scans(
    assumptions: TrialAssumptions,
    measurement: MeasurementModel,
    rng: np.random.Generator,
    *,
    n_per_arm: int | None = None,
) -> dict[str, np.ndarray]:
    """People, visits and latent brain ages of one synthetic trial, and the clock's predictions.

    Vectorised and cheap (no time series). Follows the simulator's assumptions: arm sizes (or
    ``n_per_arm`` in every arm), truncated-normal baseline age, sex, arm-specific attendance
    at 12 and 24 months (monotone dropout, here at random within arm), MRI eligibility giving
    ``mri_usable_baseline`` usable baseline scans on average, log-normal head motion with scans
    above ``fd_exclusion_mm`` unusable, and latent brain age = age + stable gap + arm effect +
    visit noise + a strength-coupled term (mean zero within arm; its spread is
    ``|strength_coupling| * 100 * strength_response_sd`` years after baseline).

    Returns
    -------
    dict of ndarray
        One entry per usable scan: ``person, arm`` (index into :data:`ARMS`), ``month, age,
        female, mean_fd_mm, latent, predicted``.
    """
    a = assumptions
    sizes = np.array(a.arm_sizes if n_per_arm is None else (n_per_arm,) * 3)
    n = int(sizes.sum())
    arm = np.repeat(np.arange(3), sizes)
    age0 = _truncated_normal(rng, a.age_mean, a.age_sd, a.age_min, a.age_max, n)
    female = rng.random(n) < a.female_fraction
    gap = rng.normal(0.0, a.brain_age_gap_sd, n)
    p12 = np.array(a.attended_12m) / np.array(a.arm_sizes)
    p24 = np.array(a.attended_24m) / np.maximum(np.array(a.attended_12m), 1)
    at12 = rng.random(n) < p12[arm]
    attended = np.column_stack([np.ones(n, bool), at12, at12 & (rng.random(n) < p24[arm])])
    # usable baseline scans per randomised person, as the simulator scales it (a.scale)
    eligible = rng.random(n) < min(a.mri_usable_baseline * a.scale / sum(a.arm_sizes), 1.0)
    log_fd = np.log(a.fd_median_mm) + rng.normal(0, a.fd_person_sd, n)[:, None] \
        + rng.normal(0, a.fd_visit_sd, (n, 3)) + a.fd_age_slope * (age0[:, None] + [0, 1, 2] - 66.0)
    fd = np.exp(log_fd)
    missed = np.column_stack([np.zeros(n, bool), rng.random((n, 2)) < a.mri_followup_missed])
    usable = attended & eligible[:, None] & ~missed & (fd <= a.fd_exclusion_mm)
    person, visit = np.nonzero(usable)
    months = np.array([0, 12, 24])[visit]
    age = age0[person] + months / 12.0
    # the strength-coupled term has mean zero within arm; only its spread matters here
    strength_sd = abs(a.strength_coupling) * 100 * a.strength_response_sd * (months > 0)
    latent = age + gap[person] + _effects(a)[arm[person], visit] \
        + rng.normal(0, a.brain_age_visit_sd, len(person)) + strength_sd * rng.standard_normal(len(person))
    u = rng.normal(0, measurement.sd_person, n)[person]
    predicted = measurement.intercept + measurement.slope * latent \
        + measurement.motion_slope * fd[person, visit] + u + rng.normal(0, measurement.sd_scan, len(person))
    return {
        "person": person, "arm": arm[person], "month": months, "age": age,
        "female": female[person].astype(float), "mean_fd_mm": fd[person, visit],
        "latent": latent, "predicted": predicted,
    }


def design_matrix(arm: np.ndarray, month: np.ndarray, age: np.ndarray, female: np.ndarray,
                  mean_fd_mm: np.ndarray) -> np.ndarray:
    """Fixed-effects design of the primary model, columns :data:`TERMS` (CON, month 0 reference).

    ``arm`` holds indices into :data:`ARMS` (0 HRT, 1 MIT, 2 CON); ``age`` is centred at 66.
    """
    hrt, mit = (arm == 0).astype(float), (arm == 1).astype(float)
    m12, m24 = (month == 12).astype(float), (month == 24).astype(float)
    return np.column_stack([
        np.ones_like(hrt), hrt, mit, m12, m24, hrt * m12, mit * m12, hrt * m24, mit * m24,
        np.asarray(age, float) - 66.0, female, mean_fd_mm,
    ])


def _contrast_weights() -> np.ndarray:
    """Rows: weights on :data:`TERMS` giving each contrast of :data:`CONTRASTS`.

    The contrast "A-B at month m" is the difference between arms in their change from
    baseline (the arm x visit interaction); randomisation makes baseline arms equal.
    """
    index = {t: i for i, t in enumerate(TERMS)}
    out = np.zeros((len(CONTRASTS), len(TERMS)))
    for row, (arm_a, arm_b, month) in enumerate(CONTRASTS.values()):
        for arm, sign in ((arm_a, 1.0), (arm_b, -1.0)):
            if arm != "CON":
                out[row, index[f"{arm}:month{month}"]] += sign
    return out


def true_contrasts(assumptions: TrialAssumptions) -> np.ndarray:
    """True latent-scale value (years) of every contrast in :data:`CONTRASTS`."""
    effects = _effects(assumptions)
    col = {12: 1, 24: 2}
    return np.array([effects[ARMS.index(a), col[m]] - effects[ARMS.index(b), col[m]]
                     for a, b, m in CONTRASTS.values()])


def _contrast_rows(fit: RandomInterceptFit) -> np.ndarray:
    """(estimate, SE) of every contrast of :data:`CONTRASTS` from one fit of the primary model."""
    return np.array([fit.contrast(w) for w in _contrast_weights()])


def _model_problem(gap: np.ndarray, scans: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The primary model's ``(y, X, groups)`` for one trial's gaps."""
    X = design_matrix(scans["arm"], scans["month"], scans["age"], scans["female"], scans["mean_fd_mm"])
    return gap, X, scans["person"]


def primary_contrasts(gap: np.ndarray, scans: Mapping[str, np.ndarray]) -> np.ndarray:
    """Fit the primary model to one trial's gaps; (estimate, SE) of every contrast.

    Returns
    -------
    ndarray of shape (n_contrasts, 2)
    """
    return _contrast_rows(fit_random_intercept(*_model_problem(gap, scans)))


def _replicate_problem(seed, assumptions: TrialAssumptions, measurement: MeasurementModel, scale: str,
                       n_per_arm: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate one fast-path trial and correct its gaps: the primary model's ``(y, X, groups)``."""
    rng = np.random.default_rng(seed)
    scans = simulate_scans(assumptions, measurement, rng, n_per_arm=n_per_arm)
    return _model_problem(measurement.gap(scans["predicted"], scans["age"], scale), scans)


def run_replicate(
    seed: np.random.SeedSequence | int,
    assumptions: TrialAssumptions,
    measurement: MeasurementModel,
    *,
    scale: str = "beheshti",
    n_per_arm: int | None = None,
) -> np.ndarray:
    """One fast-path replicate: simulate, draw predictions, correct, fit. (estimate, SE) rows."""
    _check_scale(scale)
    return _contrast_rows(fit_random_intercept(*_replicate_problem(seed, assumptions, measurement, scale,
                                                                   n_per_arm)))


# --------------------------------------------------------------------------------------
# Many replicates
# --------------------------------------------------------------------------------------
@dataclass
class SimulationResult:
    """Replicates of a simulation study.

    Attributes
    ----------
    replicates : DataFrame
        One row per replicate x contrast: ``replicate, contrast, estimate, se, ci_low, ci_high,
        p, p_fdr, truth_latent, truth`` (``truth`` on the analysed scale).
    scale : str
        Gap scale analysed.
    settings : dict
        Arguments of the run (assumptions, measurement model, seed, ...).
    """

    replicates: pd.DataFrame
    scale: str
    settings: dict

    def summary(self) -> pd.DataFrame:
        """:func:`summarise` of the replicates."""
        return summarise(self.replicates)


def _chunk_seeds(seeds: Sequence, n_chunks: int) -> list[list]:
    return [list(part) for part in np.array_split(np.array(seeds, dtype=object), n_chunks) if len(part)]


def _run_chunk(seeds, assumptions, measurement, scale, n_per_arm) -> list[np.ndarray]:
    """:func:`run_replicate` of every seed, the models fitted together (the same numbers, faster)."""
    problems = [_replicate_problem(s, assumptions, measurement, scale, n_per_arm) for s in seeds]
    return [_contrast_rows(fit) for fit in fit_random_intercepts(problems)]


def _tidy(raw: np.ndarray, truth_latent: np.ndarray, factor: float) -> pd.DataFrame:
    """Long table from raw (replicate, contrast, [estimate, se]) results."""
    n_rep, n_con, _ = raw.shape
    est, se = raw[..., 0], raw[..., 1]
    p = 2 * stats.norm.sf(np.abs(est / se))
    p_fdr = np.empty_like(p)
    for columns in _families().values():  # BH within each visit's family, as the book reports
        p_fdr[:, columns] = fdr_bh_rows(p[:, columns])
    frame = pd.DataFrame({
        "replicate": np.repeat(np.arange(n_rep), n_con),
        "contrast": np.tile(list(CONTRASTS), n_rep),
        "estimate": est.ravel(), "se": se.ravel(),
        "ci_low": (est - _Z95 * se).ravel(), "ci_high": (est + _Z95 * se).ravel(),
        "p": p.ravel(), "p_fdr": p_fdr.ravel(),
        "truth_latent": np.tile(truth_latent, n_rep), "truth": np.tile(truth_latent * factor, n_rep),
    })
    return frame


def _families() -> dict[int, list[int]]:
    """Columns of :data:`CONTRASTS` per visit: the book adjusts the three arm pairs of a visit."""
    out: dict[int, list[int]] = {}
    for i, (_, _, month) in enumerate(CONTRASTS.values()):
        out.setdefault(month, []).append(i)
    return out


def run_simulation(
    n_replicates: int = 500,
    *,
    assumptions: TrialAssumptions | None = None,
    measurement: MeasurementModel | None = None,
    scale: str = "beheshti",
    n_per_arm: int | None = None,
    seed: int = 0,
    n_jobs: int = 1,
) -> SimulationResult:
    """Run the fast-path simulation study.

    Parameters
    ----------
    n_replicates : int, default=500
        Number of simulated trials.
    assumptions : TrialAssumptions, optional
        The synthetic world (default: the book's; ``TrialAssumptions.null()`` for a null trial).
    measurement : MeasurementModel, optional
        The clock's measurement model (default: :class:`MeasurementModel` defaults; the book
        uses the one fitted to its trained clock).
    scale : {"beheshti", "cole", "none"}, default="beheshti"
        Bias correction of the analysed gap.
    n_per_arm : int, optional
        Participants randomised per arm (default: the trial's arm sizes); attendance and MRI
        rates follow the assumptions.
    seed : int, default=0
        Root seed; replicate ``i`` uses the ``i``-th child of ``SeedSequence(seed)``, so the
        results do not depend on ``n_jobs``.
    n_jobs : int, default=1
        Parallel workers (joblib).

    Returns
    -------
    SimulationResult
    """

    if not isinstance(n_replicates, (int, np.integer)) or n_replicates < 1:
        raise ValueError(f"n_replicates must be a positive integer, got {n_replicates!r}")
    if n_per_arm is not None and (not isinstance(n_per_arm, (int, np.integer)) or n_per_arm < 10):
        raise ValueError(f"n_per_arm must be an integer >= 10, got {n_per_arm!r}")
    _check_scale(scale)
    assumptions = TrialAssumptions() if assumptions is None else assumptions
    measurement = MeasurementModel() if measurement is None else measurement
    seeds = np.random.SeedSequence(seed).spawn(n_replicates)
    chunks = _chunk_seeds(seeds, max(1, min(n_replicates, 4 * max(n_jobs, 1))))
    parts = Parallel(n_jobs=n_jobs)(
        delayed(_run_chunk)(chunk, assumptions, measurement, scale, n_per_arm) for chunk in chunks
    )
    raw = np.stack([r for part in parts for r in part])
    table = _tidy(raw, true_contrasts(assumptions), measurement.scale_factor(scale))
    settings = {"n_replicates": n_replicates, "seed": seed, "scale": scale, "n_per_arm": n_per_arm,
                "assumptions": assumptions, "measurement": asdict(measurement)}
    return SimulationResult(table, scale, settings)


def _mc_se(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n))


def summarise(replicates: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Operating characteristics per contrast, with Monte Carlo standard errors.

    Returns
    -------
    DataFrame
        Indexed by contrast: ``truth`` (analysed scale), ``truth_latent``, ``mean_estimate``,
        ``bias``, ``bias_mcse``, ``rmse``, ``mean_se``, ``empirical_sd``, ``coverage``,
        ``coverage_mcse``, ``rejection``, ``rejection_mcse``, ``rejection_fdr``, ``n``, and
        the Monte Carlo SEs ``rejection_fdr_mcse``, ``empirical_sd_mcse``, ``rmse_mcse``.
        ``rejection`` is the type-I error where the truth is zero and the power elsewhere.
    """
    rows = {}
    for name, g in replicates.groupby("contrast", sort=False):
        n = len(g)
        truth = float(g["truth"].iloc[0])
        err = g["estimate"] - truth
        cover = float(np.mean((g["ci_low"] <= truth) & (truth <= g["ci_high"])))
        reject = float(np.mean(g["p"] < alpha))
        rows[name] = {
            "truth": truth, "truth_latent": float(g["truth_latent"].iloc[0]),
            "mean_estimate": float(g["estimate"].mean()), "bias": float(err.mean()),
            "bias_mcse": float(g["estimate"].std(ddof=1) / np.sqrt(n)),
            "rmse": float(np.sqrt(np.mean(err**2))), "mean_se": float(g["se"].mean()),
            "empirical_sd": float(g["estimate"].std(ddof=1)),
            "coverage": cover, "coverage_mcse": _mc_se(cover, n),
            "rejection": reject, "rejection_mcse": _mc_se(reject, n),
            "rejection_fdr": float(np.mean(g["p_fdr"] < alpha)),
            "rejection_fdr_mcse": _mc_se(float(np.mean(g["p_fdr"] < alpha)), n),
            "empirical_sd_mcse": float(g["estimate"].std(ddof=1) / np.sqrt(2 * (n - 1))) if n > 1 else np.nan,
            "rmse_mcse": float(np.std(err**2, ddof=1) / (2 * np.sqrt(np.mean(err**2)) * np.sqrt(n)))
            if n > 1 and np.mean(err**2) > 0 else np.nan,
            "n": n,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def fdr_summary(replicates: pd.DataFrame, *, alpha: float = 0.05, null_tolerance: float = 0.05) -> dict[str, float]:
    """False discovery rate and family-wise error of BH-adjusted tests, per visit family.

    As in the book, each visit's three arm pairs form one family (BH within it). A discovery is
    false when its contrast's true latent value is within ``null_tolerance`` years of zero: the
    published HRT - MIT difference at 12 months is -0.01 y, equal effects for every practical
    purpose (an exact ``== 0`` test would count its rejections as true discoveries). Returns
    ``fdr`` (mean false discovery proportion over replicates x families, 0 when nothing is
    rejected), ``fwer`` (probability of at least one false discovery in a family with
    unadjusted p < alpha), ``fwer_fdr`` (the same after BH), each with its Monte Carlo SE
    (``*_mcse``), and ``n`` (replicates x families).
    """
    month = replicates["contrast"].map({name: m for name, (_, _, m) in CONTRASTS.items()})
    keys = [replicates["replicate"], month]
    truth = replicates["truth_latent"] if "truth_latent" in replicates else replicates["truth"]
    null = truth.abs() < null_tolerance
    rej_fdr = replicates["p_fdr"] < alpha
    rej_raw = replicates["p"] < alpha
    per = pd.DataFrame({
        "false": (rej_fdr & null).groupby(keys).sum(),
        "total": rej_fdr.groupby(keys).sum(),
        "false_raw": (rej_raw & null).groupby(keys).sum(),
    })
    fdp = np.where(per["total"] > 0, per["false"] / per["total"].clip(lower=1), 0.0)
    n = len(per)
    fwer, fwer_fdr = float(np.mean(per["false_raw"] > 0)), float(np.mean(per["false"] > 0))
    return {"fdr": float(fdp.mean()), "fdr_mcse": float(fdp.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
            "fwer": fwer, "fwer_mcse": _mc_se(fwer, n), "fwer_fdr": fwer_fdr, "fwer_fdr_mcse": _mc_se(fwer_fdr, n),
            "n": n}


def power_grid(
    n_per_arm: Sequence[int],
    error_sd: Sequence[float],
    *,
    n_replicates: int = 200,
    effect: float = -1.4,
    contrast: str = "HRT-CON 12m",
    assumptions: TrialAssumptions | None = None,
    measurement: MeasurementModel | None = None,
    scale: str = "beheshti",
    alpha: float = 0.05,
    seed: int = 0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Simulated power of one contrast over participants per arm x clock error SD.

    The latent effect ``effect`` (years) is set for both training arms at 12 and 24 months;
    the clock's total error SD is varied with its within-person correlation kept.

    Returns
    -------
    DataFrame
        ``n_per_arm, error_sd, power, power_mcse, mean_se, analytic_power`` per grid point.
    """
    assumptions = TrialAssumptions() if assumptions is None else assumptions
    measurement = MeasurementModel() if measurement is None else measurement
    world = replace(assumptions, effect_12m_hrt=effect, effect_12m_mit=effect,
                    effect_24m_hrt=effect, effect_24m_mit=effect)
    rows = []
    for i, n in enumerate(n_per_arm):
        for j, sd in enumerate(error_sd):
            model = measurement.with_error_sd(float(sd))
            result = run_simulation(n_replicates, assumptions=world, measurement=model, scale=scale,
                                    n_per_arm=int(n), seed=seed + 1000 * i + j, n_jobs=n_jobs)
            g = result.replicates[result.replicates["contrast"] == contrast]
            power = float(np.mean(g["p"] < alpha))
            mean_se = float(g["se"].mean())
            rows.append({"n_per_arm": int(n), "error_sd": float(sd), "power": power,
                         "power_mcse": _mc_se(power, len(g)), "mean_se": mean_se,
                         "analytic_power": analytic_power(effect * model.scale_factor(scale), mean_se, alpha)})
    return pd.DataFrame(rows)


def required_n(grid: pd.DataFrame, effect: float, *, power: float = 0.8, alpha: float = 0.05) -> pd.DataFrame:
    """Participants per arm needed for ``power``, per clock error SD, from a :func:`power_grid`.

    The simulated standard errors scale as ``c / sqrt(n)``; ``c`` is estimated per error SD
    (mean of ``mean_se * sqrt(n)`` over the grid) and the two-sided z-test sample size
    ``n = (c (z_{1-alpha/2} + z_power) / |effect|)^2`` is returned, rounded up.

    Parameters
    ----------
    grid : DataFrame
        Output of :func:`power_grid`.
    effect : float
        True effect on the analysed scale (e.g. ``-1.4 * measurement.scale_factor(scale)``).
    """
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power!r}")
    if effect == 0:
        raise ValueError("effect must be non-zero")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    c = (grid["mean_se"] * np.sqrt(grid["n_per_arm"])).groupby(grid["error_sd"]).mean()
    n = np.ceil((c * z / abs(effect)) ** 2).astype(int)
    return pd.DataFrame({"error_sd": c.index, "n_per_arm": n.to_numpy()}).reset_index(drop=True)


def scaled_effects(assumptions: TrialAssumptions, factor: float) -> TrialAssumptions:
    """The same world with every latent arm effect multiplied by ``factor``."""
    return replace(assumptions, **{name: factor * getattr(assumptions, name) for name in
                                   ("effect_12m_hrt", "effect_12m_mit", "effect_24m_hrt", "effect_24m_mit")})


def effect_readings(
    measurement: MeasurementModel,
    *,
    effect: float = -1.40,
    n_replicates: int = 2000,
    n_per_arm: Sequence[int] = (25, 50, 75, 100, 150, 200, 300),
    grid_replicates: int = 300,
    contrast: str = "HRT-CON 12m",
    scale: str = "beheshti",
    seed: int = 0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Power and sample size under the two readings of a published effect, side by side.

    A published brain-age effect (LISA: -1.40 y for HRT vs control at 12 months) is either a
    change in **latent** brain age, which a shrinking clock sees as ``effect * b`` on its
    (Beheshti) scale, or the change **on the clock's scale** itself, i.e. a latent change of
    ``effect / b``. ``b`` is the clock's ``scale_factor(scale)``.

    For each reading, the world's four latent arm effects are scaled so that the HRT - control
    effect at 12 months is the reading's latent effect (MIT and 24-month effects in proportion),
    and the fast path gives the power at the trial's size (``n_replicates`` trials, seed
    ``seed``) and, from a :func:`power_grid` at the clock's error SD, the participants per arm
    for 80% power (:func:`required_n`).

    Returns
    -------
    DataFrame
        Indexed by ``reading`` ("latent", "clock scale"): ``latent_effect``, ``clock_effect``
        (on ``scale``), ``power``, ``power_mcse``, ``n`` (replicates), ``n_per_arm_80``.
    """
    b = measurement.scale_factor(scale)
    base = TrialAssumptions()
    published = getattr(base, f"effect_{CONTRASTS[contrast][2]}m_{CONTRASTS[contrast][0].lower()}")
    rows = {}
    for reading, latent in (("latent", effect), ("clock scale", effect / b)):
        world = scaled_effects(base, latent / published)
        result = run_simulation(n_replicates, assumptions=world, measurement=measurement, scale=scale,
                                seed=seed, n_jobs=n_jobs)
        row = summarise(result.replicates).loc[contrast]
        grid = power_grid(n_per_arm, [measurement.error_sd], n_replicates=grid_replicates, effect=latent,
                          contrast=contrast, measurement=measurement, scale=scale, seed=seed + 1, n_jobs=n_jobs)
        rows[reading] = {"latent_effect": latent, "clock_effect": latent * b, "power": float(row["rejection"]),
                         "power_mcse": float(row["rejection_mcse"]), "n": int(row["n"]),
                         "n_per_arm_80": int(required_n(grid, effect=latent * b)["n_per_arm"].iloc[0])}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("reading")


def analytic_power(effect: float, se: float, alpha: float = 0.05) -> float:
    """Power of a two-sided Wald z-test for a true ``effect`` estimated with standard error ``se``."""
    if se <= 0:
        raise ValueError(f"se must be > 0, got {se!r}")
    z = stats.norm.ppf(1 - alpha / 2)
    shift = abs(effect) / se
    return float(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift))


# --------------------------------------------------------------------------------------
# The full pipeline, for validating the fast path
# --------------------------------------------------------------------------------------
def full_pipeline_replicate(
    seed: int,
    clock,
    assumptions: TrialAssumptions | None = None,
    *,
    scale: str = "beheshti",
) -> np.ndarray:
    """One replicate of the whole pipeline: time series -> connectivity -> clock -> mixed model.

    Parameters
    ----------
    seed : int
        Seed of :func:`analysis.trial.simulate_trial`.
    clock : analysis.clock.BrainAgeClock
        A fitted clock (trained once on the reference cohort).
    assumptions : TrialAssumptions, optional
        The synthetic world.
    scale : {"beheshti", "cole", "none"}
        Bias correction of the analysed gap.

    Returns
    -------
    ndarray of shape (n_contrasts, 2)
        (estimate, SE) per contrast, as :func:`run_replicate`.
    """

    _check_scale(scale)
    assumptions = TrialAssumptions() if assumptions is None else assumptions
    trial = simulate_trial(seed=seed, assumptions=assumptions)
    scans = trial.scans
    with single_threaded_blas():
        predicted = clock.predict(shrunk_covariances(trial.iter_timeseries(scans)))
    gap = clock.correct(predicted, scans["age"].to_numpy(float), scale)
    return primary_contrasts(gap, _as_arrays(scans))


def book_measurement_model(seed: int = 0) -> MeasurementModel:
    """The measurement model of the book's clock on the book's synthetic trial (cached clock output)."""

    trial = simulate_trial(seed=seed)
    return measurement_from_trial(trial, trial_brain_age(trial, seed=seed))


def scaled_assumptions(assumptions: TrialAssumptions, n_per_arm: int) -> TrialAssumptions:
    """The same world with ``n_per_arm`` randomised per arm and attendance scaled in proportion."""
    if not isinstance(n_per_arm, (int, np.integer)) or n_per_arm < 10:
        raise ValueError(f"n_per_arm must be an integer >= 10, got {n_per_arm!r}")
    a = assumptions
    ratio = [n_per_arm / max(s, 1) for s in a.arm_sizes]
    return a.with_overrides(
        arm_sizes=(n_per_arm,) * 3,
        attended_12m=tuple(min(n_per_arm, int(round(c * r))) for c, r in zip(a.attended_12m, ratio)),
        attended_24m=tuple(min(int(round(c12 * r)), int(round(c * r)))
                           for c12, c, r in zip(a.attended_12m, a.attended_24m, ratio)),
    )


def train_clock(n_reference: int = 2433, *, seed: int = 0, assumptions: TrialAssumptions | None = None):
    """Train the book's clock (tangent + ridge, Beheshti) on a simulated reference cohort."""

    reference = simulate_reference(n_reference, seed=seed, assumptions=assumptions)
    with single_threaded_blas():
        stack = shrunk_covariances(reference.iter_timeseries())
        return BrainAgeClock(connectivity="tangent", random_state=seed).fit(
            stack, reference.participants["age"].to_numpy(float))


def measurement_from_clock(clock, trial) -> MeasurementModel:
    """:class:`MeasurementModel` of a fitted ``clock`` applied to every usable scan of ``trial``."""

    scans = trial.scans
    with single_threaded_blas():
        predicted = clock.predict(shrunk_covariances(trial.iter_timeseries(scans)))
    keys = ["participant_id", "month"]
    latent = scans[keys].merge(trial.truth[keys + ["brain_age"]], on=keys, how="left")["brain_age"]
    return MeasurementModel.fit(latent.to_numpy(float), predicted, scans["participant_id"].to_numpy(),
                                mean_fd_mm=scans["mean_fd_mm"].to_numpy(float), correction=clock.correction_)


def _as_arrays(scans: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "person": scans["participant_id"].to_numpy(),
        "arm": scans["arm"].map({a: i for i, a in enumerate(ARMS)}).to_numpy(),
        "month": scans["month"].to_numpy(int), "age": scans["age"].to_numpy(float),
        "female": scans["sex"].astype(str).str.upper().str.startswith("F").to_numpy(float),
        "mean_fd_mm": scans["mean_fd_mm"].to_numpy(float),
    }


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m analysis.simstudy``: run the fast-path study and print its summary."""
    parser = argparse.ArgumentParser(prog="python -m analysis.simstudy", description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=2000, help="number of simulated trials")
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel workers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", choices=SCALES, default="beheshti")
    parser.add_argument("--null", action="store_true", help="simulate a null trial (no arm effects)")
    parser.add_argument("--clock", choices=("book", "default"), default="book",
                        help="measurement model: the book's trained clock (as in the book) or the "
                             "MeasurementModel defaults (no clock training)")
    parser.add_argument("--out", help="write the replicates to this CSV file")
    args = parser.parse_args(argv)
    assumptions = TrialAssumptions.null() if args.null else TrialAssumptions()
    measurement = book_measurement_model() if args.clock == "book" else MeasurementModel()
    result = run_simulation(args.replicates, assumptions=assumptions, measurement=measurement,
                            scale=args.scale, seed=args.seed, n_jobs=args.n_jobs)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(result.summary().round(3))
        print(fdr_summary(result.replicates))
    if args.out:
        result.replicates.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
