"""Regression models for the trial analyses: mixed models, contrasts, OLS, ANCOVA, effect sizes.

One function per analysis, ``data`` first and column names as arguments, tidy
:class:`pandas.DataFrame` results with stable column names (``estimate, se, ci_low, ci_high, p``).
All models are fitted with statsmodels :cite:`seabold2010`; :func:`mixed_model` reproduces the
lme4 reference values for the ``dietox`` data that statsmodels ships (see ``tests/unit/test_stats.py``).

Confidence intervals are 95% Wald intervals unless a ``confidence`` argument says otherwise.
Mixed-model p-values use the normal reference distribution (as statsmodels and lme4's Wald
``z`` do); OLS/ANCOVA p-values use the t distribution with the residual degrees of freedom.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import patsy
import statsmodels.formula.api as smf
from scipy import stats as _sps

from analysis.stats._checks import _check_columns, _check_confidence

__all__ = [
    "MixedModelResult",
    "mixed_model",
    "contrast",
    "difference_at",
    "design_rows",
    "ancova",
    "ols",
    "standardize_effects",
    "tidy_effects",
]

#: Column order of every tidy effect table this module returns.
EFFECT_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "p"]



def tidy_effects(
    estimate: np.ndarray | pd.Series,
    se: np.ndarray | pd.Series,
    *,
    index: Sequence[str] | None = None,
    df: float | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Estimates and standard errors as a tidy table with Wald CI and two-sided p.

    Parameters
    ----------
    estimate, se : array-like
        Estimates and their standard errors.
    index : sequence of str, optional
        Row labels (defaults to the index of ``estimate`` if it is a Series).
    df : float, optional
        Degrees of freedom of a t reference distribution; ``None`` uses the normal.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    DataFrame
        Columns ``estimate, se, ci_low, ci_high, p``.
    """
    confidence = _check_confidence(confidence)
    if index is None and isinstance(estimate, pd.Series):
        index = list(estimate.index)
    est = np.asarray(estimate, dtype=float)
    se_ = np.asarray(se, dtype=float)
    dist = _sps.norm if df is None else _sps.t(df)
    crit = dist.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se_
    p = 2 * dist.sf(np.abs(stat))
    out = pd.DataFrame(
        {"estimate": est, "se": se_, "ci_low": est - crit * se_, "ci_high": est + crit * se_, "p": p},
        index=index,
    )
    out.index.name = "term"
    return out


# --- mixed models -----------------------------------------------------------------------------


