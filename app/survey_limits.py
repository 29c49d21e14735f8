"""The survey's submission limits: tested before a submission, counted once it is accepted.

Each submission is held to four fixed windows (the device per hour and per day, the centre, the
network; ``SURVEY_LIMIT_*``). Flask-Limiter, which keeps the login's limit, evaluated them one by
one: four round trips to Redis before the view and four after it, and ≈ 2.6 ms of a submission's
≈ 12 ms of CPU in process (``bench.load.profile_requests``), the largest part after the insert.
Here the rules, windows, keys and storages are the ``limits`` library's (the one under
Flask-Limiter, with the same semantics as its fixed-window strategy), and on Redis the four
windows are read with one ``MGET`` and counted with one script: two round trips, and 11.9 →
9.9 ms of CPU per submission in process. Other storages (memory, a Redis Cluster, memcached)
are asked once per window, as ``limits``' own strategy would.

Settings are Flask-Limiter's, so one storage serves both: ``RATELIMIT_ENABLED``,
``RATELIMIT_STORAGE_URI``, ``RATELIMIT_STORAGE_OPTIONS`` and
``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``. With the fallback on, a storage that cannot be reached
is replaced by the worker's memory, with the same log lines as Flask-Limiter's (``Rate limit
storage unreachable - falling back to in-memory storage``, then ``Rate limit storage
recovered``), and checked again after 1, 2, 4, … 32 seconds. A storage error never turns a
submission into an error: in particular, counting happens after the response is committed.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage, storage_from_string

log = logging.getLogger(__name__)

# Adds one to each counter in KEYS and starts the window (ARGV: its seconds) of any it creates,
# as ``limits``' own incr_expire script does for one key.
_COUNT_SCRIPT = """
for index, key in ipairs(KEYS) do
    if redis.call("incr", key) == 1 then
        redis.call("expire", key, ARGV[index])
    end
end
"""
_LONGEST_WAIT_FOR_A_CHECK = 32  # seconds between checks of a storage that went away


@dataclass(frozen=True)
class Window:
    """One limit as it applies to one submission: its rule and the key it is counted under."""

    item: RateLimitItem
    key: str

    @property
    def seconds(self) -> int:
        return self.item.get_expiry()


class Refused(Exception):
    """A limit is used up; ``retry_after`` is the seconds until the last breached window ends."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


@lru_cache(maxsize=64)
def _rules(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(text))


def windows(limits: list[tuple[str, str, str]]) -> list[Window]:
    """The windows of ``(rules, key, scope)`` triples, e.g. ``("5 per hour;10 per day",
    "device:…", "survey_limit_device")``: one per rule, keyed as ``limits`` keys them."""
    return [Window(item, item.key_for(key, scope)) for text, key, scope in limits for item in _rules(text)]


class _Counters:
    """Counters on any ``limits`` storage, one call per window."""

    def __init__(self, storage: Storage):
        self.storage = storage

    def counts(self, windows: list[Window]) -> list[int]:
        return [self.storage.get(window.key) for window in windows]

    def add(self, windows: list[Window]) -> None:
        for window in windows:
            self.storage.incr(window.key, window.seconds)

    def seconds_left(self, window: Window) -> float:
        return self.storage.get_expiry(window.key) - time.time()


class _RedisCounters(_Counters):
    """Counters on Redis: all windows read in one round trip, and counted in one."""

    def __init__(self, storage: RedisStorage):
        super().__init__(storage)
        self._count = storage.get_connection().register_script(_COUNT_SCRIPT)

    def counts(self, windows: list[Window]) -> list[int]:
        keys = [self.storage.prefixed_key(window.key) for window in windows]
        return [int(value or 0) for value in self.storage.get_connection(readonly=True).mget(keys)]

    def add(self, windows: list[Window]) -> None:
        self._count(
            keys=[self.storage.prefixed_key(window.key) for window in windows],
            args=[window.seconds for window in windows],
        )


def _counters(storage: Storage) -> _Counters:
    # A Redis Cluster spreads the four keys over slots that one MGET or script cannot span.
    batched = isinstance(storage, RedisStorage) and not isinstance(storage, RedisClusterStorage)
    return _RedisCounters(storage) if batched else _Counters(storage)


class SurveyLimits:
    """The limits of one application (``init_app``), shared by its requests."""

    def __init__(self, app: Flask):
        config = app.config
        self.enabled = config.get("RATELIMIT_ENABLED", True)
        self.storage = storage_from_string(config["RATELIMIT_STORAGE_URI"], **config.get("RATELIMIT_STORAGE_OPTIONS", {}))
        self._main = _counters(self.storage)
        self._fallback = _Counters(MemoryStorage()) if config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED") else None
        self._failed = False
        self._next_check = 0.0
        self._checks = 0

    def check(self, windows: list[Window]) -> None:
        """Raise ``Refused`` if one of ``windows`` is used up."""
        if not self.enabled:
            return
        counts = self._use(lambda counters: counters.counts(windows))
        if counts is None:
            return
        breached = [window for window, count in zip(windows, counts) if count >= window.item.amount]
        if breached:
            left = self._use(lambda counters: [counters.seconds_left(window) for window in breached])
            raise Refused(max(1, math.ceil(max(left or [window.seconds for window in breached]))))

    def count(self, windows: list[Window]) -> None:
        """Count an accepted submission in each of ``windows``."""
        if self.enabled:
            self._use(lambda counters: counters.add(windows))

    def reset(self) -> None:
        """Forget every count (tests)."""
        self.storage.reset()
        if self._fallback is not None:
            self._fallback.storage.reset()

    def _use(self, work):
        """``work`` done on the storage, or on the fallback while the storage is unreachable.
        Without a fallback, a storage error is logged and ``None`` returned: a submission is let
        through unlimited rather than refused or answered with an error (as Flask-Limiter's
        ``RATELIMIT_SWALLOW_ERRORS``)."""
        if self._failed and not self._storage_back():
            return work(self._fallback)
        try:
            return work(self._main)
        except self.storage.base_exceptions:
            if self._fallback is None:
                log.exception("Rate limit storage unreachable - no fallback, the submission is not limited")
                return None
            log.warning("Rate limit storage unreachable - falling back to in-memory storage")
            self._failed, self._checks = True, 0
            self._next_check = time.monotonic() + 1
            return work(self._fallback)

    def _storage_back(self) -> bool:
        """Whether the storage that failed answers again; asked at growing intervals."""
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._checks += 1
        self._next_check = now + min(2**self._checks, _LONGEST_WAIT_FOR_A_CHECK)
        if not self.storage.check():
            return False
        log.info("Rate limit storage recovered")
        self._failed = False
        return True


SETTINGS = ("SURVEY_LIMIT_DEVICE", "SURVEY_LIMIT_CENTER", "SURVEY_LIMIT_NETWORK")


def init_app(app: Flask) -> None:
    """Bind the limits to ``app``. A limit setting that does not parse stops the app here, with
    its name, rather than turning every submission into an error."""
    for name in SETTINGS:
        try:
            _rules(app.config[name])
        except ValueError as error:
            raise RuntimeError(f"{name} is not a rate limit ('5 per hour;10 per day'): {error}") from None
    app.extensions["survey_limits"] = SurveyLimits(app)


def survey_limits() -> SurveyLimits:
    return current_app.extensions["survey_limits"]
