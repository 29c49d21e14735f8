"""Layers against stuffing on the survey: limits, honeypot, minimum time, one per device per day,
linkage kept only as daily-keyed hashes, flags written with the response."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.models import CenterBaseline, Response, ResponseFlag, ResponseLinkage
from app.services.linkage import DEVICE_COOKIE, device_hash, network_hash, network_of
from app.timeutil import today_in_vietnam
from tests.app.conftest import complete_answers, hidden_inputs


def responses(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Response))


def submit(client, code="qn-test", answers=None, extra=None):
    tokens = hidden_inputs(client.get(f"/s/{code}").get_data(as_text=True))
    return client.post(f"/s/{code}", data={**tokens, **(answers or complete_answers()), **(extra or {})})


@pytest.fixture()
def limits(app):
    saved = {k: app.config[k] for k in ("SURVEY_LIMIT_DEVICE", "SURVEY_LIMIT_CENTER", "SURVEY_LIMIT_NETWORK")}
    yield app.config
    app.config.update(saved)


def test_device_cookie_is_first_party_httponly_and_stable(survey_center, client):
    first = client.get("/s/qn-test")
    cookie = [h for h in first.headers.getlist("Set-Cookie") if h.startswith(DEVICE_COOKIE)][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=31536000" in cookie
    again = client.get("/s/qn-test")
    assert not [h for h in again.headers.getlist("Set-Cookie") if h.startswith(DEVICE_COOKIE)]


def test_one_response_per_device_per_centre_per_day(app, survey_center, make_center, client, db):
    make_center(code="qn-other")
    assert submit(client).status_code == 303
    again = submit(client)
    assert again.status_code == 409 and "đã đánh giá trung tâm này trong hôm nay" in again.get_data(as_text=True)
    assert submit(client, "qn-other").status_code == 303  # another centre is fine
    assert submit(app.test_client()).status_code == 303  # another phone is fine
    assert responses(db) == 3


def test_dossier_links_are_not_limited_by_the_device_rule(app, runner, survey_center, client, db):
    assert submit(client).status_code == 303
    url = runner.invoke(args=["sipas", "dossier-link", "HS-9", "--center", "qn-test", "--field", "ho-tich"]).output.split()[-1]
    path = url.split("5000", 1)[1]
    html = client.get(path).get_data(as_text=True)
    answers = {k: v for k, v in complete_answers().items() if k != "field_code"}
    assert client.post(path, data={**hidden_inputs(html), **answers}).status_code == 303
    assert {row.via for row in db.session.scalars(select(ResponseLinkage))} == {"poster", "dossier"}


def test_linkage_is_stored_as_daily_keyed_hashes_only(app, survey_center, client, db):
    assert submit(client).status_code == 303
    linkage = db.session.scalars(select(ResponseLinkage)).one()
    device = client.get_cookie(DEVICE_COOKIE).value
    assert linkage.device_hash == device_hash(app.config, device, linkage.day)
    assert linkage.network_hash == network_hash(app.config, "127.0.0.1", linkage.day)
    assert device not in linkage.device_hash and "127.0.0.1" not in (linkage.network_hash or "")
    tomorrow = linkage.day + timedelta(days=1)
    assert device_hash(app.config, device, tomorrow) != linkage.device_hash
    assert network_of("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == network_of("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert network_of("not an address") is None


def test_honeypot_is_thanked_but_nothing_is_stored(survey_center, client, db):
    html = client.get("/s/qn-test").get_data(as_text=True)
    assert 'class="hp" aria-hidden="true"' in html and 'tabindex="-1"' in html
    response = submit(client, extra={"website": "http://spam.example"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/thanks")
    assert responses(db) == 0


def test_hard_minimum_time_refuses_then_accepts_after_a_moment(app, survey_center, client, db, monkeypatch):
    app.config.update(SUBMIT_HARD_MIN_BASE=3.0, SUBMIT_HARD_MIN_PER_ANSWER=0.3)
    try:
        tokens = hidden_inputs(client.get("/s/qn-test").get_data(as_text=True))
        refused = client.post("/s/qn-test", data={**tokens, **complete_answers()})
        assert refused.status_code == 422
        assert "Ông/Bà trả lời rất nhanh" in refused.get_data(as_text=True)
        assert responses(db) == 0
        # The re-rendered form keeps the original start time: later, the same answers go through.
        from app.public import routes

        later = routes.now_utc() + timedelta(seconds=30)
        monkeypatch.setattr(routes, "now_utc", lambda: later)
        kept = hidden_inputs(refused.get_data(as_text=True))
        assert kept["started"] == tokens["started"]
        assert client.post("/s/qn-test", data={**kept, **complete_answers()}).status_code == 303
    finally:
        app.config.update(SUBMIT_HARD_MIN_BASE=0.0, SUBMIT_HARD_MIN_PER_ANSWER=0.0)


def test_centre_limit_counts_accepted_submissions(app, survey_center, limits, db):
    limits["SURVEY_LIMIT_CENTER"] = "3 per 10 minutes"
    statuses = [submit(app.test_client()).status_code for _ in range(4)]
    assert statuses == [303, 303, 303, 429]
    assert responses(db) == 3


def test_device_limit_applies_across_centres(app, survey_center, make_center, limits, client, db):
    limits["SURVEY_LIMIT_DEVICE"] = "2 per hour"
    for code in ("qn-a", "qn-b", "qn-c"):
        make_center(code=code)
    statuses = [submit(client, code).status_code for code in ("qn-a", "qn-b", "qn-c")]
    assert statuses == [303, 303, 429]
    assert "Có quá nhiều lượt gửi" in submit(client, "qn-test").get_data(as_text=True)


def test_network_limit_is_looser_and_separate(app, survey_center, limits, db):
    limits["SURVEY_LIMIT_NETWORK"] = "2 per hour"
    statuses = [submit(app.test_client()).status_code for _ in range(3)]
    assert statuses == [303, 303, 429]


def test_a_refusal_says_when_to_retry_and_accepted_answers_carry_no_limit_headers(app, survey_center, limits, client, db):
    limits["SURVEY_LIMIT_DEVICE"] = "1 per hour"
    accepted = submit(client)
    assert accepted.status_code == 303
    assert not [name for name in accepted.headers.keys() if name.lower().startswith("x-ratelimit")]
    refused = submit(client, "qn-test")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600


def test_a_submission_reads_its_four_limits_before_and_counts_them_once_accepted(app, survey_center, client, db, monkeypatch):
    """The four limits (device per hour and per day, centre, network) are read together before
    the submission and counted together once it is accepted (on Redis one round trip each:
    ``test_limits_on_redis``), and nothing more; a page view touches none, and a form sent back
    for correction reads them without counting."""
    counters = app.extensions["survey_limits"]._main
    calls = []
    for name in ("counts", "add"):
        original = getattr(counters, name)
        monkeypatch.setattr(counters, name, lambda windows, _name=name, _original=original: calls.append((_name, len(windows))) or _original(windows))
    tokens = hidden_inputs(client.get("/s/qn-test").get_data(as_text=True))
    assert calls == []
    assert client.post("/s/qn-test", data={**tokens, **complete_answers(), "TC1": "9"}).status_code == 422
    assert calls == [("counts", 4)]
    assert client.post("/s/qn-test", data={**tokens, **complete_answers()}).status_code == 303
    assert calls == [("counts", 4), ("counts", 4), ("add", 4)]


def test_the_survey_skips_flask_limiters_request_hooks(app, survey_center, client, db):
    """Flask-Limiter's hooks would set up their request context on every request; the survey,
    whose limits are not Flask-Limiter's (``app.survey_limits``), runs none of them
    (``skip_limiter_hooks``); pages elsewhere run all three."""
    from flask import request_finished
    from flask.globals import request_ctx

    from app.extensions import limiter
    from app.limiter_hooks import _belongs_to

    hooks = [*app.before_request_funcs[None], *app.after_request_funcs[None], *app.teardown_request_funcs[None]]
    assert len([hook for hook in hooks if _belongs_to(limiter, getattr(hook, "__wrapped__", None))]) == 3
    seen = []

    def record(sender, response, **extra):
        seen.append(hasattr(request_ctx._get_current_object(), "_limiter_request_context"))

    with request_finished.connected_to(record, app):
        tokens = hidden_inputs(client.get("/s/qn-test").get_data(as_text=True))
        assert client.post("/s/qn-test", data={**tokens, **complete_answers()}).status_code == 303
        assert client.get("/s/qn-test/thanks").status_code == 200
        assert client.get("/healthz").status_code == 200
    assert seen == [False, False, False, True]


def test_invalid_forms_do_not_use_up_the_limit(app, survey_center, limits, client, db):
    limits["SURVEY_LIMIT_DEVICE"] = "1 per hour"
    answers = complete_answers()
    del answers["HL"]
    for _ in range(3):
        assert submit(client, answers=answers).status_code == 422
    assert submit(client).status_code == 303


def test_flags_are_written_with_the_response_and_exported(survey_center, client, runner, db, tmp_path):
    assert submit(client).status_code == 303  # a test client answers in milliseconds
    flags = {f.code for f in db.session.scalars(select(ResponseFlag))}
    assert "too_fast" in flags
    out = tmp_path / "x.csv"
    runner.invoke(args=["sipas", "export-responses", "--out", str(out)])
    assert "too_fast" in out.read_text(encoding="utf-8-sig").splitlines()[1]


@pytest.fixture()
def never_open(app):
    from analysis.integrity import OpeningHours, Rules

    saved = app.config["INTEGRITY_RULES"]
    app.config["INTEGRITY_RULES"] = Rules(opening_hours=OpeningHours(days={}))
    yield app.config["INTEGRITY_RULES"]
    app.config["INTEGRITY_RULES"] = saved


def test_a_poster_response_outside_opening_hours_is_flagged_with_its_reason(survey_center, client, never_open, db):
    assert submit(client).status_code == 303
    flags = {f.code: f.reason for f in db.session.scalars(select(ResponseFlag))}
    assert set(flags) == {"too_fast", "off_hours"}
    assert flags["off_hours"]


def all_five() -> dict:
    answers = complete_answers()
    for code, value in list(answers.items()):
        if value in ("1", "2", "3", "4", "9") and code not in ("SL",):
            answers[code] = "5"
    answers["SL"] = "1"  # trips: "1" is not a satisfaction answer and must not spoil "all 5"
    return answers


@pytest.fixture()
def always_open(app):
    """The test application's rules: opening hours around the clock (tests/conftest.py), so that
    these tests do not depend on the time they run."""
    return app.config["INTEGRITY_RULES"]


def quiet_month(app, center_id: int, responses: int = 60) -> None:
    """A centre's usual month: a few varied responses a day, through the poster link."""
    from app.models import Field, ServiceCenter
    from app.services.submissions import Linkage, submit_response
    from app.timeutil import now_utc, today_in_vietnam
    from surveys import load_instrument

    with app.app_context():
        from app.extensions import db as app_db

        center = app_db.session.get(ServiceCenter, center_id)
        fields = {f.code: f for f in app_db.session.scalars(select(Field))}
        for index in range(responses):
            moment = now_utc() - timedelta(days=1 + index % 27, hours=index % 5)
            answers = complete_answers()
            answers["HL"] = "345"[index % 3]
            answers["TC1"] = "45"[index % 2]
            submit_response(
                app_db.session, center=center, instrument=load_instrument("sipas-dvhcc-2023@1"), answers=answers,
                fields_by_code=fields, locale="vi", started_at=moment - timedelta(minutes=3), submitted_at=moment,
                rules=app.config["INTEGRITY_RULES"], linkage=Linkage("poster", today_in_vietnam(), None, None),
                compare_with_recent=False,
            )
        app_db.session.commit()


