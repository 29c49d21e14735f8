"""Simulated phones: open the survey, hold the form like a person, send a complete answer.

A small HTTP/1.1 client on asyncio streams (one connection per request, ``Connection: close``,
as a phone that scans a QR code and later taps "Gửi"), so that the generator spends as little of
the machine's two cores as possible. Each phone:

- has its own cookie jar (the Flask session with the CSRF secret, and ``sipas_device``), so every
  submission comes from a distinct device;
- connects from its own loopback source address: phones on the centre's Wi-Fi share the
  centre's address, phones on 4G get one of their own (all inside 127.0.0.0/8; the target is
  always 127.0.0.1);
- waits between the page and the answer at least the app's hard minimum completion time
  (3 s + 0.3 s per answer), as a person filling in the form;
- answers every question of its centre's instrument with valid codes; on the full form the
  comment (YK) carries a marker ``[bench RUN #SEQ]`` so that each accepted submission can be
  found again in the database.

Arrivals are open-loop (Poisson at a fixed rate, seeded), so a slow server meets the same
demand instead of slowing the generator down, and every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import urllib.parse
from dataclasses import dataclass, field

from surveys import Instrument, load_instrument

VALUE = re.compile(rb'value="([^"]*)"')
USER_AGENT = "Mozilla/5.0 (Linux; Android 14; SIPAS-bench) Mobile"
FULL_FORM = "sipas-dvhcc-2023@1"


@dataclass(frozen=True)
class Centre:
    code: str
    instrument: str
    wifi_address: str


@dataclass
class Result:
    kind: str  # "view" (GET) or "submit" (POST)
    started: float  # monotonic seconds since the run's start
    latency: float  # seconds; for errors, time until the error
    status: int  # HTTP status, 0 for a connection error or time-out
    error: str = ""
    step: int = 0
    seq: int = -1


@dataclass
class Tally:
    """What the phones did; ``accepted`` are the sequence numbers answered with 303.

    ``already`` are submissions answered 409 on a retry: the first attempt was stored although
    its answer never reached the phone.
    """

    results: list[Result] = field(default_factory=list)
    accepted: set[int] = field(default_factory=set)
    accepted_marked: set[int] = field(default_factory=set)
    already: set[int] = field(default_factory=set)
    sent: int = 0
    samples_503: list[tuple[list[tuple[str, str]], bytes]] = field(default_factory=list)
    late_arrivals: float = 0.0  # the worst lag between a planned arrival and its start

    def add(self, result: Result) -> None:
        self.results.append(result)


class HttpError(Exception):
    pass


async def request(
    method: str, host: str, port: int, path: str, headers: list[tuple[str, str]], body: bytes = b"",
    source: str | None = None, timeout: float = 30.0,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One HTTP/1.1 exchange on a fresh connection; returns status, headers and body."""
    # asyncio.timeout rather than wait_for: no extra task per request.
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0) if source else None)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close", f"User-Agent: {USER_AGENT}",
                     "Accept: text/html", "Accept-Language: vi-VN,vi;q=0.9"]
            lines += [f"{name}: {value}" for name, value in headers]
            if body or method == "POST":
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            data = await reader.read(-1)
        finally:
            writer.close()
        head, _, content = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1."):
            raise HttpError("no HTTP response" if not data else "malformed response")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        parsed = [tuple(part.strip() for part in line.split(":", 1)) for line in header_lines if ":" in line]
        return status, parsed, content


def cookies_from(headers: list[tuple[str, str]]) -> str:
    jar = []
    for name, value in headers:
        if name.lower() == "set-cookie":
            jar.append(value.split(";", 1)[0])
    return "; ".join(jar)


def hidden_tokens(html: bytes) -> dict[str, str]:
    """The ``csrf_token`` and ``started`` hidden inputs: each tag is found by its name and only
    the tag is searched (a regular expression over the whole 40 KB page cost 0.2 ms a phone)."""
    found = {}
    for name in ("csrf_token", "started"):
        at = html.find(f'name="{name}"'.encode())
        if at < 0:
            continue
        tag = html[html.rfind(b"<", 0, at) : html.find(b">", at)]
        value = VALUE.search(tag)
        if value:
            found[name] = value.group(1).decode()
    return found


