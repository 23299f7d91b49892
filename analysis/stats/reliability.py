"""Test-retest reliability: intraclass correlations :cite:p:`shrout1979,mcgraw1996` and the
smallest detectable change :cite:p:`devet2006`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.stats._checks import (
    _check_frame,
    _check_prob,
    _z,
)

__all__ = ["icc", "smallest_detectable_change"]




_ICC_DESCRIPTIONS = {
    "ICC1": "one-way random, single measurement",
    "ICC2": "two-way random, absolute agreement, single measurement",
    "ICC3": "two-way mixed, consistency, single measurement",
    "ICC1k": "one-way random, mean of k measurements",
    "ICC2k": "two-way random, absolute agreement, mean of k measurements",
    "ICC3k": "two-way mixed, consistency, mean of k measurements",
}


def icc(data: pd.DataFrame, subject: str, session: str, value: str, *, confidence: float = 0.95) -> pd.DataFrame:
    """Intraclass correlations of Shrout & Fleiss (1979) from a two-way ANOVA, with F-based CIs.

    ``ICC2`` (two-way random effects, absolute agreement) suits test-retest reliability when a
    systematic change between sessions counts as error; ``ICC3`` (two-way mixed, consistency)
    ignores such a shift. Intervals follow Shrout & Fleiss (1979) and McGraw & Wong (1996).
    Only subjects measured at every session are used (the ANOVA needs a complete table); the
    ``n`` column says how many.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per subject x session.
    subject, session, value : str
        Columns: the measured target, the session (rater, occasion), the measurement.
    confidence : float
        Coverage of the intervals.

    Returns
    -------
    DataFrame
        Indexed by ``type`` (ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k): ``description, estimate,
        F, df1, df2, p, ci_low, ci_high, n, k, sem``. ``sem`` is the standard error of
        measurement of one measurement, ``sqrt(error mean square)`` (within-subject mean square
        for ICC1, the agreement error ``sqrt(EMS + (JMS - EMS)/n)`` for ICC2).
    """
    _check_frame(data, [subject, session, value])
    confidence = _check_prob(confidence, "confidence")
    if data.duplicated([subject, session]).any():
        raise ValueError(f"data has more than one row per {subject!r} x {session!r}")
    wide = data.pivot(index=subject, columns=session, values=value).dropna()
    n, k = wide.shape
    if n < 2 or k < 2:
        raise ValueError(f"icc needs at least 2 subjects with all sessions and 2 sessions, got n={n}, k={k}")
    Y = wide.to_numpy(dtype=float)
    grand = Y.mean()
    ss_rows = k * ((Y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((Y.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((Y - grand) ** 2).sum()
    ss_err = ss_total - ss_rows - ss_cols
    BMS, JMS = ss_rows / (n - 1), ss_cols / (k - 1)
    EMS = ss_err / ((n - 1) * (k - 1))
    WMS = (ss_cols + ss_err) / (n * (k - 1))
    a = 1 - confidence
    fq = lambda d1, d2: sps.f.ppf(1 - a / 2, d1, d2)  # noqa: E731

    out = {}
    # ICC1: one-way
    F1 = BMS / WMS
    d1, d2 = n - 1, n * (k - 1)
    FL, FU = F1 / fq(d1, d2), F1 * fq(d2, d1)
    est1 = (BMS - WMS) / (BMS + (k - 1) * WMS)
    out["ICC1"] = (est1, F1, d1, d2, (FL - 1) / (FL + k - 1), (FU - 1) / (FU + k - 1), np.sqrt(WMS))
    out["ICC1k"] = ((BMS - WMS) / BMS, F1, d1, d2, 1 - 1 / FL, 1 - 1 / FU, np.sqrt(WMS))
    # ICC3: two-way mixed, consistency
    F3 = BMS / EMS
    d1, d2 = n - 1, (n - 1) * (k - 1)
    FL, FU = F3 / fq(d1, d2), F3 * fq(d2, d1)
    out["ICC3"] = ((BMS - EMS) / (BMS + (k - 1) * EMS), F3, d1, d2, (FL - 1) / (FL + k - 1),
                   (FU - 1) / (FU + k - 1), np.sqrt(EMS))
    out["ICC3k"] = ((BMS - EMS) / BMS, F3, d1, d2, 1 - 1 / FL, 1 - 1 / FU, np.sqrt(EMS))
    # ICC2: two-way random, absolute agreement (Satterthwaite df for the CI)
    icc2 = (BMS - EMS) / (BMS + (k - 1) * EMS + k * (JMS - EMS) / n)
    Fj = JMS / EMS
    vn = (k - 1) * (n - 1) * (k * icc2 * Fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * Fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    Fs, Fss = fq(n - 1, v), fq(v, n - 1)
    lo2 = n * (BMS - Fs * EMS) / (Fs * (k * JMS + (k * n - k - n) * EMS) + n * BMS)
    hi2 = n * (Fss * BMS - EMS) / (k * JMS + (k * n - k - n) * EMS + n * Fss * BMS)
    sem2 = np.sqrt(EMS + (JMS - EMS) / n)
    out["ICC2"] = (icc2, F3, n - 1, (n - 1) * (k - 1), lo2, hi2, sem2)
    out["ICC2k"] = ((BMS - EMS) / (BMS + (JMS - EMS) / n), F3, n - 1, (n - 1) * (k - 1),
                    lo2 * k / (1 + lo2 * (k - 1)), hi2 * k / (1 + hi2 * (k - 1)), sem2)
    order = ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
    table = pd.DataFrame.from_dict({t: out[t] for t in order}, orient="index",
                                   columns=["estimate", "F", "df1", "df2", "ci_low", "ci_high", "sem"])
    table["p"] = sps.f.sf(table["F"], table["df1"], table["df2"])
    table["description"] = [_ICC_DESCRIPTIONS[t] for t in order]
    table["n"], table["k"] = n, k
    table.index.name = "type"
    return table[["description", "estimate", "F", "df1", "df2", "p", "ci_low", "ci_high", "n", "k", "sem"]]


def smallest_detectable_change(
    sem: float | np.ndarray | None = None,
    *,
    icc: float | np.ndarray | None = None,
    sd: float | np.ndarray | None = None,
    confidence: float = 0.95,
) -> float | np.ndarray:
    """Smallest detectable change of one person's difference between two measurements.

    ``SDC = z * sqrt(2) * SEM`` (``z = 1.96`` for 95%), the change that a person's measured
    difference must exceed to be larger than measurement error with the stated confidence.
    Give the standard error of measurement ``sem`` directly (e.g. the ``sem`` column of
    :func:`icc`), or ``icc`` and the between-person ``sd``, from which ``SEM = sd * sqrt(1 - icc)``.

    Returns
    -------
    float or ndarray
        In the units of the measurement.
    """
    if (sem is None) == (icc is None and sd is None):
        raise ValueError("give either sem, or both icc and sd")
    if sem is None:
        if icc is None or sd is None:
            raise ValueError(f"icc and sd are both needed, got icc={icc!r}, sd={sd!r}")
        icc_, sd_ = np.asarray(icc, dtype=float), np.asarray(sd, dtype=float)
        if np.any((icc_ > 1) | (sd_ < 0)):
            raise ValueError(f"icc must be <= 1 and sd >= 0, got icc={icc!r}, sd={sd!r}")
        sem = sd_ * np.sqrt(1 - np.clip(icc_, None, 1.0))
    sem_ = np.asarray(sem, dtype=float)
    if np.any(sem_ < 0):
        raise ValueError(f"sem must be >= 0, got {sem!r}")
    out = _z(confidence) * np.sqrt(2) * sem_
    return float(out) if out.ndim == 0 else out
