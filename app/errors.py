"""Error pages in the visitor's language with the right status code; never a bare 500."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from app.extensions import db, limiter

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz"))


def error_response(status: int, title: str, message: str, headers: dict | None = None):
    if _wants_json():
        body = jsonify({"error": {"status": status, "message": message, "request_id": g.get("request_id")}})
        return body, status, headers or {}
    html = render_template("errors/error.html", status=status, title=title, message=message)
    return html, status, headers or {}


def _http_messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Invalid request"), _("The request could not be understood. Please try again.")),
        401: (_("Sign-in required"), _("Please sign in to continue.")),
        403: (_("Access denied"), _("Your account does not have access to this page.")),
        404: (
            _("Page not found"),
            _("This address does not exist or the survey point is no longer active. Please check the QR code."),
        ),
        405: (_("Action not supported"), _("This page does not support that action.")),
        413: (_("Too much content"), _("What was sent is too large. Please shorten your comment and send it again.")),
        429: (_("Too many requests"), _("Too many submissions in a short time. Please try again in a few minutes.")),
    }


def _rate_limit_retry_after() -> dict[str, str]:
    """``Retry-After`` for a request Flask-Limiter refused (the login's limit; the survey's own
    limits put theirs on the refusal): when the breached limit's window ends.

    Flask-Limiter's own headers are off (``RATELIMIT_HEADERS_ENABLED``): they cost two storage
    round trips on every limited request, refused or not, to tell a phone's browser what it
    ignores. Only a refusal reads the window, here.
    """
    breached = limiter.current_limit
    if breached is None or not breached.breached:
        return {}
    try:
        reset_at = breached.reset_at
    except Exception:  # the storage went away meanwhile: the refusal stands without the header
        log.warning("rate limit storage unreachable while reading the window of a refused request")
        return {}
    return {"Retry-After": str(max(1, int(reset_at - time.time())))}


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(
            400,
            _("Your session has expired"),
            _("The page was open too long or is no longer valid. Please reload the page and send your answers again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        title, message = _http_messages().get(
            status, (_("Something went wrong"), _("The request could not be completed. Please try again."))
        )
        headers = {k: v for k, v in error.get_headers() if k.lower() == "retry-after"}
        if status == 429 and not headers:
            headers = _rate_limit_retry_after()
        return error_response(status, title, message, headers)

    @app.errorhandler(DBAPIError)
    def database_unavailable(error):
        db.session.rollback()
        log.warning("database error (request %s): %s", g.get("request_id"), error.__class__.__name__)
        return error_response(
            503,
            _("The service is temporarily unavailable"),
            _("The system is busy or under maintenance. If you were sending answers, they have not been recorded yet; please try again in a few minutes."),
            {"Retry-After": "30"},
        )

    @app.errorhandler(Exception)
    def unexpected_error(error):
        db.session.rollback()
        log.exception("unhandled error (request %s)", g.get("request_id"))
        return error_response(
            500, _("Something went wrong"), _("An unexpected error occurred. Please try again later.")
        )
