"""Generative model of the synthetic LISA trial: cohort tables and ROI time series.

Random streams: every draw comes from ``numpy.random.SeedSequence(seed, spawn_key=...)`` with a
spawn key naming what is drawn (cohort tables, one person's fingerprint, one scan), so any
subset of scans is generated identically and cheaply, in any order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from analysis._threads import single_threaded_blas
from analysis.atlas import PREFRONTAL
from analysis.trial.assumptions import TrialAssumptions
from analysis.trial.design import LISA
from analysis.trial.reference import has_regions, region_mask

#: The simulator simulates LISA: its arms (HRT, MIT, CON), control and visit months (0, 12, 24).
ARMS, CONTROL, MONTHS = tuple(LISA.labels), LISA.control, tuple(LISA.visits)

KIND_TRIAL, KIND_REFERENCE = 1, 2
_STREAM_COHORT, _STREAM_PERSON, _STREAM_SCAN = 0, 1, 2


def stream(seed: int, *key: int) -> np.random.Generator:
    """An independent generator for the named stream ``key`` of ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))


def _gumbel_top_k(rng: np.random.Generator, logits: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of k items sampled without replacement with probability ~ exp(logit)."""
    keys = np.asarray(logits, float) + rng.gumbel(size=len(logits))
    mask = np.zeros(len(logits), bool)
    if k > 0:
        mask[np.argsort(-keys, kind="stable")[:k]] = True
    return mask


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = np.nanstd(x)
    return (x - np.nanmean(x)) / (sd if sd > 0 else 1.0)


# --------------------------------------------------------------------------------------------
# cohort tables
# --------------------------------------------------------------------------------------------
def _baseline(rng: np.random.Generator, a: TrialAssumptions, n: int) -> pd.DataFrame:
    sex = np.where(rng.random(n) < a.female_fraction, "F", "M")
    age = rng.normal(a.age_mean, a.age_sd, 4 * n)
    age = age[(age >= a.age_min) & (age <= a.age_max)][:n]
    bmi = np.clip(rng.normal(a.bmi_mean, a.bmi_sd, n), 17.0, 45.0)
    chair = np.clip(np.rint(rng.normal(a.chair_stand_mean, a.chair_stand_sd, n)), 3, 30).astype(np.int64)
    return pd.DataFrame({"sex": sex, "age": np.round(age, 2), "bmi": np.round(bmi, 1), "chair_stand_30s": chair})


def _stratum(frame: pd.DataFrame) -> pd.Series:
    bmi = np.where(frame["bmi"] <= 28, "BMI<=28", "BMI>28")
    chair = np.where(frame["chair_stand_30s"] <= 11, "CS<=11", "CS>11")
    return frame["sex"] + "|" + pd.Series(bmi, index=frame.index) + "|" + pd.Series(chair, index=frame.index)


def _randomise(rng: np.random.Generator, strata: pd.Series, sizes: tuple) -> np.ndarray:
    """Stratified allocation: within each stratum, arms in shuffled order; totals exactly ``sizes``.

    People are taken stratum by stratum (a stratified permuted sequence); each person receives
    the arm with the largest remaining quota deficit relative to the stratum's running share,
    ties broken at random, so arms are balanced within strata and totals are exact.
    """
    n = len(strata)
    total = np.asarray(sizes, float)
    remaining = np.asarray(sizes, int).copy()
    arm = np.empty(n, dtype=object)
    order = np.concatenate([rng.permutation(np.flatnonzero(strata.to_numpy() == s)) for s in sorted(strata.unique())])
    counts = {s: np.zeros(3) for s in strata.unique()}
    for i in order:
        s = strata.iat[i]
        target = total / total.sum() * (counts[s].sum() + 1)
        deficit = target - counts[s] + rng.random(3) * 1e-6
        deficit[remaining == 0] = -np.inf
        k = int(np.argmax(deficit))
        arm[i] = ARMS[k]
        counts[s][k] += 1
        remaining[k] -= 1
    return arm.astype(str)


def _mvc_baseline(rng: np.random.Generator, a: TrialAssumptions, frame: pd.DataFrame) -> np.ndarray:
    female = frame["sex"].to_numpy() == "F"
    mean = np.where(female, a.mvc_female_mean, a.mvc_male_mean)
    sd = np.where(female, a.mvc_female_sd, a.mvc_male_sd)
    true = mean * (1 + a.mvc_age_slope * (frame["age"].to_numpy() - 66.0)) + sd * rng.standard_normal(len(frame))
    return np.maximum(true, 25.0)


def _adherence(rng: np.random.Generator, a: TrialAssumptions, arm: np.ndarray) -> np.ndarray:
    out = a.adherence_planned * rng.beta(a.adherence_alpha, a.adherence_beta, len(arm))
    return np.where(arm == CONTROL, np.nan, np.round(out, 2))


def _attendance(rng, a: TrialAssumptions, frame: pd.DataFrame, mvc0: np.ndarray, adherence: np.ndarray,
                mri_eligible: np.ndarray):
    """Monotone dropout with exact per-arm counts.

    Who drops out depends on baseline age, strength, adherence (training arms) and on not taking
    part in MRI (people in the MRI sub-study were retained better: 276 had MRI at all four
    time points).
    """
    adh_z = np.nan_to_num(_zscore(adherence))
    logit_drop = (a.dropout_age_logodds * (frame["age"].to_numpy() - 66.0)
                  + a.dropout_strength_logodds * _zscore(mvc0)
                  + a.dropout_adherence_logodds * adh_z
                  + a.dropout_no_mri_logodds * ~mri_eligible)
    att12 = np.zeros(len(frame), bool)
    att24 = np.zeros(len(frame), bool)
    arm = frame["arm"].to_numpy()
    for k, name in enumerate(ARMS):
        idx = np.flatnonzero(arm == name)
        keep12 = idx[~_gumbel_top_k(rng, logit_drop[idx], len(idx) - a.attended_12m[k])]
        att12[keep12] = True
        keep24 = keep12[~_gumbel_top_k(rng, logit_drop[keep12], len(keep12) - a.attended_24m[k])]
        att24[keep24] = True
    return att12, att24


def _strength(rng, a: TrialAssumptions, arm: np.ndarray, mvc0: np.ndarray, adherence: np.ndarray,
              attended24: np.ndarray):
    """True MVC at 0/12/24 months, self-training flag, and measured MVC."""
    n = len(arm)
    gain1 = np.select([arm == "HRT", arm == "MIT"], [a.gain_12m_hrt, a.gain_12m_mit], a.gain_12m_con)
    train = arm != CONTROL
    adh_rel = np.where(train, np.nan_to_num(adherence) / (a.adherence_planned * a.adherence_alpha
                                                             / (a.adherence_alpha + a.adherence_beta)), 1.0)
    # training gain scales with adherence (half fixed, half proportional)
    gain1 = np.where(train, gain1 * (0.5 + 0.5 * adh_rel), gain1)
    change1 = gain1 + a.strength_response_sd * rng.standard_normal(n)
    # exactly self_training_fraction of the trainees attending month 24 keep training; the more
    # adherent in year 1 are more likely to (odds x e per SD of adherence)
    pool = train & attended24
    self_train = np.zeros(n, bool)
    weights = np.nan_to_num(_zscore(np.where(pool, adherence, np.nan)))
    chosen = _gumbel_top_k(rng, weights[pool], int(round(a.self_training_fraction * pool.sum())))
    self_train[np.flatnonzero(pool)[chosen]] = True
    year2 = np.where(train, np.where(self_train, a.year2_change_self_training, a.year2_change_stopped),
                     a.year2_change_con)
    change2 = year2 + a.strength_response_sd * rng.standard_normal(n)
    true = np.column_stack([mvc0, mvc0 * (1 + change1), mvc0 * (1 + change1) * (1 + change2)])
    measured = true * (1 + a.mvc_measurement_sd * rng.standard_normal(true.shape))
    return np.maximum(true, 1.0), np.round(np.maximum(measured, 1.0), 1), self_train


def _motion(rng, a: TrialAssumptions, age: np.ndarray, n_visits: int) -> np.ndarray:
    """Mean framewise displacement (mm), person x visit, log-normal with a stable person term."""
    person = a.fd_person_sd * rng.standard_normal((len(age), 1))
    visit = a.fd_visit_sd * rng.standard_normal((len(age), n_visits))
    log_fd = np.log(a.fd_median_mm) + a.fd_age_slope * (age[:, None] - 66.0) + person + visit
    return np.round(np.exp(log_fd), 3)


def _mri_eligible(rng, a: TrialAssumptions, frame: pd.DataFrame, fd: np.ndarray) -> np.ndarray:
    """Who is scanned at baseline; exactly ``mri_usable_baseline`` of them have a usable scan."""
    n = len(frame)
    low = fd[:, 0] <= a.fd_exclusion_mm
    target = int(round(a.mri_usable_baseline * a.scale))
    if target > low.sum():
        raise ValueError(f"mri_usable_baseline={a.mri_usable_baseline} exceeds the {low.sum()} low-motion people")
    # assumption: larger bodies are scanned a little less often (bore size, contraindications)
    logits = np.where(low, -0.05 * (frame["bmi"].to_numpy() - a.bmi_mean), -np.inf)
    usable0 = _gumbel_top_k(rng, np.where(low, logits, -1e9), target) & low
    excluded0 = ~low & (rng.random(n) < a.mri_motion_excluded_fraction)
    return usable0 | excluded0  # stable: who is scanned at baseline can be scanned later


def _mri(rng, a: TrialAssumptions, eligible: np.ndarray, fd: np.ndarray, attended: np.ndarray):
    """MRI acquired / usable per person x visit."""
    n = len(eligible)
    acquired = np.zeros_like(attended)
    acquired[:, 0] = eligible
    acquired[:, 1:] = eligible[:, None] & attended[:, 1:] & (rng.random((n, 2)) >= a.mri_followup_missed)
    usable = acquired & (fd <= a.fd_exclusion_mm)
    return acquired, usable


def simulate_tables(seed: int, a: TrialAssumptions) -> dict[str, pd.DataFrame]:
    """Participants, visits and truth tables of a synthetic trial."""
    rng = stream(seed, KIND_TRIAL, _STREAM_COHORT)
    n = sum(a.arm_sizes)
    people = _baseline(rng, a, n)
    people.insert(0, "participant_id", [f"L{i + 1:04d}" for i in range(n)])
    people["stratum"] = _stratum(people)
    people.insert(1, "arm", _randomise(rng, people["stratum"], a.arm_sizes))
    people = people[["participant_id", "arm", "sex", "age", "bmi", "chair_stand_30s", "stratum"]]
    arm = people["arm"].to_numpy()
    mvc0 = _mvc_baseline(rng, a, people)
    adherence = _adherence(rng, a, arm)
    fd = _motion(rng, a, people["age"].to_numpy(), 3)
    eligible = _mri_eligible(rng, a, people, fd)
    att12, att24 = _attendance(rng, a, people, mvc0, adherence, eligible)
    attended = np.column_stack([np.ones(n, bool), att12, att24])
    mvc_true, mvc_meas, self_train = _strength(rng, a, arm, mvc0, adherence, att24)
    acquired, usable = _mri(rng, a, eligible, fd, attended)
    jitter = np.round(rng.normal(0, 0.04, (n, 3)), 2)
    jitter[:, 0] = 0.0
    visit_age = np.round(people["age"].to_numpy()[:, None] + np.array(MONTHS) / 12 + jitter, 2)
    visits = _visit_table(people, a, attended, visit_age, mvc_meas, adherence, self_train, acquired, usable, fd)
    truth = _truth_table(rng, a, people, visit_age, mvc_true)
    return {"participants": people.reset_index(drop=True), "visits": visits, "truth": truth}


def _visit_table(people, a, attended, visit_age, mvc, adherence, self_train, acquired, usable, fd) -> pd.DataFrame:
    n = len(people)
    arm = people["arm"].to_numpy()
    rows = []
    for m_i, month in enumerate(MONTHS):
        train = arm != CONTROL
        st = pd.array([pd.NA] * n, dtype="boolean")
        if month in LISA.followup_visits:
            st = pd.array(np.where(train & attended[:, m_i], self_train, False), dtype="boolean")
            st[~(train & attended[:, m_i])] = pd.NA
        rows.append(pd.DataFrame({
            "participant_id": people["participant_id"].to_numpy(),
            "month": np.full(n, month, dtype=np.int64),
            "attended": attended[:, m_i],
            "age": visit_age[:, m_i],
            "knee_extensor_mvc_nm": np.where(attended[:, m_i], mvc[:, m_i], np.nan),
            "adherence_sessions_per_week": adherence if month == LISA.primary_visit else np.full(n, np.nan),
            "self_training": st,
            "mri_acquired": acquired[:, m_i],
            "mri_usable": usable[:, m_i],
            "mean_fd_mm": np.where(acquired[:, m_i], fd[:, m_i], np.nan),
            "n_volumes": pd.array(np.where(acquired[:, m_i], a.n_volumes, 0), dtype="Int64"),
        }))
        rows[-1].loc[~acquired[:, m_i], "n_volumes"] = pd.NA
    visits = pd.concat(rows, ignore_index=True)
    order = np.lexsort((visits["month"].to_numpy(), visits["participant_id"].to_numpy()))
    return visits.iloc[order].reset_index(drop=True)


def _arm_effect(a: TrialAssumptions, arm: np.ndarray, month: int) -> np.ndarray:
    if month == 0:
        return np.zeros(len(arm))
    hrt = a.effect_12m_hrt if month == 12 else a.effect_24m_hrt
    mit = a.effect_12m_mit if month == 12 else a.effect_24m_mit
    return np.select([arm == "HRT", arm == "MIT"], [hrt, mit], 0.0)


def _truth_table(rng, a: TrialAssumptions, people: pd.DataFrame, visit_age: np.ndarray, mvc_true: np.ndarray) -> pd.DataFrame:
    n = len(people)
    arm = people["arm"].to_numpy()
    gap = a.brain_age_gap_sd * rng.standard_normal(n)
    noise = a.brain_age_visit_sd * rng.standard_normal((n, 3))
    pct = 100 * (mvc_true / mvc_true[:, [0]] - 1)
    rows = []
    for m_i, month in enumerate(MONTHS):
        # coupling to strength change beyond the arm mean: the arm effect stays exactly the parameter
        dev = pct[:, m_i] - pd.Series(pct[:, m_i]).groupby(arm).transform("mean").to_numpy()
        strength_term = a.strength_coupling * dev if month else np.zeros(n)
        effect = _arm_effect(a, arm, month)
        rows.append(pd.DataFrame({
            "participant_id": people["participant_id"].to_numpy(), "month": month, "arm": arm,
            "age": visit_age[:, m_i], "gap_stable": gap, "arm_effect": effect,
            "strength_change_pct": pct[:, m_i], "strength_term": strength_term, "visit_noise": noise[:, m_i],
            "brain_age": visit_age[:, m_i] + gap + effect + strength_term + noise[:, m_i],
        }))
    truth = pd.concat(rows, ignore_index=True)
    order = np.lexsort((truth["month"].to_numpy(), truth["participant_id"].to_numpy()))
    return truth.iloc[order].reset_index(drop=True)


def simulate_reference_table(seed: int, a: TrialAssumptions, n: int) -> pd.DataFrame:
    """Healthy reference adults: id, age, sex, mean FD, and their latent brain age."""
    rng = stream(seed, KIND_REFERENCE, _STREAM_COHORT)
    age = rng.normal(a.reference_age_mean, a.reference_age_sd, 6 * n + 100)
    age = np.round(age[(age >= a.reference_age_min) & (age <= a.reference_age_max)][:n], 2)
    sex = np.where(rng.random(n) < a.reference_female_fraction, "F", "M")
    log_fd = (np.log(a.fd_median_mm) + a.fd_age_slope * (age - 66.0)
              + np.hypot(a.fd_person_sd, a.fd_visit_sd) * rng.standard_normal(n))
    fd = np.round(np.minimum(np.exp(log_fd), a.fd_exclusion_mm), 3)
    brain_age = age + a.brain_age_gap_sd * rng.standard_normal(n) + a.brain_age_visit_sd * rng.standard_normal(n)
    return pd.DataFrame({"participant_id": [f"R{i + 1:04d}" for i in range(n)], "age": age, "sex": sex,
                         "mean_fd_mm": fd, "n_volumes": np.full(n, a.n_volumes, dtype=np.int64),
                         "brain_age": brain_age})


# --------------------------------------------------------------------------------------------
# time series
# --------------------------------------------------------------------------------------------
class SignalModel:
    """ROI-level structure shared by every cohort, and the per-scan time-series generator.

    Signal of ROI j at time t (before AR(1) filtering)::

        w_j(b) g_net(j)(t) + u_j(b) h(t) + F_i[j] f(t) + S[j] s(t) + fd m_j q(t) + p_j c(t) + e_j(t)

    with network signals g, a shared between-network signal h, the person's stable fingerprint
    F_i, session noise S, motion noise scaled by the scan's mean FD, an HRT prefrontal signal c
    and ROI noise e. The within-network loading w falls and the between-network loading u rises
    with latent brain age b (segregation declines with age: Chan 2014, Geerligs 2015).

    Parameters
    ----------
    a : TrialAssumptions
        The assumptions.
    atlas : pandas.DataFrame
        The ROIs: ``network`` groups them; ``p_j`` is 1 for the ROIs whose optional ``region``
        is ``"prefrontal"`` and 0 otherwise (0 everywhere for an atlas without regions).
    """

    def __init__(self, a: TrialAssumptions, atlas: pd.DataFrame):
        self.a = a
        networks = atlas["network"].to_numpy()
        rng = stream(a.structure_seed, 0)
        self.p = len(networks)
        names, codes = np.unique(networks, return_inverse=True)
        self.n_networks = len(names)
        self.member = np.zeros((self.n_networks, self.p))
        self.member[codes, np.arange(self.p)] = 1.0
        self.w0 = a.within_loading * rng.uniform(0.7, 1.3, self.p)
        self.u0 = a.between_loading * rng.uniform(0.6, 1.4, self.p)
        self.sens_w = np.maximum(1 + a.roi_age_sensitivity_sd * rng.standard_normal(self.p), 0.0)
        self.sens_u = np.maximum(1 + a.roi_age_sensitivity_sd * rng.standard_normal(self.p), 0.0)
        self.motion = rng.uniform(0.5, 1.5, self.p)
        self.pfc = region_mask(atlas, PREFRONTAL).astype(float) if has_regions(atlas) else np.zeros(self.p)

    def loadings(self, brain_age: float) -> tuple[np.ndarray, np.ndarray]:
        z = (brain_age - self.a.age_center) / self.a.age_scale
        w = self.w0 * np.exp(-self.a.segregation_decline * self.sens_w * z)
        u = self.u0 * np.exp(self.a.integration_rise * self.sens_u * z)
        return w, u

    def fingerprint(self, seed: int, kind: int, person: int) -> np.ndarray:
        rng = stream(seed, kind, _STREAM_PERSON, person)
        return self.a.fingerprint_sd * rng.standard_normal((self.a.fingerprint_rank, self.p))

    def scan(self, seed: int, kind: int, person: int, month: int, brain_age: float, fd: float,
             prefrontal: float, n_volumes: int) -> np.ndarray:
        """One scan's (n_volumes, n_rois) float64 time series, from its own stream."""
        # small matrix products: BLAS threads only add overhead (20 s instead of 3 s on a busy
        # 2-core machine), and one thread keeps the result independent of the thread count
        with single_threaded_blas():
            return self._scan(seed, kind, person, month, brain_age, fd, prefrontal, n_volumes)

    def _scan(self, seed, kind, person, month, brain_age, fd, prefrontal, n_volumes) -> np.ndarray:
        a = self.a
        rng = stream(seed, kind, _STREAM_SCAN, person, month)
        w, u = self.loadings(brain_age)
        r_f, r_s = a.fingerprint_rank, a.session_rank
        load = np.vstack([
            self.member * w,                      # network signals
            u[None, :],                           # shared between-network signal
            self.fingerprint(seed, kind, person),  # stable personal fingerprint
            a.session_sd * rng.standard_normal((r_s, self.p)),
            (a.motion_sd_per_mm * fd * self.motion)[None, :],
            (prefrontal * self.pfc)[None, :],
        ])
        k = load.shape[0]
        latent = rng.standard_normal((n_volumes, k))
        x = latent @ load + a.unique_sd * rng.standard_normal((n_volumes, self.p))
        assert load.shape[0] == self.n_networks + 1 + r_f + r_s + 2
        b = np.sqrt(1 - a.ar1**2)
        # start in the stationary state: the first sample keeps unit variance
        x, _ = lfilter([b], [1.0, -a.ar1], x, axis=0, zi=(1 - b) * x[:1])
        return np.ascontiguousarray(x, dtype=np.float64)