class AnswerMaker:
    """Valid, complete answers for an instrument, drawn from plausible distributions."""

    SCALE_WEIGHTS = (0.03, 0.05, 0.12, 0.45, 0.35)

    def __init__(self, fields: list[str], rng: random.Random):
        self.fields = fields
        self.rng = rng
        self._instruments: dict[str, Instrument] = {}

    def instrument(self, key: str) -> Instrument:
        if key not in self._instruments:
            self._instruments[key] = load_instrument(key)
        return self._instruments[key]

    def answers(self, instrument_key: str, marker: str) -> list[tuple[str, str]]:
        rng = self.rng
        pairs: list[tuple[str, str]] = []
        for question in self.instrument(instrument_key).questions:
            if question.type == "scale":
                if question.not_applicable and rng.random() < 0.1:
                    value = question.values[-1]
                else:
                    value = rng.choices(question.scale_values, self.SCALE_WEIGHTS[: len(question.scale_values)])[0]
                pairs.append((question.code, value))
            elif question.type == "choice":
                pairs.append((question.code, rng.choice(question.values)))
            elif question.type == "multi":
                for value in rng.sample(question.values, rng.randint(1, 2)):
                    pairs.append((question.code, value))
            elif question.type == "field":
                pairs.append((question.code, rng.choice(self.fields)))
            elif question.type == "text":
                pairs.append((question.code, f"Cán bộ hướng dẫn tận tình. {marker}"))
        return pairs

    @staticmethod
    def count(pairs: list[tuple[str, str]]) -> int:
        return len(pairs)


def marker_for(run_id: str, seq: int) -> str:
    return f"[bench {run_id} #{seq}]"


MARKER = re.compile(r"\[bench (\S+) #(\d+)\]")


@dataclass
class PhoneSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    run_id: str = "run"
    hold: tuple[float, float] = (0.0, 0.0)  # extra seconds beyond the hard minimum, drawn uniformly
    hard_min_base: float = 3.0
    hard_min_per_answer: float = 0.3
    wifi_share: float = 0.5
    timeout: float = 30.0
    submit: bool = True
    # As a person would: after a 503 ("try again in a few minutes") reload or press "Gửi" again.
    retries_after_503: int = 0
    retry_delay: float = 5.0


