"""Survey pages: ``/s/<center_code>`` (QR posters), ``/r/<token>`` (one-time dossier links).

Layers against stuffing, in order: rate limits per device, per centre and per network
(counted on accepted submissions); a CSRF token and a signed start time; a honeypot field; a
hard minimum completion time; one response per device per centre per day on the poster link
(a database constraint), one per dossier on ``/r/``; and quality flags on what gets through.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from functools import partial, wraps

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import generate_csrf
from markupsafe import escape
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import TooManyRequests

from app.errors import error_response
from app.extensions import db, limiter
from app.i18n import current_language
from app.limiter_hooks import skip_limiter_hooks
from app.public.forms import build_survey_form
from app.services.form_start import issue_start_token, read_start_token
from app.services.instruments import instrument_for_center
from app.services.linkage import DEVICE_COOKIE, device_hash, network_hash
from app.services.links import LinkError, consume_dossier_link, find_dossier_link, read_poster_token
from app.services.quality import rules_from_config
from app.services.submissions import Linkage, submit_response
from app.services.survey_lookups import SurveyLookups
from app.survey_limits import Refused, survey_limits
from app.survey_limits import windows as survey_windows
from app.timeutil import now_utc, today_in_vietnam

bp = Blueprint("public", __name__)


@bp.record_once
def _set_up(state) -> None:
    state.app.extensions["survey_lookups"] = SurveyLookups(state.app.config["SURVEY_LOOKUP_SECONDS"])
    skip_limiter_hooks(state.app, limiter, _survey_request)


def _lookups() -> SurveyLookups:
    return current_app.extensions["survey_lookups"]


def _is_page_view() -> bool:
    return request.method in ("GET", "HEAD")


def _device_id() -> str:
    """This phone's first-party cookie, created on its first visit."""
    device = request.cookies.get(DEVICE_COOKIE, "")
    if not (16 <= len(device) <= 64) or not device.replace("-", "").replace("_", "").isalnum():
        device = g.get("new_device") or secrets.token_urlsafe(16)
        g.new_device = device
    return device


@bp.after_request
def remember_device(response):
    if g.get("new_device"):
        response.set_cookie(
            DEVICE_COOKIE,
            g.new_device,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return response


def _device_limit_key() -> str:
    return f"device:{_device_id()}"


def _center_limit_key() -> str:
    return f"center:{(request.view_args or {}).get('center_code', '')}"


def _accepted(response) -> bool:
    return response.status_code == 303


def _open_center_or_404(center_code: str):
    """The open centre, as the worker remembers it (a submission's insert checks it again)."""
    center = _lookups().open_center(_lookup_session, center_code, today_in_vietnam())
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
        "device_today": (409, _("Already answered today"), _("You have already rated this centre today. Thank you!")),
    }
    status, title, message = messages[reason]
    return error_response(status, title, message)


def _survey_page(center, *, poster_origin=None, dossier_link=None):
    config = current_app.config
    instrument = instrument_for_center(center)
    language = current_language()
    fixed = {"field_code": dossier_link.field.code} if dossier_link and dossier_link.field else {}
    fixed_field = dossier_link.field if dossier_link and dossier_link.field else None
    fields = _lookups().active_fields(_lookup_session)
    if _is_page_view():
        _device_id()  # a phone's first visit gets its cookie
        page = _blank_survey(center, instrument, language, fixed_field, fields, lambda: build_survey_form(instrument, fields, language, fixed=fixed))
        return page, 200
    form = build_survey_form(instrument, fields, language, fixed=fixed)
    secret = config["SECRET_KEY"]
    form_errors: list[str] = []
    started_at = None

    if request.method == "POST":
        started_at = read_start_token(secret, form.started.data or "", center.code, config["FORM_MAX_AGE_SECONDS"])
        unknown = form.unknown_fields(request.form.keys())
        if unknown:
            form_errors.append(_("The form contains questions that do not belong to this survey: %(codes)s.", codes=", ".join(unknown[:5])))
        if g.get("undecodable_fields"):
            form_errors.append(_("The text contains characters that could not be read. Please type it again."))
        if started_at is None:
            form_errors.append(_("This form has expired or is not valid. Please check your answers and send them again."))
        if form.validate() and not form_errors:
            now = now_utc()
            answers = {**form.answers(instrument), **fixed}
            if form.website.data:
                # The honeypot: people never see this field, programs fill it in. Thank them, store nothing.
                return redirect(url_for("public.thanks", center_code=center.code), code=303)
            answered = sum(len(v) if isinstance(v, list) else 1 for v in answers.values())
            hard_minimum = config["SUBMIT_HARD_MIN_BASE"] + config["SUBMIT_HARD_MIN_PER_ANSWER"] * answered
            if (now - started_at).total_seconds() < hard_minimum:
                form_errors.append(_("You answered very quickly. Please check your answers, then send them again."))
            else:
                return _store(center, instrument, fields, answers, language, started_at, now, _device_id(), poster_origin, dossier_link)

    if started_at is None:
        # Keep a valid start time across corrections so the completion time stays honest.
        form.started.data = issue_start_token(secret, center.code)
    html = render_template(
        "public/survey.html",
        center=center,
        instrument=instrument,
        form=form,
        form_errors=form_errors,
        language=language,
        fixed_field=fixed_field,
    )
    return html, 422