def test_a_burst_of_top_ratings_is_flagged_retroactively(app, survey_center, always_open, db):
    from app.services.quality import centre_baseline
    from app.timeutil import now_utc

    quiet_month(app, survey_center.id)
    before = set(db.session.scalars(select(Response.id)))
    statuses = [submit(app.test_client(), answers=all_five()).status_code for _ in range(12)]
    assert statuses == [303] * 12
    burst_ids = [i for i in db.session.scalars(select(Response.id).order_by(Response.id)) if i not in before]
    flagged = {}
    for flag in db.session.scalars(select(ResponseFlag)):
        flagged.setdefault(flag.code, set()).add(flag.response_id)
    burst = flagged.get("centre_burst", set()) | flagged.get("network_burst", set())
    assert burst <= set(burst_ids), "the quiet month is not part of the burst"
    assert len(burst) >= 10, {k: len(v) for k, v in flagged.items()}
    assert burst_ids[0] in burst, "the first members of the burst are flagged once it becomes evident"
    reason = db.session.scalars(select(ResponseFlag.reason).where(ResponseFlag.code.in_(["centre_burst", "network_burst"]))).first()
    assert reason and len(reason) <= 300
    with app.app_context():
        from app.extensions import db as app_db

        baseline = centre_baseline(app_db.session, survey_center.id, now_utc(), always_open)
    assert baseline.responses == 60 and baseline.top_rated == 0 and baseline.satisfied == 40


