"""Engine-level settings that must hold on every connection."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    # SQLite enforces foreign keys only when asked, per connection.
    module = type(dbapi_connection).__module__
    if module.startswith(("sqlite3", "pysqlite")):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def init_app(app: Flask) -> None:
    """Pass ``POSTGRES_OPTIONS`` (server settings, ``-c name=value ...``) to every PostgreSQL
    connection, in the start-up packet (libpq's ``options``: no statement, no round trip).
    Before ``db.init_app``. Options the deployment already gives (the engine's ``connect_args``
    or the database URL's ``?options=``) follow ours, so that theirs win."""
    options = (app.config.get("POSTGRES_OPTIONS") or "").strip()
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if not options or url.get_backend_name() != "postgresql":
        return
    engine_options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(engine_options.get("connect_args") or {})
    theirs = connect_args.get("options") or url.query.get("options") or ""
    connect_args["options"] = f"{options} {theirs}".strip()
    engine_options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
