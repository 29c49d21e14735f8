"""Configuration classes, the factory and /healthz."""

from __future__ import annotations

import pytest

from app import create_app


def test_production_refuses_missing_default_or_short_secret(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/sipas")
    for secret in (None, "dev-only-secret-not-for-production", "short"):
        if secret is None:
            monkeypatch.delenv("SECRET_KEY", raising=False)
        else:
            monkeypatch.setenv("SECRET_KEY", secret)
        with pytest.raises(RuntimeError, match="SECRET_KEY"):
            create_app("production")


def test_production_needs_a_database_url(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_app("production")


def test_production_with_real_settings(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/sipas")
    app = create_app("production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_postgresql_connections_get_the_server_options_before_the_deployments_own(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/sipas")
    app = create_app("production", {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "connect_args": {"options": "-c jit=on"}}})
    engine_options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert engine_options["pool_size"] == 1
    assert engine_options["connect_args"] == {"options": "-c jit=off -c jit=on"}

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/sipas?options=-c%20work_mem%3D8MB")
    options = create_app("production").config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]
    assert options == "-c jit=off -c work_mem=8MB"

    monkeypatch.setenv("SIPAS_POSTGRES_OPTIONS", "")
    assert "connect_args" not in create_app("production").config["SQLALCHEMY_ENGINE_OPTIONS"]
    sqlite = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "connect_args" not in sqlite.config["SQLALCHEMY_ENGINE_OPTIONS"]


def test_the_apps_postgresql_sessions_run_without_jit(app, database_url):
    """A submission's insert would be compiled by the JIT at every fresh plan whenever the
    statistics of ``answers`` are stale (config.py, ``POSTGRES_OPTIONS``)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        assert db.session.execute(text("SHOW jit")).scalar_one() == "off"
        db.session.rollback()


def test_a_survey_limit_that_does_not_parse_stops_the_app_with_its_name():
    with pytest.raises(RuntimeError, match="SURVEY_LIMIT_CENTER is not a rate limit"):
        create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://", "SURVEY_LIMIT_CENTER": "40 every ten minutes"})


def test_unknown_environment_is_refused():
    with pytest.raises(RuntimeError, match="SIPAS_ENV"):
        create_app("staging")


def test_development_defaults_to_sqlite_in_instance(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SIPAS_ENV", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("/instance/sipas.db")
    assert app.config["BABEL_DEFAULT_LOCALE"] == "vi"


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_503_when_database_is_unreachable(tmp_path):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/x.db"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"


def test_survey_page_answers_503_in_vietnamese_when_database_is_down(tmp_path):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/x.db"})
    response = app.test_client().get("/s/qn-ha-long")
    assert response.status_code == 503
    assert "Hệ thống đang tạm gián đoạn" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "30"