def test_a_centres_baseline_is_counted_once_a_day_and_shared_by_the_workers(app, survey_center, always_open, db):
    from app.extensions import db as app_db
    from app.services.quality import centre_baseline, clear_baseline_cache
    from app.timeutil import now_utc

    quiet_month(app, survey_center.id)
    today = today_in_vietnam()
    db.session.add(CenterBaseline(center_id=survey_center.id, day=today - timedelta(days=3), responses=1, top_rated=0, satisfied=0))
    db.session.commit()
    with app.app_context():
        first = centre_baseline(app_db.session, survey_center.id, now_utc(), always_open)
        app_db.session.commit()
    assert (first.responses, first.top_rated, first.satisfied) == (60, 0, 40)
    stored = db.session.execute(select(CenterBaseline.day, CenterBaseline.responses, CenterBaseline.satisfied)).all()
    assert stored == [(today, 60, 40)]  # the earlier day's row is gone
    # Another worker, which has not seen the centre today, reads the row instead of counting:
    # the row is altered here to tell the two apart.
    clear_baseline_cache()
    db.session.execute(update(CenterBaseline).values(responses=61))
    db.session.commit()
    with app.app_context():
        again = centre_baseline(app_db.session, survey_center.id, now_utc(), always_open)
        app_db.session.rollback()
    assert (again.responses, again.satisfied) == (61, 40)
    assert again.opening_hours == first.opening_hours


