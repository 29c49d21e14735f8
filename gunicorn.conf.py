"""Production serving: ``gunicorn -c gunicorn.conf.py`` (``make serve-prod`` does it).

The settings and why (what they hold on a 2-core machine is in bench/load/RESULTS.md):

- The survey is CPU-bound Python with short waits on PostgreSQL and Redis in between
  (``bench/load/profile_requests.py``: a page view ≈ 1.2–1.8 ms of CPU and no wait, a
  submission ≈ 10–13 ms of CPU in 16–18 ms, the rest waiting). Processes, not threads, use the
  cores: keeping 2 cores busy needs about 2 × 17 / 12 ≈ 3 requests in flight. Default
  ``cores + 1`` (3 on 2 cores). More workers only share the same cores, and each keeps its own
  copy of the app warm in the CPU's caches: measured side by side on 28 November 2026, 3
  workers cost 1.74 ms of CPU per page view against 2.07 ms for 5 (``wrk``, 10 alternating
  rounds); in ``make bench-load`` they held 68–81 submissions/s against 69–73, and 504–696
  page views/s against 602–607, a scatter wider than the difference (bench/load/RESULTS.md);
  2 workers queued requests while one waited (p95 over 200 ms at 600 page views/s and at 60
  submissions/s). An app server whose PostgreSQL is on another machine waits longer per
  request and may want more: ``GUNICORN_WORKERS`` overrides.
- ``sync`` workers (one request at a time per process) by default: measured side by side in
  three pairs of runs on 27 November 2026 (``make bench-load``), 5 ``sync`` workers cost less
  CPU per page view than 5 ``gthread`` workers × 2 threads (1.6–1.7 against 1.9 ms; the thread
  pool, the poller and GIL switching are what ``gthread`` adds) and held higher page-view rates
  at p95 < 200 ms every time (850 against 700/s, 1,100 against 1,000/s, 800/s against none);
  submissions cost the same with either. ``sync`` workers need a buffering proxy in front, as
  gunicorn says, so that a slow phone's upload does not hold a whole process: the load balancer
  of docs/scaling.md buffers. (gunicorn 27 also holds a ``sync`` worker after each response
  until the client closes its side, up to 2 s, ``gunicorn.util.close_graceful``: the balancer
  closes at once, a phone on 4G only after its round trip.) Served directly to phones,
  ``GUNICORN_THREADS=2`` switches to ``gthread`` (a slow client then holds one thread, and idle
  keep-alive connections wait in the poller).
- The loaded app's objects are frozen (``gc.freeze()``) before the workers fork: without it a
  worker's full garbage collection walks them all, a pause of ≈ 120 ms every few hundred
  submissions.
- Each worker holds its own SQLAlchemy pool, sized to its threads (a thread holds one
  connection for the length of a request), plus as many overflow connections for bursts.
  The whole deployment opens at most ``workers × threads × 2`` connections, which must stay
  under PostgreSQL's ``max_connections`` (100 by default) with room for migrations, the
  analysis and psql: 3 × 1 × 2 = 6 here (12 with ``GUNICORN_THREADS=2``). A request that
  cannot get a connection within ``pool_timeout`` seconds fails fast with the 503 page instead
  of queueing forever.
  ``pool_pre_ping`` (already the app's default) replaces connections that died while
  PostgreSQL restarted, so the app recovers by itself.
- The pool options reach the app through ``create_app(overrides=...)``, the factory's public
  argument, so ``app/`` needs no production-only code.

Everything here can be overridden on the command line (``gunicorn -c gunicorn.conf.py -w 3``).
"""

from __future__ import annotations

import gc
import json
import logging
import logging.config
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS") or os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
# Phones on 4G are slow to send; the load balancer in front buffers them in production.
keepalive = 5
# A request that takes longer than this is stuck: its worker is killed and replaced.
timeout = 30
graceful_timeout = 20
# Many phones connect at once when the queues clear at 7:30.
backlog = 2048
# The app is imported once in the arbiter and forked: workers start (and restart after a crash)
# in milliseconds. The factory never opens a connection, so no socket is shared across forks.
preload_app = True
# Access logs cost about a tenth of a page view's CPU; the load balancer keeps them instead.
# GUNICORN_ACCESSLOG=- switches them on.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
proc_name = "sipas"
# Several instances run side by side here (serve-prod, the load and fault benchmarks): no shared
# control socket in the home directory.
control_socket_disable = True

POOL_SIZE = int(os.environ.get("SIPAS_DB_POOL_SIZE") or threads)
POOL_OVERFLOW = int(os.environ.get("SIPAS_DB_MAX_OVERFLOW") or threads)
ENGINE_OPTIONS = {
    "pool_pre_ping": True,
    "pool_size": POOL_SIZE,
    "max_overflow": POOL_OVERFLOW,
    "pool_timeout": 5,
    "pool_recycle": 1800,
}
# For experiments only (e.g. the fault scripts trying a configuration change): more overrides as JSON.
EXTRA_OVERRIDES = json.loads(os.environ.get("SIPAS_APP_OVERRIDES") or "{}")
wsgi_app = f"app:create_app(overrides={ {'SQLALCHEMY_ENGINE_OPTIONS': ENGINE_OPTIONS, **EXTRA_OVERRIDES}!r})"

# The app's own log lines (database errors, the rate limiter falling back to memory when Redis
# is down) go to standard error, which is gunicorn's error log here (errorlog = "-"), with
# gunicorn's timestamp, pid and level prefix followed by the logger's name. Configured in
# on_starting rather than as gunicorn's logconfig_dict: with a logging configuration gunicorn
# builds every request's access-log line (≈ 0.05 ms of a worker's CPU) even when nothing would
# write it.
APP_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
            # gunicorn's own error-log date format (gunicorn.glogging.Logger.datefmt).
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
        }
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "app": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        # "app" includes the survey limits' "Rate limit storage unreachable - falling back to
        # in-memory storage" and "... recovered"; Flask-Limiter (the login's limit) logs the same.
        "flask-limiter": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
    },
}


def on_starting(server):
    logging.config.dictConfig(APP_LOGGING)


def when_ready(server):
    # The loaded app (Flask, SQLAlchemy, pandas, the instruments...) is hundreds of thousands of
    # objects that live as long as the process: frozen before the workers fork, the garbage
    # collector's full passes in each worker skip them (and do not touch their pages, which stay
    # shared with the arbiter). bench/load/profile_requests.py measures the collector's share.
    gc.collect()
    gc.freeze()
    budget = workers * (POOL_SIZE + POOL_OVERFLOW)
    server.log.info(
        "sipas: %d %s workers × %d threads on %s; database pool %d + %d overflow per worker, at most %d connections",
        workers, worker_class, threads, bind, POOL_SIZE, POOL_OVERFLOW, budget,
    )


def child_exit(server, worker):
    logging.getLogger("gunicorn.error").info("sipas: worker %s exited", worker.pid)
