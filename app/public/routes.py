"""Survey pages: ``/s/<center_code>`` (QR posters), ``/r/<token>`` (one-time dossier links)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.errors import error_response
from app.extensions import db
from app.i18n import current_language
from app.public.forms import build_survey_form
from app.services.centers import active_fields, find_open_center
from app.services.form_start import issue_start_token, read_start_token
from app.services.instruments import instrument_for_center
from app.services.links import LinkError, consume_dossier_link, find_dossier_link, read_poster_token
from app.services.submissions import submit_response
from app.timeutil import now_utc, today_in_vietnam

bp = Blueprint("public", __name__)


def _open_center_or_404(center_code: str):
    center = find_open_center(db.session, center_code, today_in_vietnam())
    if center is None:
        abort(404)
    return center


def _link_problem(reason: str):
    messages = {
        "invalid": (400, _("Invalid QR code"), _("This QR code is not valid. Please scan the QR code on the centre's poster again.")),
        "revoked": (410, _("This QR code has been replaced"), _("This QR code is no longer in use. Please scan the new QR code at the counter.")),
        "unknown": (404, _("Link not found"), _("This survey link does not exist. Please check the link on your appointment slip or message.")),
        "expired": (410, _("This link has expired"), _("This survey link has expired. Thank you for your interest.")),
        "answered": (409, _("Already answered"), _("This survey has already been answered for this dossier. Thank you!")),
    }
    status, title, message = messages[reason]
    return error_response(status, title, message)


def _survey_page(center, *, poster_origin=None, dossier_link=None):
    instrument = instrument_for_center(center)
    fields = active_fields(db.session)
    language = current_language()
    fixed = {"field_code": dossier_link.field.code} if dossier_link and dossier_link.field else {}
    form = build_survey_form(instrument, fields, language, fixed=fixed)
    secret = current_app.config["SECRET_KEY"]
    form_errors: list[str] = []
    started_at = None

    if request.method == "POST":
        started_at = read_start_token(
            secret, form.started.data or "", center.code, current_app.config["FORM_MAX_AGE_SECONDS"]
        )
        unknown = form.unknown_fields(request.form.keys())
        if unknown:
            form_errors.append(_("The form contains questions that do not belong to this survey: %(codes)s.", codes=", ".join(unknown[:5])))
        if g.get("undecodable_fields"):
            form_errors.append(_("The text contains characters that could not be read. Please type it again."))
        if started_at is None:
            form_errors.append(_("This form has expired or is not valid. Please check your answers and send them again."))
        if form.validate() and not form_errors:
            now = now_utc()
            stored = submit_response(
                db.session,
                center=center,
                instrument=instrument,
                answers={**form.answers(instrument), **fixed},
                fields_by_code={f.code: f for f in fields},
                locale=language,
                started_at=started_at,
                submitted_at=now,
                min_plausible_seconds=current_app.config["MIN_PLAUSIBLE_SECONDS"],
                poster_id=poster_origin.poster_id if poster_origin else None,
                counter_id=poster_origin.counter_id if poster_origin else None,
            )
            if dossier_link is not None:
                try:
                    consume_dossier_link(db.session, dossier_link, stored.id, now)
                except LinkError as error:
                    db.session.rollback()
                    return _link_problem(error.reason)
            db.session.commit()
            return redirect(url_for("public.thanks", center_code=center.code), code=303)

    if started_at is None:
        # Keep a valid start time across corrections so the completion time stays honest.
        form.started.data = issue_start_token(secret, center.code)
    status = 422 if request.method == "POST" else 200
    html = render_template(
        "public/survey.html",
        center=center,
        instrument=instrument,
        form=form,
        form_errors=form_errors,
        language=language,
        fixed_field=dossier_link.field if dossier_link and dossier_link.field else None,
    )
    return html, status


@bp.route("/s/<center_code>", methods=["GET", "POST"])
def survey(center_code: str):
    center = _open_center_or_404(center_code)
    origin = None
    token = request.args.get("t")
    if token is not None:
        try:
            origin = read_poster_token(db.session, current_app.config, token, center)
        except LinkError as error:
            return _link_problem(error.reason)
    return _survey_page(center, poster_origin=origin)


@bp.route("/r/<token>", methods=["GET", "POST"])
def dossier_survey(token: str):
    try:
        link = find_dossier_link(db.session, current_app.config, token, now_utc())
    except LinkError as error:
        return _link_problem(error.reason)
    center = _open_center_or_404(link.center.code)
    return _survey_page(center, dossier_link=link)


@bp.route("/s/<center_code>/thanks")
def thanks(center_code: str):
    center = _open_center_or_404(center_code)
    return render_template("public/thanks.html", center=center, language=current_language())
