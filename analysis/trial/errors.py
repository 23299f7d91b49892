"""The error every trial or reference directory problem raises."""

from __future__ import annotations

from typing import Any

__all__ = ["TrialDataError"]


class TrialDataError(ValueError):
    """A trial directory breaks the data contract; the message names file, row, column and rule."""

    def __init__(self, file: str, rule: str, *, row: int | None = None, column: str | None = None,
                 value: Any = None, detail: str = ""):
        self.file, self.row, self.column, self.rule, self.value = file, row, column, rule, value
        where = [f"file {file!r}"]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        msg = ", ".join(where) + f": rule '{rule}' broken"
        if value is not None:
            msg += f" (value {value!r})"
        if detail:
            msg += f"; {detail}"
        super().__init__(msg)
