"""``/analyst``: the analyst's workspace."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.access import require_roles

bp = Blueprint("analyst", __name__, url_prefix="/analyst")
require_roles(bp, "analyst", "admin")


@bp.route("/")
def index():
    return render_template("analyst/index.html")
