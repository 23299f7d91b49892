"""Constrained longitudinal data analysis (cLDA) with an unstructured within-person covariance.

Baseline means are equal across arms (as randomisation implies): arm-by-visit terms only at
post-baseline visits :cite:p:`liang2000,coffman2016`. Fitted by REML generalised least squares over
the per-person covariance of the visits, grouped by missingness pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import patsy
from scipy import optimize
from scipy import stats as sps

from analysis.stats._checks import (
    _check_frame,
    _check_levels,
    _label,
    _pairs,
    _term_columns,
)
from analysis.stats.models import contrast, tidy_effects

__all__ = ["CLDAResult", "clda", "compare_covariance", "covariance_comparison"]




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
        """Fixed-effect estimates (so :func:`analysis.contrast` accepts this result)."""
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
        # a line search may try a step whose exp() overflows or whose covariance is singular: such a
        # point is rejected by its value (1e300), so NumPy's floating-point warnings about it are noise
        with np.errstate(all="ignore"):
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
    fixed = tidy_effects(beta, np.sqrt(np.diag(cov_beta)), index=names, confidence=confidence)
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
    eff = contrast(result, L, confidence=confidence).reset_index(drop=True)
    eff.insert(0, visit, [v for _, v in rows])
    eff.insert(0, "comparison", [c for c, _ in rows])
    result.effects = eff
    return result




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
    return covariance_comparison({s: clda(data, outcome, covariance=s, **kwargs) for s in structures})


def covariance_comparison(fits: Mapping[str, CLDAResult]) -> pd.DataFrame:
    """The table of :func:`compare_covariance` from fits already made (same mean model, same data).

    Parameters
    ----------
    fits : mapping
        ``{structure: CLDAResult}``; the first is the reference of the likelihood-ratio test.
    """
    if not fits:
        raise ValueError("fits must hold at least one CLDAResult")
    structures = list(fits)
    ref = fits[structures[0]]
    for s, f in fits.items():
        if f.reml != ref.reml or list(f.fixed.index) != list(ref.fixed.index) or f.n_obs != ref.n_obs:
            raise ValueError(f"fit {s!r} differs from {structures[0]!r} in its mean model, data or REML flag: "
                             "criteria are comparable only for the same fixed effects and rows")
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
