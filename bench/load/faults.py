"""Fault scripts: phones keep answering while a worker, PostgreSQL or Redis fails.

    make bench-faults                          # all three, about five minutes
    .venv/bin/python -m bench.load.faults worker-kill|postgres|redis|all [--rate 6] [--seconds 50]

The faults are injected into a stack of their own, so that stopping a database disturbs nobody
else on the machine: a throwaway PostgreSQL cluster on port 5433 (initdb in /tmp), a Redis on
port 6380, and gunicorn with gunicorn.conf.py on 127.0.0.1:8002. Phones arrive at ``--rate``
per second for ``--seconds`` seconds, each opening the survey, holding it for the hard minimum
time and sending a complete answer, from its own device and source address.

- ``worker-kill``: SIGKILL one gunicorn worker, then another. Only requests in flight on the
  killed worker may fail; gunicorn starts replacements.
- ``postgres``: stop PostgreSQL (``pg_ctl stop -m fast``) for 15 s, then start it again. While it
  is down the app answers 503 with the Vietnamese "try again" page and ``Retry-After``, never 500;
  it reconnects by itself (``pool_pre_ping``). Phones do what the page asks: they try again every
  5 s, like a person pressing "Gửi" again.
- ``redis``: stop Redis for 20 s, then start it again. The rate limits fall back to each worker's
  memory (``app.survey_limits``' in-memory fallback), the log says so, and responses keep being accepted.

Each prints what was sent, accepted, stored and lost, a timeline of statuses, and its checks;
the exit code is non-zero when a check fails. Every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bench.load import database
from bench.load.phones import AnswerMaker, Phones, PhoneSettings, percentile, request
from bench.load.phones import run as run_loop
from bench.load.stack import (
    ROOT, Gunicorn, PrivatePostgres, PrivateRedis, drop_database, ensure_database, flask, log, production_environment,
)

OUT = ROOT / "bench" / "out"
RETRY_PAGE_TEXT = "Hệ thống đang tạm gián đoạn".encode()


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Scenario:
    name: str
    events: list[tuple[float, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    health: list[tuple[float, int]] = field(default_factory=list)

    def event(self, phones: Phones, text: str) -> None:
        at = phones.now()
        self.events.append((at, text))
        print(f"  t={at:5.1f} s  {text}", flush=True)


class Stack:
    def __init__(self, args):
        self.args = args
        self.postgres = PrivatePostgres(port=args.pg_port)
        self.redis = PrivateRedis(port=args.redis_port)
        self.dsn = f"postgresql://postgres@127.0.0.1:{args.pg_port}/{args.database}"
        self.env = production_environment(
            self.dsn, f"redis://127.0.0.1:{args.redis_port}/0",
            SIPAS_LIMIT_CENTER="1000000 per hour", SIPAS_LIMIT_NETWORK="1000000 per hour",
        )
        if args.app_overrides:
            self.env["SIPAS_APP_OVERRIDES"] = args.app_overrides
            log(f"app configuration overrides: {args.app_overrides}")
        self.server: Gunicorn | None = None

    def up(self) -> None:
        self.postgres.start()
        self.redis.start()
        drop_database(self.args.pg_port, self.args.database)
        ensure_database(self.args.pg_port, self.args.database)
        log("migrating and seeding the demo province")
        flask(self.env, "db", "upgrade", quiet=True)
        flask(self.env, "sipas", "seed-demo", "--responses", "200", quiet=True)

    def start_server(self, name: str) -> Gunicorn:
        self.server = Gunicorn(self.env, self.args.bind, OUT / f"faults-{name}-gunicorn.log")
        self.server.logfile.unlink(missing_ok=True)
        self.server.start()
        return self.server

    def stop_server(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

    def down(self) -> None:
        self.stop_server()
        self.redis.stop()
        self.postgres.stop()


async def probe_health(phones: Phones, scenario: Scenario, port: int, until: float) -> None:
    """Poll /healthz twice a second and record when its status changes."""
    last = None
    while phones.now() < until:
        try:
            status, _, _ = await request("GET", "127.0.0.1", port, "/healthz", [], timeout=5)
        except (OSError, asyncio.TimeoutError, ValueError):
            status = 0
        if status != last:
            scenario.health.append((phones.now(), status))
            last = status
        await asyncio.sleep(0.5)


async def inject_worker_kill(phones: Phones, scenario: Scenario, stack: Stack) -> None:
    server = stack.server
    before = server.worker_pids()
    scenario.event(phones, f"workers {before}")
    killed = []
    for at in (25, 40):
        await asyncio.sleep(max(0, at - phones.now()))
        pids = server.worker_pids()
        victim = pids[len(killed) % len(pids)]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
        scenario.event(phones, f"SIGKILL worker {victim}")
    for _ in range(40):  # bounded: 10 s
        after = server.worker_pids()
        if len(after) >= len(before) and not set(killed) & set(after):
            break
        await asyncio.sleep(0.25)
    scenario.event(phones, f"workers {after}")
    replaced = len(after) == len(before) and not set(killed) & set(after)
    scenario.checks.append(Check("killed workers replaced", replaced, f"{len(before)} before, {len(after)} after, killed {killed}"))


async def inject_postgres(phones: Phones, scenario: Scenario, stack: Stack) -> None:
    await asyncio.sleep(max(0, 25 - phones.now()))
    scenario.event(phones, "stopping PostgreSQL (pg_ctl stop -m fast)")
    await asyncio.to_thread(stack.postgres.stop, "fast")
    scenario.event(phones, "PostgreSQL stopped")
    await asyncio.sleep(15)
    scenario.event(phones, "starting PostgreSQL")
    await asyncio.to_thread(stack.postgres.start)
    scenario.event(phones, "PostgreSQL accepting connections")


async def inject_redis(phones: Phones, scenario: Scenario, stack: Stack) -> None:
    await asyncio.sleep(max(0, 25 - phones.now()))
    scenario.event(phones, "stopping Redis")
    await asyncio.to_thread(stack.redis.stop)
    await asyncio.sleep(20)
    scenario.event(phones, "starting Redis")
    await asyncio.to_thread(stack.redis.start)


INJECTORS = {"worker-kill": inject_worker_kill, "postgres": inject_postgres, "redis": inject_redis}


def timeline(phones: Phones, bucket: float = 5.0) -> list[str]:
    rows: dict[int, dict[str, Counter]] = {}
    latencies: dict[tuple[int, str], list[float]] = {}
    for r in phones.tally.results:
        slot = int(r.started // bucket)
        rows.setdefault(slot, {"view": Counter(), "submit": Counter()})[r.kind][r.status] += 1
        latencies.setdefault((slot, r.kind), []).append(r.latency)
    lines = []
    for slot in sorted(rows):
        cells = []
        for kind in ("view", "submit"):
            counts = rows[slot][kind]
            text = " ".join(f"{'err' if k == 0 else k}×{v}" for k, v in sorted(counts.items())) or "-"
            times = latencies.get((slot, kind))
            worst = f"p95 {percentile(times, 95) * 1000:5.0f} ms" if times else ""
            cells.append(f"{kind}s {text:<22} {worst:<12}")
        lines.append(f"  {slot * bucket:5.0f}–{(slot + 1) * bucket:<4.0f}s  " + "  ".join(cells))
    return lines


async def run_scenario(name: str, stack: Stack, args) -> Scenario:
    scenario = Scenario(name)
    server = stack.start_server(name)
    rng = random.Random(args.seed)
    run_id = f"{name}-{datetime.now(timezone.utc):%H%M%S}"
    settings = PhoneSettings(
        port=int(args.bind.rsplit(":", 1)[1]), run_id=run_id, hold=(0.0, 1.0), wifi_share=0.5, timeout=20,
        retries_after_503=8 if name == "postgres" else 0, retry_delay=5.0,
    )
    phones = Phones(database.open_centres(stack.dsn), AnswerMaker(database.active_fields(stack.dsn), rng), settings, rng)
    since = database.utc_now(stack.dsn)
    print(f"\n== fault: {name} (phones at {args.rate:g}/s for {args.seconds:g} s; gunicorn log {server.logfile.relative_to(ROOT)}) ==", flush=True)
    horizon = args.seconds + 80
    health = asyncio.create_task(probe_health(phones, scenario, settings.port, horizon))
    fault = asyncio.create_task(INJECTORS[name](phones, scenario, stack))
    await phones.arrive(args.rate, args.seconds)
    await fault
    cut = await phones.drain(timeout=75)
    health.cancel()
    await asyncio.gather(health, return_exceptions=True)
    await asyncio.sleep(1)

    tally = phones.tally
    stored = database.stored_since(stack.dsn, since)
    marked = database.stored_markers(stack.dsn, run_id)
    lost = sorted(tally.accepted_marked - marked)
    unacknowledged = sorted(marked - tally.accepted_marked)
    statuses = Counter(r.status for r in tally.results if r.kind == "submit")
    view_statuses = Counter(r.status for r in tally.results if r.kind == "view")
    print("  timeline (requests by the time they were sent):")
    for line in timeline(phones):
        print(line)
    print("  /healthz: " + ", ".join(f"t={t:.1f} s → {s or 'no answer'}" for t, s in scenario.health))
    print(f"  phones {phones.launched}; page views {sum(view_statuses.values())} {dict(sorted(view_statuses.items()))}")
    print(f"  SENT {tally.sent} submissions; ACCEPTED {len(tally.accepted)} (303); STORED {stored}; "
          f"LOST {len(lost)} accepted but not stored; submit statuses {dict(sorted(statuses.items()))}")
    print(f"  full-form submissions traced by marker: {len(tally.accepted_marked)} accepted, {len(marked & tally.accepted_marked)} found; "
          f"{len(unacknowledged)} stored without their 303 reaching the phone; {len(tally.already)} answered 409 on a retry "
          f"(stored by the first attempt); {cut} phones cut off at the deadline")

    scenario.checks.append(Check("no accepted response lost", not lost and stored >= len(tally.accepted),
                                 f"accepted {len(tally.accepted)}, stored {stored}, lost {len(lost)}"))
    five_hundreds = sum(v for k, v in (statuses + view_statuses).items() if k >= 500 and k != 503)
    log_text = server.logfile.read_text(errors="replace")
    stack.stop_server()
    if name == "worker-kill":
        kills = [t for t, text in scenario.events if text.startswith("SIGKILL")]
        failures = [r for r in tally.results if r.status == 0]
        in_flight = [r for r in failures if any(r.started <= t <= r.started + r.latency + 0.05 for t in kills)]
        other = sum(v for k, v in (statuses + view_statuses).items() if k not in (0, 200, 303))
        scenario.checks.append(Check("only requests in flight at a kill failed", len(in_flight) == len(failures) and other == 0,
                                     f"{len(failures)} failed ({', '.join(sorted({r.error for r in failures})) or 'none'}), "
                                     f"{len(in_flight)} of them in flight at a SIGKILL; {other} other non-success answers"))
    if name == "postgres":
        samples = tally.samples_503
        vietnamese = bool(samples) and all(RETRY_PAGE_TEXT in body or b'"status": 503' in body or b'"status":503' in body for _, body in samples)
        retry_after = bool(samples) and all(any(k.lower() == "retry-after" for k, _ in headers) for headers, _ in samples)
        served_503 = statuses.get(503, 0) + view_statuses.get(503, 0)
        scenario.checks.append(Check("503 with the Vietnamese retry page while PostgreSQL is down, never 500",
                                     served_503 > 0 and vietnamese and retry_after and five_hundreds == 0,
                                     f"{served_503} × 503 (Retry-After: {retry_after}, Vietnamese page: {vietnamese}), {five_hundreds} × 500"))
        up_again = [t for t, s in scenario.health if s == 200]
        restarted = next((t for t, text in scenario.events if text.startswith("PostgreSQL accepting")), None)
        recovered = restarted is not None and any(t >= restarted for t in up_again)
        delay = min(t for t in up_again if t >= restarted) - restarted if recovered else float("nan")
        scenario.checks.append(Check("recovers by itself", recovered, f"/healthz 200 again {delay:.1f} s after PostgreSQL came back"))
    if name == "redis":
        fallback = "falling back to in-memory storage" in log_text
        recovered = "Rate limit storage recovered" in log_text
        stopped = next(t for t, text in scenario.events if text == "stopping Redis")
        restarted = next(t for t, text in scenario.events if text == "starting Redis")
        during = sum(1 for r in tally.results if r.kind == "submit" and r.status == 303 and stopped <= r.started < restarted)
        scenario.checks.append(Check("keeps accepting responses while Redis is down", during > 0 and five_hundreds == 0,
                                     f"{during} accepted during the outage, {five_hundreds} answers ≥ 500"))
        scenario.checks.append(Check("the log says so", fallback,
                                     f"'Rate limit storage unreachable - falling back to in-memory storage' in the log: {fallback}; "
                                     f"'Rate limit storage recovered': {recovered}"))
    if five_hundreds:
        lines = [line for line in log_text.splitlines() if "ERROR" in line or "Traceback" in line][:5]
        print("  log lines with errors: " + " | ".join(lines))
    for check in scenario.checks:
        print(f"  [{'PASS' if check.passed else 'FAIL'}] {check.name}: {check.detail}", flush=True)
    return scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=[*INJECTORS, "all"])
    parser.add_argument("--rate", type=float, default=6.0, help="phones per second")
    parser.add_argument("--seconds", type=float, default=50.0, help="how long phones keep arriving")
    parser.add_argument("--pg-port", type=int, default=5433)
    parser.add_argument("--redis-port", type=int, default=6380)
    parser.add_argument("--database", default="sipas_faults")
    parser.add_argument("--bind", default="127.0.0.1:8002")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--app-overrides", default="", metavar="JSON",
                        help='extra app configuration to try, e.g. \'{"RATELIMIT_SWALLOW_ERRORS": true}\' (SIPAS_APP_OVERRIDES)')
    args = parser.parse_args(argv)
    if args.seconds < 50:
        parser.error("--seconds must be at least 50: the faults are injected 25–45 s into the run")

    names = list(INJECTORS) if args.scenario == "all" else [args.scenario]
    stack = Stack(args)
    results = []
    started = time.monotonic()
    try:
        stack.up()
        for name in names:
            results.append(run_loop(run_scenario(name, stack, args)))
            if name == "postgres":
                stack.postgres.start()
            if name == "redis":
                stack.redis.start()
    finally:
        stack.down()
    print(f"\n== faults summary ({time.monotonic() - started:.0f} s) ==")
    failed = 0
    for scenario in results:
        for check in scenario.checks:
            failed += not check.passed
            print(f"[{'PASS' if check.passed else 'FAIL'}] {scenario.name}: {check.name} — {check.detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
