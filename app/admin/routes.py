"""``/admin``: units, centres and their counters, fields, users, centre imports, batch posters."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from app.access import require_roles
from app.downloads import attachment, public_base_url
from app.admin.forms import CenterForm, CounterForm, FieldForm, ImportForm, UnitForm, UserForm, choices
from app.extensions import db
from app.models import AdministrativeUnit, AuditEvent, Counter, Field, Response, ServiceCenter, User
from app.posters import POSTER_SIZES, poster_pdf
from app.services import audit
from app.services.administration import AdminError, save, set_user_centers
from app.services.center_import import import_centers
from app.services.posters import poster_page
from app.timeutil import today_in_vietnam

bp = Blueprint("admin", __name__, url_prefix="/admin")
require_roles(bp, "admin")


def _changes(values: dict) -> dict:
    """What an administrator saved, for the audit log (dates and ids as text)."""
    return {key: value if isinstance(value, (str, int, bool, type(None))) else str(value) for key, value in values.items()}


def _get(model, ident):
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def _form_page(form, title: str, back: str, status: int = 200):
    return render_template("admin/form.html", form=form, title=title, back=back), status


def _save_and_return(obj, values: dict, duplicate: str, error_field, what, back: str):
    """Save ``values`` into ``obj``, record the change in the audit log as ``what(obj)``, commit
    and go ``back`` (303); ``None``, with the error shown on ``error_field``, when the code is
    taken already."""
    try:
        save(db.session, obj, values, duplicate)
    except AdminError as error:
        error_field.errors.append(str(error))
        return None
    audit.record(db.session, current_user, "admin_change", what(obj), **_changes(values))
    db.session.commit()
    flash(_("Saved."))
    return redirect(back, code=303)


@bp.route("/")
def index():
    counts = {
        _("Administrative units"): db.session.scalar(select(func.count()).select_from(AdministrativeUnit)),
        _("Service centres"): db.session.scalar(select(func.count()).select_from(ServiceCenter)),
        _("Fields of procedures"): db.session.scalar(select(func.count()).select_from(Field)),
        _("Users"): db.session.scalar(select(func.count()).select_from(User)),
        _("Responses"): db.session.scalar(select(func.count()).select_from(Response)),
    }
    return render_template("admin/index.html", counts=counts)


# Units ----------------------------------------------------------------------------------------


def _unit_choices(exclude: int | None = None):
    units = db.session.scalars(select(AdministrativeUnit).order_by(AdministrativeUnit.level.desc(), AdministrativeUnit.name))
    return choices(
        [(0, "—")]
        + [(u.id, f"{u.name} ({u.code}, {u.valid_from:%d/%m/%Y}{'–' + format(u.valid_to, '%d/%m/%Y') if u.valid_to else ''})") for u in units if u.id != exclude and u.level != "commune"]
    )


@bp.route("/units")
def units():
    rows = db.session.scalars(select(AdministrativeUnit).order_by(AdministrativeUnit.level, AdministrativeUnit.name)).all()
    return render_template("admin/units.html", units=rows, sizes=POSTER_SIZES)


@bp.route("/units/new", methods=["GET", "POST"])
@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
def unit(unit_id: int | None = None):
    obj = _get(AdministrativeUnit, unit_id) if unit_id else AdministrativeUnit()
    form = UnitForm(obj=obj if unit_id else None, parent_id=obj.parent_id or 0)
    form.parent_id.choices = _unit_choices(exclude=unit_id)
    if form.validate_on_submit():
        values = {k: form[k].data for k in ("code", "name", "level", "valid_from", "valid_to")}
        values["parent_id"] = form.parent_id.data or None
        duplicate = _("A unit with this code and start date exists already.")
        done = _save_and_return(obj, values, duplicate, form.code, lambda o: f"unit {o.code}", url_for("admin.units"))
        if done:
            return done
    status = 422 if request.method == "POST" else 200
    return _form_page(form, _("Administrative unit"), url_for("admin.units"), status)


@bp.route("/units/<int:unit_id>/posters.pdf")
def unit_posters(unit_id: int):
    """One poster page per active centre of the unit and of the units inside it."""
    unit = _get(AdministrativeUnit, unit_id)
    size = request.args.get("size", "a4")
    if size not in POSTER_SIZES:
        abort(404)
    centers = [
        c
        for c in db.session.scalars(select(ServiceCenter).filter_by(active=True).order_by(ServiceCenter.code))
        if _inside(c.unit, unit)
    ]
    if not centers:
        flash(_("This unit has no active centre."))
        return redirect(url_for("admin.units"), code=303)
    pages = [poster_page(db.session, current_app.config, public_base_url(), c, None, current_user.id) for c in centers]
    audit.record(db.session, current_user, "download", f"posters {unit.code} {size}", centers=len(pages))
    db.session.commit()
    return attachment(poster_pdf(pages, size), "application/pdf", f"posters-{unit.code}-{size}.pdf")


def _inside(unit: AdministrativeUnit | None, ancestor: AdministrativeUnit) -> bool:
    while unit is not None:
        if unit.id == ancestor.id:
            return True
        unit = unit.parent
    return False


# Centres and counters -------------------------------------------------------------------------


def _center_unit_choices():
    units = db.session.scalars(select(AdministrativeUnit).order_by(AdministrativeUnit.level.desc(), AdministrativeUnit.name))
    return choices((u.id, f"{u.name} ({u.code})") for u in units)


@bp.route("/centers")
def centers():
    rows = db.session.scalars(select(ServiceCenter).order_by(ServiceCenter.code)).all()
    return render_template("admin/centers.html", centers=rows)


@bp.route("/centers/new", methods=["GET", "POST"])
@bp.route("/centers/<int:center_id>", methods=["GET", "POST"])
def center(center_id: int | None = None):
    obj = _get(ServiceCenter, center_id) if center_id else ServiceCenter()
    form = CenterForm(obj=obj if center_id else None, instrument_key=obj.instrument_key or "")
    form.unit_id.choices = _center_unit_choices()
    if form.validate_on_submit():
        values = {k: form[k].data for k in ("code", "name_vi", "name_en", "unit_id", "level", "address", "valid_from", "valid_to", "active")}
        values["instrument_key"] = form.instrument_key.data or None
        values["address"] = values["address"] or None
        duplicate = _("A centre with this code exists already.")
        done = _save_and_return(obj, values, duplicate, form.code, lambda o: f"centre {o.code}", url_for("admin.centers"))
        if done:
            return done
    status = 422 if request.method == "POST" else 200
    counters = obj.counters if center_id else []
    return render_template("admin/center.html", form=form, center=obj if center_id else None, counters=counters), status


@bp.route("/centers/<int:center_id>/counters/new", methods=["GET", "POST"])
@bp.route("/centers/<int:center_id>/counters/<int:counter_id>", methods=["GET", "POST"])
def counter(center_id: int, counter_id: int | None = None):
    parent = _get(ServiceCenter, center_id)
    obj = _get(Counter, counter_id) if counter_id else Counter()
    if obj.center_id not in (None, parent.id):
        abort(404)
    form = CounterForm(obj=obj if counter_id else None)
    if form.validate_on_submit():
        values = {k: form[k].data for k in ("code", "name", "active")}
        values["center_id"] = parent.id
        duplicate = _("This centre already has a counter with this code.")
        what = lambda o: f"counter {parent.code}/{o.code}"  # noqa: E731
        done = _save_and_return(obj, values, duplicate, form.code, what, url_for("admin.center", center_id=parent.id))
        if done:
            return done
    status = 422 if request.method == "POST" else 200
    return _form_page(form, _("Counter of %(center)s", center=parent.name_vi), url_for("admin.center", center_id=parent.id), status)


@bp.route("/centers/import", methods=["GET", "POST"])
def import_centers_page():
    form = ImportForm()
    report = None
    status = 200
    if form.validate_on_submit():
        data = form.file.data.read(5 * 1024 * 1024 + 1)
        report = import_centers(db.session, data, today_in_vietnam())
        if report.error:
            db.session.rollback()
            status = 422
        else:
            audit.record(
                db.session, current_user, "import_centers", form.file.data.filename,
                **{action: report.count(action) for action in ("created", "updated", "unchanged", "rejected")},
            )
            db.session.commit()
    elif request.method == "POST":
        status = 422
    return render_template("admin/import.html", form=form, report=report), status


# Fields ---------------------------------------------------------------------------------------


@bp.route("/fields")
def fields():
    rows = db.session.scalars(select(Field).order_by(Field.sort_order, Field.code)).all()
    return render_template("admin/fields.html", fields=rows)


@bp.route("/fields/new", methods=["GET", "POST"])
@bp.route("/fields/<int:field_id>", methods=["GET", "POST"])
def field(field_id: int | None = None):
    obj = _get(Field, field_id) if field_id else Field()
    form = FieldForm(obj=obj if field_id else None)
    if form.validate_on_submit():
        values = {k: form[k].data for k in ("code", "name_vi", "name_en", "active")}
        duplicate = _("A field with this code exists already.")
        done = _save_and_return(obj, values, duplicate, form.code, lambda o: f"field {o.code}", url_for("admin.fields"))
        if done:
            return done
    status = 422 if request.method == "POST" else 200
    return _form_page(form, _("Field of procedures"), url_for("admin.fields"), status)


# Users ----------------------------------------------------------------------------------------


@bp.route("/users")
def users():
    rows = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user(user_id: int | None = None):
    obj = _get(User, user_id) if user_id else User()
    form = UserForm(obj=obj if user_id else None, center_ids=[c.id for c in obj.centers] if user_id else [])
    form.center_ids.choices = choices((c.id, f"{c.name_vi} ({c.code})") for c in db.session.scalars(select(ServiceCenter).order_by(ServiceCenter.code)))
    if form.validate_on_submit():
        if not user_id and not form.password.data:
            form.password.errors.append(_("A new account needs a password."))
        elif user_id == current_user.id and (form.role.data != "admin" or not form.active.data):
            form.role.errors.append(_("You cannot remove your own administrator access."))
        else:
            values = {"email": form.email.data.strip().lower(), "name": form.name.data, "role": form.role.data, "active": form.active.data}
            if form.password.data:
                obj.set_password(form.password.data)
            try:
                save(db.session, obj, values, _("An account with this e-mail exists already."))
            except AdminError as error:
                form.email.errors.append(str(error))
            else:
                set_user_centers(db.session, obj, form.center_ids.data or [])
                audit.record(
                    db.session, current_user, "admin_change", f"user {obj.email}",
                    **_changes(values), centers=[c.code for c in obj.centers], password_changed=bool(form.password.data),
                )
                db.session.commit()
                flash(_("Saved."))
                return redirect(url_for("admin.users"), code=303)
    status = 422 if request.method == "POST" else 200
    return _form_page(form, _("User"), url_for("admin.users"), status)


# Audit log -------------------------------------------------------------------------------------

AUDIT_PAGE = 100


@bp.route("/audit")
def audit_log():
    action = request.args.get("action", "")
    try:
        page = max(1, min(int(request.args.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action in audit.ACTIONS:
        query = query.where(AuditEvent.action == action)
    events = db.session.scalars(query.offset((page - 1) * AUDIT_PAGE).limit(AUDIT_PAGE + 1)).all()
    return render_template(
        "admin/audit.html", events=events[:AUDIT_PAGE], action=action, actions=audit.ACTIONS, page=page, more=len(events) > AUDIT_PAGE
    )
