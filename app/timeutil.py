"""Vietnam's clock: the platform stores UTC and speaks Asia/Ho_Chi_Minh to people."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def today_in_vietnam() -> date:
    return now_utc().astimezone(VIETNAM).date()
