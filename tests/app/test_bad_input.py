"""Bad input: a clear 4xx in the user's language, and nothing stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import Answer, Response
from tests.app.conftest import complete_answers


def nothing_stored(db) -> bool:
    responses = db.session.scalar(select(func.count()).select_from(Response))
    answers = db.session.scalar(select(func.count()).select_from(Answer))
    return responses == 0 and answers == 0


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"HL": "6"}, "Xin vui lòng chọn một trong các câu trả lời có sẵn."),
        ({"HL": "0"}, "Xin vui lòng chọn một trong các câu trả lời có sẵn."),
        ({"TC1": "9"}, "Xin vui lòng chọn một trong các câu trả lời có sẵn."),  # no "không áp dụng" on TC1
        ({"channel": "fax"}, "Xin vui lòng chọn một trong các câu trả lời có sẵn."),
        ({"UT": ["time", "bribes"]}, "Xin vui lòng chọn một trong các câu trả lời có sẵn."),
        ({"field_code": "khong-co"}, "Xin vui lòng chọn một lĩnh vực trong danh sách."),
        ({"field_code": ""}, "Xin vui lòng chọn lĩnh vực của thủ tục Ông/Bà đã giải quyết."),
        ({"HL": ""}, "Xin Ông/Bà vui lòng trả lời câu hỏi này."),
        ({"HL": ["4", "5"]}, "Xin vui lòng chỉ chọn một câu trả lời."),
        ({"YK": "x" * 2001}, "Xin vui lòng viết không quá 2000 ký tự."),
        ({"YK": "Xin chào\x00\x07"}, "Nội dung có ký tự không được phép."),
        ({"YK": "Cán bộ \x1b[31m"}, "Nội dung có ký tự không được phép."),
    ],
)
def test_invalid_answers_are_refused_in_vietnamese(survey_center, post_survey, db, changes, message):
    answers = {**complete_answers(), **changes}
    response = post_survey("qn-test", answers)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert nothing_stored(db)


@pytest.mark.parametrize("code", ["HL", "channel", "field_code", "TC", "TT", "CC", "KQ", "PA"])
def test_each_required_answer_is_enforced(survey_center, post_survey, db, code):
    answers = complete_answers()
    del answers[code]
    response = post_survey("qn-test", answers)
    assert response.status_code == 422
    assert f'href="#q-{code}"' in response.get_data(as_text=True)
    assert nothing_stored(db)


def test_text_of_exactly_2000_characters_is_accepted(survey_center, post_survey, db):
    response = post_survey("qn-test", {**complete_answers(), "YK": "ă" * 2000})
    assert response.status_code == 303
    assert db.session.scalar(select(Answer.text).where(Answer.question_code == "YK")) == "ă" * 2000


def test_comment_is_stored_nfc_normalised(survey_center, post_survey, db):
    decomposed = "Ca\u0301n bo\u0323\u0302"  # "Cán bộ" typed with combining marks
    assert post_survey("qn-test", {**complete_answers(), "YK": decomposed}).status_code == 303
    assert db.session.scalar(select(Answer.text).where(Answer.question_code == "YK")) == "Cán bộ"


def test_unknown_question_code_is_refused(survey_center, post_survey, db):
    response = post_survey("qn-test", complete_answers(), extra={"XX9": "5"})
    assert response.status_code == 422
    assert "Phiếu có câu hỏi không thuộc khảo sát này: XX9." in response.get_data(as_text=True)
    assert nothing_stored(db)


def test_missing_csrf_token_is_a_400_in_vietnamese(survey_center, open_survey, post_survey, db):
    _, tokens = open_survey("qn-test")
    response = post_survey("qn-test", complete_answers(), tokens={"started": tokens["started"]})
    assert response.status_code == 400
    assert "Phiên làm việc đã hết hạn" in response.get_data(as_text=True)
    assert nothing_stored(db)


def test_wrong_csrf_token_is_a_400(survey_center, open_survey, post_survey, db):
    _, tokens = open_survey("qn-test")
    tokens["csrf_token"] = tokens["csrf_token"][:-4] + "AAAA"
    response = post_survey("qn-test", complete_answers(), tokens=tokens)
    assert response.status_code == 400
    assert nothing_stored(db)


def test_csrf_token_from_another_session_is_refused(app, survey_center, open_survey, db):
    _, tokens = open_survey("qn-test")
    stranger = app.test_client()
    response = stranger.post("/s/qn-test", data={**tokens, **complete_answers()})
    assert response.status_code == 400
    assert nothing_stored(db)


def test_forged_start_token_is_refused(survey_center, open_survey, post_survey, db):
    _, tokens = open_survey("qn-test")
    tokens["started"] = "qn-test.AAAAAA.forged"
    response = post_survey("qn-test", complete_answers(), tokens=tokens)
    assert response.status_code == 422
    assert "Phiếu đã hết hạn hoặc không hợp lệ" in response.get_data(as_text=True)
    assert nothing_stored(db)


def test_start_token_of_another_centre_is_refused(make_center, survey_center, open_survey, post_survey, db):
    make_center(code="qn-other")
    _, other_tokens = open_survey("qn-other")
    _, tokens = open_survey("qn-test")
    tokens["started"] = other_tokens["started"]
    assert post_survey("qn-test", complete_answers(), tokens=tokens).status_code == 422
    assert nothing_stored(db)


def test_forged_centre_code_is_a_404(survey_center, open_survey, client, db):
    _, tokens = open_survey("qn-test")
    response = client.post("/s/qn-forged", data={**tokens, **complete_answers()})
    assert response.status_code == 404
    assert "Không tìm thấy trang" in response.get_data(as_text=True)
    assert nothing_stored(db)


def test_invalid_utf8_is_refused(survey_center, open_survey, client, db):
    _, tokens = open_survey("qn-test")
    from urllib.parse import urlencode

    body = urlencode({**tokens, **{k: v for k, v in complete_answers().items() if k not in ("UT", "YK")}})
    body = body.encode("ascii") + b"&YK=C%E1n+b%F4"  # Latin-1 bytes, not UTF-8
    response = client.post("/s/qn-test", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 422
    assert "Nội dung có ký tự không đọc được" in response.get_data(as_text=True)
    assert nothing_stored(db)


@pytest.mark.parametrize(
    "body, names",
    [
        (b"a=1&YK=C%C3%A1n+b%E1%BB%99+%26+%3D", []),
        (b"a=1&YK=C%E1n+b%F4", ["YK"]),
        (b"%E1=1&b=%", ["\ufffd"]),
        # A character cut in two by "&" or "=" is in neither field, though the whole body decodes
        # once the separator is taken out.
        (b"a=%C3&b=%A1", ["a", "b"]),
        (b"a%C3=%A1&b=%&%", ["a\ufffd"]),
    ],
)
def test_undecodable_fields_are_named(body, names):
    from app.input_checks import undecodable_fields

    assert undecodable_fields(body) == names


def test_oversized_body_is_a_413(survey_center, open_survey, client, db):
    _, tokens = open_survey("qn-test")
    response = client.post("/s/qn-test", data={**tokens, **complete_answers(), "YK": "a" * 100_000})
    assert response.status_code == 413
    assert "Nội dung gửi lên quá lớn" in response.get_data(as_text=True)
    assert nothing_stored(db)


def test_wrong_method_and_content_types_never_500(survey_center, open_survey, client, db):
    _, tokens = open_survey("qn-test")
    assert client.put("/s/qn-test").status_code == 405
    assert client.post("/s/qn-test", data=b"\xff\xfe\x00", content_type="application/json").status_code == 400
    multipart = client.post("/s/qn-test", data={**tokens, **complete_answers()}, content_type="multipart/form-data")
    assert multipart.status_code in (303, 422)
    assert client.post("/s/qn-test/thanks").status_code == 405


def test_english_visitor_gets_english_messages(survey_center, client, post_survey, db):
    client.get("/s/qn-test?lang=en")
    answers = complete_answers()
    del answers["HL"]
    response = post_survey("qn-test", answers)
    assert response.status_code == 422
    assert "Please answer this question." in response.get_data(as_text=True)
