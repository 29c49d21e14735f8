"""The citizen's survey: page, language, storing a valid submission, thank-you page."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import Answer, InstrumentVersion, Response, ResponseFlag
from surveys import load_instrument
from tests.app.conftest import complete_answers, hidden_inputs


def count_responses(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Response))


def test_survey_page_is_vietnamese_with_centre_name(survey_center, open_survey):
    html, tokens = open_survey("qn-test")
    assert 'lang="vi"' in html
    assert "Trung tâm Phục vụ hành chính công phường Thử Nghiệm" in html
    assert "Ông/Bà hài lòng như thế nào về thủ tục hành chính nói chung?" in html
    assert "Rất không hài lòng" in html and "Không áp dụng" in html
    assert "Gửi câu trả lời" in html
    assert "Phiếu khảo sát ẩn danh" in html
    assert set(tokens) == {"csrf_token", "started"}


def test_every_question_is_a_form_field_named_by_its_code(survey_center, open_survey):
    html, _ = open_survey("qn-test")
    for question in load_instrument("sipas-dvhcc-2023@1").questions:
        assert f'name="{question.code}"' in html, question.code
        if question.type == "scale":
            for value in question.values:
                assert f'name="{question.code}" value="{value}"' in html


def test_every_input_is_labelled_and_page_has_no_inline_code(survey_center, open_survey):
    html, _ = open_survey("qn-test")
    assert "<script" not in html and "style=" not in html
    # Each radio/checkbox sits inside its <label>; selects and textareas have label[for].
    assert html.count('<label class="opt') == html.count('type="radio"') + html.count('type="checkbox"')
    assert 'for="field_code"' in html and 'for="YK"' in html


def test_english_is_chosen_with_lang_and_remembered(survey_center, client):
    page = client.get("/s/qn-test?lang=en").get_data(as_text=True)
    assert 'lang="en"' in page and "Send my answers" in page
    assert "In general, how satisfied are you with the administrative procedure?" in page
    again = client.get("/s/qn-test").get_data(as_text=True)
    assert 'lang="en"' in again
    back = client.get("/s/qn-test?lang=vi").get_data(as_text=True)
    assert "Gửi câu trả lời" in back


def test_unsupported_language_falls_back_to_vietnamese(survey_center, client):
    page = client.get("/s/qn-test?lang=fr").get_data(as_text=True)
    assert 'lang="vi"' in page


def test_valid_submission_is_stored_and_thanked(survey_center, post_survey, client, db):
    response = post_survey("qn-test", complete_answers())
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/s/qn-test/thanks")
    thanks = client.get(response.headers["Location"])
    assert thanks.status_code == 200 and "Cảm ơn" in thanks.get_data(as_text=True)

    stored = db.session.scalars(select(Response)).one()
    assert stored.center.code == "qn-test"
    assert stored.field.code == "ho-tich" and stored.channel == "direct" and stored.locale == "vi"
    assert stored.instrument_version.key == "sipas-dvhcc-2023@1"
    assert stored.instrument_version.sha256 == load_instrument("sipas-dvhcc-2023@1").sha256
    assert stored.started_at is not None and stored.started_at <= stored.submitted_at
    answers = {(a.question_code, a.value) for a in stored.answers if a.value is not None}
    assert ("HL", "4") in answers and ("PA", "9") in answers
    assert ("UT", "time") in answers and ("UT", "online") in answers
    texts = [a.text for a in stored.answers if a.text is not None]
    assert texts == ["Cán bộ rất nhiệt tình."]


def test_not_applicable_and_no_answer_are_distinct(survey_center, post_survey, db):
    answers = complete_answers()
    del answers["TC2"]  # left blank
    answers["PA1"] = "9"  # "không áp dụng"
    assert post_survey("qn-test", answers).status_code == 303
    stored = db.session.scalars(select(Response)).one()
    by_code = {a.question_code: a.value for a in stored.answers}
    assert "TC2" not in by_code
    assert by_code["PA1"] == "9"


def test_english_submission_records_locale(survey_center, client, post_survey, db):
    client.get("/s/qn-test?lang=en")
    assert post_survey("qn-test", complete_answers()).status_code == 303
    thanks = client.get("/s/qn-test/thanks").get_data(as_text=True)
    assert "Thank you" in thanks
    assert db.session.scalars(select(Response)).one().locale == "en"


def test_fast_submission_is_stored_with_a_flag(survey_center, post_survey, db):
    assert post_survey("qn-test", complete_answers()).status_code == 303
    flag = db.session.scalars(select(ResponseFlag)).one()
    assert flag.code == "too_fast" and "plausible minimum" in flag.reason


def test_invalid_submission_keeps_answers_and_explains_in_vietnamese(survey_center, post_survey, db):
    answers = complete_answers()
    del answers["HL"]
    answers["YK"] = "Ý kiến giữ lại"
    response = post_survey("qn-test", answers)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Xin Ông/Bà vui lòng trả lời câu hỏi này." in html
    assert 'href="#q-HL"' in html
    assert 'name="TC1" value="4" checked' in html
    assert 'name="UT" value="time" checked' in html
    assert "Ý kiến giữ lại" in html
    assert '<option value="ho-tich" selected>' in html
    assert count_responses(db) == 0


def test_kiosk_instrument_coexists(make_center, post_survey, open_survey, db):
    make_center(code="qn-kiosk", instrument_key="sipas-kiosk-2023@1")
    html, _ = open_survey("qn-kiosk")
    assert 'name="TC1"' not in html and 'name="HL"' in html
    answers = {"TC": "5", "TT": "4", "CC": "5", "KQ": "9", "PA": "9", "HL": "5"}
    assert post_survey("qn-kiosk", answers).status_code == 303
    stored = db.session.scalars(select(Response)).one()
    assert stored.instrument_version.key == "sipas-kiosk-2023@1"
    assert stored.field is None and stored.channel is None
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 6


def test_both_instruments_publish_once(app, make_center, survey_center, db):
    make_center(code="qn-kiosk", instrument_key="sipas-kiosk-2023@1")
    for _ in range(2):
        phone = app.test_client()  # one response per phone per centre per day
        for code, answers in (("qn-test", complete_answers()), ("qn-kiosk", {"TC": "5", "TT": "4", "CC": "5", "KQ": "5", "PA": "5", "HL": "5"})):
            tokens = hidden_inputs(phone.get(f"/s/{code}").get_data(as_text=True))
            assert phone.post(f"/s/{code}", data={**tokens, **answers}).status_code == 303
    keys = sorted(v.key for v in db.session.scalars(select(InstrumentVersion)))
    assert keys == ["sipas-dvhcc-2023@1", "sipas-kiosk-2023@1"]
    assert count_responses(db) == 4


def test_unknown_inactive_and_closed_centres_get_vietnamese_404(make_center, client):
    from datetime import date

    make_center(code="qn-off", active=False)
    make_center(code="qn-old", valid_to=date(2025, 6, 30), valid_from=date(2020, 1, 1))
    for code in ("does-not-exist", "qn-off", "qn-old", "x" * 200):
        response = client.get(f"/s/{code}")
        assert response.status_code == 404, code
        assert "Không tìm thấy trang" in response.get_data(as_text=True)


def test_security_headers_forbid_inline_code(survey_center, client):
    response = client.get("/s/qn-test")
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]


def test_blank_page_is_reused_but_tokens_are_each_phones_own(app, survey_center, db):
    first, second = app.test_client(), app.test_client()
    one = hidden_inputs(first.get("/s/qn-test").get_data(as_text=True))
    two = hidden_inputs(second.get("/s/qn-test").get_data(as_text=True))
    assert one["csrf_token"] != two["csrf_token"]
    assert "\x00" not in first.get("/s/qn-test").get_data(as_text=True)
    assert second.post("/s/qn-test", data={**two, **complete_answers()}).status_code == 303
    assert first.post("/s/qn-test", data={**one, **complete_answers()}).status_code == 303
    survey_center.name_vi = "Trung tâm Phục vụ hành chính công phường Đổi Tên"
    db.session.commit()
    assert "phường Đổi Tên" in app.test_client().get("/s/qn-test").get_data(as_text=True)


def test_the_load_generator_reads_the_tokens_a_browser_sends(survey_center, client):
    from bench.load.phones import hidden_tokens

    page = client.get("/s/qn-test").get_data()
    assert hidden_tokens(page) == hidden_inputs(page.decode("utf-8"))
    assert set(hidden_tokens(page)) == {"csrf_token", "started"}


def test_page_views_read_without_a_transaction_and_submissions_write_in_one(app, survey_center, client, db):
    from sqlalchemy import event

    from app.extensions import db as app_db

    with app.app_context():
        engine = app_db.engine
    levels = []

    def record(conn, cursor, statement, parameters, context, executemany):
        levels.append(conn.get_execution_options().get("isolation_level"))

    event.listen(engine, "before_cursor_execute", record)
    try:
        tokens = hidden_inputs(client.get("/s/qn-test").get_data(as_text=True))
        assert levels and set(levels) == {"AUTOCOMMIT"}
        levels.clear()
        assert client.post("/s/qn-test", data={**tokens, **complete_answers()}).status_code == 303
        assert levels and "AUTOCOMMIT" not in levels
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_head_request_is_answered_like_a_page_view(survey_center, client, db):
    """Link checkers and some browsers ask with HEAD first: the survey page exists, nothing is stored."""
    response = client.head("/s/qn-test")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert count_responses(db) == 0
