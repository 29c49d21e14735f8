"""``/auth/login`` and ``/auth/logout``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.auth.forms import LoginForm
from app.extensions import db, limiter
from app.services import audit
from app.services.accounts import authenticate
from app.timeutil import now_utc

bp = Blueprint("auth", __name__, url_prefix="/auth")


def home_for(user) -> str:
    homes = {"admin": "admin.index", "staff": "staff.index", "analyst": "analyst.index"}
    return url_for(homes.get(user.role, "auth.account"))


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data, now_utc())
        if user is None:
            audit.record(db.session, None, "login_failed", actor=(form.email.data or "").strip().lower()[:254] or "?")
        else:
            audit.record(db.session, user, "login")
        db.session.commit()
        if user is not None:
            next_url = _safe_next(request.args.get("next"))
            session.clear()  # a fresh session at login: nothing from before survives
            login_user(user)
            return redirect(next_url or home_for(user), code=303)
        error = _("Sign-in failed. Check your e-mail and password, or try again in a few minutes.")
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit.record(db.session, current_user, "logout")
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"), code=303)


@bp.route("/account")
def account():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path))
    return render_template("auth/account.html")
