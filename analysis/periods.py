"""Reporting periods from submission times, in Vietnam's time zone."""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.errors import DataError

__all__ = ["PERIODS", "TIME_ZONE", "add_period", "period_labels"]

PERIODS = ("month", "quarter", "year")
TIME_ZONE = "Asia/Ho_Chi_Minh"
_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$")


def period_labels(
    submitted_at: pd.Series | Sequence[str],
    period: str,
    *,
    column: str = "submitted_at",
    source: str | None = None,
    rows: Sequence[int] | None = None,
) -> pd.Series:
    """Period label of ISO 8601 timestamps with an offset, in Asia/Ho_Chi_Minh time.

    ``year`` → ``2026``, ``quarter`` → ``2026-Q3``, ``month`` → ``2026-07``. A timestamp without
    an offset is ambiguous and, like an unparseable one, raises :class:`DataError` naming the
    row.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    text = pd.Series(submitted_at).astype(object).where(pd.Series(submitted_at).notna(), "")
    text = text.astype(str).str.strip()
    rows = np.arange(len(text)) + 2 if rows is None else np.asarray(rows)
    shaped = text.str.match(_WITH_OFFSET).to_numpy(dtype=bool)
    parsed = pd.to_datetime(text.where(shaped, None), utc=True, errors="coerce", format="ISO8601")
    bad = ~shaped | parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{text.iloc[i]!r} is not a valid ISO 8601 date-time with an offset "
            "(e.g. 2026-03-14T09:21:05+07:00)",
            file=source,
            row=int(rows[i]),
            column=column,
        )
    local = parsed.dt.tz_convert(TIME_ZONE)
    year = local.dt.year.astype(str)
    if period == "year":
        labels = year
    elif period == "quarter":
        labels = year + "-Q" + local.dt.quarter.astype(str)
    else:
        labels = year + "-" + local.dt.month.map("{:02d}".format)
    return pd.Series(labels.to_numpy(dtype=object), index=pd.Series(submitted_at).index, name="period")


def add_period(
    data: pd.DataFrame,
    period: str,
    *,
    column: str = "submitted_at",
    source: str | None = None,
    rows: Sequence[int] | None = None,
) -> pd.DataFrame:
    """A copy of ``data`` with a ``period`` column (see :func:`period_labels`)."""
    out = data.copy()
    out["period"] = period_labels(data[column], period, column=column, source=source, rows=rows).to_numpy()
    return out
