"""Access control, declared once per blueprint."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user


def require_roles(blueprint: Blueprint, *roles: str) -> None:
    """Every endpoint of ``blueprint`` needs a signed-in user with one of ``roles``."""

    @blueprint.before_request
    def check_role():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if current_user.role not in roles:
            abort(403)
