"""Argument checks shared by the statistics modules (private)."""

from __future__ import annotations

import itertools
import re
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps


def _check_columns(data: pd.DataFrame, columns: Sequence[str], what: str = "data") -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"{what} has no column(s) {missing}; columns are {list(data.columns)}")


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(confidence)

#: Column order of every tidy effect table.
EFFECT_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "p"]


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


def _term_columns(data: pd.DataFrame, terms: Sequence[str]) -> list[str]:
    """Columns of ``data`` named in formula terms (so incomplete rows are dropped explicitly)."""
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", " ".join(terms)))
    return [c for c in data.columns if c in tokens]


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
