"""Numbers as prose shows them (the lowest layer: every module may import it)."""

from __future__ import annotations

import math
import re

__all__ = ["MINUS", "format_number"]

#: The true minus sign (U+2212) of typeset numbers.
MINUS = "\u2212"


def format_number(value: float | None, decimals: int = 2) -> str:
    """Fixed decimals, thousands separators, a true minus sign and no ``-0.00``; ``n/a`` for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:,.{decimals}f}"
    if re.fullmatch(r"-0(\.0*)?", text):
        text = text[1:]
    return text.replace("-", MINUS)
