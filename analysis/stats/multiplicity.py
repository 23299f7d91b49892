"""Multiplicity adjustment of families of p-values."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

__all__ = ["fdr_bh", "holm"]


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


def holm(pvalues: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray | pd.Series:
    """Holm step-down adjusted p-values (family-wise error) :cite:`holm1979`.

    Same conventions as :func:`fdr_bh` (statsmodels ``method="holm"``).
    """
    return _adjust(pvalues, "holm", "p_holm")
