"""What a survey page view looks up, remembered in each worker for a few seconds.

A page view only reads: the centre, the list of fields and, for a counter's QR code, its poster.
At a busy morning's rate, reading them from the database was 40 % of a page view's cost (the
connection check-out and its ping, two ORM queries, the session's teardown), so each process
keeps what it read for ``SURVEY_LOOKUP_SECONDS`` (0: not at all).

Only page views read from here. A submission reads the database, so a centre closed, a field
withdrawn or a poster revoked meanwhile shows its blank page for at most that long, and a form
sent from it is refused or corrected as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.models import Field, ServiceCenter
from app.services.centers import is_open
from app.services.links import PosterState, find_poster

# One process remembers at most this many posters; past that it starts afresh (a province has
# hundreds of centres, the whole country about 10,000, each with a few counters).
MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class CenterView:
    """A centre as a page view needs it: what it shows, which instrument, whether it is open."""

    id: int
    code: str
    name_vi: str
    name_en: str
    instrument_key: str | None
    active: bool
    valid_from: date
    valid_to: date | None

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_vi


@dataclass(frozen=True)
class FieldView:
    code: str
    name_vi: str
    name_en: str

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_vi


_CENTERS = select(
    ServiceCenter.id, ServiceCenter.code, ServiceCenter.name_vi, ServiceCenter.name_en,
    ServiceCenter.instrument_key, ServiceCenter.active, ServiceCenter.valid_from, ServiceCenter.valid_to,
)
_CENTER = _CENTERS.where(ServiceCenter.code == bindparam("code"))
_FIELDS = select(Field.code, Field.name_vi, Field.name_en).where(Field.active.is_(True)).order_by(Field.sort_order, Field.code)

K = TypeVar("K")
V = TypeVar("V")


class _Expiring(Generic[K, V]):
    """Values read for a key, each kept ``seconds`` from its reading; found-nothing is not kept."""

    def __init__(self, seconds: float, clock: Callable[[], float]):
        self._seconds = seconds
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, read: Callable[[], V | None]) -> V | None:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = read()
        if value is not None and self._seconds > 0:
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (now + self._seconds, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class SurveyLookups:
    """A worker's memory of centres, fields and posters for page views.

    ``session`` passed to each method is called only when the value must be read, so a page view
    whose look-ups are all remembered never checks out a database connection.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self._seconds = seconds
        # All centres at once: with a thousand centres spread over the workers, each worker sees
        # a given centre too rarely for a memory per centre to be of use.
        self._centers: _Expiring[None, dict[str, CenterView]] = _Expiring(seconds, clock)
        self._fields: _Expiring[None, tuple[FieldView, ...]] = _Expiring(seconds, clock)
        self._posters: _Expiring[int, PosterState] = _Expiring(seconds, clock)

    def open_center(self, session: Callable[[], Session], code: str, today: date) -> CenterView | None:
        """The centre with this code if it is active and valid today (as ``find_open_center``)."""
        if not code or len(code) > 32:
            return None

        center = None
        if self._seconds > 0:
            every = self._centers.get(None, lambda: {row.code: CenterView(*row) for row in session().execute(_CENTERS)})
            center = every.get(code) if every else None
        if center is None:
            # Unknown (not remembered, so a bot's made-up codes cannot fill the memory) or new.
            row = session().execute(_CENTER, {"code": code}).one_or_none()
            center = CenterView(*row) if row is not None else None
        return center if center is not None and is_open(center, today) else None

    def active_fields(self, session: Callable[[], Session]) -> tuple[FieldView, ...]:
        return self._fields.get(None, lambda: tuple(FieldView(*row) for row in session().execute(_FIELDS))) or ()

    def poster(self, session: Callable[[], Session], poster_id: int) -> PosterState | None:
        return self._posters.get(poster_id, lambda: find_poster(session(), poster_id))

    def forget(self) -> None:
        """Drop everything remembered (this process only)."""
        for cache in (self._centers, self._fields, self._posters):
            cache.clear()
