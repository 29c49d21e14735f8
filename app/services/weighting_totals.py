"""Administrative totals for weighting: upload, validation report, and the weighting of a view.

An analyst uploads, per reporting period, either the post-stratification table (e.g. dossiers
per ``center_code,field_code``) or one raking margin per upload (e.g. ``center_code``, then
``field_code``), in the Totals format of interfaces.md §4 without a ``period`` column: the period
is chosen on the form. The validation report lists cells without responses, responses without a
cell and margins whose sums disagree, before anything is used.

When a view is weighted, the period's tables get a ``period`` column (so that several periods
can be weighted at once, each to its own totals) and cells with a total but no response in the
view are left out and reported, so that a view filtered to one centre is weighted to that
centre's totals. A cell with responses but no total is an error: the view is shown unweighted
with the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from analysis import DataError, PostStratification, Raking, Totals, WeightingError
from app.models import WeightingTotals
from app.services.datasets import Selection, sufficient_tables
from app.services.filters import granularity_of, period_bounds

#: Columns a totals table may be keyed by (the period is chosen on the form).
TOTALS_KEYS = ("center_code", "commune_code", "district_code", "province_code", "level", "field_code", "channel")
MAX_BYTES = 2 * 1024 * 1024


class TotalsError(ValueError):
    """A totals file that cannot be used; the message is for people."""


def parse_totals(raw: bytes, filename: str) -> Totals:
    """Read and validate an uploaded totals CSV (comma or semicolon, UTF-8 with or without BOM)."""
    if len(raw) > MAX_BYTES:
        raise TotalsError(_l("The file is larger than 2 MB."))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TotalsError(_l("The file is not UTF-8 text. Save it as CSV UTF-8.")) from None
    if not text.strip():
        raise TotalsError(_l("The file is empty."))
    if "\x00" in text:
        raise TotalsError(_l("The file is not a readable CSV file."))
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error:
        raise TotalsError(_l("The file is not a readable CSV file.")) from None
    header = [c.strip() for c in rows[0]]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if len(set(header)) != len(header) or "" in header:
        raise TotalsError(_l("The header has a blank or repeated column name."))
    if "population" not in header:
        raise TotalsError(_l("The file has no 'population' column."))
    unknown = [c for c in header if c != "population" and c not in TOTALS_KEYS]
    if unknown:
        raise TotalsError(
            _l("Unknown key column %(column)s. Allowed: %(allowed)s.", column=unknown[0], allowed=", ".join(TOTALS_KEYS))
        )
    if len(header) < 2:
        raise TotalsError(_l("The file needs at least one key column beside 'population'."))
    if not body:
        raise TotalsError(_l("The file has no rows."))
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TotalsError(_l("Row %(row)s has %(found)s values instead of %(expected)s.", row=number, found=len(row), expected=len(header)))
    frame = pd.DataFrame([[c.strip() for c in r] for r in body], columns=header, dtype=object)
    try:
        return Totals.from_frame(frame, source=filename)
    except DataError as error:
        raise TotalsError(str(error)) from None


def _to_csv(totals: Totals) -> str:
    frame = totals.table.copy()
    frame["population"] = frame["population"].map(lambda v: f"{v:.17g}")
    return frame.to_csv(index=False, lineterminator="\n")


def _from_stored(stored: WeightingTotals) -> Totals:
    frame = pd.read_csv(io.StringIO(stored.content), dtype=str, keep_default_na=False)
    return Totals.from_frame(frame, source=f"{stored.filename} ({stored.period})")


@dataclass
class ValidationReport:
    period: str
    keys: tuple[str, ...]
    cells: int
    population: float
    responses: int
    cells_without_responses: list[tuple[str, float]] = field(default_factory=list)
    responses_without_cells: list[tuple[str, int]] = field(default_factory=list)
    margin_sums: list[tuple[str, float]] = field(default_factory=list)

    @property
    def sums_agree(self) -> bool:
        if len(self.margin_sums) < 2:
            return True
        first = self.margin_sums[0][1]
        return all(abs(total - first) <= 1e-9 * max(abs(first), 1.0) for _, total in self.margin_sums)

    @property
    def usable(self) -> bool:
        return not self.responses_without_cells and self.sums_agree


def _describe(keys, values) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values))


def _period_respondents(session: Session, period: str, keys: tuple[str, ...], instrument: str) -> pd.DataFrame:
    """Respondents of one instrument version in the period, per cell of ``keys``."""
    since, until = period_bounds(period)
    respondents, _ = sufficient_tables(
        session, Selection(instrument, since=since, until=until, period=granularity_of(period) or "quarter"), keys, questions=()
    )
    return respondents[[*keys, "count"]]


def validate(session: Session, totals: Totals, period: str, kind: str, instrument: str) -> ValidationReport:
    """Check the totals against the period's responses to ``instrument`` (the workspace's)."""
    keys = totals.keys
    respondents = _period_respondents(session, period, keys, instrument)
    report = ValidationReport(period, keys, len(totals.table), totals.total, int(respondents["count"].sum()) if len(respondents) else 0)
    merged = totals.table.merge(respondents, on=list(keys), how="outer", indicator=True)
    for record in merged.to_dict("records"):
        cell = _describe(keys, [record[k] for k in keys])
        if record["_merge"] == "left_only" and record["population"] > 0:
            report.cells_without_responses.append((cell, float(record["population"])))
        elif record["_merge"] == "right_only":
            report.responses_without_cells.append((cell, int(record["count"])))
    if kind == "margin":
        others = session.scalars(select(WeightingTotals).filter_by(period=period, kind="margin")).all()
        report.margin_sums = [(",".join(keys), totals.total)] + [
            (o.keys, o.population) for o in others if o.keys != ",".join(keys)
        ]
    return report


def store(session: Session, totals: Totals, period: str, kind: str, filename: str, user_id: int | None, now: datetime) -> WeightingTotals:
    """Save a validated table, replacing the period's post-stratification table or the margin with
    the same key columns (flush, never commit)."""
    keys = ",".join(totals.keys)
    if kind == "poststrat":
        session.execute(delete(WeightingTotals).where(WeightingTotals.period == period, WeightingTotals.kind == "poststrat"))
    else:
        session.execute(
            delete(WeightingTotals).where(
                WeightingTotals.period == period, WeightingTotals.kind == "margin", WeightingTotals.keys == keys
            )
        )
    content = _to_csv(totals)
    stored = WeightingTotals(
        period=period,
        kind=kind,
        keys=keys,
        content=content,
        filename=filename.replace("\x00", "")[:200],
        sha256=hashlib.sha256(content.encode("utf-8")).hexdigest(),
        cells=len(totals.table),
        population=totals.total,
        uploaded_by_id=user_id,
        uploaded_at=now,
    )
    session.add(stored)
    session.flush()
    return stored


def stored_tables(session: Session) -> list[WeightingTotals]:
    return list(session.scalars(select(WeightingTotals).order_by(WeightingTotals.period.desc(), WeightingTotals.kind, WeightingTotals.keys)))


def remove(session: Session, totals_id: int) -> WeightingTotals | None:
    stored = session.get(WeightingTotals, totals_id)
    if stored is not None:
        session.delete(stored)
        session.flush()
    return stored


@dataclass
class PlannedWeighting:
    """The stored tables a view asks for, before they meet the view's responses."""

    method: str
    tables: dict[str, list[WeightingTotals]]  # period -> tables
    missing_periods: list[str]

    @property
    def keys(self) -> tuple[str, ...]:
        seen: list[str] = []
        for tables in self.tables.values():
            for table in tables:
                for key in table.key_columns:
                    if key not in seen:
                        seen.append(key)
        return tuple(seen)


