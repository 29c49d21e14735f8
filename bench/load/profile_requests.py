"""CPU per request of the public survey, measured in-process: a page view and a complete submission.

    .venv/bin/python -m bench.load.profile_requests --database sipas_profile [--requests 300] [--profile out/]

Each simulated phone (a fresh device cookie and its own address) opens ``/s/<centre>`` and posts a
complete answer to it, as ``bench.load.phones`` does over HTTP, but through the WSGI application
directly, so that only the application's work is timed: the request environ is built, and the
response read, outside the timed part. Prints the CPU time (``time.process_time``, this process
only; PostgreSQL's own work is not in it) and the wall time per GET and per POST, and the queries
per request. With ``--profile DIR`` it also writes cProfile stats of the GETs and the POSTs
(``get.prof``, ``post.prof``) and prints their top functions.

``--fresh`` recreates the database first as the load benchmark does (migrations, the demo
province with ``--seed-responses`` responses, ``--extra-centres`` more centres) and runs
``ANALYZE`` (autovacuum would, in production), so that runs of different commits start from the
same state; otherwise the database must be migrated and seeded already, and each run adds to it.
Phones spread over all the active centres. Settings are the production ones
(``SIPAS_ENV=production``, limits per device, Redis with ``--redis``), except that the centre and
network limits are raised (all phones are on one machine), the hard minimum time is met by a
start token dated ``--held`` seconds back, and the centres are open around the clock unless
``--opening-hours`` is given (so that the figures do not depend on the hour: outside opening hours
every response gets an ``off_hours`` flag). Submissions go to the database as real responses.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import random
import secrets
import statistics
import sys
import time
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlencode

from itsdangerous import TimestampSigner
from sqlalchemy import event
from werkzeug.test import EnvironBuilder

from bench.load.phones import AnswerMaker, hidden_tokens, marker_for



def recreate_database(database: str, seed_responses: int, extra_centres: int) -> None:
    from bench.load.stack import add_centres, drop_database, ensure_database, prepare_database, production_environment, psql

    drop_database(5432, database)
    ensure_database(5432, database)
    env = production_environment(f"postgresql://postgres@127.0.0.1:5432/{database}", "memory://", secret_key=secrets.token_urlsafe(48))
    prepare_database(env, seed_responses=seed_responses, quiet=True)
    if extra_centres:
        add_centres(env, 5432, database, extra_centres)
    psql(5432, "ANALYZE", database)


def make_app(database: str, redis: str | None, opening_hours: bool, extra: dict | None = None):
    os.environ.update(
        SIPAS_ENV="production",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{database}",
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(48),
        SIPAS_LIMIT_CENTER="1000000 per hour",
        SIPAS_LIMIT_NETWORK="1000000 per hour",
    )
    if redis:
        os.environ["RATELIMIT_STORAGE_URI"] = redis
    from analysis.integrity import OpeningHours, Rules
    from app import create_app

    overrides = {}
    if not opening_hours:
        overrides["INTEGRITY_RULES"] = Rules(opening_hours=OpeningHours(days={d: (clock(0, 0), clock(23, 59)) for d in range(7)}))
    return create_app(overrides={**overrides, **(extra or {})})


def centres_and_fields(app) -> tuple[list[tuple[str, str]], list[str]]:
    from app.extensions import db
    from app.models import Field, ServiceCenter

    with app.app_context():
        centres = [
            (c.code, c.instrument_key or app.config["DEFAULT_INSTRUMENT"])
            for c in db.session.query(ServiceCenter).filter_by(active=True, valid_to=None).order_by(ServiceCenter.id)
        ]
        fields = [f.code for f in db.session.query(Field).filter_by(active=True)]
    return centres, fields


def call(app, environ: dict) -> tuple[str, dict[str, list[str]], bytes, float, float]:
    """Run one request; returns status, headers, body, CPU and wall seconds of the app's work."""
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status
        captured["headers"] = headers

    cpu, wall = time.process_time(), time.perf_counter()
    body = b"".join(app(environ, start_response))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    headers: dict[str, list[str]] = {}
    for name, value in captured["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return captured["status"], headers, body, cpu, wall


def environ_for(method: str, path: str, address: str, cookies: str = "", body: bytes = b"") -> dict:
    headers = {"Accept-Language": "vi-VN,vi;q=0.9", "User-Agent": "Mozilla/5.0 (Linux; Android 14; SIPAS-profile) Mobile"}
    if cookies:
        headers["Cookie"] = cookies
    builder = EnvironBuilder(
        path=path, method=method, base_url="http://127.0.0.1:8000", headers=headers, data=body or None,
        content_type="application/x-www-form-urlencoded" if method == "POST" else None,
        environ_base={"REMOTE_ADDR": address},
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


class DatabaseMeter:
    """Statements sent, and CPU seconds used by the PostgreSQL backends of the app's connections
    (from /proc, in clock ticks: exact over a run, coarse for one request)."""

    def __init__(self, engine):
        self.statements = 0
        self.pids: set[int] = set()
        event.listen(engine, "before_cursor_execute", self.count)
        event.listen(engine, "connect", self.remember)

    def count(self, *args):
        self.statements += 1

    def remember(self, dbapi_connection, record):
        self.pids.add(dbapi_connection.info.backend_pid)

    def backend_seconds(self) -> float:
        ticks = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime and stime
        return ticks / os.sysconf("SC_CLK_TCK")


class CollectorMeter:
    """Wall time in the garbage collector, by generation (its pauses are part of the requests' CPU)."""

    def __init__(self):
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._began = 0.0
        self._on = False
        gc.callbacks.append(self._callback)

    def start(self):
        self._on = True

    def _callback(self, phase, info):
        if phase == "start":
            self._began = time.perf_counter()
        elif self._on:
            self.seconds[info["generation"]] += time.perf_counter() - self._began
            self.counts[info["generation"]] += 1

    def line(self, phones: int) -> str:
        parts = [f"gen {g}: {self.counts[g]} × ({self.seconds[g] * 1000:.1f} ms)" for g in range(3)]
        return f"garbage collector: {'; '.join(parts)}; {sum(self.seconds) * 1000 / phones:.2f} ms per phone (GET + POST)"


def backdated_start(secret: str, center_code: str, seconds: float) -> str:
    """A start token as if the form had been served ``seconds`` ago (the phone held the form)."""
    from app.services.form_start import SALT

    class Backdated(TimestampSigner):
        def get_timestamp(self):
            return int(time.time() - seconds)

    return Backdated(secret, salt=SALT).sign(center_code).decode("ascii")


def summarise(label: str, cpu: list[float], wall: list[float], statements: list[int], backend: list[float]) -> None:
    ms = sorted(c * 1000 for c in cpu)
    print(
        f"{label}: CPU {statistics.mean(ms):.2f} ms mean, {statistics.median(ms):.2f} median, "
        f"p90 {ms[int(0.9 * (len(ms) - 1))]:.2f}; wall {statistics.mean(wall) * 1000:.2f} ms mean; "
        f"{statistics.mean(statements):.1f} statements, PostgreSQL CPU {statistics.mean(backend) * 1000:.2f} ms "
        f"per request (n = {len(ms)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load.profile_requests", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sipas_profile")
    parser.add_argument("--requests", type=int, default=300, help="phones, each one GET and one POST")
    parser.add_argument("--warmup", type=int, default=30, help="phones run first and not counted")
    parser.add_argument("--redis", default=None, help="rate-limit storage, e.g. redis://127.0.0.1:6379/3 (default: memory)")
    parser.add_argument("--centres", type=int, default=0, help="phones go to the first N centres only (default: all)")
    parser.add_argument("--held", type=float, default=120.0, help="seconds the phone held the form (an honest 2 minutes: no too_fast flag)")
    parser.add_argument("--opening-hours", action="store_true", help="the default opening hours instead of around the clock")
    parser.add_argument("--profile", type=Path, default=None, help="directory for cProfile stats (get.prof, post.prof)")
    parser.add_argument("--top", type=int, default=25, help="functions printed from each profile")
    parser.add_argument("--sort", default="cumulative", help="pstats order of the printed functions (cumulative, tottime, ...)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="a configuration override, for experiments")
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="leave the loaded app's objects to the garbage collector (gunicorn.conf.py freezes them before forking)")
    parser.add_argument("--fresh", action="store_true", help="recreate the database first (drops it)")
    parser.add_argument("--seed-responses", type=int, default=2000, help="demo responses in a fresh database")
    parser.add_argument("--extra-centres", type=int, default=1000, help="centres added to a fresh database")
    args = parser.parse_args(argv)

    if args.fresh:
        recreate_database(args.database, args.seed_responses, args.extra_centres)

    extra = {key: json.loads(value) for key, _, value in (item.partition("=") for item in args.set)}
    app = make_app(args.database, args.redis, args.opening_hours, extra)
    from app.extensions import db

    with app.app_context():
        meter = DatabaseMeter(db.engine)
    centres, fields = centres_and_fields(app)
    if not args.no_gc_freeze:
        gc.collect()
        gc.freeze()
    collector = CollectorMeter()
    centres = centres[: args.centres or None]
    rng = random.Random(args.seed)
    maker = AnswerMaker(fields, rng)
    # cProfile's default (wall) clock: a CPU clock costs a system call per function call and
    # distorts the profile. Waits on PostgreSQL and Redis show up in psycopg's and redis' wait.
    profiles = {kind: cProfile.Profile() for kind in ("get", "post")} if args.profile else None
    results = {kind: ([], [], [], []) for kind in ("get", "post")}

    def measure(kind: str, environ: dict, measured: bool):
        meter.statements, backend = 0, meter.backend_seconds()
        if profiles and measured:
            profiles[kind].enable()
        status, headers, body, cpu, wall = call(app, environ)
        if profiles and measured:
            profiles[kind].disable()
        if measured:
            for series, value in zip(results[kind], (cpu, wall, meter.statements, meter.backend_seconds() - backend)):
                series.append(value)
        return status, headers, body

    run_id = secrets.token_hex(3)
    for n in range(args.warmup + args.requests):
        measured = n >= args.warmup
        if n == args.warmup:
            collector.start()
        code, instrument = rng.choice(centres)
        address = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        path = f"/s/{code}"
        status, headers, body = measure("get", environ_for("GET", path, address), measured)
        if not status.startswith("200"):
            raise SystemExit(f"GET {path}: {status}")
        cookies = "; ".join(c.split(";", 1)[0] for c in headers.get("set-cookie", []))
        tokens = hidden_tokens(body)
        pairs = maker.answers(instrument, marker_for(run_id, n))
        form = [("csrf_token", tokens["csrf_token"]), ("started", backdated_start(app.config["SECRET_KEY"], code, args.held)),
                ("website", ""), *pairs]
        status, headers, body = measure("post", environ_for("POST", path, address, cookies, urlencode(form).encode("ascii")), measured)
        if not status.startswith("303"):
            raise SystemExit(f"POST {path}: {status}\n{body.decode('utf-8', 'replace')[:2000]}")

    print(f"{args.requests} phones over {len(centres)} centres on {args.database}, limiter {args.redis or 'memory'}, run {run_id}")
    summarise("GET  /s/<centre>", *results["get"])
    summarise("POST /s/<centre>", *results["post"])
    print(collector.line(args.requests), "(gc.freeze() after loading)" if not args.no_gc_freeze else "(no gc.freeze())")
    if profiles:
        args.profile.mkdir(parents=True, exist_ok=True)
        for kind, profile in profiles.items():
            path = args.profile / f"{kind}.prof"
            profile.dump_stats(path)
            print(f"\n{kind.upper()} profile ({path}), by {args.sort}:")
            pstats.Stats(profile, stream=sys.stdout).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
