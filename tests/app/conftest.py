"""Helpers for posting the survey form as a phone would."""

from __future__ import annotations

import re

import pytest

HIDDEN = re.compile(r'<input[^>]*name="(csrf_token|started)"[^>]*value="([^"]*)"|<input[^>]*value="([^"]*)"[^>]*name="(csrf_token|started)"')


def hidden_inputs(html: str) -> dict[str, str]:
    found = {}
    for match in HIDDEN.finditer(html):
        if match.group(1):
            found[match.group(1)] = match.group(2)
        else:
            found[match.group(4)] = match.group(3)
    return found


def complete_answers(field_code: str = "ho-tich") -> dict[str, object]:
    """A complete, valid answer set for sipas-dvhcc-2023@1."""
    answers: dict[str, object] = {
        "field_code": field_code,
        "channel": "direct",
        "result_received": "yes",
        "respondent_type": "person",
    }
    for element, items in {
        "TC": ["TC1", "TC2", "TC3"],
        "TT": ["TT1", "TT2", "TT3", "TT4"],
        "CC": ["CC1", "CC2", "CC3"],
        "KQ": ["KQ1", "KQ2", "KQ3"],
    }.items():
        for code in items:
            answers[code] = "4"
        answers[element] = "5"
    answers.update({"PA1": "9", "PA2": "9", "PA3": "9", "PA": "9", "HL": "4"})
    answers.update({"PH": "none", "TN": "no", "SL": "1", "UT": ["time", "online"], "YK": "Cán bộ rất nhiệt tình."})
    answers.update({"gender": "female", "age_group": "60+"})
    return answers


@pytest.fixture()
def open_survey(client):
    """GET the survey page; return (html, hidden tokens)."""

    def opener(code: str, query: str = ""):
        page = client.get(f"/s/{code}{query}")
        assert page.status_code == 200, page.status_code
        html = page.get_data(as_text=True)
        return html, hidden_inputs(html)

    return opener


@pytest.fixture()
def post_survey(client, open_survey):
    """Open the page for its tokens, then post ``answers`` (plus any ``extra`` fields)."""

    def poster(code: str, answers: dict, extra: dict | None = None, tokens: dict | None = None, **kwargs):
        if tokens is None:
            _, tokens = open_survey(code)
        data = {**tokens, **answers, **(extra or {})}
        return client.post(f"/s/{code}", data=data, **kwargs)

    return poster
