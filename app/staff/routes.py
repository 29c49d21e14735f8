"""``/staff``: posters, QR codes and response counts of the user's centres."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.access import require_roles
from app.downloads import attachment, public_base_url
from app.extensions import db
from app.models import Counter, ServiceCenter
from app.posters import POSTER_SIZES, poster_pdf, qr_png, qr_svg
from app.services import audit
from app.services.counts import center_counts
from app.services.links import reissue_poster
from app.services.posters import poster_page
from app.timeutil import now_utc, today_in_vietnam

bp = Blueprint("staff", __name__, url_prefix="/staff")
require_roles(bp, "staff", "admin")


def visible_centers() -> list[ServiceCenter]:
    if current_user.role == "admin":
        return list(db.session.scalars(select(ServiceCenter).order_by(ServiceCenter.code)))
    return sorted(current_user.centers, key=lambda c: c.code)


def managed_center(code: str) -> ServiceCenter:
    center = db.session.scalars(select(ServiceCenter).filter_by(code=code)).one_or_none()
    if center is None:
        abort(404)
    if not current_user.can_manage(center):
        abort(403)
    return center


def chosen_counter(center: ServiceCenter, code: str | None) -> Counter | None:
    if not code:
        return None
    for counter in center.counters:
        if counter.code == code:
            return counter
    abort(404)


@bp.route("/")
def index():
    return render_template("staff/index.html", centers=visible_centers())


@bp.route("/centers/<code>")
def center(code: str):
    center = managed_center(code)
    counts = center_counts(db.session, center.id, today_in_vietnam())
    return render_template("staff/center.html", center=center, counts=counts, sizes=POSTER_SIZES)


@bp.route("/centers/<code>/poster.pdf")
def poster(code: str):
    center = managed_center(code)
    size = request.args.get("size", "a4")
    if size not in POSTER_SIZES:
        abort(404)
    counter = chosen_counter(center, request.args.get("counter"))
    page = poster_page(db.session, current_app.config, public_base_url(), center, counter, current_user.id)
    audit.record(db.session, current_user, "download", f"poster {center.code}", counter=counter.code if counter else None, size=size)
    db.session.commit()
    name = f"poster-{center.code}{'-' + counter.code if counter else ''}-{size}.pdf"
    return attachment(poster_pdf([page], size), "application/pdf", name)


@bp.route("/centers/<code>/qr.<kind>")
def qr(code: str, kind: str):
    if kind not in ("png", "svg"):
        abort(404)
    center = managed_center(code)
    counter = chosen_counter(center, request.args.get("counter"))
    page = poster_page(db.session, current_app.config, public_base_url(), center, counter, current_user.id)
    audit.record(db.session, current_user, "download", f"qr {center.code}", counter=counter.code if counter else None, kind=kind)
    db.session.commit()
    body, mimetype = (qr_png(page.url), "image/png") if kind == "png" else (qr_svg(page.url), "image/svg+xml")
    return attachment(body, mimetype, f"qr-{center.code}{'-' + counter.code if counter else ''}.{kind}")


@bp.route("/centers/<code>/reissue", methods=["POST"])
def reissue(code: str):
    center = managed_center(code)
    counter = chosen_counter(center, request.form.get("counter"))
    revoke = request.form.get("revoke") == "1"
    reissue_poster(db.session, center, counter, current_user.id, revoke, now_utc())
    audit.record(db.session, current_user, "admin_change", f"poster reissue {center.code}", counter=counter.code if counter else None, revoke=revoke)
    db.session.commit()
    flash(_("A new poster has been issued. Print it and replace the old one."))
    return redirect(url_for("staff.center", code=center.code), code=303)