# The blank form is the same page for every phone and every centre that fields the same
# instrument, but for the centre's name and the phone's two tokens: it is rendered once per
# instrument, language and list of fields, and those three are put in. It is kept as UTF-8
# pieces between the three marks, so a page view joins bytes instead of replacing and encoding
# 26 KB of text.
_CSRF_MARK = "\x00csrf\x00"
_STARTED_MARK = "\x00started\x00"
_CENTER_MARK = "\x00center\x00"
_MARKS = re.compile("(" + "|".join((_CSRF_MARK, _STARTED_MARK, _CENTER_MARK)) + ")")
_BLANK_PAGES: OrderedDict[tuple, list[bytes | str]] = OrderedDict()
_BLANK_PAGES_SIZE = 256


class _AnyCenter:
    """Stands for the centre while the shared page is rendered (the page shows only its name)."""

    @staticmethod
    def name(language: str) -> str:
        return _CENTER_MARK


def _blank_survey(center, instrument, language, fixed_field, fields, make_form) -> bytes:
    key = (
        instrument.key, language,
        (fixed_field.code, fixed_field.name(language)) if fixed_field else None,
        tuple((f.code, f.name(language)) for f in fields),
    )
    pieces = _BLANK_PAGES.get(key)
    if pieces is None:
        form = make_form()
        form.started.data = _STARTED_MARK
        page = render_template(
            "public/survey.html", center=_AnyCenter, instrument=instrument, form=form, form_errors=[],
            language=language, fixed_field=fixed_field, csrf_value=_CSRF_MARK,
        )
        # Text between the marks as bytes, the marks themselves as str.
        pieces = [part if index % 2 else part.encode() for index, part in enumerate(_MARKS.split(page))]
        _BLANK_PAGES[key] = pieces
        if len(_BLANK_PAGES) > _BLANK_PAGES_SIZE:
            _BLANK_PAGES.popitem(last=False)
    else:
        _BLANK_PAGES.move_to_end(key)
    values = {
        _CSRF_MARK: generate_csrf().encode(),
        _STARTED_MARK: issue_start_token(current_app.config["SECRET_KEY"], center.code).encode(),
        _CENTER_MARK: str(escape(center.name(language))).encode(),
    }
    return b"".join(values[piece] if isinstance(piece, str) else piece for piece in pieces)


def _store(center, instrument, fields, answers, language, started_at, now, device, poster_origin, dossier_link):
    config = current_app.config
    center_code = center.code  # read before the commit expires the centre
    day = today_in_vietnam()
    linkage = Linkage(
        via="dossier" if dossier_link is not None else "poster",
        day=day,
        device_hash=device_hash(config, device, day),
        network_hash=network_hash(config, request.remote_addr, day),
    )
    try:
        stored = submit_response(
            db.session,
            center=center,
            instrument=instrument,
            answers=answers,
            fields_by_code={f.code: f for f in fields},
            locale=language,
            started_at=started_at,
            submitted_at=now,
            rules=rules_from_config(config),
            linkage=linkage,
            poster_id=poster_origin.poster_id if poster_origin else None,
            counter_id=poster_origin.counter_id if poster_origin else None,
            open_on=day,
        )
        if stored is None:
            db.session.rollback()
            raise _Changed
        if dossier_link is not None:
            consume_dossier_link(db.session, dossier_link, stored.id, now)
        db.session.commit()
    except LinkError as error:
        db.session.rollback()
        return _link_problem(error.reason)
    except IntegrityError:
        # The only constraint a valid submission can break: this device answered here today.
        db.session.rollback()
        return _link_problem("device_today")
    return redirect(url_for("public.thanks", center_code=center_code), code=303)


