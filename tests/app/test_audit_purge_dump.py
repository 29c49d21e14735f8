"""The audit log, the purge of linkage data, and dump/restore between SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.models import Answer, AuditEvent, DossierLink, Response, ResponseLinkage
from tests.app.conftest import complete_answers, hidden_inputs
from tests.conftest import PASSWORD


def actions(db) -> list[tuple[str, str, str | None]]:
    return [(e.actor, e.action, e.target) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_sign_ins_admin_changes_imports_and_downloads_are_audited(app, make_user, survey_center, client, db, tmp_path):
    make_user("admin", email="qt@example.vn")
    page = client.get("/auth/login")
    tokens = hidden_inputs(page.get_data(as_text=True))
    client.post("/auth/login", data={**tokens, "email": "qt@example.vn", "password": "sai"})
    client.post("/auth/login", data={**tokens, "email": "qt@example.vn", "password": PASSWORD})
    tokens = hidden_inputs(client.get("/admin/fields/new").get_data(as_text=True))
    client.post("/admin/fields/new", data={**tokens, "code": "tu-phap", "name_vi": "Tư pháp", "name_en": "Justice", "active": "y"})
    client.get("/staff/centers/qn-test/poster.pdf?size=a6")
    tokens = hidden_inputs(client.get("/admin/").get_data(as_text=True))
    client.post("/auth/logout", data=tokens)
    events = actions(db)
    assert events[:2] == [("qt@example.vn", "login_failed", None), ("qt@example.vn", "login", None)]
    assert ("qt@example.vn", "admin_change", "field tu-phap") in events
    assert ("qt@example.vn", "download", "poster qn-test") in events
    assert events[-1] == ("qt@example.vn", "logout", None)
    change = db.session.scalars(select(AuditEvent).filter_by(action="admin_change")).one()
    assert json.loads(change.details)["name_vi"] == "Tư pháp" and change.request_id


def test_admin_reads_the_audit_log(app, make_user, sign_in, db, runner, tmp_path):
    runner.invoke(args=["sipas", "export-responses", "--out", str(tmp_path / "x.csv")])
    client = sign_in(app.test_client(), make_user("admin"))
    page = client.get("/admin/audit?action=download").get_data(as_text=True)
    assert "Nhật ký" in page and "command line" in page and "responses csv x.csv" in page
    assert client.get("/admin/audit?page=abc&action=nonsense").status_code == 200


def test_purge_removes_linkage_but_keeps_answers(app, runner, survey_center, client, db):
    tokens = hidden_inputs(client.get("/s/qn-test").get_data(as_text=True))
    assert client.post("/s/qn-test", data={**tokens, **complete_answers()}).status_code == 303
    result = runner.invoke(args=["sipas", "purge", "--older-than", "30"])
    assert "Removed linkage of 0 responses" in result.output
    old = db.session.scalars(select(ResponseLinkage)).one()
    old.created_at = old.created_at - timedelta(days=31)
    db.session.commit()
    answers_before = db.session.scalar(select(func.count()).select_from(Answer))
    result = runner.invoke(args=["sipas", "purge", "--older-than", "30"])
    assert result.exit_code == 0 and "Removed linkage of 1 responses" in result.output
    assert db.session.scalar(select(func.count()).select_from(ResponseLinkage)) == 0
    assert db.session.scalar(select(func.count()).select_from(Answer)) == answers_before
    assert db.session.scalar(select(func.count()).select_from(Response)) == 1
    assert runner.invoke(args=["sipas", "purge", "--older-than", "0"]).exit_code == 2
    assert db.session.scalars(select(AuditEvent).filter_by(action="purge")).first() is not None


def test_purge_unties_old_dossier_responses(app, runner, survey_center, client, db):
    url = runner.invoke(args=["sipas", "dossier-link", "HS-7", "--center", "qn-test", "--field", "ho-tich"]).output.split()[-1]
    path = url.split("5000", 1)[1]
    html = client.get(path).get_data(as_text=True)
    answers = {k: v for k, v in complete_answers().items() if k != "field_code"}
    assert client.post(path, data={**hidden_inputs(html), **answers}).status_code == 303
    link = db.session.scalars(select(DossierLink)).one()
    link.used_at = link.used_at - timedelta(days=100)
    link.created_at = link.created_at - timedelta(days=100)
    link.expires_at = link.expires_at - timedelta(days=100)
    db.session.commit()
    runner.invoke(args=["sipas", "purge", "--older-than", "90"])
    db.session.refresh(link)
    assert link.response_id is None and link.used_at is not None


# Dump and restore ------------------------------------------------------------------------------


def _fresh_database(kind: str, tmp_path, database_url: str):
    """A new empty database of the other engine: a SQLite file, or a PostgreSQL database."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'restore-{uuid.uuid4().hex[:6]}.db'}", None
    base = database_url if database_url.startswith("postgresql") else os.environ.get(
        "SIPAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://"))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"sipas_restore_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable: {error}")

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def _run(url: str, *args: str):
    from flask_migrate import upgrade

    application = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with application.app_context():
        upgrade()
        result = application.test_cli_runner().invoke(args=list(args))
        from app.extensions import db as app_db

        app_db.session.remove()
        app_db.engine.dispose()
    return result