class Phones:
    """Launches phones at a given rate and records what happened to each request."""

    def __init__(self, centres: list[Centre], maker: AnswerMaker, settings: PhoneSettings, rng: random.Random):
        self.centres = centres
        self.maker = maker
        self.settings = settings
        self.rng = rng
        self.tally = Tally()
        self.t0 = time.monotonic()
        self._seq = 0
        self._tasks: set[asyncio.Task] = set()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _keep_503(self, headers: list[tuple[str, str]], body: bytes) -> None:
        if len(self.tally.samples_503) < 3:
            self.tally.samples_503.append((headers, body))

    def _source(self, centre: Centre) -> str:
        if self.rng.random() < self.settings.wifi_share:
            return centre.wifi_address
        n = self.rng.randrange(1, 2**22)
        return f"127.{64 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"

    async def phone(self, seq: int, step: int, centre: Centre, source: str) -> None:
        s = self.settings
        path = f"/s/{centre.code}"
        for attempt in range(s.retries_after_503 + 1):
            begin = self.now()
            try:
                status, headers, body = await request("GET", s.host, s.port, path, [], source=source, timeout=s.timeout)
            except (OSError, asyncio.TimeoutError, HttpError, ValueError) as error:
                self.tally.add(Result("view", begin, self.now() - begin, 0, type(error).__name__, step, seq))
                return
            self.tally.add(Result("view", begin, self.now() - begin, status, "", step, seq))
            if status != 503:
                break
            self._keep_503(headers, body)
            if attempt < s.retries_after_503:
                await asyncio.sleep(s.retry_delay)
        if status != 200 or not s.submit:
            return
        tokens = hidden_tokens(body)
        if "csrf_token" not in tokens or "started" not in tokens:
            self.tally.add(Result("submit", self.now(), 0.0, 0, "no-tokens", step, seq))
            return
        marker = marker_for(s.run_id, seq)
        pairs = self.maker.answers(centre.instrument, marker)
        minimum = s.hard_min_base + s.hard_min_per_answer * len(pairs)
        # The start time is signed in whole seconds, rounded down: a little margin is enough.
        await asyncio.sleep(minimum + 0.3 + self.rng.uniform(*s.hold))
        form = urllib.parse.urlencode([("csrf_token", tokens["csrf_token"]), ("started", tokens["started"]), ("website", ""), *pairs])
        headers_out = [
            ("Cookie", cookies_from(headers)),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", f"http://{s.host}:{s.port}"),
            ("Referer", f"http://{s.host}:{s.port}{path}"),
        ]
        self.tally.sent += 1
        for attempt in range(s.retries_after_503 + 1):
            begin = self.now()
            try:
                status, answer_headers, answer = await request(
                    "POST", s.host, s.port, path, headers_out, form.encode(), source=source, timeout=s.timeout
                )
            except (OSError, asyncio.TimeoutError, HttpError, ValueError) as error:
                self.tally.add(Result("submit", begin, self.now() - begin, 0, type(error).__name__, step, seq))
                return
            self.tally.add(Result("submit", begin, self.now() - begin, status, "", step, seq))
            if status != 503:
                break
            self._keep_503(answer_headers, answer)
            if attempt < s.retries_after_503:
                await asyncio.sleep(s.retry_delay)
        if status == 409 and attempt > 0:
            self.tally.already.add(seq)
        if status == 303:
            self.tally.accepted.add(seq)
            if centre.instrument == FULL_FORM:
                self.tally.accepted_marked.add(seq)

    async def arrive(self, rate: float, duration: float, step: int = 0, max_phones: int | None = None) -> None:
        """Launch phones as a Poisson process of ``rate`` per second for ``duration`` seconds."""
        limit = max_phones if max_phones is not None else int(rate * duration * 2) + 10
        start = self.now()
        planned = start
        launched = 0
        while launched < limit:
            planned += self.rng.expovariate(rate)
            if planned - start >= duration:
                break
            delay = planned - self.now()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.tally.late_arrivals = max(self.tally.late_arrivals, -delay)
            centre = self.rng.choice(self.centres)
            task = asyncio.create_task(self.phone(self._seq, step, centre, self._source(centre)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._seq += 1
            launched += 1

    async def drain(self, timeout: float) -> int:
        """Wait for the phones still at work, at most ``timeout`` seconds; returns how many were cut off."""
        pending = list(self._tasks)
        if not pending:
            return 0
        done, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=5)
        return len(still)

    @property
    def launched(self) -> int:
        return self._seq


def event_loop() -> str:
    """The event loop ``run`` uses: uvloop when it is installed (``make install-bench``), else asyncio's."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(coroutine):
    """``asyncio.run`` on uvloop when it is installed (the generator then needs less CPU)."""
    if event_loop() == "uvloop":
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Summary:
    count: int
    ok: int
    errors: int
    statuses: dict[int, int]
    rate: float
    p50: float
    p95: float
    p99: float
    max: float

    @staticmethod
    def of(results: list[Result], window: float, ok_status: int) -> "Summary":
        latencies = [r.latency for r in results]
        statuses: dict[int, int] = {}
        for r in results:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        ok = statuses.get(ok_status, 0)
        return Summary(
            count=len(results),
            ok=ok,
            errors=len(results) - ok,
            statuses=dict(sorted(statuses.items())),
            rate=ok / window if window > 0 else float("nan"),
            p50=percentile(latencies, 50) * 1000,
            p95=percentile(latencies, 95) * 1000,
            p99=percentile(latencies, 99) * 1000,
            max=(max(latencies) if latencies else float("nan")) * 1000,
        )

    def line(self, label: str) -> str:
        statuses = " ".join(f"{'err' if k == 0 else k}:{v}" for k, v in self.statuses.items())
        return (f"{label:<22} {self.rate:7.1f}/s  n={self.count:<6} p50 {self.p50:6.1f} ms  p95 {self.p95:6.1f} ms  "
                f"p99 {self.p99:6.1f} ms  max {self.max:7.1f} ms  [{statuses}]")
