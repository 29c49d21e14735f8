"""Helpers shared by the blueprints that hand out files and links."""

from __future__ import annotations

from flask import Response, current_app, request


def public_base_url() -> str:
    """The address printed on posters: PUBLIC_BASE_URL (SIPAS_BASE_URL) or this request's host."""
    return current_app.config.get("PUBLIC_BASE_URL") or request.url_root.rstrip("/")


def attachment(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
