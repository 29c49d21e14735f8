"""Shared fixtures: an application on a migrated database (SQLite, or PostgreSQL when
DATABASE_URL is set), a client, a CLI runner and factories for centres and fields."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from config import normalise_database_url


def _test_database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    url = normalise_database_url(url)
    name = make_url(url).database or ""
    if "test" not in name:
        pytest.exit(f"refusing to run tests on database {name!r}: its name must contain 'test'", returncode=2)
    return url


def _reset_database(url: str) -> None:
    if url.startswith("sqlite"):
        Path(make_url(url).database).unlink(missing_ok=True)
        return
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def always_open_rules():
    """Integrity rules whose centres are open around the clock, so that no test depends on the
    hour it runs at (a test of ``off_hours`` sets its own rules)."""
    from datetime import time

    from analysis.integrity import OpeningHours, Rules

    return Rules(opening_hours=OpeningHours(days={d: (time(0, 0), time(23, 59)) for d in range(7)}))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return _test_database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(database_url):
    from flask_migrate import upgrade

    from app import create_app

    _reset_database(database_url)
    application = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": database_url, "INTEGRITY_RULES": always_open_rules()}
    )
    with application.app_context():
        upgrade()
    yield application
    from app.extensions import db as app_db

    with application.app_context():
        app_db.session.remove()
        app_db.engine.dispose()


@pytest.fixture(scope="session")
def test_engine(app, database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def db(app, test_engine):
    """A session of the test's own (not the application's), on tables emptied after the test.

    Requests run in their own application contexts, as in production; the test reads and
    writes through this separate connection.
    """
    from app.models import Base

    session = Session(test_engine, expire_on_commit=False)
    yield SimpleNamespace(session=session, engine=test_engine)
    session.close()
    with test_engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    from app.services.instruments import forget_published
    from app.services.quality import clear_baseline_cache

    clear_baseline_cache()
    forget_published()


@pytest.fixture()
def client(app, db):
    return app.test_client()


@pytest.fixture()
def runner(app, db):
    return app.test_cli_runner()


@pytest.fixture()
def make_field(db):
    from app.models import Field

    def factory(code="ho-tich", name_vi="Hộ tịch", name_en="Civil status", **values):
        field = Field(code=code, name_vi=name_vi, name_en=name_en, **values)
        db.session.add(field)
        db.session.commit()
        return field

    return factory


@pytest.fixture()
def make_center(db):
    from app.models import AdministrativeUnit, ServiceCenter

    def factory(code="qn-test", name_vi="Trung tâm Phục vụ hành chính công phường Thử Nghiệm", **values):
        province = db.session.query(AdministrativeUnit).filter_by(code="22").one_or_none()
        if province is None:
            province = AdministrativeUnit(code="22", name="Tỉnh Quảng Ninh", level="province", valid_from=date(1963, 10, 30))
            db.session.add(province)
        unit = AdministrativeUnit(
            code=f"c-{code}"[:16], name="Phường Thử Nghiệm", level="commune", parent=province, valid_from=date(2025, 7, 1)
        )
        values.setdefault("name_en", "Test Ward Public Administration Service Centre")
        values.setdefault("level", "commune")
        values.setdefault("valid_from", date(2025, 7, 1))
        center = ServiceCenter(code=code, name_vi=name_vi, unit=unit, **values)
        db.session.add(center)
        db.session.commit()
        return center

    return factory


@pytest.fixture()
def survey_center(make_center, make_field):
    make_field()
    make_field(code="dat-dai", name_vi="Đất đai", name_en="Land")
    return make_center()


PASSWORD = "mat-khau-thu-nghiem-2026"


@pytest.fixture()
def make_user(db):
    from app.models import User

    def factory(role="staff", email=None, centers=(), password=PASSWORD, active=True):
        user = User(email=email or f"{role}@example.vn", name=f"Người dùng {role}", role=role, active=active)
        user.set_password(password)
        user.centers = list(centers)
        db.session.add(user)
        db.session.commit()
        return user

    return factory


@pytest.fixture()
def sign_in():
    """Sign a test client in as ``user`` (the login form itself is tested in test_auth.py)."""

    def signer(client, user):
        with client.session_transaction() as session:
            session["_user_id"] = str(user.id)
            session["_fresh"] = True
        return client

    return signer


@pytest.fixture(autouse=True)
def _reset_rate_limits(request):
    yield
    if "app" in request.fixturenames:
        from app.extensions import limiter

        app = request.getfixturevalue("app")
        with app.app_context():
            limiter.reset()
            app.extensions["survey_limits"].reset()
