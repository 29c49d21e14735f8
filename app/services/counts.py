"""Response counts per day and per week for a centre (no answers, no comments)."""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Response
from app.timeutil import VIETNAM


@dataclass(frozen=True)
class CenterCounts:
    total: int
    by_day: list[tuple[date, int]]  # newest first
    by_week: list[tuple[date, int]]  # Monday of each week, newest first


def center_counts(session: Session, center_id: int, today: date, days: int = 14, weeks: int = 8) -> CenterCounts:
    total = session.scalar(select(func.count()).select_from(Response).where(Response.center_id == center_id))
    first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    start = min(first_monday, today - timedelta(days=days - 1))
    since = datetime.combine(start, time(), VIETNAM)
    stamps = session.scalars(
        select(Response.submitted_at).where(Response.center_id == center_id, Response.submitted_at >= since)
    )
    per_day = Tally(stamp.astimezone(VIETNAM).date() for stamp in stamps)
    by_day = [(today - timedelta(days=i), per_day.get(today - timedelta(days=i), 0)) for i in range(days)]
    per_week = Tally()
    for day, count in per_day.items():
        per_week[day - timedelta(days=day.weekday())] += count
    this_monday = today - timedelta(days=today.weekday())
    by_week = [(this_monday - timedelta(weeks=i), per_week.get(this_monday - timedelta(weeks=i), 0)) for i in range(weeks)]
    return CenterCounts(total or 0, by_day, by_week)
