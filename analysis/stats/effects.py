"""Effects by subgroup (arm x modifier interactions) and standardised effects whose interval
includes the uncertainty of the standardiser.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import patsy

from analysis.stats._checks import (
    EFFECT_COLUMNS,
    _check_frame,
    _check_levels,
    _label,
    _numeric,
    _z,
)
from analysis.stats.models import contrast, ols
from analysis.stats.multiplicity import holm

__all__ = ["subgroup_effects", "standardized_effects"]




def _design_at(fit: Any, rows: pd.DataFrame) -> np.ndarray:
    data = fit.model.data
    spec = getattr(data, "model_spec", None) or getattr(data, "design_info")
    (X,) = patsy.build_design_matrices([spec], rows, return_type="dataframe")
    return X.reindex(columns=fit.params.index).to_numpy(dtype=float)


def subgroup_effects(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    modifiers: str | Sequence[str],
    *,
    control: Any,
    baseline: str | None = None,
    covariates: Sequence[str] = (),
    arms: Sequence[Any] | None = None,
    continuous: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Arm effects within subgroups and arm x modifier interaction tests, Holm-adjusted.

    For each modifier, the ANCOVA ``outcome ~ group * modifier + baseline + covariates`` is
    fitted by OLS (complete rows). A categorical modifier gives each arm's effect against
    control within each level and a joint F test of the arm x modifier terms of that arm; a
    continuous modifier is standardised (mean 0, SD 1 over the rows analysed) and gives the arm
    effect at the mean and at the mean plus or minus one SD, and the change of the effect per
    SD (``level == "per SD"``, ``kind == "interaction"``), whose t test is the interaction test.
    The interaction p-values of all modifiers and arms form one family, adjusted by Holm
    (``p_interaction_holm``). A modifier that is also the baseline or a covariate is not
    entered twice.

    Parameters
    ----------
    data : DataFrame
        One row per person.
    outcome, group : str
        Outcome (e.g. the gap at the primary visit or its change) and randomised arm.
    modifiers : str or sequence of str
        Columns of the pre-specified effect modifiers (e.g. ``sex``, baseline gap, baseline
        strength).
    control : object
        Control arm label.
    baseline : str, optional
        Baseline value of the outcome, adjusted for.
    covariates : sequence of str
        Further adjustment columns (numeric or categorical).
    arms : sequence, optional
        Arms compared with control (default all others).
    continuous : sequence of str, optional
        Which modifiers are continuous (default: numeric columns with more than two values).
    confidence : float
        Coverage of the intervals.

    Returns
    -------
    DataFrame
        ``modifier, level, kind, comparison, estimate, se, ci_low, ci_high, p, n,
        p_interaction, p_interaction_holm`` (``kind``: ``"subgroup"`` or ``"interaction"``);
        one block per modifier, ready for a forest plot.
    """
    modifiers = [modifiers] if isinstance(modifiers, str) else list(modifiers)
    covariates = list(covariates)
    adjust_all = ([baseline] if baseline else []) + covariates
    _check_frame(data, [outcome, group, *modifiers, *adjust_all])
    arms = _check_levels(data, group, control, arms)
    blocks = []
    for mod in modifiers:
        is_cont = (_numeric(data[mod]) and data[mod].nunique() > 2) if continuous is None else mod in continuous
        adjust = [c for c in adjust_all if c != mod]
        d = data[data[group].isin([control, *arms])].dropna(subset=[outcome, group, mod, *adjust])
        work = pd.DataFrame({"_y": d[outcome].to_numpy(dtype=float), "_g": d[group].to_numpy()})
        terms = []
        for i, c in enumerate(adjust):
            work[f"_c{i}"] = d[c].to_numpy()
            terms.append(f"_c{i}" if _numeric(d[c]) else f"C(_c{i})")
        if is_cont:
            x = d[mod].to_numpy(dtype=float)
            sd = x.std(ddof=1)
            if not sd > 0:
                raise ValueError(f"modifier {mod!r} is constant in the rows analysed")
            work["_m"] = (x - x.mean()) / sd
            m_term = "_m"
            levels = [("mean - 1 SD", -1.0), ("mean", 0.0), ("mean + 1 SD", 1.0)]
        else:
            work["_m"] = d[mod].astype(str).to_numpy()
            m_term = "C(_m)"
            levels = [(str(lv), str(lv)) for lv in sorted(work["_m"].unique())]
            if len(levels) < 2:
                raise ValueError(f"modifier {mod!r} has fewer than 2 levels in the rows analysed: {levels}")
        formula = f"_y ~ C(_g, Treatment(reference={control!r})) * {m_term}" + "".join(f" + {t}" for t in terms)
        _, fit = ols(work, formula, confidence=confidence)
        base = {c: (work[c].mean() if _numeric(work[c]) else work[c].mode().iloc[0]) for c in work.columns}

        def row(g: Any, m: Any) -> dict:
            return {**base, "_g": g, "_m": m}

        for arm in arms:
            comp = _label(arm, control)
            settings = [row(arm, m) for _, m in levels] + [row(control, m) for _, m in levels]
            X = _design_at(fit, pd.DataFrame(settings))
            effect_rows = X[: len(levels)] - X[len(levels):]
            L = {name: dict(zip(fit.params.index, w)) for (name, _), w in zip(levels, effect_rows)}
            if is_cont:
                inter = effect_rows[2] - effect_rows[1]  # effect at +1 SD minus at the mean
                L["per SD"] = dict(zip(fit.params.index, inter))
                p_int = float(contrast(fit, {"x": L["per SD"]})["p"].iloc[0])
            else:
                R = effect_rows[1:] - effect_rows[0]
                p_int = float(fit.f_test(R).pvalue)
            t = contrast(fit, L, confidence=confidence).reset_index(names="level")
            t.insert(0, "modifier", mod)
            t.insert(2, "kind", ["interaction" if lv == "per SD" else "subgroup" for lv in t["level"]])
            t.insert(3, "comparison", comp)
            t["n"] = int(fit.nobs)
            t["p_interaction"] = p_int
            blocks.append(t)
    out = pd.concat(blocks, ignore_index=True)
    family = out.drop_duplicates(["modifier", "comparison"])[["modifier", "comparison", "p_interaction"]]
    family = family.assign(p_interaction_holm=holm(family["p_interaction"].to_numpy()))
    out = out.merge(family.drop(columns="p_interaction"), on=["modifier", "comparison"], how="left")
    return out[["modifier", "level", "kind", "comparison", *EFFECT_COLUMNS, "n", "p_interaction",
                "p_interaction_holm"]]


