"""The production stack on this machine: PostgreSQL, Redis, the database, gunicorn.

Used by ``make serve-prod`` (``python -m bench.load.stack serve``) and by the load and fault
scripts, which start their own gunicorn with the same ``gunicorn.conf.py``. Every process this
module starts is remembered by its pid and stopped by that pid; it never stops a service it did
not start.

- ``SystemServices``: the machine's PostgreSQL cluster (``pg_ctlcluster``) and Redis on their
  usual ports, started if they are not answering. ``make serve-prod`` and ``make bench-load`` use
  them.
- ``PrivatePostgres`` / ``PrivateRedis``: a throwaway cluster and Redis on other ports that the
  fault scripts may stop and start without disturbing anyone else who uses the machine's own.
"""

from __future__ import annotations

import argparse
import os
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
INSTANCE = ROOT / "instance"
PG_BIN = Path("/usr/lib/postgresql")


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def pg_bin(name: str) -> str:
    versions = sorted(PG_BIN.glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if versions:
        return str(versions[-1] / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found; install postgresql")
    return found


def psql(port: int, sql: str, database: str = "postgres") -> str:
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
        capture_output=True, text=True, check=True,
    )
    return result.stdout.strip()


def ensure_database(port: int, name: str) -> bool:
    """Create database ``name`` if it is missing; True when it was created."""
    if psql(port, f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1":
        return False
    psql(port, f'CREATE DATABASE "{name}"')
    log(f"created database {name}")
    return True


def drop_database(port: int, name: str) -> None:
    psql(port, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SystemServices:
    """The machine's own PostgreSQL and Redis, started when they are not answering."""

    def __init__(self, pg_port: int = 5432, redis_port: int = 6379):
        self.pg_port = pg_port
        self.redis_port = redis_port

    def ensure(self) -> None:
        if not port_open(self.pg_port):
            clusters = sorted(Path("/etc/postgresql").glob("*/main"))
            if not clusters:
                raise RuntimeError("no PostgreSQL cluster in /etc/postgresql; apt-get install postgresql")
            version = clusters[-1].parent.name
            log(f"starting PostgreSQL {version}/main")
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True)
            wait_for(lambda: port_open(self.pg_port), 30, "PostgreSQL")
        if not port_open(self.redis_port):
            log(f"starting Redis on 127.0.0.1:{self.redis_port}")
            subprocess.run(
                ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(self.redis_port),
                 "--save", "", "--appendonly", "no"],
                check=True, stdout=subprocess.DEVNULL,
            )
            wait_for(lambda: port_open(self.redis_port), 10, "Redis")


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb) on its own port, owned by the ``postgres`` user."""

    port: int = 5433
    datadir: Path = field(default_factory=lambda: Path("/tmp/sipas-bench-pg"))
    logfile: Path = field(default_factory=lambda: Path("/tmp/sipas-bench-pg.log"))

    def _as_postgres(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def init(self) -> None:
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        log(f"initdb {self.datadir}")
        subprocess.run(
            self._as_postgres(pg_bin("initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                              "--locale=C.UTF-8"),
            check=True, stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self.init()
        if port_open(self.port):
            return
        if not self.logfile.exists():
            self.logfile.touch()
        if os.geteuid() == 0:
            shutil.chown(self.logfile, "postgres", "postgres")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k /tmp -c max_connections=100"
        subprocess.run(
            self._as_postgres(pg_bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-o", options, "-w", "start"),
            check=True, stdout=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open(self.port), 30, "private PostgreSQL")

    def stop(self, mode: str = "fast") -> None:
        if not (self.datadir / "postmaster.pid").exists():
            return
        subprocess.run(
            self._as_postgres(pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"),
            check=False, stdout=subprocess.DEVNULL,
        )


@dataclass
class PrivateRedis:
    """A Redis on its own port, a child of this process."""

    port: int = 6380
    process: subprocess.Popen | None = None

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken; choose another with --redis-port")
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open(self.port), 10, "private Redis")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def production_environment(database_url: str, redis_url: str, secret_key: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SIPAS_ENV="production",
        DATABASE_URL=database_url,
        RATELIMIT_STORAGE_URI=redis_url,
        SECRET_KEY=secret_key or env.get("SECRET_KEY") or persistent_secret(),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def persistent_secret() -> str:
    """``SECRET_KEY`` for this machine's serve-prod: kept in instance/ so sessions survive restarts."""
    path = INSTANCE / "production-secret-key"
    if not path.exists():
        INSTANCE.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
        log(f"generated SECRET_KEY in {path.relative_to(ROOT)}")
    return path.read_text().strip()


