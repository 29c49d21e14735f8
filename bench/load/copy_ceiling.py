"""The ceiling: the rows the app stored, inserted straight into PostgreSQL with ``COPY``.

Reads the responses stored since a moment (with their answers, linkage and flags), gives them
fresh ids, uids and device hashes, repeats them up to ``--responses``, and times one transaction
that COPYs them into the same tables, with the same indexes and constraints, as the app writes
(commit included). Preparing the COPY text is not timed: this is what PostgreSQL alone can take.
The copied rows are deleted afterwards.

    .venv/bin/python -m bench.load.copy_ceiling --dsn postgresql://postgres@127.0.0.1:5432/sipas_bench
"""

from __future__ import annotations

import argparse
import io
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg


def _field(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _line(values) -> str:
    return "\t".join(_field(v) for v in values) + "\n"


RESPONSE_COLUMNS = ("id", "uid", "center_id", "instrument_version_id", "field_id", "channel", "locale", "source",
                    "started_at", "submitted_at", "counter_id", "poster_id")
ANSWER_COLUMNS = ("response_id", "question_code", "value", "text")
LINKAGE_COLUMNS = ("response_id", "center_id", "day", "via", "device_hash", "network_hash", "created_at")
FLAG_COLUMNS = ("response_id", "code", "reason")


@dataclass(frozen=True)
class CopyResult:
    responses: int
    answers: int
    linkage: int
    flags: int
    seconds: float

    @property
    def responses_per_second(self) -> float:
        return self.responses / self.seconds

    @property
    def rows_per_second(self) -> float:
        return (self.responses + self.answers + self.linkage + self.flags) / self.seconds


def copy_ceiling(dsn: str, since: datetime, target: int = 20_000, keep: bool = False) -> CopyResult:
    with psycopg.connect(dsn, autocommit=True) as conn:
        sample = conn.execute(
            f"SELECT {', '.join(RESPONSE_COLUMNS)} FROM responses WHERE source = 'survey' AND submitted_at >= %s ORDER BY id",
            (since,),
        ).fetchall()
        if not sample:
            raise RuntimeError("no stored survey responses to copy")
        ids = [row[0] for row in sample]
        answers: dict[int, list[tuple]] = {}
        for row in conn.execute(f"SELECT {', '.join(ANSWER_COLUMNS)} FROM answers WHERE response_id = ANY(%s)", (ids,)):
            answers.setdefault(row[0], []).append(row)
        linkage = {row[0]: row for row in conn.execute(
            f"SELECT {', '.join(LINKAGE_COLUMNS)} FROM response_linkage WHERE response_id = ANY(%s)", (ids,))}
        flags: dict[int, list[tuple]] = {}
        for row in conn.execute(f"SELECT {', '.join(FLAG_COLUMNS)} FROM response_flags WHERE response_id = ANY(%s)", (ids,)):
            flags.setdefault(row[0], []).append(row)

        sequence = conn.execute("SELECT pg_get_serial_sequence('responses', 'id')").fetchone()[0]
        first = conn.execute(f"SELECT nextval('{sequence}')").fetchone()[0]
        conn.execute(f"SELECT setval('{sequence}', %s)", (first + target,))

        buffers = {name: io.StringIO() for name in ("responses", "answers", "linkage", "flags")}
        counts = dict.fromkeys(buffers, 0)
        # A day earlier than the originals: the copies stay out of the app's recent-window query.
        shift = -timedelta(days=1)
        for n in range(target):
            original = sample[n % len(sample)]
            new_id = first + n
            row = list(original)
            row[0], row[1] = new_id, str(uuid.uuid4())
            row[8] = row[8] + shift if row[8] else None
            row[9] = row[9] + shift
            buffers["responses"].write(_line(row))
            counts["responses"] += 1
            for answer in answers.get(original[0], ()):
                buffers["answers"].write(_line((new_id, *answer[1:])))
                counts["answers"] += 1
            link = linkage.get(original[0])
            if link is not None:
                buffers["linkage"].write(_line((new_id, link[1], link[2] + shift, link[3], secrets.token_hex(32), link[5], link[6] + shift)))
                counts["linkage"] += 1
            for flag in flags.get(original[0], ()):
                buffers["flags"].write(_line((new_id, *flag[1:])))
                counts["flags"] += 1

    tables = {
        "responses": ("responses", RESPONSE_COLUMNS),
        "answers": ("answers", ANSWER_COLUMNS),
        "linkage": ("response_linkage", LINKAGE_COLUMNS),
        "flags": ("response_flags", FLAG_COLUMNS),
    }
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        with conn.cursor() as cursor:
            for name, (table, columns) in tables.items():
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(buffers[name].getvalue())
        conn.commit()
        seconds = time.perf_counter() - start
        if not keep:
            conn.execute("DELETE FROM responses WHERE id BETWEEN %s AND %s", (first, first + target - 1))
            conn.commit()
    return CopyResult(counts["responses"], counts["answers"], counts["linkage"], counts["flags"], seconds)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load.copy_ceiling")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--since-hours", type=float, default=3.0, help="copy the survey responses stored in this many hours")
    parser.add_argument("--responses", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the copied rows (e.g. to measure sizes and queries)")
    args = parser.parse_args()
    since = datetime.now(timezone.utc) - timedelta(hours=args.since_hours)
    result = copy_ceiling(args.dsn, since, args.responses, keep=args.keep)
    print(f"COPY: {result.responses} responses ({result.answers} answers, {result.linkage} linkage, {result.flags} flags) "
          f"in {result.seconds:.2f} s = {result.responses_per_second:,.0f} responses/s, {result.rows_per_second:,.0f} rows/s")


if __name__ == "__main__":
    main()
