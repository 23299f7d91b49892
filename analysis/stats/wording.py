"""Conclusions in words chosen from the numbers, and the identities of the bias corrections."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis._format import format_number
from analysis.stats._checks import (
    _check_frame,
    _check_prob,
    _term_columns,
)
from analysis.stats.models import ols

__all__ = ["verdict", "conclusion", "BIAS_CORRECTION_IDENTITIES", "bias_correction_identities"]




def verdict(ci_low: float, ci_high: float, *, lower: str = "lower than", higher: str = "higher than",
            neither: str = "not distinguishable from") -> str:
    """Words for what the interval of a difference ``a - b`` says about ``a`` relative to ``b``.

    ``"lower than"`` if the interval lies below 0, ``"higher than"`` if above, otherwise
    ``"not distinguishable from"`` (the three phrases can be replaced).

    The verdict rests on whether the interval excludes 0, never on a p-value alone.
    """
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)) or ci_low > ci_high:
        raise ValueError(f"need a finite interval with ci_low <= ci_high, got ({ci_low!r}, {ci_high!r})")
    if ci_high < 0:
        return lower
    if ci_low > 0:
        return higher
    return neither


def conclusion(
    estimate: float,
    ci_low: float,
    ci_high: float,
    *,
    a: str,
    b: str,
    outcome: str = "the brain age gap",
    unit: str = "y",
    confidence: float = 0.95,
    p_adjusted: float | None = None,
    alpha: float = 0.05,
    decimals: int = 1,
) -> str:
    """One sentence, chosen from the numbers, that states what a difference ``a - b`` shows.

    The direction comes from the interval (excludes 0 or not); with ``p_adjusted`` the
    sentence also says whether the contrast passes the multiplicity-adjusted test at
    ``alpha`` -- and warns when the unadjusted interval excludes 0 but the adjusted test fails.
    An interval that includes 0 is never turned into "no effect".

    Examples
    --------
    >>> conclusion(-1.4, -2.2, -0.6, a="HRT", b="CON")
    'The brain age gap was 1.4 y lower in HRT than in CON (95% CI 0.6 to 2.2 y lower; the interval excludes 0).'
    >>> conclusion(0.2, -0.5, 0.9, a="HRT", b="MIT")  # doctest: +ELLIPSIS
    'The brain age gap was not distinguishable between HRT and MIT (difference 0.2 y, 95% CI from ...equivalent.'
    """
    words = verdict(ci_low, ci_high, lower="lower", higher="higher", neither="neither")
    pct = f"{100 * confidence:g}% CI"
    f = lambda x: f"{abs(x):.{decimals}f}"  # noqa: E731
    subject = outcome[:1].upper() + outcome[1:]
    if words == "neither":
        lo = f"{f(ci_low)} {unit} lower" if ci_low < 0 else f"{f(ci_low)} {unit} higher"
        hi = f"{f(ci_high)} {unit} higher" if ci_high > 0 else f"{f(ci_high)} {unit} lower"
        signed = format_number(estimate, decimals)
        sentence = (f"{subject} was not distinguishable between {a} and {b} (difference "
                    f"{signed} {unit}, {pct} from {lo} to {hi})")
        tail = "; this does not show that they are equivalent"
    else:
        near, far = sorted([abs(ci_low), abs(ci_high)])
        sentence = (f"{subject} was {f(estimate)} {unit} {words} in {a} than in {b} "
                    f"({pct} {near:.{decimals}f} to {far:.{decimals}f} {unit} {words}; the interval excludes 0)")
        tail = ""
    if p_adjusted is not None:
        alpha = _check_prob(alpha, "alpha")
        passed = p_adjusted <= alpha
        if passed:
            tail += f"; significant after multiplicity adjustment (adjusted p = {p_adjusted:.3f})"
        elif words != "neither":
            tail += (f", but not significant after multiplicity adjustment (adjusted p = {p_adjusted:.3f}), "
                     "so the plan does not count it as a finding")
        else:
            tail += f" (adjusted p = {p_adjusted:.3f})"
    return sentence + tail + "."


BIAS_CORRECTION_IDENTITIES = (
    "With chronological age as a linear covariate of the model, the Beheshti-corrected gap and the "
    "uncorrected gap give identical arm estimates, standard errors and p-values; Cole-corrected "
    "estimates are the uncorrected ones divided by the fitted slope of predicted on chronological age "
    "(identical test statistics and p-values); and the Smith-corrected gap differs from the uncorrected "
    "one only by an age-squared term, so it too gives identical arm estimates when the model also "
    "contains age squared."
)


def bias_correction_identities(
    data: pd.DataFrame,
    predicted: str,
    age: str,
    rhs: str,
    *,
    train: pd.DataFrame | None = None,
    terms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Check :data:`BIAS_CORRECTION_IDENTITIES` numerically on given data.

    The four gaps (``none = predicted - age``; Beheshti; Cole; Smith), with each correction
    fitted on ``train`` (default ``data``), are each regressed by OLS on ``rhs`` (which must
    contain ``age``; add ``I(age ** 2)`` to see the Smith identity).

    Parameters
    ----------
    data : DataFrame
        Rows analysed (one per observation).
    predicted, age : str
        Columns of the clock's uncorrected prediction and chronological age (in ``data`` and
        ``train``).
    rhs : str
        Right-hand side of the model formula, e.g. ``"C(arm) + age + C(sex)"``.
    train : DataFrame, optional
        Data the corrections are fitted on (the clock's training data).
    terms : sequence of str, optional
        Terms to report (default every term not mentioning ``age`` except the intercept).

    Returns
    -------
    DataFrame
        ``correction, term, estimate, se, statistic, p, ratio_to_none`` (estimate over the
        uncorrected gap's); and the Cole slope in the attribute ``attrs["cole_slope"]``.
    """
    _check_frame(data, [predicted, age])
    train = data if train is None else train
    _check_frame(train, [predicted, age], "train")
    if age not in _term_columns(data, [rhs]):
        raise ValueError(f"rhs={rhs!r} must contain the age column {age!r}: the identities need age in the model")
    pa, ta = data[predicted].to_numpy(float), data[age].to_numpy(float)
    tp, tt = train[predicted].to_numpy(float), train[age].to_numpy(float)
    slope_b, icpt_b = np.polyfit(tt, tp - tt, 1)  # Beheshti: delta = a age + b
    alpha_c, beta_c = np.polyfit(tt, tp, 1)  # Cole: predicted = alpha age + beta
    m = tt.mean()
    Z = np.column_stack([np.ones_like(tt), tt - m])
    g = np.linalg.lstsq(Z, (tt - m) ** 2, rcond=None)[0]  # orthogonalise age^2 on (1, age)

    def q(x: np.ndarray) -> np.ndarray:
        return (x - m) ** 2 - np.column_stack([np.ones_like(x), x - m]) @ g

    S = np.column_stack([np.ones_like(tt), tt - m, q(tt)])
    coef_s = np.linalg.lstsq(S, tp - tt, rcond=None)[0]  # Smith: delta on age and orthogonal age^2
    gaps = {
        "none": pa - ta,
        "beheshti": (pa - ta) - (slope_b * ta + icpt_b),
        "cole": (pa - beta_c) / alpha_c - ta,
        "smith": (pa - ta) - np.column_stack([np.ones_like(ta), ta - m, q(ta)]) @ coef_s,
    }
    rows = []
    for name, gap in gaps.items():
        work = data.assign(_gap=gap)
        table, fit = ols(work, f"_gap ~ {rhs}")
        keep = terms or [t for t in table.index if t != "Intercept" and age not in t]
        for t in keep:
            rows.append(dict(correction=name, term=t, estimate=table.loc[t, "estimate"], se=table.loc[t, "se"],
                             statistic=float(fit.tvalues[t]), p=table.loc[t, "p"]))
    out = pd.DataFrame(rows)
    base = out[out["correction"] == "none"].set_index("term")["estimate"]
    out["ratio_to_none"] = out["estimate"].to_numpy() / base.reindex(out["term"]).to_numpy()
    out.attrs["cole_slope"] = float(alpha_c)
    return out