def plan(session: Session, method: str, periods: list[str]) -> PlannedWeighting | None:
    if method == "none":
        return None
    kind = "poststrat" if method == "poststrat" else "margin"
    found: dict[str, list[WeightingTotals]] = {}
    for stored in session.scalars(
        select(WeightingTotals).where(WeightingTotals.period.in_(periods), WeightingTotals.kind == kind).order_by(WeightingTotals.keys)
    ):
        found.setdefault(stored.period, []).append(stored)
    return PlannedWeighting(method, found, [p for p in periods if p not in found])


@dataclass
class AppliedWeighting:
    weighting: PostStratification | Raking | None
    totals: list[Totals]
    dropped_cells: int = 0
    dropped_population: float = 0.0
    population: float = 0.0
    problem: str | None = None


def apply(planned: PlannedWeighting, respondents: pd.DataFrame) -> AppliedWeighting:
    """The weighting for a view whose respondents table (keys include ``period`` and the
    totals' keys) is ``respondents``; cells without responses are left out and counted."""
    if planned.missing_periods:
        return AppliedWeighting(None, [], problem=str(_l("No totals have been uploaded for %(periods)s.", periods=", ".join(planned.missing_periods))))
    if planned.method == "poststrat":
        groups = [[tables[0] for tables in planned.tables.values()]]
    else:
        by_keys: dict[str, list[WeightingTotals]] = {}
        for tables in planned.tables.values():
            for table in tables:
                by_keys.setdefault(table.keys, []).append(table)
        groups = list(by_keys.values())
        if any(len(group) != len(planned.tables) for group in groups):
            return AppliedWeighting(None, [], problem=str(_l("The raking margins differ between periods; upload the same margins for every period.")))
    margins, dropped, dropped_population, population = [], 0, 0.0, 0.0
    for group in groups:
        keys = ("period", *group[0].key_columns)
        if any(t.keys != group[0].keys for t in group):
            return AppliedWeighting(None, [], problem=str(_l("The post-stratification tables of these periods have different key columns.")))
        frames = []
        for table in group:
            frame = _from_stored(table).table.copy()
            frame.insert(0, "period", table.period)
            frames.append(frame)
        frame = pd.concat(frames, ignore_index=True)
        present = respondents.groupby(list(keys), sort=False)["count"].sum().reset_index() if len(respondents) else pd.DataFrame(columns=[*keys, "count"])
        merged = frame.merge(present, on=list(keys), how="left")
        keep = merged["count"].fillna(0).to_numpy() > 0
        dropped += int((~keep & (merged["population"].to_numpy() > 0)).sum())
        dropped_population += float(merged.loc[~keep, "population"].sum())
        population = float(frame["population"].sum())
        kept = frame.loc[keep].reset_index(drop=True)
        kept["population"] = kept["population"].map(lambda v: f"{v:.17g}")
        margins.append(Totals.from_frame(kept, source=",".join(group[0].key_columns)))
    if planned.method == "rake" and dropped:
        # Dropping cells from one margin and not the others would make their sums disagree.
        return AppliedWeighting(
            None, [], problem=str(_l("Raking needs responses in every cell of every margin; %(count)s cells have none in this view.", count=dropped))
        )
    weighting = PostStratification(margins[0]) if planned.method == "poststrat" else Raking(tuple(margins))
    return AppliedWeighting(weighting, margins, dropped, dropped_population, population)


def describe_error(error: WeightingError | DataError) -> str:
    return str(_l("The weights could not be computed: %(reason)s", reason=str(error)))


def totals_frame(applied: AppliedWeighting) -> pd.DataFrame:
    """The totals actually used, one table after the other (for downloads)."""
    if not applied.totals:
        return pd.DataFrame()
    frames = []
    for number, totals in enumerate(applied.totals, start=1):
        frame = totals.table.copy()
        frame.insert(0, "margin", number)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).replace({np.nan: ""})
