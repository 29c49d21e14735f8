"""Whole months counted once, so that the analyst's indices need not re-read every answer.

``flask sipas aggregate`` (run nightly, or after a restore) writes, for each finished month and
instrument version, the counts the database path groups the answers into (``month_tallies``):
respondents, answers and, for multiple-choice questions, respondents who answered, per centre ×
field × channel, split by whether the response counts when flagged responses are excluded. It
stores with them a fingerprint of what it counted: the number and the sum of the ids of the
month's responses, of their flags, and of their analysts' decisions (weighted by the decision).
The database path (``app/services/datasets.py``) reads a month from its tallies only while the
fingerprint computed now still matches; a month that gained a response, a flag or a decision
since is read from the answers, as is every month never tallied and every month a date range
cuts. Answers are never edited after they are stored, so these three tables say everything
that can change a month's counts.

Each finished quarter is also counted as a whole (``month`` holds ``2026-Q1``): the sum of its
three months' tallies at the same grain, about half as many rows as the three months together.
Its fingerprint is a digest of its months' fingerprints, so a quarter is used only while each of
its months would be.

The fingerprint is taken before the counts, so a response stored in between makes the two
disagree (and the month is read live) rather than go uncounted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, delete, func, insert, literal, null, select, text
from sqlalchemy.orm import Session

from app.models import Answer, InstrumentVersion, MonthTally, Response, ResponseFlag, ResponseReview, TalliedMonth
from app.services.response_sql import kept_when_excluding_flagged, period_expression
from app.timeutil import vietnam_day_bounds
from surveys import parse_instrument

#: The fingerprint of a month without responses.
EMPTY_MONTH = "0:0|0:0|0:0"
#: The columns of ``month_tallies`` that ``_tally`` and ``_tally_quarter`` select into.
_TALLY_COLUMNS = ["instrument_version_id", "month", "center_id", "field_id", "channel", "excludable", "question_code", "value", "count"]


def is_quarter(key: str) -> bool:
    """``2026-Q1`` rather than a month (``2026-01``)."""
    return key[5] == "Q"


def quarter_of(month: str) -> str:
    return f"{month[:4]}-Q{(int(month[5:7]) + 2) // 3}"


def months_of(quarter: str) -> list[str]:
    first = 3 * int(quarter[6]) - 2
    return [f"{quarter[:4]}-{number:02d}" for number in range(first, first + 3)]


def _bounds(key: str) -> tuple[date, date]:
    """First and last day of a month (``YYYY-MM``) or a quarter (``YYYY-Qn``)."""
    first_month, last_month = (months_of(key)[0], months_of(key)[-1]) if is_quarter(key) else (key, key)
    return month_bounds(first_month)[0], month_bounds(last_month)[1]


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of ``YYYY-MM``."""
    first = date(int(month[:4]), int(month[5:7]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _fingerprint(current: dict[str, str], key: str) -> str | None:
    """The fingerprint of a month or a quarter from the months' current fingerprints."""
    if not is_quarter(key):
        return current.get(key)
    joined = "/".join(current.get(month, EMPTY_MONTH) for month in months_of(key))
    return hashlib.sha256(joined.encode()).hexdigest()


def fingerprints(session: Session, version_id: int) -> dict[str, str]:
    """The fingerprint of every month holding responses of the instrument version."""
    month = period_expression(session.get_bind().dialect.name, "month").label("month")
    ours = Response.instrument_version_id == version_id
    decision = case((ResponseReview.decision == "include", 1), else_=2)
    parts = [
        select(month, func.count(), func.sum(Response.id)).where(ours).group_by(month),
        select(month, func.count(), func.sum(ResponseFlag.id)).join(Response, Response.id == ResponseFlag.response_id)
        .where(ours).group_by(month),
        select(month, func.count(), func.sum(ResponseReview.response_id * decision))
        .join(Response, Response.id == ResponseReview.response_id).where(ours).group_by(month),
    ]
    found: dict[str, list[str]] = {}
    for position, statement in enumerate(parts):
        for key, count, total in session.execute(statement):
            found.setdefault(key, ["0:0", "0:0", "0:0"])[position] = f"{count}:{total or 0}"
    return {key: "|".join(values) for key, values in found.items()}


def _stored(session: Session, version_id: int) -> dict[str, str]:
    """The tallied months of the instrument version with their fingerprints."""
    rows = session.execute(select(TalliedMonth.month, TalliedMonth.fingerprint).filter_by(instrument_version_id=version_id))
    return dict(rows.all())


def tallied_periods(session: Session, version_id: int, since: date | None, until: date | None) -> dict[str, str]:
    """Months and quarters wholly between ``since`` and ``until`` that have tallies, with the
    fingerprints they were counted with."""
    return {
        key: fingerprint for key, fingerprint in _stored(session, version_id).items()
        if (since is None or _bounds(key)[0] >= since) and (until is None or _bounds(key)[1] <= until)
    }


def still_matching(session: Session, version_id: int, tallied: dict[str, str]) -> set[str]:
    """Those of the ``tallied`` months and quarters whose fingerprints still match."""
    if not tallied:
        return set()
    current = fingerprints(session, version_id)
    return {key for key, fingerprint in tallied.items() if _fingerprint(current, key) == fingerprint}


@dataclass(frozen=True)
class AggregateReport:
    tallied: list[tuple[str, str]]  # (instrument key, month or quarter) counted again
    unchanged: int
    removed: int


def aggregate(session: Session, today: date) -> AggregateReport:
    """Tally every finished month (before ``today``'s) whose fingerprint changed, then every
    finished quarter whose months changed; one transaction per month or quarter, committed."""
    current_month = today.strftime("%Y-%m")
    tallied, unchanged, removed = [], 0, 0
    for version in session.scalars(select(InstrumentVersion).order_by(InstrumentVersion.id)).all():
        multi = sorted(q.code for q in parse_instrument(json.loads(version.definition), source=version.key).questions if q.type == "multi")
        current = fingerprints(session, version.id)
        months = sorted(month for month in current if month < current_month)
        quarters = sorted({q for q in map(quarter_of, months) if months_of(q)[-1] < current_month})
        stored = _stored(session, version.id)
        for key in sorted(set(stored) - set(months) - set(quarters)):
            _clear(session, version.id, key)
            session.commit()
            removed += 1
        for key in months + quarters:  # a quarter adds up its months' fresh tallies
            fingerprint = _fingerprint(current, key)
            if stored.get(key) == fingerprint:
                unchanged += 1
                continue
            if is_quarter(key):
                _tally_quarter(session, version.id, key, fingerprint)
            else:
                _tally(session, version.id, key, fingerprint, multi)
            session.commit()
            tallied.append((version.key, key))
    if tallied or removed:  # fresh planner statistics (autovacuum may be off or late)
        session.execute(text("ANALYZE month_tallies"))
        session.commit()
    return AggregateReport(tallied, unchanged, removed)


def _tally_quarter(session: Session, version_id: int, quarter: str, fingerprint: str) -> None:
    """The quarter's counts: its months' tallies added up (they are current: counted just before)."""
    _clear(session, version_id, quarter)
    cell = [MonthTally.center_id, MonthTally.field_id, MonthTally.channel, MonthTally.excludable,
            MonthTally.question_code, MonthTally.value]
    source = (
        select(literal(version_id), literal(quarter), *cell, func.sum(MonthTally.count))
        .where(MonthTally.instrument_version_id == version_id, MonthTally.month.in_(months_of(quarter)))
        .group_by(*cell)
    )
    session.execute(insert(MonthTally).from_select(_TALLY_COLUMNS, source))
    session.add(TalliedMonth(instrument_version_id=version_id, month=quarter, fingerprint=fingerprint))
    session.flush()


def _clear(session: Session, version_id: int, month: str) -> None:
    session.execute(delete(MonthTally).where(MonthTally.instrument_version_id == version_id, MonthTally.month == month))
    session.execute(delete(TalliedMonth).where(TalliedMonth.instrument_version_id == version_id, TalliedMonth.month == month))


def _tally(session: Session, version_id: int, month: str, fingerprint: str, multi: list[str]) -> None:
    start, end = vietnam_day_bounds(*month_bounds(month))
    _clear(session, version_id, month)
    responses = (
        select(
            Response.id, Response.center_id, Response.field_id, Response.channel,
            # CASE, not NOT: the condition is NULL (not kept) for a flagged response without a review.
            case((kept_when_excluding_flagged(), False), else_=True).label("excludable"),
        )
        .where(
            Response.instrument_version_id == version_id,
            Response.submitted_at >= start,
            Response.submitted_at < end,
        )
        .cte("month_responses")
    )
    cell = [responses.c.center_id, responses.c.field_id, responses.c.channel, responses.c.excludable]
    fixed = [literal(version_id), literal(month), *cell]
    answers = select().select_from(responses).join(Answer, Answer.response_id == responses.c.id)
    sources = [
        select(*fixed, null(), null(), func.count()).select_from(responses).group_by(*cell),
        answers.add_columns(*fixed, Answer.question_code, Answer.value, func.count())
        .where(Answer.value.is_not(None)).group_by(*cell, Answer.question_code, Answer.value),
    ]
    if multi:
        sources.append(
            answers.add_columns(*fixed, Answer.question_code, null(), func.count(func.distinct(Answer.response_id)))
            .where(Answer.value.is_not(None), Answer.question_code.in_(multi)).group_by(*cell, Answer.question_code)
        )
    for source in sources:
        session.execute(insert(MonthTally).from_select(_TALLY_COLUMNS, source))
    session.add(TalliedMonth(instrument_version_id=version_id, month=month, fingerprint=fingerprint))
    session.flush()
