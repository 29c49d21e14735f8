"""Survey pages: ``/s/<center_code>`` and its thank-you page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.extensions import db
from app.i18n import current_language
from app.public.forms import build_survey_form
from app.services.centers import active_fields, find_open_center
from app.services.form_start import issue_start_token, read_start_token
from app.services.instruments import instrument_for_center
from app.services.submissions import submit_response
from app.timeutil import now_utc, today_in_vietnam

bp = Blueprint("public", __name__)


def _open_center_or_404(center_code: str):
    center = find_open_center(db.session, center_code, today_in_vietnam())
    if center is None:
        abort(404)
    return center


@bp.route("/s/<center_code>", methods=["GET", "POST"])
def survey(center_code: str):
    center = _open_center_or_404(center_code)
    instrument = instrument_for_center(center)
    fields = active_fields(db.session)
    language = current_language()
    form = build_survey_form(instrument, fields, language)
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
            submit_response(
                db.session,
                center=center,
                instrument=instrument,
                answers=form.answers(instrument),
                fields_by_code={f.code: f for f in fields},
                locale=language,
                started_at=started_at,
                submitted_at=now_utc(),
                min_plausible_seconds=current_app.config["MIN_PLAUSIBLE_SECONDS"],
            )
            db.session.commit()
            return redirect(url_for("public.thanks", center_code=center.code), code=303)

    if started_at is None:
        # Keep a valid start time across corrections so the completion time stays honest.
        form.started.data = issue_start_token(secret, center.code)
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "public/survey.html",
            center=center,
            instrument=instrument,
            form=form,
            form_errors=form_errors,
            language=language,
        ),
        status,
    )


@bp.route("/s/<center_code>/thanks")
def thanks(center_code: str):
    center = _open_center_or_404(center_code)
    return render_template("public/thanks.html", center=center, language=current_language())
