"""``/api/v1``: bearer-token JSON API."""

from __future__ import annotations

import json
from importlib.metadata import version

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from app.downloads import public_base_url
from app.errors import error_response
from app.extensions import db
from app.models import Field, ServiceCenter
from app.services.api_tokens import user_for_token
from app.services.links import LinkError, mint_dossier_link
from app.timeutil import now_utc

from app.api.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user = user_for_token(db.session, current_app.config, request.headers.get("Authorization"), now_utc())
    if user is None:
        return error_response(401, _("Sign-in required"), _("A valid bearer token is required."), {"WWW-Authenticate": "Bearer"})
    g.api_user = user
    return None


@bp.route("/openapi.json")
def openapi():
    return jsonify(openapi_document(version("sipas-platform")))


def _storable(text: str) -> bool:
    """PostgreSQL text takes neither NUL nor lone surrogates (which JSON can carry)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@bp.route("/dossier-links", methods=["POST"])
def dossier_links():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, _("Invalid request"), _("The body must be a JSON object."))
    unknown = set(body) - {"dossier_code", "center_code", "field_code"}
    strings = all(isinstance(body.get(k), str) for k in ("dossier_code", "center_code")) and isinstance(body.get("field_code"), (str, type(None)))
    if unknown or not strings:
        return error_response(422, _("Invalid request"), _("Expected dossier_code and center_code as text, and optionally field_code."))
    if not all(_storable(body.get(k) or "") for k in ("dossier_code", "center_code", "field_code")):
        return error_response(422, _("Invalid request"), _("The text holds characters that cannot be stored (NUL or invalid Unicode)."))
    center = db.session.scalars(select(ServiceCenter).filter_by(code=body["center_code"])).one_or_none()
    if center is None or not center.active:
        return error_response(404, _("Not found"), _("No active centre has this code."))
    if not g.api_user.can_manage(center):
        return error_response(403, _("Access denied"), _("Your account does not manage this centre."))
    field = None
    if body.get("field_code"):
        field = db.session.scalars(select(Field).filter_by(code=body["field_code"], active=True)).one_or_none()
        if field is None:
            return error_response(422, _("Invalid request"), _("No active field has this code."))
    try:
        minted = mint_dossier_link(db.session, current_app.config, body["dossier_code"], center, field, now_utc())
    except LinkError as error:
        db.session.rollback()
        if error.reason == "answered":
            return error_response(409, _("Already answered"), _("This dossier already has a response."))
        return error_response(422, _("Invalid request"), _("The dossier code must be 1 to 100 characters without spaces."))
    db.session.commit()
    return jsonify(
        {
            "url": f"{public_base_url()}/r/{minted.token}",
            "expires_at": minted.link.expires_at.isoformat(),
            "center_code": center.code,
            "field_code": field.code if field else None,
        }
    ), 201


# Analysis (issue 5) ----------------------------------------------------------------------------

ANALYST_ROLES = ("analyst", "admin")


def _visible_centres(user) -> tuple[str, ...] | None:
    """None: every centre (analysts, administrators); else the staff member's own."""
    return None if user.role in ANALYST_ROLES else tuple(sorted(c.code for c in user.centers))


@bp.route("/indices")
def indices():
    from app.services import api_indices, audit

    try:
        query = api_indices.parse_index_query(request.args, current_app.config["DEFAULT_INSTRUMENT"])
        document = api_indices.indices(
            db.session,
            query,
            minimum=int(current_app.config.get("SMALL_CELL_MINIMUM", 10)),
            reveal_small=g.api_user.role in ANALYST_ROLES,
            centers=_visible_centres(g.api_user),
        )
    except api_indices.ApiInputError as error:
        db.session.rollback()
        return error_response(422, _("Invalid request"), str(error))
    except PermissionError:
        db.session.rollback()
        return error_response(403, _("Access denied"), _("Your account does not manage this centre."))
    except LookupError:
        db.session.rollback()
        return error_response(404, _("Not found"), _("No responses match these parameters."))
    audit.record(db.session, g.api_user, "download", "api indices", **{k: v for k, v in request.args.items()})
    db.session.commit()
    # The CLI's column order, not jsonify's sorted keys.
    return current_app.response_class(json.dumps(document, ensure_ascii=False, allow_nan=False), mimetype="application/json")


@bp.route("/centers")
def centers():
    from app.services.api_indices import centers_list

    return jsonify({"centers": centers_list(db.session)})


@bp.route("/units")
def units():
    from app.services.api_indices import units_list

    return jsonify({"units": units_list(db.session)})


@bp.route("/fields")
def fields():
    from app.services.api_indices import fields_list

    return jsonify({"fields": fields_list(db.session)})


@bp.route("/responses")
def responses_export():
    from flask import Response, stream_with_context

    from app.services import api_indices, audit, reports

    if g.api_user.role not in ANALYST_ROLES:
        return error_response(403, _("Access denied"), _("Only analysts and administrators may export responses."))
    try:
        query = api_indices.parse_response_query(request.args)
    except api_indices.ApiInputError as error:
        return error_response(422, _("Invalid request"), str(error))
    audit.record(db.session, g.api_user, "download", "api responses", **{k: v for k, v in request.args.items()})
    db.session.commit()
    rows = reports.response_rows(
        db.session, query.since, query.until, instrument=query.instrument, center=query.center_code, exclude_flagged=query.exclude_flagged
    )
    response = Response(stream_with_context(reports.responses_csv_stream(rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="responses.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
