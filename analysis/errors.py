"""Exceptions and warnings raised by :mod:`analysis`.

Every error about input data carries the file, the row (the line number in the file, the header
being line 1) and the column it is about, so that a command-line user gets one line naming all
three.
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "AnalysisWarning",
    "DataError",
    "WeightingError",
]


class AnalysisError(Exception):
    """Base class of every error raised by :mod:`analysis`."""


class DataError(AnalysisError, ValueError):
    """Input data that cannot be analysed.

    Parameters
    ----------
    message : str
        What is wrong, in plain words.
    file : str, optional
        The file (or source name) the data came from.
    row : int, optional
        Line number in ``file`` (header = 1, first data row = 2).
    column : str, optional
        The column concerned.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.row = row
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = ""
        if self.file is not None:
            prefix = f"{self.file}: "
        if where:
            prefix += ", ".join(where) + ": "
        return prefix + self.message


class WeightingError(DataError):
    """Weighting totals that do not fit the responses (a cell without a total, a total without
    responses, margins that disagree, raking that does not converge)."""


class AnalysisWarning(UserWarning):
    """Base class of the warnings :mod:`analysis` may issue (none today: unreliable figures are
    flagged in the results, and bad input is an error)."""
