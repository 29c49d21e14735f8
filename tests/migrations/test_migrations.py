"""Migrations: one head, they build exactly the models' schema, and they run both ways."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from app.models import Base

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture()
def empty_database(database_url, tmp_path):
    """A brand-new empty database of the same engine as the test run."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_single_head():
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(empty_database):
    from flask_migrate import downgrade, upgrade

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade()
        from app.extensions import db

        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        downgrade(revision="base")
        with db.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        upgrade()
        with db.engine.connect() as connection:
            assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
        db.engine.dispose()


def test_database_enforces_invariants(db, make_center):
    """Constraints live in the database, not only in the code."""
    from sqlalchemy.exc import IntegrityError

    center = make_center()
    statements = [
        "INSERT INTO fields (code, name_vi, name_en, active, sort_order) VALUES ('a', 'A', 'A', true, 0), ('a', 'B', 'B', true, 0)",
        f"INSERT INTO service_centers (code, name_vi, name_en, unit_id, level, active, valid_from, created_at) "
        f"VALUES ('qn-x', 'X', 'X', {center.unit_id}, 'hamlet', true, '2025-07-01', '2025-07-01 00:00:00')",
        "INSERT INTO administrative_units (code, name, level, valid_from) VALUES ('99', 'X', 'commune', '2025-07-01')",
        "INSERT INTO answers (response_id, question_code, value) VALUES (999999, 'HL', '4')",
    ]
    for statement in statements:
        with pytest.raises(IntegrityError):
            with db.engine.begin() as connection:
                connection.execute(text(statement))
