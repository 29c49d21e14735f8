"""Detect form fields whose bytes are not valid UTF-8.

Werkzeug keeps undecodable percent-escapes in url-encoded forms as literal text ("%E1"), which
would be stored as if the citizen had typed it. The raw body is checked before anything parses
the form; the survey view then refuses the submission with a message.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, g, request


def undecodable_fields(body: bytes) -> list[str]:
    try:
        # The usual case in one pass: a body that decodes whole decodes in every name and value,
        # since "&" and "=" are ASCII and an ASCII byte is never part of a multi-byte character.
        unquote_to_bytes(body.replace(b"+", b" ")).decode("utf-8")
        return []
    except UnicodeDecodeError:
        pass
    names = []
    for pair in body.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            names.append(unquote_to_bytes(name).decode("utf-8", "replace"))
    return names


def init_app(app: Flask) -> None:
    """Register before CSRF protection, which parses the form."""

    @app.before_request
    def check_form_encoding():
        g.undecodable_fields = []
        if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            limit = app.config.get("MAX_CONTENT_LENGTH")
            if limit is None or (request.content_length or 0) <= limit:
                g.undecodable_fields = undecodable_fields(request.get_data(cache=True))
