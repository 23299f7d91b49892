"""The statistical analysis plan's methods: multiplicity, cLDA, CACE, multiple imputation, reliability.

One function per analysis of the plan (``book/analysis_plan.md``), in the package's style:
``data`` first, column names and design labels as arguments, tidy :class:`pandas.DataFrame`
results with the stable columns ``estimate, se, ci_low, ci_high, p`` where they apply. Nothing
about one trial is built in: arm labels, the control label and the visits are arguments, so the
same calls serve a two-arm trial with visits 0/6/12.

Multiplicity
    :func:`holm`, :func:`gatekeeping` (serial gatekeeping, Holm within families) and
    :func:`trial_families` (the plan's three ordered families from a table of contrasts).
Primary model option
    :func:`clda` (constrained longitudinal data analysis with an unstructured within-person
    covariance, REML) and :func:`compare_covariance` (against the random-intercept structure).
Non-adherence
    :func:`cace` (complier average causal effect by two-stage least squares, beside ITT,
    per-protocol and as-treated estimates).
Missing data
    :func:`multiple_imputation` (auxiliary variables, Rubin's rules via :func:`rubin_pool`) and
    :func:`tipping_point` (delta-adjusted imputation).
Reliability
    :func:`icc` (Shrout & Fleiss ICCs with CIs) and :func:`smallest_detectable_change`.
Heterogeneity, effect sizes, words
    :func:`subgroup_effects`, :func:`standardized_effects`, :func:`verdict`, :func:`conclusion`,
    :data:`BIAS_CORRECTION_IDENTITIES` and :func:`bias_correction_identities`.

Wald intervals use the normal distribution for likelihood fits (cLDA) and the t distribution
with the residual degrees of freedom for least-squares fits, as in :mod:`analysis.stats`.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats as sps

from analysis import stats

__all__ = [
    "holm",
    "gatekeeping",
    "trial_families",
    "CLDAResult",
    "clda",
    "compare_covariance",
    "cace",
    "rubin_pool",
    "multiple_imputation",
    "TippingPointResult",
    "tipping_point",
    "icc",
    "smallest_detectable_change",
    "subgroup_effects",
    "standardized_effects",
    "verdict",
    "conclusion",
    "BIAS_CORRECTION_IDENTITIES",
    "bias_correction_identities",
]

EFFECT_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "p"]


# --- small checks -----------------------------------------------------------------------------


def _check_frame(data: Any, columns: Sequence[str], what: str = "data") -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"{what} has no column(s) {missing}; columns are {list(data.columns)}")


def _check_prob(value: float, name: str) -> float:
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def _check_levels(data: pd.DataFrame, group: str, control: Any, arms: Sequence[Any] | None) -> list[Any]:
    """Active arms: those given, or every non-control level present (category order, else sorted)."""
    column = data[group]
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = [lv for lv in column.cat.categories if (column == lv).any()]
    else:
        present = sorted(column.dropna().unique(), key=str)
    if control not in present:
        raise ValueError(f"control={control!r} is not a level of column {group!r}: {present}")
    if arms is None:
        return [lv for lv in present if lv != control]
    arms = list(arms)
    for arm in arms:
        if arm not in present:
            raise ValueError(f"arms names {arm!r}, not a level of column {group!r}: {present}")
        if arm == control:
            raise ValueError(f"arms must not contain the control level {control!r}")
    return arms


def _pairs(arms: Sequence[Any], control: Any, pairs: Sequence[tuple[Any, Any]] | None,
           pairwise: bool = False) -> list[tuple[Any, Any]]:
    if pairs is not None:
        return [tuple(p) for p in pairs]
    out = [(a, control) for a in arms]
    if pairwise:
        out += list(itertools.combinations(arms, 2))
    return out


def _label(a: Any, b: Any) -> str:
    return f"{a} - {b}"


def _rng_seeds(random_state: int | np.random.Generator | None, n: int) -> list[int]:
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]


def _z(confidence: float) -> float:
    return float(sps.norm.ppf(0.5 + _check_prob(confidence, "confidence") / 2))


# --- 1. multiplicity ---------------------------------------------------------------------------


def holm(pvalues: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray | pd.Series:
    """Holm step-down adjusted p-values (family-wise error rate).

    Computed by :func:`statsmodels.stats.multitest.multipletests` (``method="holm"``). Missing
    values stay missing and do not count towards the family size; a Series keeps its index.
    Reject at family-wise level ``alpha`` where the adjusted p is at most ``alpha``.

    Parameters
    ----------
    pvalues : array-like or Series
        Unadjusted p-values in [0, 1].

    Returns
    -------
    ndarray or Series
        Adjusted p-values (Series named ``p_holm``), same shape as the input.
    """
    from statsmodels.stats.multitest import multipletests

    index = pvalues.index if isinstance(pvalues, pd.Series) else None
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    ok = ~np.isnan(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError(f"pvalues must lie in [0, 1], got min {flat[ok].min()} max {flat[ok].max()}")
    adjusted = np.full_like(flat, np.nan)
    if ok.any():
        adjusted[ok] = multipletests(flat[ok], method="holm")[1]
    adjusted = adjusted.reshape(p.shape)
    return pd.Series(adjusted, index=index, name="p_holm") if index is not None else adjusted


def _within_family(p: np.ndarray, method: str) -> np.ndarray:
    """Holm or Bonferroni adjusted p-values of one family.

    The same numbers as ``multipletests(p, method=...)[1]`` (a test checks this), computed here
    because statsmodels' Holm branch runs a full garbage collection on every call, which makes
    simulation studies of the procedure slow.
    """
    m = p.size
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(m, 0, -1))
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def gatekeeping(
    families: Mapping[str, Mapping[str, float] | pd.Series],
    *,
    alpha: float = 0.05,
    method: str = "holm",
) -> pd.DataFrame:
    """Serial gatekeeping over ordered families, Holm within each family (strong FWER control).

    Family ``k`` is tested, at the full level ``alpha``, only if every hypothesis of families
    ``1 .. k-1`` was rejected. Within a family the p-values are adjusted by Holm (or Bonferroni).
    The adjusted p-value of a hypothesis in family ``k`` is

    ``p_adj = max(p_within, max of p_adj over families 1 .. k-1)``,

    so that rejecting every hypothesis with ``p_adj <= alpha`` gives exactly the procedure's
    decisions at any ``alpha``. The family-wise error rate is at most ``alpha`` in the strong
    sense: a false rejection in a later family requires all of the first family containing a
    true null to be rejected, which is itself a false rejection there, and that family's Holm
    test errs with probability at most ``alpha``.

    Parameters
    ----------
    families : mapping
        Ordered ``{family name: {hypothesis: p}}`` (a Series of p-values works as the inner
        mapping). Order of the mapping is the testing order.
    alpha : float
        Family-wise level used for the ``rejected`` column.
    method : {"holm", "bonferroni"}
        Adjustment within a family.

    Returns
    -------
    DataFrame
        One row per hypothesis, in testing order: ``family, order, hypothesis, p, p_within,
        p_adj, rejected`` (``order`` is the family's position, from 1).
    """
    alpha = _check_prob(alpha, "alpha")
    if method not in ("holm", "bonferroni"):
        raise ValueError(f"method must be 'holm' or 'bonferroni', got {method!r}")
    if not isinstance(families, Mapping) or not families:
        raise ValueError("families must be a non-empty mapping {family: {hypothesis: p}}")
    rows = []
    gate = 0.0  # the largest adjusted p of all earlier families
    for order, (name, hyps) in enumerate(families.items(), start=1):
        p = pd.Series(hyps, dtype=float)
        if p.empty:
            raise ValueError(f"family {name!r} has no hypotheses")
        if p.isna().any() or ((p < 0) | (p > 1)).any():
            raise ValueError(f"family {name!r} has p-values outside [0, 1] or missing: {p.to_dict()}")
        within = _within_family(p.to_numpy(), method)
        adj = np.maximum(within, gate)
        for hyp, pv, w, a in zip(p.index, p.to_numpy(), within, adj):
            rows.append(dict(family=name, order=order, hypothesis=hyp, p=pv, p_within=w, p_adj=a))
        gate = float(adj.max())
    out = pd.DataFrame(rows)
    out["rejected"] = out["p_adj"] <= alpha
    return out


def trial_families(
    effects: pd.DataFrame,
    *,
    control: str,
    primary_visit: Any,
    followup_visits: Sequence[Any] = (),
    visit: str = "month",
    comparison: str = "comparison",
    p: str = "p",
    pairwise: bool = True,
) -> dict[str, pd.Series]:
    """The plan's ordered hypothesis families from a table of arm contrasts, for :func:`gatekeeping`.

    1. ``primary``: each arm vs ``control`` at ``primary_visit``;
    2. ``follow-up``: each arm vs ``control`` at each of ``followup_visits`` (omitted if none);
    3. ``active arms``: contrasts between two non-control arms at ``primary_visit`` (if
       ``pairwise`` and such rows exist).

    Parameters
    ----------
    effects : DataFrame
        One row per contrast and visit, with a ``comparison`` column spelled ``"A - B"`` (as
        :func:`clda`, :func:`analysis.trial_analysis.arm_effects` return), a ``visit`` column
        and a p-value column.
    control : str
        Control arm label.
    primary_visit, followup_visits
        Visit of the primary hypothesis; later visits tested only after it.
    visit, comparison, p : str
        Column names.
    pairwise : bool
        Add the active-arm family.

    Returns
    -------
    dict
        ``{family: Series of p indexed by "A - B @ <visit>=<v>"}``, in testing order.
    """
    _check_frame(effects, [visit, comparison, p], "effects")
    parts = effects[comparison].astype(str).str.split(" - ", n=1, expand=True)
    if parts.shape[1] != 2 or parts.isna().any().any():
        raise ValueError(f"column {comparison!r} must hold contrasts spelled 'A - B'")
    vs_control = parts[1] == str(control)
    active = (parts[0] != str(control)) & (parts[1] != str(control))
    followup_visits = list(followup_visits)
    if primary_visit not in set(effects[visit]):
        raise ValueError(f"primary_visit={primary_visit!r} is not in column {visit!r}: {sorted(set(effects[visit]))}")

    def family(mask: pd.Series) -> pd.Series:
        rows = effects[mask]
        index = [f"{c} @ {visit}={v}" for c, v in zip(rows[comparison], rows[visit])]
        return pd.Series(rows[p].to_numpy(dtype=float), index=index, name=p)

    out = {"primary": family(vs_control & (effects[visit] == primary_visit))}
    if out["primary"].empty:
        raise ValueError(f"effects has no contrast against control={control!r} at {visit}={primary_visit!r}")
    if followup_visits:
        out["follow-up"] = family(vs_control & effects[visit].isin(followup_visits))
    if pairwise:
        fam = family(active & (effects[visit] == primary_visit))
        if not fam.empty:
            out["active arms"] = fam
    return {k: v for k, v in out.items() if not v.empty}


# --- 2. constrained longitudinal data analysis -------------------------------------------------


@dataclass
class CLDAResult:
    """A fitted cLDA / longitudinal GLS model.

    Attributes
    ----------
    fixed : DataFrame
        Fixed effects indexed by term: ``estimate, se, ci_low, ci_high, p`` (Wald, normal).
        Terms ``<group>[<arm>]:<visit>[<v>]`` are the arm-vs-control differences at visit ``v``.
    effects : DataFrame
        Arm contrasts at each post-baseline visit: ``comparison, <visit>, estimate, se, ci_low,
        ci_high, p``.
    covariance : DataFrame
        Fitted within-person covariance of the outcome over visits (visit x visit).
    covariance_structure : str
        ``"unstructured"`` or ``"exchangeable"``.
    llf : float
        Log-likelihood at the optimum (restricted if ``reml``).
    aic, bic : float
        Information criteria. Under REML only the covariance parameters are counted (fixed
        effects must be identical for REML criteria to be compared).
    n_cov_params, n_obs, n_groups : int
    reml, converged : bool
    """

    fixed: pd.DataFrame
    effects: pd.DataFrame
    covariance: pd.DataFrame
    covariance_structure: str
    llf: float
    aic: float
    bic: float
    n_cov_params: int
    n_obs: int
    n_groups: int
    reml: bool
    converged: bool
    _cov_beta: pd.DataFrame = field(repr=False)

    @property
    def params(self) -> pd.Series:
        """Fixed-effect estimates (so :func:`analysis.stats.contrast` accepts this result)."""
        return self.fixed["estimate"]

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates (model-based)."""
        return self._cov_beta.copy()

    @property
    def correlation(self) -> pd.DataFrame:
        """Within-person correlation of the outcome over visits."""
        sd = np.sqrt(np.diag(self.covariance.to_numpy()))
        return self.covariance / np.outer(sd, sd)


def _clda_design(data, group, visit, visits, arms, covariates, constrained):
    """Response, design matrix (named columns), subject codes and visit positions."""
    import patsy

    covariates = list(covariates)
    baseline = visits[0]
    X = pd.DataFrame({"Intercept": np.ones(len(data))}, index=data.index)
    for v in visits[1:]:
        X[f"{visit}[{v}]"] = (data[visit] == v).astype(float)
    if not constrained:
        for a in arms:
            X[f"{group}[{a}]"] = (data[group] == a).astype(float)
    for v in visits[1:]:
        for a in arms:
            X[f"{group}[{a}]:{visit}[{v}]"] = ((data[group] == a) & (data[visit] == v)).astype(float)
    if covariates:
        C = patsy.dmatrix("1 + " + " + ".join(covariates), data, return_type="dataframe", NA_action="raise")
        X = pd.concat([X, C.drop(columns="Intercept")], axis=1)
    rank = np.linalg.matrix_rank(X.to_numpy())
    if rank < X.shape[1]:
        raise ValueError(
            f"the cLDA design is rank deficient ({rank} < {X.shape[1]} columns {list(X.columns)}); "
            f"check that covariates={covariates} are not constant or collinear with the visits"
            + ("" if constrained else " or arms")
            + f" (baseline visit {baseline!r})"
        )
    return X


class _PatternGLS:
    """REML/ML log-likelihood of a GLS model with a within-person covariance over visits.

    People are grouped by their pattern of observed visits; each pattern's covariance is the
    sub-matrix of the full visit covariance, so every evaluation costs a few small inverses.
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, subjects: np.ndarray, pos: np.ndarray, n_visits: int):
        self.n_visits, self.q, self.N = n_visits, X.shape[1], len(y)
        order = np.lexsort((pos, subjects))
        y, X, subjects, pos = y[order], X[order], subjects[order], pos[order]
        starts = np.flatnonzero(np.r_[True, subjects[1:] != subjects[:-1]])
        bounds = np.r_[starts, len(y)]
        by_pattern: dict[tuple, list[int]] = {}
        for i in range(len(starts)):
            key = tuple(pos[bounds[i]:bounds[i + 1]])
            if len(set(key)) != len(key):
                raise ValueError("a subject has two rows for the same visit")
            by_pattern.setdefault(key, []).append(i)
        self.patterns = []
        for key, people in by_pattern.items():
            rows = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in people])
            k = len(key)
            self.patterns.append((np.array(key), y[rows].reshape(len(people), k), X[rows].reshape(len(people), k, -1)))
        self.n_groups = len(starts)

    def pieces(self, Sigma: np.ndarray):
        q = self.q
        XtVX, XtVy, yVy, logdet = np.zeros((q, q)), np.zeros(q), 0.0, 0.0
        for idx, Y, XX in self.patterns:
            S = Sigma[np.ix_(idx, idx)]
            sign, ld = np.linalg.slogdet(S)
            if sign <= 0:
                return None
            Sinv = np.linalg.inv(S)
            XS = np.einsum("nkq,kl->nlq", XX, Sinv)
            XtVX += np.einsum("nlq,nlr->qr", XS, XX)
            XtVy += np.einsum("nlq,nl->q", XS, Y)
            yVy += float(np.einsum("nk,kl,nl->", Y, Sinv, Y))
            logdet += len(Y) * ld
        return XtVX, XtVy, yVy, logdet

    def loglik(self, Sigma: np.ndarray, reml: bool) -> float:
        parts = self.pieces(Sigma)
        if parts is None:
            return -np.inf
        XtVX, XtVy, yVy, logdet = parts
        try:
            beta = np.linalg.solve(XtVX, XtVy)
        except np.linalg.LinAlgError:
            return -np.inf
        quad = yVy - XtVy @ beta
        if reml:
            sign, ld_x = np.linalg.slogdet(XtVX)
            return -0.5 * (logdet + ld_x + quad + (self.N - self.q) * np.log(2 * np.pi))
        return -0.5 * (logdet + quad + self.N * np.log(2 * np.pi))


def _sigma_from_theta(theta: np.ndarray, structure: str, V: int) -> np.ndarray:
    if structure == "exchangeable":
        var_u, var_e = np.exp(theta)
        return var_u * np.ones((V, V)) + var_e * np.eye(V)
    L = np.zeros((V, V))
    L[np.tril_indices(V)] = theta
    L[np.diag_indices(V)] = np.exp(np.diag(L))
    return L @ L.T


def _theta_start(resid_cov: np.ndarray, structure: str) -> np.ndarray:
    V = len(resid_cov)
    if structure == "exchangeable":
        off = resid_cov[~np.eye(V, dtype=bool)].mean() if V > 1 else 0.0
        total = np.diag(resid_cov).mean()
        var_u = min(max(off, 0.05 * total), 0.95 * total)
        return np.log([var_u, total - var_u])
    w, Q = np.linalg.eigh(resid_cov)
    S = (Q * np.maximum(w, 1e-3 * w.max())) @ Q.T
    L = np.linalg.cholesky(S)
    L[np.diag_indices(V)] = np.log(np.diag(L))
    return L[np.tril_indices(V)]


_STRUCTURES = {"unstructured": None, "exchangeable": 2}


def clda(
    data: pd.DataFrame,
    outcome: str,
    *,
    subject: str,
    group: str,
    visit: str,
    control: Any,
    visits: Sequence[Any] | None = None,
    arms: Sequence[Any] | None = None,
    covariates: Sequence[str] = (),
    covariance: str = "unstructured",
    constrained: bool = True,
    pairwise: bool = True,
    reml: bool = True,
    confidence: float = 0.95,
) -> CLDAResult:
    """Constrained longitudinal data analysis: GLS with a within-person covariance, by REML.

    The mean model has a term per visit and arm-by-visit terms at the post-baseline visits
    only, so the baseline mean is common to all arms (as randomisation makes it in the
    population; Liang & Zeger 2000). Baseline values enter as outcomes, so people without a
    follow-up still inform the baseline mean and the covariance, and people without a usable
    baseline still count. The within-person covariance over visits is unstructured (one
    variance per visit and one covariance per pair of visits) or exchangeable (equivalent to a
    random intercept per person, as :func:`analysis.stats.mixed_model` fits). Estimation is
    generalised least squares with the covariance parameters chosen by (restricted) maximum
    likelihood (L-BFGS over a Cholesky factor); rows with a missing outcome or covariate are
    left out, which is valid under missing at random given the model's terms.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per person x visit.
    outcome : str
        Outcome column.
    subject, group, visit : str
        Columns: person identifier, randomised arm, visit.
    control : object
        Control arm label; contrasts are arm minus control.
    visits : sequence, optional
        Visit values in time order, the first being baseline (default: sorted unique values).
    arms : sequence, optional
        Non-control arms to contrast (default: all other levels of ``group``); rows of arms
        not named are left out.
    covariates : sequence of str
        Further formula terms (patsy), e.g. ``("age", "C(sex)", "baseline_fd")``.
    covariance : {"unstructured", "exchangeable"}
        Within-person covariance structure.
    constrained : bool
        Common baseline mean (cLDA, default); ``False`` adds arm main effects (LDA).
    pairwise : bool
        Also report contrasts between non-control arms.
    reml : bool
        Restricted (default) or full maximum likelihood.
    confidence : float
        Coverage of the Wald intervals.

    Returns
    -------
    CLDAResult
    """
    if covariance not in _STRUCTURES:
        raise ValueError(f"covariance must be one of {list(_STRUCTURES)}, got {covariance!r}")
    covariates = list(covariates)
    _check_frame(data, [outcome, subject, group, visit])
    visits = sorted(data[visit].dropna().unique()) if visits is None else list(visits)
    if len(visits) < 2:
        raise ValueError(f"visits must hold a baseline and at least one later visit, got {visits}")
    unknown = sorted(set(data[visit].dropna()) - set(visits), key=str)
    if unknown:
        raise ValueError(f"column {visit!r} has value(s) {unknown} not in visits={visits}")
    arms = _check_levels(data, group, control, arms)
    pairs = _pairs(arms, control, None, pairwise)
    used = [outcome, subject, group, visit, *_term_columns(data, covariates)]
    d = data[data[group].isin([control, *arms])].dropna(subset=used)
    X = _clda_design(d, group, visit, visits, arms, covariates, constrained)
    names = list(X.columns)
    y = d[outcome].to_numpy(dtype=float)
    codes = pd.factorize(d[subject])[0]
    pos = d[visit].map({v: i for i, v in enumerate(visits)}).to_numpy()
    V = len(visits)
    gls = _PatternGLS(y, X.to_numpy(), codes, pos, V)

    beta_ols = np.linalg.lstsq(X.to_numpy(), y, rcond=None)[0]
    resid = pd.DataFrame({"s": codes, "v": pos, "r": y - X.to_numpy() @ beta_ols})
    wide = resid.pivot(index="s", columns="v", values="r").reindex(columns=range(V))
    start = wide.cov(min_periods=3).to_numpy().copy()
    total = float(np.nanvar(resid["r"]))
    start[np.isnan(start)] = 0.0
    start[np.diag_indices(V)] = np.where(np.diag(start) > 0, np.diag(start), total)

    def objective(theta: np.ndarray) -> float:
        value = -gls.loglik(_sigma_from_theta(theta, covariance, V), reml)
        return value if np.isfinite(value) else 1e300

    theta0 = _theta_start(start, covariance)
    fit = optimize.minimize(objective, theta0, method="L-BFGS-B",
                            options={"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-8})
    polish = optimize.minimize(objective, fit.x, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000})
    if polish.fun <= fit.fun:
        fit = polish
    Sigma = _sigma_from_theta(fit.x, covariance, V)
    gradient = optimize.approx_fprime(fit.x, objective, 1e-7)
    converged = bool(fit.success or np.max(np.abs(gradient)) < 1e-3 * max(1.0, abs(fit.fun)))
    XtVX, XtVy, _, _ = gls.pieces(Sigma)
    beta = np.linalg.solve(XtVX, XtVy)
    cov_beta = pd.DataFrame(np.linalg.inv(XtVX), index=names, columns=names)
    fixed = stats.tidy_effects(beta, np.sqrt(np.diag(cov_beta)), index=names, confidence=confidence)
    llf = -float(fit.fun)
    k = _STRUCTURES[covariance] or V * (V + 1) // 2
    n_par = k if reml else k + len(names)
    n_eff = gls.N - len(names) if reml else gls.N
    result = CLDAResult(
        fixed=fixed, effects=pd.DataFrame(), covariance=pd.DataFrame(Sigma, index=visits, columns=visits),
        covariance_structure=covariance, llf=llf, aic=-2 * llf + 2 * n_par, bic=-2 * llf + np.log(n_eff) * n_par,
        n_cov_params=k, n_obs=gls.N, n_groups=gls.n_groups, reml=bool(reml), converged=converged,
        _cov_beta=cov_beta,
    )

    def term(a: Any, v: Any) -> dict[str, float]:
        return {} if a == control else {f"{group}[{a}]:{visit}[{v}]": 1.0}

    L, rows = {}, []
    for v in visits[1:]:
        for a, b in pairs:
            w = term(a, v)
            for t, val in term(b, v).items():
                w[t] = w.get(t, 0.0) - val
            L[f"{_label(a, b)} @ {v}"] = w
            rows.append((_label(a, b), v))
    eff = stats.contrast(result, L, confidence=confidence).reset_index(drop=True)
    eff.insert(0, visit, [v for _, v in rows])
    eff.insert(0, "comparison", [c for c, _ in rows])
    result.effects = eff
    return result


def _term_columns(data: pd.DataFrame, terms: Sequence[str]) -> list[str]:
    """Columns of ``data`` named in formula terms (so incomplete rows are dropped explicitly)."""
    import re

    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", " ".join(terms)))
    return [c for c in data.columns if c in tokens]


def compare_covariance(
    data: pd.DataFrame,
    outcome: str,
    *,
    structures: Sequence[str] = ("exchangeable", "unstructured"),
    **kwargs: Any,
) -> pd.DataFrame:
    """Compare within-person covariance structures of the same :func:`clda` mean model.

    With REML the criteria are comparable because the fixed effects are identical; the
    likelihood-ratio test is against the first structure (``exchangeable``, a random
    intercept, is nested in ``unstructured``; the chi-square reference is conservative when a
    variance lies on the boundary).

    Parameters
    ----------
    data, outcome
        As for :func:`clda`.
    structures : sequence of str
        Structures to fit, the first being the reference of the likelihood-ratio test.
    **kwargs
        Passed to :func:`clda` (``subject``, ``group``, ``visit``, ``control``, ...).

    Returns
    -------
    DataFrame
        Indexed by structure: ``n_cov_params, llf, aic, bic, lr_stat, lr_df, lr_p``.
    """
    if "covariance" in kwargs:
        raise TypeError("pass the structures to compare as structures=, not covariance=")
    fits = {s: clda(data, outcome, covariance=s, **kwargs) for s in structures}
    ref = fits[structures[0]]
    rows = {}
    for s, f in fits.items():
        lr_df = f.n_cov_params - ref.n_cov_params
        lr = 2 * (f.llf - ref.llf)
        rows[s] = dict(n_cov_params=f.n_cov_params, llf=f.llf, aic=f.aic, bic=f.bic,
                       lr_stat=lr if lr_df > 0 else np.nan, lr_df=lr_df if lr_df > 0 else np.nan,
                       lr_p=float(sps.chi2.sf(max(lr, 0.0), lr_df)) if lr_df > 0 else np.nan)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "structure"
    return out


# --- 3. complier average causal effect -----------------------------------------------------------


def _covariate_matrix(d: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    import patsy

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
    from linearmodels.iv import IV2SLS

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


# --- 4. multiple imputation and Rubin's rules ----------------------------------------------------


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


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


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
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

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


# --- 6. reliability ----------------------------------------------------------------------------


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


# --- 7. heterogeneity --------------------------------------------------------------------------


def _design_at(fit: Any, rows: pd.DataFrame) -> np.ndarray:
    import patsy

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
        _, fit = stats.ols(work, formula, confidence=confidence)
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
                p_int = float(stats.contrast(fit, {"x": L["per SD"]})["p"].iloc[0])
            else:
                R = effect_rows[1:] - effect_rows[0]
                p_int = float(fit.f_test(R).pvalue)
            t = stats.contrast(fit, L, confidence=confidence).reset_index(names="level")
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


# --- 9. words from numbers -----------------------------------------------------------------------


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
        sentence = (f"{subject} was not distinguishable between {a} and {b} (difference "
                    f"{estimate:.{decimals}f} {unit}, {pct} from {lo} to {hi})")
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
        table, fit = stats.ols(work, f"_gap ~ {rhs}")
        keep = terms or [t for t in table.index if t != "Intercept" and age not in t]
        for t in keep:
            rows.append(dict(correction=name, term=t, estimate=table.loc[t, "estimate"], se=table.loc[t, "se"],
                             statistic=float(fit.tvalues[t]), p=table.loc[t, "p"]))
    out = pd.DataFrame(rows)
    base = out[out["correction"] == "none"].set_index("term")["estimate"]
    out["ratio_to_none"] = out["estimate"].to_numpy() / base.reindex(out["term"]).to_numpy()
    out.attrs["cole_slope"] = float(alpha_c)
    return out