def test_dump_and_restore_round_trip_between_engines(app, runner, survey_center, client, db, database_url, tmp_path):
    runner.invoke(args=["sipas", "seed-demo", "--responses", "60"])
    tokens = hidden_inputs(client.get("/s/qn-test").get_data(as_text=True))
    assert client.post("/s/qn-test", data={**tokens, **complete_answers()}).status_code == 303
    runner.invoke(args=["sipas", "dossier-link", "HS-1", "--center", "qn-test", "--field", "ho-tich"])
    original = tmp_path / "original.jsonl"
    assert runner.invoke(args=["sipas", "dump", "--out", str(original)]).exit_code == 0

    other = "postgresql" if database_url.startswith("sqlite") else "sqlite"
    other_url, drop_other = _fresh_database(other, tmp_path, database_url)
    same_url, drop_same = _fresh_database("sqlite" if other == "postgresql" else "postgresql", tmp_path, database_url)
    try:
        restored = _run(other_url, "sipas", "restore", str(original))
        assert restored.exit_code == 0, restored.output
        there = tmp_path / "there.jsonl"
        assert _run(other_url, "sipas", "dump", "--out", str(there)).exit_code == 0
        assert _run(same_url, "sipas", "restore", str(there)).exit_code == 0
        back = tmp_path / "back.jsonl"
        assert _run(same_url, "sipas", "dump", "--out", str(back)).exit_code == 0
        assert there.read_text(encoding="utf-8") == original.read_text(encoding="utf-8")
        assert back.read_text(encoding="utf-8") == original.read_text(encoding="utf-8")
        # New rows after a restore get fresh ids (sequences continue after the restored ones).
        again = _run(other_url, "sipas", "dossier-link", "HS-2", "--center", "qn-test", "--field", "ho-tich")
        assert again.exit_code == 0, again.output
        # A second restore into a non-empty database changes nothing.
        refused = _run(other_url, "sipas", "restore", str(original))
        assert refused.exit_code == 1 and "not empty" in refused.output
    finally:
        for drop in (drop_other, drop_same):
            if drop:
                drop()
    assert len(original.read_text(encoding="utf-8").splitlines()) > 60 * 20


def test_restore_refuses_broken_dumps(tmp_path, database_url):
    url, drop = _fresh_database("sqlite", tmp_path, database_url)
    for body, message in [
        ("not json\n", "not a SIPAS dump"),
        ('{"format": "other"}\n', "not a SIPAS dump"),
        ('{"format": "sipas-dump", "version": 1, "revision": "0000", "tables": []}\n', "migration"),
    ]:
        path = tmp_path / "bad.jsonl"
        path.write_text(body, encoding="utf-8")
        result = _run(url, "sipas", "restore", str(path))
        assert result.exit_code == 1 and message in result.output