# --- 8. standardised effects ---------------------------------------------------------------------


def standardized_effects(
    effects: pd.DataFrame,
    sd: float,
    n: int | None = None,
    *,
    sd_se: float | None = None,
    confidence: float = 0.95,
    suffix: str = "_sd",
) -> pd.DataFrame:
    """Effects divided by an estimated SD, with intervals that include the SD's own uncertainty.

    For ``d = estimate / sd`` the delta method gives
    ``var(d) = se^2 / sd^2 + d^2 * (sd_se / sd)^2``, treating the estimate and the SD as
    independent (true for a baseline SD and a change-score contrast under randomisation, and
    a close approximation otherwise). ``sd_se`` is ``sd / sqrt(2 (n - 1))`` for the SD of ``n``
    normal observations, or may be given directly (e.g. a bootstrap SE of the SD). Dividing the
    estimate's interval by the SD, as :func:`analysis.stats.standardize_effects` does, ignores
    the second term.

    Parameters
    ----------
    effects : DataFrame
        Tidy effects with ``estimate`` and ``se`` columns.
    sd : float
        The standardiser (e.g. the SD of the outcome at baseline).
    n : int, optional
        Observations the SD was estimated from.
    sd_se : float, optional
        Standard error of ``sd`` (instead of ``n``).
    confidence : float
        Coverage of the intervals.
    suffix : str
        Suffix of the added columns.

    Returns
    -------
    DataFrame
        A copy of ``effects`` with ``estimate<suffix>, se<suffix>, ci_low<suffix>,
        ci_high<suffix>`` (normal Wald interval on the standardised scale).
    """
    _check_frame(effects, ["estimate", "se"], "effects")
    if not np.isfinite(sd) or sd <= 0:
        raise ValueError(f"sd must be a positive finite number, got {sd!r}")
    if (n is None) == (sd_se is None):
        raise ValueError("give exactly one of n (observations behind sd) or sd_se")
    if n is not None:
        if n < 2:
            raise ValueError(f"n must be at least 2, got {n!r}")
        sd_se = sd / np.sqrt(2 * (n - 1))
    if not sd_se >= 0:
        raise ValueError(f"sd_se must be >= 0, got {sd_se!r}")
    z = _z(confidence)
    out = effects.copy()
    d = out["estimate"] / sd
    se_d = np.sqrt((out["se"] / sd) ** 2 + d**2 * (sd_se / sd) ** 2)
    out["estimate" + suffix] = d
    out["se" + suffix] = se_d
    out["ci_low" + suffix] = d - z * se_d
    out["ci_high" + suffix] = d + z * se_d
    return out
