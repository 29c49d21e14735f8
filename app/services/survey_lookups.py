"""What the survey looks up, remembered in each worker for a few seconds.

A page view only reads: the centre, the list of fields and, for a counter's QR code, its poster.
At a busy morning's rate, reading them from the database was 40 % of a page view's cost (the
connection check-out and its ping, two ORM queries, the session's teardown), so each process
keeps what it read for ``SURVEY_LOOKUP_SECONDS`` (0: not at all).

Submissions read from here too, and their insert checks again that the centre is open, the
field active and the poster not revoked (``submit_response``'s ``open_on``): if one changed,
the worker forgets what it remembered and the submission runs again on what the database says
(``app.public.routes._submission``). So a centre closed, a field withdrawn or a poster revoked
meanwhile shows its blank page for at most that long, and a form sent from it is refused or
corrected as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from app.services.centers import CENTERS, CenterView, FieldView, active_fields, find_center, is_open, valid_code
from app.services.links import PosterState, find_poster

# One process remembers at most this many posters; past that it starts afresh (a province has
# hundreds of centres, the whole country about 10,000, each with a few counters).
MAX_ENTRIES = 50_000

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
    """A worker's memory of centres, fields and posters for the survey.

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
        """The centre with this code if it is active and valid today (``is_open``)."""
        if not valid_code(code):
            return None
        center = None
        if self._seconds > 0:
            every = self._centers.get(None, lambda: {row.code: CenterView(*row) for row in session().execute(CENTERS)})
            center = every.get(code) if every else None
        if center is None:
            # Unknown (not remembered, so a bot's made-up codes cannot fill the memory) or new.
            center = find_center(session(), code)
        return center if center is not None and is_open(center, today) else None

    def active_fields(self, session: Callable[[], Session]) -> tuple[FieldView, ...]:
        return self._fields.get(None, lambda: active_fields(session())) or ()

    def poster(self, session: Callable[[], Session], poster_id: int) -> PosterState | None:
        return self._posters.get(poster_id, lambda: find_poster(session(), poster_id))

    def forget(self) -> None:
        """Drop everything remembered (this process only)."""
        for cache in (self._centers, self._fields, self._posters):
            cache.clear()
