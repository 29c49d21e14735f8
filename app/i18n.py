"""Language choice and number/date formatting for people.

Vietnamese is the default. ``?lang=en`` switches to English and the choice is remembered in the
session, so every later page of the visit stays in that language.
"""

from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _

from app.extensions import babel


def select_locale() -> str:
    supported = current_app.config["SUPPORTED_LOCALES"]
    requested = request.args.get("lang", "") if request else ""
    if requested in supported:
        session["lang"] = requested
        session.permanent = True
        return requested
    remembered = session.get("lang") if request else None
    if remembered in supported:
        return remembered
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    return str(get_locale() or "vi")


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.add_extension("jinja2.ext.i18n")

    @app.context_processor
    def language_context():
        return {"current_language": current_language}

    # Numbers and dates for people go through Babel: 1.234 and 27/11/2026 in Vietnamese.
    app.jinja_env.filters["number"] = lambda value: format_decimal(value)
    app.jinja_env.filters["day"] = lambda value: format_date(value, "dd/MM/yyyy")
    app.jinja_env.filters["moment"] = lambda value: format_datetime(value, "dd/MM/yyyy HH:mm:ss")
    app.jinja_env.filters["count_row"] = lambda row: (format_date(row[0], "dd/MM/yyyy"), format_decimal(row[1]))
    app.jinja_env.filters["count_pair"] = lambda row: (row[0], format_decimal(row[1]))
    app.jinja_env.filters["import_action"] = import_action_label


def import_action_label(action: str) -> str:
    labels = {
        "created": _("created"),
        "updated": _("updated"),
        "unchanged": _("unchanged"),
        "rejected": _("rejected"),
    }
    return labels.get(action, action)
