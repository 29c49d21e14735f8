"""What the load and fault scripts read from PostgreSQL: centres, fields, and what was stored."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg

from bench.load.phones import MARKER, Centre


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=5)


def open_centres(dsn: str, default_instrument: str = "sipas-dvhcc-2023@1") -> list[Centre]:
    """Active centres valid today, each with a loopback address for its Wi-Fi (127.10.x.y)."""
    with connect(dsn) as conn:
        rows = conn.execute(
            "SELECT code, instrument_key FROM service_centers WHERE active AND valid_from <= current_date "
            "AND (valid_to IS NULL OR valid_to >= current_date) ORDER BY id"
        ).fetchall()
    return [
        Centre(code, instrument or default_instrument, f"127.10.{(i + 1) >> 8}.{(i + 1) & 255}")
        for i, (code, instrument) in enumerate(rows)
    ]


def active_fields(dsn: str) -> list[str]:
    with connect(dsn) as conn:
        return [code for (code,) in conn.execute("SELECT code FROM fields WHERE active ORDER BY code")]


def utc_now(dsn: str) -> datetime:
    with connect(dsn) as conn:
        return conn.execute("SELECT now()").fetchone()[0].astimezone(timezone.utc)


def stored_since(dsn: str, since: datetime) -> int:
    """Survey responses stored since ``since`` (the bench database receives nothing else)."""
    with connect(dsn) as conn:
        return conn.execute(
            "SELECT count(*) FROM responses WHERE source = 'survey' AND submitted_at >= %s", (since,)
        ).fetchone()[0]


def stored_markers(dsn: str, run_id: str) -> set[int]:
    """Sequence numbers of the marked submissions of ``run_id`` found in the database."""
    with connect(dsn) as conn:
        rows = conn.execute(
            "SELECT text FROM answers WHERE question_code = 'YK' AND text LIKE %s", (f"%[bench {run_id} #%",)
        ).fetchall()
    found = set()
    for (text,) in rows:
        match = MARKER.search(text)
        if match and match.group(1) == run_id:
            found.add(int(match.group(2)))
    return found


def server_settings(dsn: str) -> dict[str, str]:
    with connect(dsn) as conn:
        names = ("server_version", "max_connections", "shared_buffers", "synchronous_commit", "fsync")
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}
