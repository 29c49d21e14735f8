"""Application factory. It never migrates, seeds, prompts or touches the network."""

from __future__ import annotations

import os

from flask import Flask

from config import CONFIGS


def create_app(config_name: str | None = None, overrides: dict | None = None) -> Flask:
    config_name = config_name or os.environ.get("SIPAS_ENV", "development")
    if config_name not in CONFIGS:
        raise RuntimeError(f"SIPAS_ENV must be one of {', '.join(CONFIGS)}, not {config_name!r}")
    config = CONFIGS[config_name]

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config)
    app.config.update(config.settings_from_environment(dict(os.environ)))
    if overrides:
        app.config.update(overrides)

    from app import database, errors, i18n, input_checks, security, survey_limits  # noqa: F401 (modules that register listeners)
    from app.cli import sipas_cli
    from app.extensions import csrf, db, limiter, login_manager, migrate

    database.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    security.init_app(app)
    input_checks.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    survey_limits.init_app(app)
    _init_login(app, login_manager)
    i18n.init_app(app)
    errors.init_app(app)

    from app.admin.routes import bp as admin_bp
    from app.analyst.routes import bp as analyst_bp
    from app.api.routes import bp as api_bp
    from app.auth.routes import bp as auth_bp
    from app.ops.routes import bp as ops_bp
    from app.public.routes import bp as public_bp
    from app.staff.routes import bp as staff_bp

    for blueprint in (public_bp, ops_bp, auth_bp, staff_bp, admin_bp, analyst_bp, api_bp):
        app.register_blueprint(blueprint)
    csrf.exempt(api_bp)
    app.cli.add_command(sipas_cli)
    return app


def _init_login(app: Flask, login_manager) -> None:
    from flask_babel import lazy_gettext as _l

    from app.extensions import db
    from app.services.accounts import load_user

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def user_loader(user_id: str):
        return load_user(db.session, user_id)