def flask(env: dict[str, str], *args: str, quiet: bool = False) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", *args], env=env, cwd=ROOT, capture_output=True, text=True,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise RuntimeError(f"flask {' '.join(args)} failed")
    if not quiet:
        sys.stdout.write(result.stdout)
    return result.stdout


def prepare_database(env: dict[str, str], seed_responses: int = 2000, quiet: bool = False) -> None:
    flask(env, "db", "upgrade", quiet=True)
    flask(env, "sipas", "seed-demo", "--if-empty", "--responses", str(seed_responses), quiet=quiet)


def add_centres(env: dict[str, str], port: int, database: str, count: int, kiosk_share: float = 0.1) -> str:
    """Create ``count`` more centres with ``flask sipas import-centers``, spread over the demo
    province's communes (about a tenth on the kiosk form); returns the command's last line."""
    units = psql(port, "SELECT code FROM administrative_units WHERE level = 'commune' AND valid_to IS NULL ORDER BY code", database).split()
    if not units:
        raise RuntimeError("no current commune units to attach centres to")
    path = INSTANCE / "bench-centres.csv"
    INSTANCE.mkdir(exist_ok=True)
    every = round(1 / kiosk_share) if kiosk_share else 0
    lines = ["code,name_vi,name_en,unit_code,level,instrument"]
    for n in range(1, count + 1):
        instrument = "sipas-kiosk-2023@1" if every and n % every == 0 else ""
        lines.append(f"bench-{n:05d},Bộ phận một cửa thử tải {n},Load-test one-stop shop {n},{units[n % len(units)]},commune,{instrument}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = flask(env, "sipas", "import-centers", str(path), quiet=True)
    return output.strip().splitlines()[-1] if output.strip() else ""


class Gunicorn:
    """gunicorn with gunicorn.conf.py, as a child process whose output goes to ``logfile``."""

    def __init__(self, env: dict[str, str], bind: str, logfile: Path, workers: int | None = None, threads: int | None = None):
        self.env = dict(env)
        self.env["GUNICORN_BIND"] = bind
        if workers:
            self.env["GUNICORN_WORKERS"] = str(workers)
        if threads:
            self.env["GUNICORN_THREADS"] = str(threads)
        self.bind = bind
        self.logfile = logfile
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.bind}"

    def start(self, timeout: float = 60) -> None:
        host, port = self.bind.rsplit(":", 1)
        if port_open(int(port), host):
            raise RuntimeError(f"{self.bind} is taken; stop what listens there or choose another port")
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.logfile, "ab")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")],
            env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for(self.healthy, timeout, f"gunicorn on {self.bind}")
        wait_for(lambda: len(self.worker_pids()) >= self.expected_workers, timeout, f"{self.expected_workers} gunicorn workers")

    @cached_property
    def expected_workers(self) -> int:
        configured = self.env.get("GUNICORN_WORKERS") or self.env.get("WEB_CONCURRENCY")
        return int(configured) if configured else runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"]

    def healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.logfile}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def serve(args: argparse.Namespace) -> None:
    """``make serve-prod``: services, database, migrations, demo data, then gunicorn in the foreground."""
    SystemServices(args.pg_port, args.redis_port).ensure()
    ensure_database(args.pg_port, args.database)
    database_url = f"postgresql://postgres@127.0.0.1:{args.pg_port}/{args.database}"
    redis_url = f"redis://127.0.0.1:{args.redis_port}/0"
    env = production_environment(database_url, redis_url, SIPAS_BASE_URL=f"http://{args.bind}")
    prepare_database(env)
    env["GUNICORN_BIND"] = args.bind
    log(f"gunicorn -c gunicorn.conf.py on http://{args.bind} (database {args.database}, Redis {redis_url}); Ctrl-C stops it")
    os.chdir(ROOT)
    os.execve(str(VENV_BIN / "gunicorn"), [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")], env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load.stack")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start PostgreSQL and Redis if needed, migrate, seed if empty, run gunicorn")
    serve_parser.add_argument("--bind", default="127.0.0.1:8000")
    serve_parser.add_argument("--database", default="sipas")
    serve_parser.add_argument("--pg-port", type=int, default=5432)
    serve_parser.add_argument("--redis-port", type=int, default=6379)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)


if __name__ == "__main__":
    main()
