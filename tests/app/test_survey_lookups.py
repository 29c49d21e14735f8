"""The survey remembers the centre, the fields and the poster for a while; a submission's insert
checks them again, so what changed meanwhile is refused or corrected as before."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import event, func, select, update

from app.models import Counter, Field, Poster, Response, ServiceCenter
from app.services.links import POSTER_SALT
from app.services.survey_lookups import SurveyLookups
from app.timeutil import now_utc, today_in_vietnam
from tests.app.conftest import complete_answers, hidden_inputs


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def remembering(app, clock):
    """The application's page views remember for 30 seconds of ``clock``."""
    previous = app.extensions["survey_lookups"]
    app.extensions["survey_lookups"] = SurveyLookups(30, clock=clock)
    yield app.extensions["survey_lookups"]
    app.extensions["survey_lookups"] = previous


@pytest.fixture()
def statements(app):
    """The statements the application runs, counted on its engine."""
    from app.extensions import db as app_db

    counted = []

    def count(conn, cursor, statement, parameters, context, executemany):
        counted.append(statement)

    with app.app_context():
        engine = app_db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield counted
    event.remove(engine, "before_cursor_execute", count)


def test_a_remembered_page_view_reads_nothing_from_the_database(survey_center, remembering, client, statements):
    assert client.get("/s/qn-test").status_code == 200
    assert len(statements) == 2  # the centre and the fields
    statements.clear()
    other_phone = client.application.test_client()
    page = other_phone.get("/s/qn-test")
    assert page.status_code == 200 and statements == []
    assert "Trung tâm Phục vụ hành chính công phường Thử Nghiệm" in page.get_data(as_text=True)


def test_a_remembered_submission_reads_no_centre_or_field_before_its_insert(survey_center, remembering, client, statements, db):
    html = client.get("/s/qn-test").get_data(as_text=True)
    statements.clear()
    posted = client.post("/s/qn-test", data={**hidden_inputs(html), **complete_answers("dat-dai")})
    assert posted.status_code == 303
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert not any("FROM service_centers" in s or "FROM fields" in s for s in reads), reads
    stored = db.session.scalars(select(Response)).one()
    assert stored.center_id == survey_center.id and stored.field.code == "dat-dai"


def test_a_submission_that_finds_the_survey_changed_twice_is_asked_to_reload(survey_center, client, db, app):
    """The memory is dropped and the submission run again; if its insert still finds the centre
    closed (it closed between the two), the phone is asked to reload and nothing is stored."""

    class Stale(SurveyLookups):
        forgotten = 0

        def open_center(self, session, code, today):
            return self.remembered

        def forget(self):
            Stale.forgotten += 1

    previous = app.extensions["survey_lookups"]
    app.extensions["survey_lookups"] = stale = Stale(0)
    try:
        with app.app_context():
            stale.remembered = SurveyLookups(0).open_center(lambda: db.session, "qn-test", today_in_vietnam())
        html = client.get("/s/qn-test").get_data(as_text=True)
        db.session.execute(update(ServiceCenter).values(active=False))
        db.session.commit()
        posted = client.post("/s/qn-test", data={**hidden_inputs(html), **complete_answers()})
    finally:
        app.extensions["survey_lookups"] = previous
    assert posted.status_code == 409 and Stale.forgotten == 1
    assert "tải lại trang" in posted.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0


def test_a_renamed_centre_shows_its_new_name_once_the_memory_expires(survey_center, remembering, clock, client, db):
    assert client.get("/s/qn-test").status_code == 200
    db.session.execute(update(ServiceCenter).values(name_vi="Trung tâm Đổi Tên"))
    db.session.commit()
    clock.now += 29
    assert "Trung tâm Đổi Tên" not in client.get("/s/qn-test").get_data(as_text=True)
    clock.now += 2
    assert "Trung tâm Đổi Tên" in client.get("/s/qn-test").get_data(as_text=True)


def test_a_closed_centre_accepts_nothing_while_its_page_is_remembered(survey_center, remembering, clock, client, db):
    html = client.get("/s/qn-test").get_data(as_text=True)
    db.session.execute(update(ServiceCenter).values(active=False))
    db.session.commit()
    assert client.get("/s/qn-test").status_code == 200  # remembered
    posted = client.post("/s/qn-test", data={**hidden_inputs(html), **complete_answers()})
    assert posted.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0
    clock.now += 31
    assert client.get("/s/qn-test").status_code == 404


def test_a_withdrawn_field_is_refused_by_the_submission(survey_center, remembering, client, db):
    html = client.get("/s/qn-test").get_data(as_text=True)
    assert "Đất đai" in html
    db.session.execute(update(Field).where(Field.code == "dat-dai").values(active=False))
    db.session.commit()
    assert "Đất đai" in client.get("/s/qn-test").get_data(as_text=True)  # remembered
    posted = client.post("/s/qn-test", data={**hidden_inputs(html), **complete_answers("dat-dai")})
    assert posted.status_code == 422
    assert "Đất đai" not in posted.get_data(as_text=True)  # the corrected form lists today's fields
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0


def test_a_revoked_poster_is_refused_by_the_submission(survey_center, remembering, clock, client, db):
    counter = Counter(center_id=survey_center.id, code="3", name="Quầy số 3")
    poster = Poster(center_id=survey_center.id, counter=counter)
    db.session.add_all([counter, poster])
    db.session.commit()
    token = URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": poster.id, "k": "3"})
    page = client.get(f"/s/qn-test?t={token}")
    assert page.status_code == 200
    db.session.execute(update(Poster).values(revoked_at=now_utc()))
    db.session.commit()
    assert client.get(f"/s/qn-test?t={token}").status_code == 200  # remembered
    posted = client.post(f"/s/qn-test?t={token}", data={**hidden_inputs(page.get_data(as_text=True)), **complete_answers()})
    assert posted.status_code == 410
    clock.now += 31
    assert client.get(f"/s/qn-test?t={token}").status_code == 410


def test_unknown_centres_are_not_remembered(make_center, remembering, client):
    assert client.get("/s/qn-later").status_code == 404
    make_center(code="qn-later")
    assert client.get("/s/qn-later").status_code == 200


def test_memory_expires_is_bounded_and_can_be_off(monkeypatch):
    clock = Clock()
    reads = []

    def read(value):
        def reader():
            reads.append(value)
            return value

        return reader

    lookups = SurveyLookups(10, clock=clock)
    cache = lookups._posters
    assert cache.get(1, read("a")) == "a" and cache.get(1, read("b")) == "a"
    clock.now += 10
    assert cache.get(1, read("c")) == "c" and reads == ["a", "c"]
    assert cache.get(2, read(None)) is None and cache.get(2, read("d")) == "d"
    lookups.forget()
    assert cache.get(1, read("e")) == "e"

    monkeypatch.setattr("app.services.survey_lookups.MAX_ENTRIES", 3)
    for key in range(3, 6):
        cache.get(key, read(str(key)))
    assert len(cache._entries) <= 3

    off = SurveyLookups(0, clock=clock)._posters
    reads.clear()
    off.get(1, read("x"))
    off.get(1, read("y"))
    assert reads == ["x", "y"]
