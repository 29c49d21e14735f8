"""gunicorn.conf.py: what production serving relies on and no app test sees."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

from gunicorn.glogging import Logger

ROOT = Path(__file__).resolve().parent.parent


def test_app_log_lines_look_like_gunicorns_own():
    """The app's lines (the limiter's fallback, database errors) sit in the error log between
    gunicorn's own: they carry the same timestamp, pid and level prefix, then the logger's name."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    plain = settings["APP_LOGGING"]["formatters"]["plain"]
    record = logging.LogRecord("app.survey_limits", logging.WARNING, __file__, 1, "Rate limit storage unreachable", None, None)
    app_line = logging.Formatter(plain["format"], plain.get("datefmt")).format(record)
    gunicorn_line = logging.Formatter(Logger.error_fmt, Logger.datefmt).format(record)
    prefix = gunicorn_line[: gunicorn_line.index("[WARNING] ") + len("[WARNING] ")]
    assert app_line == prefix + "app.survey_limits: Rate limit storage unreachable"
