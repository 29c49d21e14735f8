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

    from app import database, errors, i18n, input_checks, security  # noqa: F401 (database registers listeners)
    from app.cli import sipas_cli
    from app.extensions import csrf, db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    security.init_app(app)
    input_checks.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)

    from app.ops.routes import bp as ops_bp
    from app.public.routes import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(ops_bp)
    app.cli.add_command(sipas_cli)
    return app
