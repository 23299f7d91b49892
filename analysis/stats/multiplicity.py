"""Multiplicity adjustment of families of p-values."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from analysis.stats._checks import _check_frame, _check_prob

__all__ = ["fdr_bh", "fdr_bh_rows", "holm", "gatekeeping", "trial_families"]


def _adjust(pvalues, method: str, name: str) -> np.ndarray | pd.Series:
    index = pvalues.index if isinstance(pvalues, pd.Series) else None
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    ok = ~np.isnan(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError(f"pvalues must lie in [0, 1], got min {flat[ok].min()} max {flat[ok].max()}")
    adjusted = np.full_like(flat, np.nan)
    if ok.any():
        adjusted[ok] = multipletests(flat[ok], method=method)[1]
    adjusted = adjusted.reshape(p.shape)
    return pd.Series(adjusted, index=index, name=name) if index is not None else adjusted


def fdr_bh(pvalues: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray | pd.Series:
    """Benjamini-Hochberg adjusted p-values (false discovery rate) :cite:`benjamini1995`.

    Computed by :func:`statsmodels.stats.multitest.multipletests` (``method="fdr_bh"``); this
    wrapper keeps missing values missing (they do not count towards the family size ``m``) and
    keeps a Series' index. Reject at FDR ``q`` where ``p_adj <= q``.

    Parameters
    ----------
    pvalues : array-like or Series
        Unadjusted p-values in [0, 1].

    Returns
    -------
    ndarray or Series
        Adjusted p-values, same shape (and index, for a Series) as the input.
    """
    return _adjust(pvalues, "fdr_bh", "p_fdr")


def fdr_bh_rows(pvalues: np.ndarray) -> np.ndarray:
    """:func:`fdr_bh` of each row of a 2-D array (one family per row), vectorised.

    The simulation studies adjust one small family per replicate, tens of thousands of times;
    one ``multipletests`` call per row cost 2.7 s of page 07's build. The same arithmetic as
    statsmodels' ``fdr_bh`` (sort, divide by ``rank / m``, running minimum from the top, cap at
    1), so the numbers are identical bit for bit (a test checks); rows with a missing p-value
    go through :func:`fdr_bh`, which leaves it out of the family.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"pvalues must be 2-D (one family per row), got shape {p.shape}")
    out = np.empty_like(p)
    if p.size == 0:
        return out
    missing = np.isnan(p).any(axis=1)
    if missing.any():
        out[missing] = np.array([fdr_bh(row) for row in p[missing]])
    q = p[~missing]
    ok = q[np.isfinite(q)]
    if np.any((ok < 0) | (ok > 1)):
        raise ValueError(f"pvalues must lie in [0, 1], got min {ok.min()} max {ok.max()}")
    m = q.shape[1]
    order = np.argsort(q, axis=1, kind="mergesort")
    ranked = np.take_along_axis(q, order, axis=1) / (np.arange(1, m + 1) / m)
    ranked = np.minimum.accumulate(ranked[:, ::-1], axis=1)[:, ::-1]
    ranked[ranked > 1] = 1
    adjusted = np.empty_like(q)
    np.put_along_axis(adjusted, order, ranked, axis=1)
    out[~missing] = adjusted
    return out


def holm(pvalues: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray | pd.Series:
    """Holm step-down adjusted p-values (family-wise error) :cite:`holm1979`.

    Same conventions as :func:`fdr_bh` (statsmodels ``method="holm"``).
    """
    return _adjust(pvalues, "holm", "p_holm")


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
