"""Missing outcomes: multiple imputation with auxiliary variables and Rubin's rules
:cite:p:`rubin1987,barnard1999,white2011`, and the delta-adjusted tipping point :cite:p:`ratitch2013`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

from analysis.stats._checks import (
    EFFECT_COLUMNS,
    _check_frame,
    _check_levels,
    _check_prob,
    _label,
    _numeric,
    _pairs,
    _rng_seeds,
)

__all__ = ["rubin_pool", "multiple_imputation", "TippingPointResult", "tipping_point"]




def rubin_pool(
    estimates: np.ndarray | Sequence[float],
    se: np.ndarray | Sequence[float],
    *,
    df_complete: float | None = None,
    index: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Pool estimates over imputations by Rubin's rules (Rubin 1987).

    With ``m`` imputations, pooled estimate ``Q = mean(q)``, within variance ``W = mean(se^2)``,
    between variance ``B = var(q, ddof=1)``, total variance ``T = W + (1 + 1/m) B``; the
    reference is a t distribution with Rubin's degrees of freedom
    ``(m - 1) / lambda^2`` (``lambda = (1 + 1/m) B / T``), or with Barnard & Rubin's (1999)
    small-sample version when the complete-data degrees of freedom are given.

    Parameters
    ----------
    estimates, se : array-like, shape (m,) or (m, k)
        Estimates and standard errors per imputation (rows) and quantity (columns).
    df_complete : float, optional
        Degrees of freedom of the analysis had there been no missing data.
    index : sequence of str, optional
        Names of the ``k`` quantities.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    DataFrame
        ``estimate, se, ci_low, ci_high, p, df, riv, fmi`` (``riv``: relative increase in
        variance ``(1 + 1/m) B / W``; ``fmi``: fraction of missing information).
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(se, dtype=float) ** 2
    if q.shape != u.shape:
        raise ValueError(f"estimates and se must have the same shape, got {q.shape} and {u.shape}")
    if q.ndim == 1:
        q, u = q[:, None], u[:, None]
    m = q.shape[0]
    if m < 2:
        raise ValueError(f"Rubin's rules need at least 2 imputations, got {m}")
    confidence = _check_prob(confidence, "confidence")
    Q = q.mean(axis=0)
    W = u.mean(axis=0)
    B = q.var(axis=0, ddof=1)
    T = W + (1 + 1 / m) * B
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (1 + 1 / m) * B / T
        riv = (1 + 1 / m) * B / W
        df_old = np.where(lam > 0, (m - 1) / lam**2, np.inf)
        if df_complete is not None:
            df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
            df = np.where(np.isinf(df_old), df_obs, df_old * df_obs / (df_old + df_obs))
        else:
            df = df_old
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se_ = np.sqrt(T)
    finite_df = np.minimum(df, 1e12)
    crit = np.where(np.isinf(df), sps.norm.ppf(0.5 + confidence / 2), sps.t.ppf(0.5 + confidence / 2, finite_df))
    stat = Q / se_
    p = np.where(np.isinf(df), 2 * sps.norm.sf(np.abs(stat)), 2 * sps.t.sf(np.abs(stat), finite_df))
    return pd.DataFrame({"estimate": Q, "se": se_, "ci_low": Q - crit * se_, "ci_high": Q + crit * se_, "p": p,
                         "df": df, "riv": riv, "fmi": fmi}, index=index)


@dataclass
class _Imputed:
    """Completed data sets of one imputation run and what the ANCOVA needs from them."""

    completed: list[pd.DataFrame]  # analysis columns (outcome, baseline, numeric covariates), imputed
    missing: np.ndarray  # outcome was missing
    group: np.ndarray
    categorical: pd.DataFrame  # dummies of categorical covariates (complete)
    n: int




def _encode(columns: Sequence[str], d: pd.DataFrame) -> pd.DataFrame:
    """Auxiliary columns as floats: numeric and boolean as they are, others as indicators (NaN stays NaN)."""
    parts = []
    for c in columns:
        s = d[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            parts.append(s.astype(float))
        else:
            dummies = pd.get_dummies(s.astype("string"), prefix=c, drop_first=True, dtype=float)
            dummies.loc[s.isna()] = np.nan
            parts.append(dummies)
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=d.index)


def _impute(data, outcome, group, baseline, covariates, auxiliary, n_imputations, by_group, random_state) -> _Imputed:
    if not isinstance(n_imputations, (int, np.integer)) or n_imputations < 2:
        raise ValueError(f"n_imputations must be an integer >= 2, got {n_imputations!r}")
    analysis_cols = [outcome] + ([baseline] if baseline else [])
    numeric_cov = [c for c in covariates if _numeric(data[c])]
    cat_cov = [c for c in covariates if not _numeric(data[c])]
    for c in cat_cov:
        if data[c].isna().any():
            raise ValueError(f"categorical covariate {c!r} has {int(data[c].isna().sum())} missing value(s); "
                             "only numeric columns are imputed")
    analysis_cols += numeric_cov
    d = data.dropna(subset=[group]).reset_index(drop=True)
    cat = (pd.get_dummies(d[cat_cov].astype(str), drop_first=True, dtype=float) if cat_cov
           else pd.DataFrame(index=d.index))
    aux = _encode([c for c in auxiliary if c not in analysis_cols], d)
    frame = pd.concat([d[analysis_cols].astype(float), cat, aux], axis=1)
    groups = d[group].to_numpy()
    if not by_group:
        frame = pd.concat([frame, pd.get_dummies(d[group].astype(str), drop_first=True, dtype=float)
                           .add_prefix("_group_")], axis=1)
    blocks = [np.flatnonzero(groups == g) for g in dict.fromkeys(groups)] if by_group else [np.arange(len(d))]
    usable = []  # per block, the columns with at least one observed value
    for rows in blocks:
        observed = frame.iloc[rows].notna().any().to_numpy()
        empty = [c for c, ok in zip(frame.columns[: len(analysis_cols)], observed) if not ok]
        if empty:
            raise ValueError(f"column(s) {empty} have no observed value"
                             + (f" in {group}={groups[rows[0]]!r}" if by_group else ""))
        # an auxiliary never observed in an arm (e.g. adherence of controls) cannot inform that arm
        usable.append(np.flatnonzero(observed))
    completed = []
    for seed in _rng_seeds(random_state, n_imputations):
        values = frame.to_numpy(dtype=float).copy()
        for rows, cols in zip(blocks, usable):
            block = values[np.ix_(rows, cols)]
            if not np.isnan(block).any():
                continue
            # one incomplete column needs one round; several need chained rounds (no early
            # stopping with posterior draws, so the number is fixed: 5, as R mice's default)
            rounds = 1 if np.isnan(block).any(axis=0).sum() == 1 else 5
            imp = IterativeImputer(sample_posterior=True, max_iter=rounds, random_state=seed, skip_complete=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                values[np.ix_(rows, cols)] = imp.fit_transform(block)
        completed.append(pd.DataFrame(values[:, :len(analysis_cols)], columns=analysis_cols))
    return _Imputed(completed, d[outcome].isna().to_numpy(), groups, cat, len(d))


def _ancova_arrays(y, groups, base, numeric_cov, cat, levels, pairs):
    """OLS ANCOVA ``y ~ group + baseline + covariates``: contrasts of ``pairs``, their SEs and df."""
    control = levels[0]
    cols = [np.ones(len(y))] + [(groups == lv).astype(float) for lv in levels[1:]]
    if base is not None:
        cols.append(base)
    X = np.column_stack(cols + [numeric_cov.reshape(len(y), -1), cat.to_numpy(dtype=float).reshape(len(y), -1)])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    df = len(y) - np.linalg.matrix_rank(X)
    resid = y - X @ beta
    cov = resid @ resid / df * np.linalg.pinv(X.T @ X)
    pos = {lv: i for i, lv in enumerate(levels)}
    L = np.zeros((len(pairs), X.shape[1]))
    for j, (a, b) in enumerate(pairs):
        if a != control:
            L[j, pos[a]] += 1.0
        if b != control:
            L[j, pos[b]] -= 1.0
    return L @ beta, np.sqrt(np.einsum("ij,jk,ik->i", L, cov, L)), df


def _mi_inputs(data, outcome, group, control, arms, baseline, covariates, auxiliary, pairs, pairwise):
    covariates, auxiliary = list(covariates), list(auxiliary)
    _check_frame(data, [outcome, group, *([baseline] if baseline else []), *covariates, *auxiliary])
    arms = _check_levels(data, group, control, arms)
    pairs = _pairs(arms, control, pairs, pairwise)
    for a, b in pairs:
        for lv in (a, b):
            if lv != control and lv not in arms:
                raise ValueError(f"pairs names {lv!r}, not one of control={control!r} or arms={arms}")
    d = data[data[group].isin([control, *arms])]
    return d, covariates, auxiliary, [control, *arms], pairs


def _analyse(imp: _Imputed, completed: pd.DataFrame, outcome, baseline, covariates, levels, pairs, y=None):
    numeric_cov = [c for c in completed.columns if c not in (outcome, baseline)]
    y = completed[outcome].to_numpy() if y is None else y
    base = completed[baseline].to_numpy() if baseline else None
    return _ancova_arrays(y, imp.group, base, completed[numeric_cov].to_numpy(), imp.categorical, levels, pairs)


def _pooled(imp, outcome, baseline, covariates, levels, pairs, confidence, shift=None):
    est, se, df = [], [], None
    for completed in imp.completed:
        y = completed[outcome].to_numpy()
        if shift is not None:
            y = y + shift
        e, s, df = _analyse(imp, completed, outcome, baseline, covariates, levels, pairs, y=y)
        est.append(e)
        se.append(s)
    out = rubin_pool(np.array(est), np.array(se), df_complete=df, index=[_label(a, b) for a, b in pairs],
                     confidence=confidence)
    out.index.name = "comparison"
    return out


def multiple_imputation(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    *,
    control: Any,
    baseline: str | None = None,
    covariates: Sequence[str] = (),
    auxiliary: Sequence[str] = (),
    arms: Sequence[Any] | None = None,
    pairs: Sequence[tuple[Any, Any]] | None = None,
    pairwise: bool = False,
    n_imputations: int = 20,
    by_group: bool = True,
    random_state: int | np.random.Generator | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """ANCOVA arm contrasts after multiple imputation with auxiliary variables, pooled by Rubin's rules.

    Missing values of the outcome (and of the baseline, numeric covariates and auxiliaries;
    categorical auxiliaries enter as indicators) are imputed ``n_imputations`` times by chained equations with draws from the posterior
    predictive distribution (scikit-learn ``IterativeImputer(sample_posterior=True)``, Bayesian
    ridge), using the analysis variables plus the ``auxiliary`` columns (e.g. adherence, strength
    change, head motion at follow-up), separately within each arm by default (so the imputation
    model allows every interaction with arm). Each completed data set is analysed by the ANCOVA
    ``outcome ~ group + baseline + covariates`` (OLS) and the contrasts are pooled with
    :func:`rubin_pool` (Barnard-Rubin degrees of freedom). Valid under missing at random given
    the analysis variables and the auxiliaries -- a weaker assumption than MAR given the
    analysis variables alone.

    Parameters
    ----------
    data : DataFrame
        One row per randomised person; every row (of ``control`` and ``arms``) is analysed.
    outcome, group : str
        Follow-up outcome (with missing values to impute) and randomised arm.
    control : object
        Control arm label.
    baseline : str, optional
        Baseline value of the outcome (imputed where missing).
    covariates : sequence of str
        Column names adjusted for; categorical ones (non-numeric) must be complete.
    auxiliary : sequence of str
        Columns used only by the imputation model (an auxiliary never observed within an arm,
        such as the adherence of controls, is not used for that arm).
    arms, pairs, pairwise
        Arms analysed (default all non-control levels; rows of other arms are left out),
        contrasts ``(a, b)`` as ``a - b`` (default each arm vs control, plus arm pairs if
        ``pairwise``).
    n_imputations : int
        Number of imputations (at least 2).
    by_group : bool
        Impute within each arm (default) or once with arm indicators.
    random_state : int, Generator or None
        Seed of the imputations.
    confidence : float
        Coverage of the intervals.

    Returns
    -------
    DataFrame
        ``comparison, estimate, se, ci_low, ci_high, p, df, riv, fmi, n, n_missing,
        n_imputations`` (``n_missing``: outcomes imputed in the two arms compared).
    """
    d, covariates, auxiliary, levels, pairs = _mi_inputs(data, outcome, group, control, arms, baseline, covariates,
                                                         auxiliary, pairs, pairwise)
    imp = _impute(d, outcome, group, baseline, covariates, auxiliary, n_imputations, by_group, random_state)
    out = _pooled(imp, outcome, baseline, covariates, levels, pairs, confidence).reset_index()
    out["n"] = [int(np.isin(imp.group, [a, b]).sum()) for a, b in pairs]
    out["n_missing"] = [int((imp.missing & np.isin(imp.group, [a, b])).sum()) for a, b in pairs]
    out["n_imputations"] = int(n_imputations)
    return out


# --- 5. delta-adjusted tipping point -----------------------------------------------------------


@dataclass
class TippingPointResult:
    """Delta-adjusted multiple imputation over a grid of shifts.

    Attributes
    ----------
    table : DataFrame
        ``delta, comparison, estimate, se, ci_low, ci_high, p, significant`` over the grid.
    tipping : DataFrame
        Per comparison: ``comparison, tipping_delta, status``. ``tipping_delta`` is the smallest
        grid value at which ``p > alpha``; ``status`` is ``"tips"``, ``"not significant at the
        smallest delta"`` or ``"significant over the whole grid"`` (then ``tipping_delta`` is NaN).
    alpha : float
    """

    table: pd.DataFrame
    tipping: pd.DataFrame
    alpha: float


def tipping_point(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    *,
    control: Any,
    deltas: Sequence[float],
    shifted: Sequence[Any] | None = None,
    baseline: str | None = None,
    covariates: Sequence[str] = (),
    auxiliary: Sequence[str] = (),
    arms: Sequence[Any] | None = None,
    pairs: Sequence[tuple[Any, Any]] | None = None,
    n_imputations: int = 20,
    by_group: bool = True,
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = None,
    confidence: float = 0.95,
) -> TippingPointResult:
    """Delta-adjusted multiple imputation: how far must the missing outcomes be off for the effect to go?

    The imputations of :func:`multiple_imputation` are drawn once; for each ``delta`` the
    imputed outcomes of people *with a missing outcome* in the ``shifted`` arms are moved by
    ``+delta`` (for a brain age gap, a positive delta makes the missing trainees' brains older
    than MAR predicts, i.e. worse), each completed data set is re-analysed and the contrasts
    are pooled by Rubin's rules. The tipping point of a contrast is the smallest delta of the
    grid at which it is no longer significant at ``alpha``.

    Parameters
    ----------
    data, outcome, group, control, baseline, covariates, auxiliary, arms, pairs,
    n_imputations, by_group, random_state, confidence
        As for :func:`multiple_imputation` (``pairs`` default: each arm vs control).
    deltas : sequence of float
        Grid of shifts, in outcome units (sorted ascending here; include 0 for MAR).
    shifted : sequence, optional
        Arms whose imputed outcomes are shifted (default all non-control arms).
    alpha : float
        Significance level of the tipping criterion (use the multiplicity-adjusted level that
        applies to the contrast).

    Returns
    -------
    TippingPointResult
    """
    alpha = _check_prob(alpha, "alpha")
    grid = np.sort(np.asarray(list(deltas), dtype=float))
    if grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError(f"deltas must be a non-empty sequence of finite numbers, got {list(deltas)!r}")
    d, covariates, auxiliary, levels, pairs = _mi_inputs(data, outcome, group, control, arms, baseline, covariates,
                                                         auxiliary, pairs, False)
    shifted = levels[1:] if shifted is None else list(shifted)
    for s in shifted:
        if s not in levels:
            raise ValueError(f"shifted names {s!r}, not one of the analysed arms {levels}")
    imp = _impute(d, outcome, group, baseline, covariates, auxiliary, n_imputations, by_group, random_state)
    move = (imp.missing & np.isin(imp.group, shifted)).astype(float)
    tables = []
    for delta in grid:
        t = _pooled(imp, outcome, baseline, covariates, levels, pairs, confidence, shift=delta * move).reset_index()
        t.insert(0, "delta", float(delta))
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)[["delta", "comparison", *EFFECT_COLUMNS]]
    table["significant"] = table["p"] <= alpha
    rows = []
    for comp, t in table.groupby("comparison", sort=False):
        sig = t["significant"].to_numpy()
        if not sig[0]:
            rows.append((comp, np.nan, "not significant at the smallest delta"))
        elif sig.all():
            rows.append((comp, np.nan, "significant over the whole grid"))
        else:
            rows.append((comp, float(t["delta"].to_numpy()[np.argmin(sig)]), "tips"))
    tipping = pd.DataFrame(rows, columns=["comparison", "tipping_delta", "status"])
    return TippingPointResult(table=table, tipping=tipping, alpha=alpha)