@limiter.request_filter
def _survey_request() -> bool:
    """No Flask-Limiter limit applies to the survey (its limits are ``app.survey_limits``'), so
    its requests skip Flask-Limiter, its request hooks included (``skip_limiter_hooks``)."""
    return request.blueprint == bp.name


def _survey_limits(view):
    """Test the survey's limits before a submission, and count them once it is accepted."""

    @wraps(view)
    def limited(**kwargs):
        config = current_app.config
        windows = survey_windows([
            (config["SURVEY_LIMIT_DEVICE"], _device_limit_key(), "survey_limit_device"),
            (config["SURVEY_LIMIT_CENTER"], _center_limit_key(), "survey_limit_center"),
            (config["SURVEY_LIMIT_NETWORK"], get_remote_address(), "survey_limit_network"),
        ])
        limits = survey_limits()
        try:
            limits.check(windows)
        except Refused as refused:
            raise TooManyRequests(retry_after=refused.retry_after) from None
        response = current_app.make_response(view(**kwargs))
        if _accepted(response):
            limits.count(windows)
        return response

    return limited


class _Changed(Exception):
    """The centre, field or poster a submission took from the worker's memory changed since."""


def _submission(view):
    """Run a submission. Its centre, field and poster come from the worker's memory, and its
    insert checks them again (``submit_response``'s ``open_on``). If one changed meanwhile the
    memory is dropped and the submission runs again on what the database says: a closed
    centre's 404, a withdrawn field's correction, a revoked poster's 410, or, if nothing is
    wrong any more, the stored response."""
    try:
        return view()
    except _Changed:
        _lookups().forget()
    try:
        return view()
    except _Changed:  # changed again between the two reads of one submission
        return error_response(
            409,
            _("The survey has changed"),
            _("This survey point changed while your answers were being sent. Please reload the page and send them again."),
        )


def _lookup_session():
    """The session for what the survey reads from the database (what the worker does not
    remember, a dossier link): a page view's without a transaction, a submission's own."""
    return _page_view_session() if _is_page_view() else db.session


def _page_view_session():
    """The session for what a page view must read (what ``_lookups`` does not remember, a
    dossier link): its statements run without a transaction, which spares the BEGIN and ROLLBACK
    round trips. Only asked for when needed, so a remembered page view checks out no connection."""
    if not g.get("page_view_connection"):
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        g.page_view_connection = True
    return db.session


def _poster_survey(center_code: str):
    center = _open_center_or_404(center_code)
    origin = None
    token = request.args.get("t")
    if token is not None:
        try:
            origin = read_poster_token(partial(_lookups().poster, _lookup_session), current_app.config, token, center)
        except LinkError as error:
            return _link_problem(error.reason)
    return _survey_page(center, poster_origin=origin)


def _dossier_survey(token: str):
    session = _lookup_session()
    try:
        link = find_dossier_link(session, current_app.config, token, now_utc())
    except LinkError as error:
        return _link_problem(error.reason)
    center = _open_center_or_404(link.center.code)
    return _survey_page(center, dossier_link=link)


# A page view and a submission are separate views of the same address: the limits count
# submissions only, and a page view spares their wrapper.


@bp.get("/s/<center_code>")
def survey_page(center_code: str):
    return _poster_survey(center_code)


@bp.post("/s/<center_code>")
@_survey_limits
def survey(center_code: str):
    return _submission(partial(_poster_survey, center_code))


@bp.get("/r/<token>")
def dossier_page(token: str):
    return _dossier_survey(token)


@bp.post("/r/<token>")
@_survey_limits
def dossier_survey(token: str):
    return _submission(partial(_dossier_survey, token))


@bp.route("/s/<center_code>/thanks")
def thanks(center_code: str):
    center = _open_center_or_404(center_code)
    return render_template("public/thanks.html", center=center, language=current_language())
