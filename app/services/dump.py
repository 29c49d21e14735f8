"""Moving the whole database between SQLite and PostgreSQL as JSON Lines.

The first line describes the dump (format, migration revision, tables); every other line is one
row: ``{"table": …, "row": {…}}``, tables in dependency order, rows in primary-key order. Dates
and times are ISO 8601 (times in UTC with their offset). Restoring needs an empty database
migrated to the same revision, and happens in one transaction: a broken dump changes nothing.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import IO, Iterator

from sqlalchemy import Boolean, Date, DateTime, func, insert, select, text
from sqlalchemy.orm import Session

from app.models import Base

FORMAT = "sipas-dump"
VERSION = 1
BATCH = 1000


class DumpError(ValueError):
    """A dump that cannot be restored here, with the line it failed on."""


def _tables():
    return [t for t in Base.metadata.sorted_tables]


def _revision(session: Session) -> str | None:
    try:
        return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - no alembic table: not a migrated database
        session.rollback()
        return None


def _encode(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def dump_lines(session: Session) -> Iterator[str]:
    """The dump, line by line, read in chunks so memory stays flat."""
    tables = _tables()
    yield json.dumps({"format": FORMAT, "version": VERSION, "revision": _revision(session), "tables": [t.name for t in tables]})
    for table in tables:
        order = list(table.primary_key.columns)
        offset = 0
        while True:
            rows = session.execute(select(table).order_by(*order).limit(BATCH).offset(offset)).mappings().all()
            if not rows:
                break
            for row in rows:
                yield json.dumps({"table": table.name, "row": {k: _encode(v) for k, v in row.items()}}, ensure_ascii=False)
            offset += BATCH


def _decoder(table):
    converters = {}
    for column in table.columns:
        if isinstance(column.type, DateTime) or getattr(column.type, "impl", None).__class__ is DateTime:
            converters[column.name] = lambda v: datetime.fromisoformat(v) if v is not None else None
        elif isinstance(column.type, Date):
            converters[column.name] = lambda v: date.fromisoformat(v) if v is not None else None
        elif isinstance(column.type, Boolean):
            converters[column.name] = lambda v: bool(v) if v is not None else None
    names = {c.name for c in table.columns}

    def decode(row: dict, line: int) -> dict:
        unknown = set(row) - names
        if unknown:
            raise DumpError(f"line {line}: unknown columns {', '.join(sorted(unknown))} in {table.name}")
        try:
            return {k: converters[k](v) if k in converters else v for k, v in row.items()}
        except (TypeError, ValueError) as error:
            raise DumpError(f"line {line}: bad value in {table.name}: {error}") from None

    return decode


def restore_lines(session: Session, lines: IO[str]) -> dict[str, int]:
    """Load a dump into an empty database; flushes, never commits. Returns rows per table."""
    tables = {t.name: t for t in _tables()}
    header_line = lines.readline()
    try:
        header = json.loads(header_line)
    except json.JSONDecodeError:
        raise DumpError("line 1: not a SIPAS dump") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise DumpError("line 1: not a SIPAS dump of a version this platform reads")
    if header.get("revision") != _revision(session):
        raise DumpError(
            f"line 1: the dump is at migration {header.get('revision')}, this database at {_revision(session)}; "
            "run `flask db upgrade` on both first"
        )
    for table in tables.values():
        if session.scalar(select(func.count()).select_from(table)):
            raise DumpError(f"the database is not empty (table {table.name} has rows)")
    counts = {name: 0 for name in tables}
    decoders = {name: _decoder(table) for name, table in tables.items()}
    pending: list[dict] = []
    current = None
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            name, row = record["table"], record["row"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise DumpError(f"line {number}: not a dump record") from None
        if name not in tables or not isinstance(row, dict):
            raise DumpError(f"line {number}: unknown table {name!r}")
        if name != current or len(pending) >= BATCH:
            _flush(session, tables, current, pending)
            pending, current = [], name
        pending.append(decoders[name](row, number))
        counts[name] += 1
    _flush(session, tables, current, pending)
    _reset_sequences(session)
    return counts


def _flush(session: Session, tables, name, rows) -> None:
    if name and rows:
        session.execute(insert(tables[name]), rows)


def _reset_sequences(session: Session) -> None:
    """Rows came with their ids; PostgreSQL's sequences must continue after them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in _tables():
        columns = [c for c in table.primary_key.columns if c.autoincrement is True or (c.autoincrement == "auto" and len(table.primary_key.columns) == 1 and not c.foreign_keys)]
        for column in columns:
            sequence = session.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}).scalar()
            if sequence:
                session.execute(
                    text(f"SELECT setval(:s, COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"),
                    {"s": sequence},
                )
