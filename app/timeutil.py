"""Vietnam's clock: the platform stores UTC and speaks Asia/Ho_Chi_Minh to people."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def today_in_vietnam() -> date:
    return now_utc().astimezone(VIETNAM).date()


def vietnam_day_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """``since`` from 00:00 and ``until`` to the end of that day, Vietnam time."""
    start = datetime.combine(since, time(), VIETNAM) if since else None
    end = datetime.combine(until + timedelta(days=1), time(), VIETNAM) if until else None
    return start, end
