"""Load benchmark: survey page views and complete submissions on the production stack.

    make bench-load            # or: .venv/bin/python -m bench.load.loadtest [options]

What it does, in about five minutes on a 2-core machine:

1. Starts PostgreSQL and Redis if they are not running, recreates the database ``sipas_bench``
   (migrations, the demo province with 14 centres), and starts gunicorn with gunicorn.conf.py on
   127.0.0.1:8001. The centre and network rate limits are raised for the run
   (``SIPAS_LIMIT_CENTER``, ``SIPAS_LIMIT_NETWORK``): a whole province's phones come from a few
   loopback addresses here. The device limit and the hard minimum completion time are the
   production ones: every phone holds its form at least 3 s + 0.3 s per answer.
2. Page views: phones that only open the survey, in steps of increasing rate (open-loop Poisson
   arrivals), until a step fails (p95 ≥ 200 ms or any error).
3. Submissions: phones that open the survey, hold it, and send a complete answer with its CSRF
   token, in steps of increasing rate. A step is judged on the requests made while both the page
   views and the submissions of that rate were running.
4. Checks that every accepted submission (303) is in the database, and counts what was stored.
5. The ceiling: the stored rows COPYed straight into PostgreSQL (``bench.load.copy_ceiling``).

Everything is bounded: each step has a fixed number of arrivals and a deadline; the whole run
stops after ``--budget`` seconds at most. Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone

from bench.load import database, machine
from bench.load.copy_ceiling import copy_ceiling
from bench.load.phones import AnswerMaker, PhoneSettings, Phones, Summary, event_loop
from bench.load.phones import run as run_loop
from bench.load.stack import (
    ROOT, Gunicorn, SystemServices, add_centres, drop_database, ensure_database, log, prepare_database, production_environment,
)

P95_TARGET_MS = 200.0
OUT = ROOT / "bench" / "out"


def parse_rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def judge(summary: Summary) -> bool:
    return summary.count > 0 and summary.errors == 0 and summary.p95 < P95_TARGET_MS


async def view_steps(phones: Phones, rates: list[float], seconds: float, meter_factory, deadline: float) -> list[dict]:
    steps = []
    for index, rate in enumerate(rates):
        if time.monotonic() + seconds + 10 > deadline:
            log("page views: out of time budget, stopping")
            break
        step = 100 + index
        meter = meter_factory()
        meter.start()
        begin = phones.now()
        phones.tally.late_arrivals = 0.0
        await phones.arrive(rate, seconds, step=step)
        cut = await phones.drain(timeout=30)
        cpu = meter.stop()
        results = [r for r in phones.tally.results if r.step == step and r.kind == "view"]
        summary = Summary.of(results, seconds, 200)
        passed = judge(summary) and cut == 0
        print(summary.line(f"views @ {rate:g}/s") + ("  PASS" if passed else "  FAIL"), flush=True)
        print(f"{'':22} {cpu.line()}; generator lag max {phones.tally.late_arrivals * 1000:.0f} ms", flush=True)
        print(f"{'':22} {cpu.cost_line(summary.rate, 'page view')}", flush=True)
        steps.append({"offered": rate, "passed": passed, "summary": asdict(summary), "cpu": asdict(cpu),
                      "began": begin, "cut_off": cut})
        await asyncio.sleep(2)
        if not passed:
            break
    return steps


async def submit_steps(phones: Phones, rates: list[float], seconds: float, meter_factory, deadline: float) -> list[dict]:
    steps = []
    hold = phones.settings.hard_min_base + phones.settings.hard_min_per_answer * 40 + 1.5
    for index, rate in enumerate(rates):
        if time.monotonic() + seconds + hold + 15 > deadline:
            log("submissions: out of time budget, stopping")
            break
        step = 200 + index
        meter = meter_factory()
        begin = phones.now()
        phones.tally.late_arrivals = 0.0
        arrivals = asyncio.create_task(phones.arrive(rate, seconds, step=step))
        # The steady window: page views and submissions of this rate both running.
        await asyncio.sleep(min(hold, seconds / 2))
        meter.start()
        window_start = phones.now()
        await arrivals
        window_end = phones.now()
        cpu = meter.stop()
        cut = await phones.drain(timeout=hold + 30)
        window = window_end - window_start
        in_window = [r for r in phones.tally.results if r.step == step and window_start <= r.started < window_end]
        submits = Summary.of([r for r in in_window if r.kind == "submit"], window, 303)
        views = Summary.of([r for r in in_window if r.kind == "view"], window, 200)
        everything = [r for r in phones.tally.results if r.step == step]
        all_submits = Summary.of([r for r in everything if r.kind == "submit"], seconds, 303)
        passed = judge(submits) and judge(views) and all_submits.errors == 0 and cut == 0
        print(submits.line(f"submits @ {rate:g}/s") + ("  PASS" if passed else "  FAIL"), flush=True)
        print(views.line("  with page views"), flush=True)
        print(f"{'':22} whole step: {all_submits.count} submissions, {all_submits.ok} accepted, statuses {all_submits.statuses}, cut off {cut}", flush=True)
        print(f"{'':22} {cpu.line()}; generator lag max {phones.tally.late_arrivals * 1000:.0f} ms", flush=True)
        print(f"{'':22} {cpu.cost_line(submits.rate, 'submission (its page view included)')}", flush=True)
        steps.append({"offered": rate, "passed": passed, "submits": asdict(submits), "views": asdict(views),
                      "whole_step": asdict(all_submits), "cpu": asdict(cpu), "began": begin, "window": window, "cut_off": cut})
        await asyncio.sleep(2)
        if not passed:
            break
    return steps


def best(steps: list[dict]) -> dict | None:
    passed = [s for s in steps if s["passed"]]
    return passed[-1] if passed else None


restore_later: list = []


async def run(args, server: Gunicorn, dsn: str) -> dict:
    rng = random.Random(args.seed)
    centres = database.open_centres(dsn)
    fields = database.active_fields(dsn)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    settings = PhoneSettings(port=int(server.bind.rsplit(":", 1)[1]), run_id=run_id, hold=(0.0, 1.0),
                             wifi_share=args.wifi_share, timeout=30)
    phones = Phones(centres, AnswerMaker(fields, rng), settings, rng)
    deadline = time.monotonic() + args.budget
    gunicorn_pid = server.process.pid if server.process else None

    def meter():
        return machine.CpuMeter(gunicorn_pid, args.database)

    log(f"run {run_id}: {len(centres)} centres, {len(fields)} fields, workers {server.env.get('GUNICORN_WORKERS', 'default')}")
    # Warm-up: every worker renders the form once and opens its connections.
    settings.submit = False
    await phones.arrive(20, 2, step=0)
    await phones.drain(10)
    if args.nice:
        backends = machine.database_backends(args.database)
        ours = [os.getpid(), gunicorn_pid, *machine.children(gunicorn_pid), *backends]
        restore_later.extend(machine.prioritise(ours, args.nice))
        log(f"CPU priority nice {args.nice} for the generator, gunicorn and {len(backends)} PostgreSQL backends "
            f"(and their sessions' autogroups: {len(restore_later)}, restored at the end)")

    since = database.utc_now(dsn)
    view_results = []
    if args.view_rates:
        print("\n== page views (GET /s/<centre>) ==", flush=True)
        view_results = await view_steps(phones, parse_rates(args.view_rates), args.view_seconds, meter, deadline)
    submit_results = []
    if args.submit_rates:
        print("\n== submissions (GET, hold the form, POST a complete answer) ==", flush=True)
        settings.submit = True
        submit_results = await submit_steps(phones, parse_rates(args.submit_rates), args.submit_seconds, meter, deadline)

    # Accounting: every accepted submission must be in the database.
    await asyncio.sleep(1)
    stored_total = database.stored_since(dsn, since)
    stored_marked = database.stored_markers(dsn, run_id)
    tally = phones.tally
    lost = sorted(tally.accepted_marked - stored_marked)
    unacknowledged = sorted(stored_marked - tally.accepted_marked)
    statuses: dict[int, int] = {}
    for r in tally.results:
        if r.kind == "submit":
            statuses[r.status] = statuses.get(r.status, 0) + 1
    print("\n== accounting ==", flush=True)
    print(f"phones {phones.launched}; submissions sent {tally.sent}; accepted (303) {len(tally.accepted)}; "
          f"stored in the database {stored_total}; statuses {dict(sorted(statuses.items()))}", flush=True)
    print(f"full-form submissions traced by their marker: accepted {len(tally.accepted_marked)}, found {len(stored_marked & tally.accepted_marked)}, "
          f"lost {len(lost)}, stored without a 303 reaching the phone {len(unacknowledged)}", flush=True)
    equal = stored_total == len(tally.accepted)
    print(f"accepted == stored: {'yes' if equal else 'NO'}", flush=True)

    ceiling = None
    if args.copy_responses and stored_total:
        ceiling = copy_ceiling(dsn, since, args.copy_responses)
        print("\n== ceiling: the same rows with COPY ==", flush=True)
        print(f"COPY {ceiling.responses} responses ({ceiling.answers} answers, {ceiling.linkage} linkage, {ceiling.flags} flags) "
              f"in {ceiling.seconds:.2f} s = {ceiling.responses_per_second:,.0f} responses/s ({ceiling.rows_per_second:,.0f} rows/s)", flush=True)

    return {
        "run_id": run_id,
        "views": view_results,
        "submits": submit_results,
        "accounting": {"phones": phones.launched, "sent": tally.sent, "accepted": len(tally.accepted), "stored": stored_total,
                       "accepted_marked": len(tally.accepted_marked), "lost": lost, "unacknowledged": unacknowledged,
                       "submit_statuses": statuses},
        "copy": asdict(ceiling) | {"responses_per_second": ceiling.responses_per_second} if ceiling else None,
    }


def report(result: dict, info: dict, args, pg: dict) -> None:
    print("\n== summary ==")
    print(f"machine: {info['nproc']} cores ({info['cpu']}), {info['ram']} RAM; PostgreSQL {pg['server_version']}; commit {info['commit']}")
    before, after = result["cpu_reference_s"]
    print(f"CPU speed: a fixed Python loop took {before * 1000:.0f} ms before the run and {after * 1000:.0f} ms after "
          "(compare runs only at similar figures)")
    # gunicorn.conf.py: cores + 1 workers, sync unless more than one thread is asked for
    # (--threads, else GUNICORN_THREADS, which the server inherits from this environment).
    threads = args.threads or int(os.environ.get("GUNICORN_THREADS") or 1)
    kind = "gthread" if threads > 1 else "sync"
    print(f"gunicorn: {args.workers or 'default (cores + 1)'} {kind} workers × {threads} threads "
          f"(gunicorn.conf.py); generator on the same machine ({event_loop()})")
    views, submits = best(result["views"]), best(result["submits"])
    if views:
        s = views["summary"]
        print(f"page views sustained: {s['rate']:.0f}/s at p50 {s['p50']:.0f} / p95 {s['p95']:.0f} / p99 {s['p99']:.0f} ms, 0 errors (target 1,000/s)")
    else:
        print("page views: no step met p95 < 200 ms with zero errors")
    if submits:
        s, v = submits["submits"], submits["views"]
        print(f"submissions sustained: {s['rate']:.0f}/s at p50 {s['p50']:.0f} / p95 {s['p95']:.0f} / p99 {s['p99']:.0f} ms, 0 errors "
              f"(with page views at {v['rate']:.0f}/s, p95 {v['p95']:.0f} ms) (target 200/s)")
    else:
        print("submissions: no step met p95 < 200 ms with zero errors")
    a = result["accounting"]
    print(f"accepted {a['accepted']}, stored {a['stored']}, lost {len(a['lost'])}")
    if result["copy"] and submits:
        ratio = result["copy"]["responses_per_second"] / submits["submits"]["rate"]
        print(f"COPY ceiling {result['copy']['responses_per_second']:,.0f} responses/s = {ratio:.1f} × the app's sustained submissions")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sipas_bench", help="recreated at every run")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--bind", default="127.0.0.1:8001")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (default: gunicorn.conf.py's, 1: sync workers)")
    parser.add_argument("--view-rates", default="30,45,60,80,100,130,160,200,250")
    parser.add_argument("--view-seconds", type=float, default=10)
    parser.add_argument("--submit-rates", default="5,10,15,20,25,30,40")
    parser.add_argument("--submit-seconds", type=float, default=30)
    parser.add_argument("--extra-centres", type=int, default=1000,
                        help="centres added to the 14 of the demo province, so that each sees a plausible rate (0: only the demo's)")
    parser.add_argument("--wifi-share", type=float, default=0.5, help="share of phones on their centre's Wi-Fi (one address per centre)")
    parser.add_argument("--copy-responses", type=int, default=20_000, help="rows for the COPY ceiling (0: skip)")
    parser.add_argument("--budget", type=float, default=270, help="seconds for the load steps, at most")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--nice", type=int, default=0,
                        help="run the generator, gunicorn and the database's backends at this niceness (e.g. -10, as root) "
                             "when other jobs share the machine; the figures then approach an otherwise idle machine's")
    parser.add_argument("--keep-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    info = machine.describe()
    reference_before = machine.cpu_reference()
    SystemServices(args.pg_port, args.redis_port).ensure()
    drop_database(args.pg_port, args.database)
    ensure_database(args.pg_port, args.database)
    dsn = f"postgresql://postgres@127.0.0.1:{args.pg_port}/{args.database}"
    env = production_environment(
        dsn, f"redis://127.0.0.1:{args.redis_port}/1",
        SIPAS_LIMIT_CENTER="1000000 per hour", SIPAS_LIMIT_NETWORK="1000000 per hour",
    )
    log("migrating and seeding the demo province")
    prepare_database(env, seed_responses=500, quiet=True)
    if args.extra_centres:
        log(f"adding {args.extra_centres} centres: {add_centres(env, args.pg_port, args.database, args.extra_centres)}")
    server = Gunicorn(env, args.bind, OUT / "loadtest-gunicorn.log", workers=args.workers, threads=args.threads)
    server.start()
    pg = database.server_settings(dsn)
    print(f"machine: nproc {info['nproc']}, {info['cpu']}, {info['ram']} RAM, Python {info['python']}, commit {info['commit']}, "
          f"generator event loop {event_loop()}")
    print(f"PostgreSQL {pg['server_version']} (max_connections {pg['max_connections']}, shared_buffers {pg['shared_buffers']}, "
          f"synchronous_commit {pg['synchronous_commit']}); gunicorn log {server.logfile.relative_to(ROOT)}")
    try:
        result = run_loop(run(args, server, dsn))
    finally:
        machine.restore(restore_later)
        server.stop()
    result["cpu_reference_s"] = [round(reference_before, 4), round(machine.cpu_reference(), 4)]
    report(result, info, args, pg)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"loadtest-{result['run_id']}.json"
    path.write_text(json.dumps({"machine": info, "postgres": pg, "args": vars(args), **result}, indent=1, default=str))
    print(f"details: {path.relative_to(ROOT)}")
    return 0 if not result["accounting"]["lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
