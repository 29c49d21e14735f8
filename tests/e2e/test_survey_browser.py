"""A citizen answers the survey on a phone in headless Chromium, with and without JavaScript."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Response

pytestmark = pytest.mark.e2e

SCALE_ANSWERS = {
    "TC1": "4", "TC2": "5", "TC3": "4", "TC": "4",
    "TT1": "3", "TT2": "4", "TT3": "5", "TT4": "4", "TT": "4",
    "CC1": "5", "CC2": "5", "CC3": "5", "CC": "5",
    "KQ1": "4", "KQ2": "4", "KQ3": "4", "KQ": "4",
    "PA1": "9", "PA2": "9", "PA3": "9", "PA": "9",
    "HL": "5",
}


def test_citizen_completes_the_survey_on_a_phone(live_server, phone, survey_center, db):
    responses = []

    def collect(response):
        responses.append(response)

    phone.on("response", collect)
    phone.goto(f"{live_server}/s/qn-test")
    phone.wait_for_load_state("load")
    phone.remove_listener("response", collect)
    transferred = sum(len(r.body()) for r in responses if not 300 <= r.status < 400)
    assert transferred < 60_000, f"first view transferred {transferred} bytes"

    assert phone.locator("html").get_attribute("lang") == "vi"
    assert "Trung tâm Phục vụ hành chính công phường Thử Nghiệm" in phone.locator("header").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360, "no sideways scrolling on a phone"

    phone.select_option("select[name=field_code]", "ho-tich")
    phone.get_by_label("Trực tiếp tại Bộ phận một cửa").check()
    for code, value in SCALE_ANSWERS.items():
        phone.check(f"input[name={code}][value='{value}']")
    phone.get_by_label("Rút ngắn thời gian giải quyết").check()
    phone.fill("textarea[name=YK]", "Cán bộ hướng dẫn tận tình, chu đáo.")
    phone.get_by_role("button", name="Gửi câu trả lời").click()

    phone.wait_for_url(f"{live_server}/s/qn-test/thanks")
    assert "Cảm ơn" in phone.locator("h1").inner_text()

    stored = db.session.scalars(select(Response)).one()
    answers = {a.question_code: a.value or a.text for a in stored.answers}
    assert answers["HL"] == "5" and answers["PA"] == "9" and answers["UT"] == "time"
    assert answers["YK"] == "Cán bộ hướng dẫn tận tình, chu đáo."
    assert stored.field.code == "ho-tich" and stored.channel == "direct"


def test_a_missing_answer_is_explained_in_vietnamese(live_server, phone, survey_center, db):
    phone.goto(f"{live_server}/s/qn-test")
    phone.select_option("select[name=field_code]", "dat-dai")
    for code, value in SCALE_ANSWERS.items():
        if code != "HL":
            phone.check(f"input[name={code}][value='{value}']")
    phone.get_by_role("button", name="Gửi câu trả lời").click()
    phone.wait_for_selector("#errors")
    text = phone.locator("#errors").inner_text()
    assert "Xin Ông/Bà vui lòng trả lời câu hỏi này." in text
    assert phone.locator("input[name=TC2][value='5']").is_checked()
    assert db.session.scalars(select(Response)).all() == []


def test_page_looks_right_at_phone_width(live_server, phone, survey_center, tmp_path):
    phone.goto(f"{live_server}/s/qn-test")
    heights = phone.locator("label.opt").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert len(heights) > 100 and min(heights) >= 44, "tap targets must be at least 44 px tall"
    phone.screenshot(path=str(tmp_path / "survey.png"), full_page=False)
    assert (tmp_path / "survey.png").stat().st_size > 5_000