@dataclass
class MixedModelResult:
    """A fitted linear mixed model in tidy form.

    Attributes
    ----------
    fixed : DataFrame
        Fixed effects indexed by term: ``estimate, se, ci_low, ci_high, p`` (95% Wald, normal).
    random : DataFrame
        Variance components: the random-effects covariance (``cov_re``) flattened, plus the
        residual variance (``scale``).
    n_obs, n_groups : int
        Observations and groups used (rows with a missing value in a model column are dropped).
    converged : bool
        Whether the optimiser reported convergence.
    reml : bool
        REML (True) or maximum likelihood (False).
    llf : float
        Log-likelihood (restricted if ``reml``).
    formula, groups, re_formula : str
        The model as specified.
    result : statsmodels MixedLMResults
        The underlying fit, for anything not surfaced here.
    """

    fixed: pd.DataFrame
    random: pd.DataFrame
    n_obs: int
    n_groups: int
    converged: bool
    reml: bool
    llf: float
    formula: str
    groups: str
    re_formula: str | None
    result: Any = field(repr=False)

    @property
    def params(self) -> pd.Series:
        """Fixed-effect estimates (a Series indexed by term)."""
        return self.fixed["estimate"]

    def cov_fixed(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates."""
        names = list(self.fixed.index)
        return self.result.cov_params().loc[names, names]


def _formula_columns(data: pd.DataFrame, *formulas: str | None) -> list[str]:
    """Columns of ``data`` a formula mentions (used to drop incomplete rows explicitly)."""
    text = " ".join(f for f in formulas if f)
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return [c for c in data.columns if c in tokens]


def _fit_mixedlm(model: Any, reml: bool) -> Any:
    """Fit by the first optimiser that works, then polish from that optimum by conjugate gradients.

    L-BFGS (statsmodels' default) can fail on a singular step or stop on the flat ridge of a
    random-slope likelihood a little short of the optimum (dietox: variance 19.503 vs lme4's
    19.493); the fallbacks and the polish step reach lme4's values. The fit with the highest
    log-likelihood among the converged ones is kept.
    """
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("lbfgs", "bfgs", "cg", "powell", "nm"):
            try:
                fit = model.fit(reml=reml, method=method)
            except (np.linalg.LinAlgError, ValueError):
                continue
            fits.append(fit)
            if fit.converged:
                break
        if not fits:
            raise RuntimeError(f"MixedLM failed with every optimiser for formula {model.formula!r}")
        try:
            fits.append(model.fit(reml=reml, method="cg", start_params=fits[-1].params_object, maxiter=5000))
        except (np.linalg.LinAlgError, ValueError):  # keep the first fit if the polish fails
            pass
    converged = [f for f in fits if f.converged] or fits
    return max(converged, key=lambda f: f.llf)


def mixed_model(
    data: pd.DataFrame,
    formula: str,
    groups: str,
    re_formula: str | None = None,
    reml: bool = True,
    *,
    confidence: float = 0.95,
) -> MixedModelResult:
    """Fit a linear mixed model (statsmodels ``MixedLM``) and return tidy fixed effects.

    Rows with a missing value in any column the model uses are dropped: under
    missing-at-random, likelihood-based estimation on all available rows is valid
    (intention-to-treat with incomplete follow-up).

    Parameters
    ----------
    data : DataFrame
        Long-format data, one row per observation.
    formula : str
        Fixed-effects formula in statsmodels/patsy vocabulary, e.g.
        ``"gap ~ C(arm, Treatment('CON')) * C(month) + age + sex"``.
    groups : str
        Column identifying the grouping factor (e.g. ``"participant_id"``).
    re_formula : str, optional
        Random-effects formula; ``None`` is a random intercept per group, ``"1 + Time"`` adds
        a correlated random slope (lme4 ``(1 + Time | group)``).
    reml : bool
        Restricted maximum likelihood (default) or maximum likelihood.
    confidence : float
        Coverage of the Wald intervals.

    Returns
    -------
    MixedModelResult
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string like 'y ~ x', got {formula!r}")
    _check_columns(data, [groups])
    used = sorted(set(_formula_columns(data, formula, re_formula)) | {groups})
    complete = data.dropna(subset=used)
    if complete[groups].nunique() < 2:
        raise ValueError(
            f"groups={groups!r} has {complete[groups].nunique()} group(s) after dropping rows with "
            "missing values; a mixed model needs at least 2"
        )
    model = smf.mixedlm(formula, complete, groups=complete[groups], re_formula=re_formula)
    fit = _fit_mixedlm(model, reml)
    names = list(fit.fe_params.index)
    fixed = tidy_effects(fit.fe_params, fit.bse_fe.loc[names], index=names, confidence=confidence)
    cov_re = fit.cov_re
    rows = {
        f"cov_re[{a},{b}]": float(cov_re.loc[a, b])
        for i, a in enumerate(cov_re.index)
        for b in cov_re.columns[: i + 1]
    }
    rows["scale"] = float(fit.scale)
    random = pd.DataFrame({"variance": pd.Series(rows)})
    random.index.name = "component"
    return MixedModelResult(
        fixed=fixed,
        random=random,
        n_obs=int(fit.nobs),
        n_groups=int(len(fit.model.group_labels)),
        converged=bool(fit.converged),
        reml=bool(reml),
        llf=float(fit.llf),
        formula=formula,
        groups=groups,
        re_formula=re_formula,
        result=fit,
    )


# --- contrasts ----------------------------------------------------------------------------


def _params_and_cov(result: Any) -> tuple[pd.Series, pd.DataFrame, float | None]:
    """Fixed-effect estimates, their covariance and t df (None = normal) of a supported result."""
    if isinstance(result, MixedModelResult):
        return result.params, result.cov_fixed(), None
    if hasattr(result, "params") and hasattr(result, "cov_params"):
        params = result.params
        cov = result.cov_params()
        df = getattr(result, "df_resid", None)
        if hasattr(result, "fe_params"):  # a raw MixedLMResults
            params = result.fe_params
            cov = cov.loc[params.index, params.index]
            df = None
        return params, cov, (float(df) if df is not None else None)
    raise TypeError(
        "result must be a MixedModelResult or a statsmodels results object with params and "
        f"cov_params, got {type(result).__name__}"
    )


def contrast(
    result: Any,
    L: Mapping[str, float] | Mapping[str, Mapping[str, float]] | np.ndarray | pd.DataFrame,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Linear combinations of fixed effects, ``L @ beta``, with SE, Wald CI and p.

    Parameters
    ----------
    result : MixedModelResult or statsmodels results
        A fitted model (:func:`mixed_model`, :func:`ols`/:func:`ancova` fits, or statsmodels).
    L : dict, dict of dicts, array or DataFrame
        One contrast as ``{term: weight}``; several as ``{name: {term: weight}}`` or as a
        DataFrame with one row per contrast and columns named by term; or an array of weights in
        the order of the model's fixed effects (1-D: one contrast, 2-D: one per row). Terms not
        named get weight 0.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    DataFrame
        Indexed by contrast name: ``estimate, se, ci_low, ci_high, p``.
    """
    params, cov, df = _params_and_cov(result)
    names = list(params.index)
    if isinstance(L, pd.DataFrame):
        matrix = L
    elif isinstance(L, Mapping):
        values = list(L.values())
        if values and all(isinstance(v, Mapping) for v in values):
            matrix = pd.DataFrame.from_dict({k: dict(v) for k, v in L.items()}, orient="index")
        elif all(np.isscalar(v) for v in values):
            matrix = pd.DataFrame([dict(L)], index=["contrast"])
        else:
            raise TypeError("L as a dict must map term -> weight or name -> {term: weight}")
    else:
        arr = np.atleast_2d(np.asarray(L, dtype=float))
        if arr.shape[1] != len(names):
            raise ValueError(f"L has {arr.shape[1]} columns but the model has {len(names)} fixed effects")
        matrix = pd.DataFrame(arr, columns=names, index=[f"contrast_{i}" for i in range(len(arr))])
    unknown = [c for c in matrix.columns if c not in names]
    if unknown:
        raise KeyError(f"L names term(s) {unknown} not in the model; terms are {names}")
    weights = matrix.reindex(columns=names).fillna(0.0).to_numpy(dtype=float)
    beta = params.to_numpy(dtype=float)
    V = cov.loc[names, names].to_numpy(dtype=float)
    est = weights @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", weights, V, weights))
    out = tidy_effects(est, se, index=list(matrix.index), df=df, confidence=confidence)
    out.index.name = "contrast"
    return out


def design_rows(result: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """Fixed-effects design matrix rows for new data, through the fitted formula."""
    fit = result.result if isinstance(result, MixedModelResult) else result
    spec = fit.model.data.model_spec
    (X,) = patsy.build_design_matrices([spec], rows, return_type="dataframe")
    return X


def difference_at(
    result: Any,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    *,
    at: Mapping[str, Any] | None = None,
    name: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Model-predicted difference between two covariate settings, ``x_a @ beta - x_b @ beta``.

    The contrast weights are built from the fitted formula itself, so the difference is exact
    for any coding and interaction (e.g. an arm difference at one visit in an arm x visit model).

    Parameters
    ----------
    result : MixedModelResult or statsmodels formula results
        A model fitted from a formula.
    a, b : dict
        Values of the variables that differ, e.g. ``{"arm": "HRT", "month": 12}`` and
        ``{"arm": "CON", "month": 12}``.
    at : dict, optional
        Values for the other variables of the formula. Variables not given are set to the mean
        (numeric) or the most frequent value (other) of the data the model was fitted on; they
        cancel unless they interact with the variables in ``a``/``b``.
    name : str, optional
        Row label (default ``"a - b"`` spelled out).
    confidence : float
        Coverage of the interval.

    Returns
    -------
    DataFrame
        One row: ``estimate, se, ci_low, ci_high, p``.
    """
    fit = result.result if isinstance(result, MixedModelResult) else result
    frame = fit.model.data.frame
    base: dict[str, Any] = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            base[col] = float(s.mean())
        else:
            base[col] = s.mode().iloc[0]
    base.update(at or {})
    for key in list(a) + list(b):
        if key not in frame.columns:
            raise KeyError(f"variable {key!r} is not in the model data; columns are {list(frame.columns)}")
    rows = pd.DataFrame([{**base, **a}, {**base, **b}])
    for col in frame.columns:  # keep the dtypes patsy saw when fitting (categories, ints)
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            rows[col] = pd.Categorical(rows[col], categories=frame[col].cat.categories)
        elif pd.api.types.is_integer_dtype(frame[col]) and col in {**a, **b}:
            rows[col] = rows[col].astype(frame[col].dtype)
    X = design_rows(result, rows)
    params, _, _ = _params_and_cov(result)
    weights = (X.iloc[0] - X.iloc[1]).reindex(params.index).fillna(0.0)
    label = name or (
        " - ".join(", ".join(f"{k}={v}" for k, v in d.items()) for d in (a, b))
    )
    return contrast(result, {label: weights.to_dict()}, confidence=confidence)


# --- OLS and ANCOVA ---------------------------------------------------------------------------


def ols(data: pd.DataFrame, formula: str, *, confidence: float = 0.95) -> tuple[pd.DataFrame, Any]:
    """Ordinary least squares from a formula: tidy coefficients and the statsmodels fit.

    Returns
    -------
    (DataFrame, statsmodels RegressionResults)
        Coefficients indexed by term (``estimate, se, ci_low, ci_high, p``; t reference), and
        the fit (``.nobs``, ``.rsquared``, ...).
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string like 'y ~ x', got {formula!r}")
    used = _formula_columns(data, formula)
    fit = smf.ols(formula, data.dropna(subset=used)).fit()
    table = tidy_effects(fit.params, fit.bse, df=fit.df_resid, confidence=confidence)
    return table, fit


def ancova(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    baseline: str,
    covariates: Sequence[str] = (),
    *,
    reference: str | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """ANCOVA: differences between groups in an outcome adjusted for its baseline value.

    Fits ``outcome ~ C(group) + baseline + covariates`` by OLS on complete rows and returns
    the adjusted difference for each pair of groups.

    Parameters
    ----------
    data : DataFrame
        One row per person.
    outcome, group, baseline : str
        Column names: follow-up value, group label, baseline value of the outcome.
    covariates : sequence of str
        Further adjustment columns (numeric, or categorical as strings).
    reference : str, optional
        Reference group; default the first in sorted order.
    pairs : sequence of (str, str), optional
        Pairs ``(a, b)`` to report as ``a - b``; default every group against ``reference``
        and then every remaining pair.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    DataFrame
        Indexed by ``"a - b"``: ``estimate, se, ci_low, ci_high, p, n``.
    """
    covariates = list(covariates)
    _check_columns(data, [outcome, group, baseline, *covariates])
    complete = data.dropna(subset=[outcome, group, baseline, *covariates])
    levels = sorted(complete[group].astype(str).unique())
    if len(levels) < 2:
        raise ValueError(f"group={group!r} needs at least 2 levels with complete data, got {levels}")
    if reference is None:
        reference = levels[0]
    if reference not in levels:
        raise ValueError(f"reference={reference!r} is not a level of {group!r}: {levels}")
    complete = complete.assign(**{group: complete[group].astype(str)})
    term = f"C(Q('{group}'), Treatment({reference!r}))"
    rhs = [term, f"Q('{baseline}')"] + [f"Q('{c}')" for c in covariates]
    _, fit = ols(complete, f"Q('{outcome}') ~ " + " + ".join(rhs), confidence=confidence)
    if pairs is None:
        others = [lv for lv in levels if lv != reference]
        pairs = [(lv, reference) for lv in others]
        pairs += [(x, y) for i, x in enumerate(others) for y in others[i + 1 :]]

    def coef(level: str) -> dict[str, float]:
        return {} if level == reference else {f"{term}[T.{level}]": 1.0}

    L = {}
    for x, y in pairs:
        for lv in (x, y):
            if lv not in levels:
                raise ValueError(f"pairs names group {lv!r}, not a level of {group!r}: {levels}")
        w = coef(x)
        for k, v in coef(y).items():
            w[k] = w.get(k, 0.0) - v
        L[f"{x} - {y}"] = w
    out = contrast(fit, L, confidence=confidence)
    out["n"] = int(fit.nobs)
    return out


# --- effect sizes ------------------------------------------------------------------------------


def standardize_effects(effects: pd.DataFrame, sd: float, *, suffix: str = "_sd") -> pd.DataFrame:
    """Add standardized copies of ``estimate, ci_low, ci_high`` (divided by ``sd``).

    Use the baseline SD of the outcome (e.g. of the brain age gap at month 0) so an effect in
    years reads also as a fraction of the between-person spread (a Cohen's d-like scale).
    """
    if not np.isfinite(sd) or sd <= 0:
        raise ValueError(f"sd must be a positive finite number, got {sd!r}")
    out = effects.copy()
    for col in ("estimate", "ci_low", "ci_high"):
        if col in out:
            out[col + suffix] = out[col] / sd
    return out
