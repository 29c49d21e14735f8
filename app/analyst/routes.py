"""``/analyst``: the analyst's workspace.

Every filter lives in the query string (``services.filters``), so a view can be shared by
copying its address. Routes parse, call one service and render; the services compute every
figure through ``analysis``.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.access import require_roles
from app.analyst.forms import ReviewForm, TotalsForm
from app.downloads import attachment
from app.errors import error_response
from app.extensions import db
from app.i18n import current_language
from app.models import AdministrativeUnit, Field, ServiceCenter, WeightingTotals
from app.models.surveys import CHANNELS
from app.services import audit, dashboards, reports, reviews, weighting_totals
from app.services.filters import LEVELS, PERIODS, WEIGHTINGS, FilterError, Filters, available_periods, response_range
from app.timeutil import now_utc
from surveys import available_instruments, load_instrument

bp = Blueprint("analyst", __name__, url_prefix="/analyst")
require_roles(bp, "analyst", "admin")


class BadRequest(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@bp.errorhandler(BadRequest)
def bad_request(error: BadRequest):
    return error_response(400, _("Invalid request"), error.message)


def current_filters() -> Filters:
    try:
        return Filters.parse(request.args, db.session, current_app.config["DEFAULT_INSTRUMENT"])
    except FilterError as error:
        raise BadRequest(str(error)) from None


def minimum() -> int:
    return int(current_app.config.get("SMALL_CELL_MINIMUM", 10))


def page_number() -> int:
    value = request.args.get("page", "1")
    if not value.isdigit() or not 1 <= int(value) <= 100000:
        raise BadRequest(_("Unknown page."))
    return int(value)


def choice(name: str, allowed, default: str, message: str | None = None) -> str:
    value = request.args.get(name, default)
    if value not in allowed:
        raise BadRequest(message or _("Unknown index."))
    return value


def options(filters: Filters) -> dict:
    """Values offered by the filter form."""
    lang = current_language()
    units = db.session.scalars(select(AdministrativeUnit).order_by(AdministrativeUnit.level.desc(), AdministrativeUnit.name)).all()
    seen, unit_choices = set(), []
    for unit in units:
        if unit.code not in seen:
            seen.add(unit.code)
            unit_choices.append((unit.code, unit.name))
    instrument = load_instrument(filters.instrument)
    return {
        "instruments": [(key, load_instrument(key).title.get(lang) + f" ({key})") for key in available_instruments()],
        "pers": [(p, {"month": _("Month"), "quarter": _("Quarter"), "year": _("Year")}[p]) for p in PERIODS],
        "periods": [(p, dashboards.period_name(p)) for p in available_periods(db.session, filters)],
        "units": unit_choices,
        "levels": [(level, dashboards.domain_labels(db.session, "level")[level]) for level in LEVELS],
        "centers": [(c.code, c.name(lang)) for c in db.session.scalars(select(ServiceCenter).order_by(ServiceCenter.level.desc(), ServiceCenter.name_vi))],
        "fields": [(f.code, f.name(lang)) for f in db.session.scalars(select(Field).order_by(Field.sort_order, Field.code))],
        "channels": [(c, dashboards.domain_labels(db.session, "channel")[c]) for c in CHANNELS],
        "weightings": [(w, {"none": _("None"), "poststrat": _("Post-stratification"), "rake": _("Raking")}[w]) for w in WEIGHTINGS],
        "elements": [(d.index, dashboards.index_labels(instrument).get(d.index, d.index)) for d in instrument.index_definitions if d.kind == "element"],
        "indices": [(d.index, dashboards.index_labels(instrument).get(d.index, d.index)) for d in instrument.index_definitions if d.kind in ("overall", "element")],
    }


def render(template: str, filters: Filters, **context):
    return render_template(
        template,
        filters=filters,
        options=options(filters),
        fmt=dashboards,
        period_label=dashboards.period_name(filters.period),
        bounds=filters.bounds,
        minimum=minimum(),
        **context,
    )


def index_codes(filters: Filters) -> list[str]:
    instrument = load_instrument(filters.instrument)
    return [d.index for d in instrument.index_definitions if d.kind in ("overall", "element")]


# Pages -----------------------------------------------------------------------------------------


@bp.route("/")
def index():
    filters = current_filters()
    return render("analyst/overview.html", filters, page=dashboards.overview(db.session, filters, minimum()))


@bp.route("/elements/<code>")
def element(code: str):
    filters = current_filters()
    found = dashboards.element(db.session, filters, code, minimum())
    if found is None:
        abort(404)
    return render("analyst/element.html", filters, page=found)


@bp.route("/breakdowns/<dimension>")
def breakdown(dimension: str):
    if dimension not in dashboards.DIMENSIONS:
        abort(404)
    filters = current_filters()
    index = choice("index", index_codes(filters), "SIPAS")
    found = dashboards.breakdown(db.session, filters, dimension, index, minimum())
    return render("analyst/breakdown.html", filters, page=found, dimension_name=dashboards.dimension_name(dimension))


@bp.route("/trend")
def trend():
    filters = current_filters()
    index = choice("index", index_codes(filters), "SIPAS")
    found_range = response_range(db.session, filters.instrument)
    found = dashboards.trend(db.session, filters, index, minimum(), found_range[0] if found_range else None)
    return render("analyst/trend.html", filters, page=found)


TARGETS = (0.8, 0.85, 0.9, 0.95)


@bp.route("/ranking")
def ranking():
    filters = current_filters()
    index = choice("index", index_codes(filters), "SIPAS")
    target = float(choice("target", [str(t) for t in TARGETS], str(dashboards.DEFAULT_TARGET), _("Unknown target.")))
    found = dashboards.ranking(db.session, filters, index, minimum(), target)
    return render("analyst/ranking.html", filters, page=found, targets=TARGETS)


@bp.route("/perceptions")
def perceptions():
    filters = current_filters()
    return render("analyst/perceptions.html", filters, page=dashboards.perceptions(db.session, filters, minimum()))


@bp.route("/drivers")
def drivers():
    filters = current_filters()
    return render("analyst/drivers.html", filters, drivers=dashboards.drivers(db.session, filters, minimum()))


@bp.route("/comments")
def comments():
    filters = current_filters()
    return render("analyst/comments.html", filters, page=dashboards.comments(db.session, filters, page_number()))


# Review of flagged responses -----------------------------------------------------------------


@bp.route("/review")
def review():
    filters = current_filters()
    found = reviews.flagged_responses(db.session, filters, page_number(), current_language())
    return render("analyst/review.html", filters, page=found, form=ReviewForm())


@bp.route("/review/<uid>", methods=["POST"])
def review_decision(uid: str):
    filters = current_filters()
    form = ReviewForm()
    if not form.validate_on_submit():
        raise BadRequest(_("Choose whether to count the response or leave it out."))
    response = reviews.decide(db.session, uid, form.decision.data, form.note.data, current_user.id, now_utc())
    if response is None:
        abort(404)
    audit.record(db.session, current_user, "review", uid, decision=form.decision.data, note=form.note.data or None)
    db.session.commit()
    flash(_("Decision saved."))
    return redirect(url_for("analyst.review", **filters.query(), _anchor=f"r-{uid}"), code=303)


# Weighting totals --------------------------------------------------------------------------


@bp.route("/weighting", methods=["GET", "POST"])
def weighting():
    filters = current_filters()
    form = TotalsForm()
    report, status, problem = None, 200, None
    if form.validate_on_submit():
        name = form.file.data.filename or "totals.csv"
        try:
            totals = weighting_totals.parse_totals(form.file.data.read(), name)
        except weighting_totals.TotalsError as error:
            problem, status = str(error), 422
        else:
            report = weighting_totals.validate(db.session, totals, form.period.data, form.kind.data, filters.instrument)
            if report.usable:
                stored = weighting_totals.store(db.session, totals, form.period.data, form.kind.data, name, current_user.id, now_utc())
                audit.record(db.session, current_user, "weighting_upload", name, period=stored.period, kind=stored.kind, keys=stored.keys, cells=stored.cells)
                db.session.commit()
            else:
                db.session.rollback()
                status = 422
    elif request.method == "POST":
        status = 422
    return render("analyst/weighting.html", filters, form=form, report=report, problem=problem, tables=weighting_totals.stored_tables(db.session)), status


@bp.route("/weighting/<int:totals_id>/delete", methods=["POST"])
def weighting_delete(totals_id: int):
    filters = current_filters()  # CSRFProtect has checked the token before this runs
    removed = weighting_totals.remove(db.session, totals_id)
    if removed is None:
        abort(404)
    audit.record(db.session, current_user, "weighting_upload", removed.filename, period=removed.period, kind=removed.kind, removed=True)
    db.session.commit()
    flash(_("Totals removed."))
    return redirect(url_for("analyst.weighting", **filters.query()), code=303)


@bp.route("/weighting/<int:totals_id>.csv")
def weighting_file(totals_id: int):
    stored = db.session.get(WeightingTotals, totals_id)
    if stored is None:
        abort(404)
    audit.record(db.session, current_user, "download", f"totals {stored.period} {stored.keys}", format="csv")
    db.session.commit()
    return attachment(("\ufeff" + stored.content).encode("utf-8"), "text/csv", f"totals-{stored.period}-{stored.kind}.csv")


# Downloads -------------------------------------------------------------------------------------


def _download_name(filters: Filters, kind: str, extension: str) -> str:
    return f"sipas-{kind}-{filters.period}.{extension}"


@bp.route("/results.<fmt>")
def results(fmt: str):
    if fmt not in ("csv", "json", "xlsx"):
        abort(404)
    filters = current_filters()
    by = request.args.get("by", "")
    if by not in ("", *reports.BREAKDOWNS):
        raise BadRequest(_("Unknown breakdown."))
    found = reports.results(db.session, filters, now_utc())
    audit.record(db.session, current_user, "download", "results", format=fmt, by=by or None, **filters.query())
    db.session.commit()
    if fmt == "csv":
        return attachment(reports.results_csv(found, by), "text/csv", _download_name(filters, "results" + (f"-{by}" if by else ""), "csv"))
    if fmt == "json":
        return attachment(reports.results_json(found, by), "application/json", _download_name(filters, "results" + (f"-{by}" if by else ""), "json"))
    return attachment(reports.results_xlsx(found), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _download_name(filters, "results", "xlsx"))


@bp.route("/responses.<fmt>")
def responses(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    filters = current_filters()
    audit.record(db.session, current_user, "download", "responses", format=fmt, **filters.query())
    db.session.commit()
    rows = reports.filtered_response_rows(db.session, filters)
    if fmt == "csv":
        body, mimetype = reports.responses_csv_stream(rows), "text/csv"
    else:
        body, mimetype = reports.responses_xlsx_stream(rows), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{_download_name(filters, "responses", fmt)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/report.pdf")
def report():
    filters = current_filters()
    body = reports.report_pdf(db.session, filters, minimum(), now_utc())
    audit.record(db.session, current_user, "download", "report", format="pdf", **filters.query())
    db.session.commit()
    return attachment(body, "application/pdf", _download_name(filters, "bao-cao", "pdf"))
