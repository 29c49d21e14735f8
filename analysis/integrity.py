"""Quality flags for survey responses: rules that make ballot stuffing visible.

Pure functions over plain records, used the same way by the web app (at submission time, with
the centre's recent responses read from the database) and by the stuffing simulation in
``bench/simulate_stuffing.py``. A flag never refuses a response; it marks it for review, and every
index can be computed with and without flagged responses.

Each rule returns a stable ``code`` and a ``reason`` that a reviewer can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Hashable, Sequence
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class Submission:
    """What the rules may know about one response. Nothing here identifies a person.

    ``device`` and ``network`` are keyed hashes (the app never stores raw identifiers); ``via`` is
    ``poster`` for the QR link at the centre, ``dossier`` for a one-time link sent afterwards.
    ``scale_answers`` are the codes of the satisfaction-scale answers given (``1``–``5``; "không
    áp dụng" and blanks left out).
    """

    key: Hashable
    center: str
    submitted_at: datetime
    seconds: float | None
    scale_answers: tuple[str, ...]
    answer_count: int
    device: str | None = None
    network: str | None = None
    via: str = "poster"


@dataclass(frozen=True)
class Flag:
    key: Hashable
    code: str
    reason: str


@dataclass(frozen=True)
class OpeningHours:
    """When a centre receives citizens (Vietnam time); weekday 0 is Monday."""

    days: dict[int, tuple[time, time]] = field(
        default_factory=lambda: {d: (time(7, 0), time(17, 30)) for d in range(5)} | {5: (time(7, 0), time(11, 30))}
    )
    grace: timedelta = timedelta(minutes=60)

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(VIETNAM)
        hours = self.days.get(local.weekday())
        if hours is None:
            return False
        opening = datetime.combine(local.date(), hours[0], VIETNAM) - self.grace
        closing = datetime.combine(local.date(), hours[1], VIETNAM) + self.grace
        return opening <= local <= closing


@dataclass(frozen=True)
class Rules:
    """Thresholds of the flag rules; the defaults are those evaluated by the simulation."""

    base_seconds: float = 5.0
    seconds_per_answer: float = 1.2
    opening_hours: OpeningHours = field(default_factory=OpeningHours)

    def plausible_seconds(self, answer_count: int) -> float:
        return self.base_seconds + self.seconds_per_answer * answer_count


def flags_for(new: Submission, recent: Sequence[Submission], rules: Rules = Rules()) -> list[Flag]:
    """Flags raised by ``new``: on ``new`` itself and possibly on earlier ``recent`` responses.

    ``recent`` holds the responses of the last hours at the same centre, and those from the same
    device or network at any centre, oldest first, not including ``new``.
    """
    flags = []
    if new.seconds is not None:
        minimum = rules.plausible_seconds(new.answer_count)
        if new.seconds < minimum:
            flags.append(Flag(new.key, "too_fast", f"completed in {new.seconds:.0f} s; plausible minimum {minimum:.0f} s"))
    if new.via == "poster" and not rules.opening_hours.contains(new.submitted_at):
        local = new.submitted_at.astimezone(VIETNAM)
        flags.append(Flag(new.key, "off_hours", f"submitted at {local:%H:%M %a} from the centre's QR code, outside opening hours"))
    return flags