def test_a_submission_reads_the_stored_baseline_without_counting_it_again(app, survey_center, db):
    """A worker that has not met the centre today reads the baseline the day's first submission
    stored: in the statement that inserts the response on PostgreSQL, with one look-up on
    SQLite; it never counts it again."""
    from sqlalchemy import event

    from app.extensions import db as app_db
    from app.services.quality import clear_baseline_cache

    with app.app_context():
        engine = app_db.engine
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert submit(app.test_client()).status_code == 303
        assert [s for s in statements if "response_reviews" in s]  # counted once, by the first
        clear_baseline_cache()  # another worker
        statements.clear()
        assert submit(app.test_client()).status_code == 303
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in statements if "response_reviews" in s]
    reads = [s.lstrip().split()[0] for s in statements if "center_baselines" in s]
    assert reads == (["WITH"] if engine.dialect.name == "postgresql" else ["SELECT"])


def test_varied_honest_answers_at_a_normal_pace_are_not_flagged_as_a_burst(app, survey_center, always_open, db):
    quiet_month(app, survey_center.id)
    for index in range(4):
        answers = complete_answers()
        answers["HL"] = "45"[index % 2]
        assert submit(app.test_client(), answers=answers).status_code == 303
    codes = {f.code for f in db.session.scalars(select(ResponseFlag))}
    assert not codes & {"centre_burst", "network_burst", "device_repeat", "straight_line_fast"}


def test_recent_responses_are_each_found_once_with_their_answers_counted(app, survey_center, always_open, db):
    """The fraud checks' look-up (one statement on PostgreSQL, two elsewhere): a response found
    both at the centre and from the same network appears once, with every answer counted."""
    from app.models import Answer
    from app.services.quality import _recent, scale_question_codes
    from app.timeutil import now_utc, today_in_vietnam

    for index in range(3):
        answers = complete_answers()
        answers["HL"] = "345"[index]
        assert submit(app.test_client(), answers=answers).status_code == 303
    expected = {}
    for answer in db.session.scalars(select(Answer)):
        count, scale = expected.get(answer.response_id, (0, []))
        if answer.question_code in scale_question_codes() and answer.value in ("1", "2", "3", "4", "5"):
            scale = scale + [answer.value]
        expected[answer.response_id] = (count + 1, scale)
    with app.app_context():
        from app.extensions import db as app_db

        network = network_hash(app.config, "127.0.0.1", today_in_vietnam())
        found = _recent(app_db.session, survey_center.id, None, network, now_utc())
        app_db.session.rollback()
    assert [s.key for s in found] == sorted(expected)
    for submission in found:
        count, scale = expected[submission.key]
        assert submission.answer_count == count
        assert sorted(submission.scale_answers) == sorted(scale)
        assert submission.network == network


def test_the_recent_responses_read_with_the_insert_are_those_found_after_it(app, survey_center, always_open, db, monkeypatch):
    """On PostgreSQL the statement that inserts a response also reads the recent ones, before the
    new one exists (``recent_before_insert``); elsewhere ``record_flags`` reads them after the
    insert (``_recent``). The rules must get the same responses either way."""
    from app.models import Field, ServiceCenter
    from app.services import quality
    from app.services.submissions import Linkage, submit_response
    from app.timeutil import now_utc, today_in_vietnam
    from surveys import load_instrument

    for _ in range(3):
        assert submit(app.test_client()).status_code == 303
    given = []
    monkeypatch.setattr(quality, "flags_for", lambda new, recent, *args: given.append(recent) or [])
    with app.app_context():
        from app.extensions import db as app_db

        day, now = today_in_vietnam(), now_utc()
        network, device = network_hash(app.config, "127.0.0.1", day), device_hash(app.config, "another-phone", day)
        stored = submit_response(
            app_db.session, center=app_db.session.get(ServiceCenter, survey_center.id),
            instrument=load_instrument("sipas-dvhcc-2023@1"), answers=complete_answers(),
            fields_by_code={f.code: f for f in app_db.session.scalars(select(Field))}, locale="vi",
            started_at=now - timedelta(minutes=3), submitted_at=now, rules=always_open,
            linkage=Linkage("poster", day, device, network),
        )
        found_after = quality._recent(app_db.session, survey_center.id, device, network, now)
        app_db.session.rollback()
    assert stored.id in {s.key for s in found_after}
    assert given == [[s for s in found_after if s.key != stored.id]] and len(given[0]) == 3
