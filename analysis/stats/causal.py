"""Complier average causal effect by two-stage least squares (randomisation as the instrument)
:cite:p:`angrist1996`, beside ITT, per-protocol and as-treated estimates.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
import patsy
from linearmodels.iv import IV2SLS
from scipy import stats as sps

from analysis.stats._checks import (
    EFFECT_COLUMNS,
    _check_frame,
    _check_levels,
    _label,
    _term_columns,
    _z,
)

__all__ = ["cace"]




def _covariate_matrix(d: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    if not covariates:
        return pd.DataFrame(index=d.index)
    C = patsy.dmatrix("1 + " + " + ".join(covariates), d, return_type="dataframe", NA_action="raise")
    return C.drop(columns="Intercept")


def cace(
    data: pd.DataFrame,
    outcome: str,
    treatment_received: str,
    assigned: str,
    *,
    control: Any,
    arms: Sequence[Any] | None = None,
    covariates: Sequence[str] = (),
    per_protocol_min: float | None = None,
    dose: float = 1.0,
    control_received: float = 0.0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Complier average causal effect by two-stage least squares, beside ITT and naive estimates.

    For each arm against ``control`` (people of other arms left out), randomisation
    (``assigned == arm``) instruments the treatment actually received (e.g. sessions per week)
    in ``linearmodels.iv.IV2SLS`` (Angrist, Imbens & Rubin 1996). Under the exclusion
    restriction (assignment acts only through the treatment received) and monotonicity, the 2SLS
    slope is the effect per unit of treatment received among those whose treatment the
    assignment changed; with a binary ``treatment_received`` it is the classical CACE.
    Rows returned per comparison (``method``):

    * ``ITT``: the effect of assignment (OLS on the assignment indicator);
    * ``per protocol``: trainees with ``treatment_received >= per_protocol_min`` against all
      controls (only if ``per_protocol_min`` is given) -- biased when adherence is related to
      the outcome;
    * ``as treated``: OLS of the outcome on the treatment received (naive dose-response);
    * ``CACE (2SLS)``: the instrumental-variable estimate.

    ``as treated`` and ``CACE (2SLS)`` are per ``dose`` units of treatment received (e.g.
    ``dose=3`` for the effect of the full protocol of 3 sessions/week). Standard errors are
    heteroskedasticity-robust; p-values and intervals use the normal distribution.

    Parameters
    ----------
    data : DataFrame
        One row per person (e.g. the change of the outcome to the primary visit).
    outcome, treatment_received, assigned : str
        Columns. ``treatment_received`` missing in control rows is set to ``control_received``
        (controls were not offered the treatment); missing in other rows is an error.
    control : object
        Control arm label.
    arms : sequence, optional
        Arms to compare with control (default all others).
    covariates : sequence of str
        Formula terms adjusted for in every model (e.g. ``("baseline_gap", "C(sex)")``).
    per_protocol_min : float, optional
        Adherence threshold of the per-protocol population.
    dose : float
        Units of ``treatment_received`` per reported effect for the dose-based estimates.
    control_received : float
        Value of ``treatment_received`` for controls where it is missing.
    confidence : float
        Coverage of the intervals.

    Returns
    -------
    DataFrame
        ``comparison, method, estimate, se, ci_low, ci_high, p, n, first_stage_f``
        (``first_stage_f``: robust first-stage F of the 2SLS row; NaN for the others).
    """
    _check_frame(data, [outcome, treatment_received, assigned])
    covariates = list(covariates)
    if not np.isfinite(dose) or dose <= 0:
        raise ValueError(f"dose must be a positive number, got {dose!r}")
    arms = _check_levels(data, assigned, control, arms)
    z_crit = _z(confidence)
    rows = []
    for arm in arms:
        d = data[data[assigned].isin([arm, control])].dropna(subset=[outcome, *_term_columns(data, covariates)])
        d = d.copy()
        is_control = d[assigned] == control
        d.loc[is_control, treatment_received] = d.loc[is_control, treatment_received].fillna(control_received)
        lacking = d[treatment_received].isna()
        if lacking.any():
            raise ValueError(
                f"column {treatment_received!r} is missing for {int(lacking.sum())} row(s) of arm {arm!r} with an "
                f"observed {outcome!r}; fill it (e.g. 0 sessions) or drop those rows explicitly"
            )
        y = d[outcome].astype(float)
        z = (d[assigned] == arm).astype(float).rename("assigned")
        received = d[treatment_received].astype(float).rename("received")
        C = _covariate_matrix(d, covariates)
        const = pd.Series(1.0, index=d.index, name="const")
        exog = pd.concat([const, C], axis=1)

        def record(method: str, est: float, se: float, n: int, f: float = np.nan) -> None:
            rows.append(dict(comparison=_label(arm, control), method=method, estimate=est, se=se,
                             ci_low=est - z_crit * se, ci_high=est + z_crit * se,
                             p=float(2 * sps.norm.sf(abs(est / se))), n=n, first_stage_f=f))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            itt = IV2SLS(y, pd.concat([exog, z], axis=1), None, None).fit(cov_type="robust")
            record("ITT", itt.params["assigned"], itt.std_errors["assigned"], int(itt.nobs))
            if per_protocol_min is not None:
                keep = (z == 0) | (received >= per_protocol_min)
                pp = IV2SLS(y[keep], pd.concat([exog, z], axis=1)[keep], None, None).fit(cov_type="robust")
                record("per protocol", pp.params["assigned"], pp.std_errors["assigned"], int(pp.nobs))
            at = IV2SLS(y, pd.concat([exog, received], axis=1), None, None).fit(cov_type="robust")
            record("as treated", dose * at.params["received"], dose * at.std_errors["received"], int(at.nobs))
            iv = IV2SLS(y, exog, received, z).fit(cov_type="robust")
            f_stat = float(iv.first_stage.diagnostics["f.stat"].iloc[0])
            record("CACE (2SLS)", dose * iv.params["received"], dose * iv.std_errors["received"], int(iv.nobs), f_stat)
    return pd.DataFrame(rows)[["comparison", "method", *EFFECT_COLUMNS, "n", "first_stage_f"]]
