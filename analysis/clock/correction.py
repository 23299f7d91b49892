"""Bias correction of the brain age gap: fitted on training predictions, applied to new ones.

Corrections :cite:p:`beheshti2019,cole2018,delange2020,smith2019`; see :mod:`analysis.clock`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BIAS_CORRECTIONS", "fit_correction", "apply_correction"]

#: Bias corrections of the brain age gap.
BIAS_CORRECTIONS = ("beheshti", "cole", "smith", "none")


def fit_correction(predicted: np.ndarray, age: np.ndarray) -> dict[str, float]:
    """Fit every bias correction on (out-of-fold) training predictions.

    Returns
    -------
    dict
        ``beheshti_slope``, ``beheshti_intercept`` (delta on age), ``cole_slope``,
        ``cole_intercept`` (predicted on age), ``smith_*`` (delta on demeaned age and
        orthogonalised age^2) and ``age_mean``.
    """
    predicted, age = np.asarray(predicted, float), np.asarray(age, float)
    delta = predicted - age
    b_slope, b_icept = np.polyfit(age, delta, 1)
    c_slope, c_icept = np.polyfit(age, predicted, 1)
    centred = age - age.mean()
    square = centred**2
    sq_fit = np.polyfit(centred, square, 1)
    ortho = square - np.polyval(sq_fit, centred)
    design = np.column_stack([np.ones_like(age), centred, ortho])
    smith = np.linalg.lstsq(design, delta, rcond=None)[0]
    return {
        "beheshti_slope": float(b_slope), "beheshti_intercept": float(b_icept),
        "cole_slope": float(c_slope), "cole_intercept": float(c_icept),
        "age_mean": float(age.mean()), "smith_sq_slope": float(sq_fit[0]),
        "smith_sq_intercept": float(sq_fit[1]), "smith_b0": float(smith[0]),
        "smith_b1": float(smith[1]), "smith_b2": float(smith[2]),
    }


def apply_correction(
    predicted: np.ndarray, age: np.ndarray, correction: dict[str, float], method: str
) -> np.ndarray:
    """Bias-corrected brain age gap with ``method`` from a fitted ``correction``."""
    predicted, age = np.asarray(predicted, float), np.asarray(age, float)
    delta = predicted - age
    if method == "none":
        return delta
    if method == "beheshti":
        return delta - (correction["beheshti_slope"] * age + correction["beheshti_intercept"])
    if method == "cole":
        return (predicted - correction["cole_intercept"]) / correction["cole_slope"] - age
    if method == "smith":
        centred = age - correction["age_mean"]
        ortho = centred**2 - (correction["smith_sq_slope"] * centred + correction["smith_sq_intercept"])
        fitted = correction["smith_b0"] + correction["smith_b1"] * centred + correction["smith_b2"] * ortho
        return delta - fitted
    raise ValueError(f"bias_correction must be one of {BIAS_CORRECTIONS}; got {method!r}")


