"""Property-based tests: whatever a phone, a CSV file or an API client sends, the server never
answers 500 and never writes half of anything."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from app.models import Answer, DossierLink, Response, ResponseFlag, ResponseLinkage, ServiceCenter
from surveys import load_instrument
from tests.app.conftest import complete_answers, hidden_inputs

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
INSTRUMENT = load_instrument("sipas-dvhcc-2023@1")
CODES = list(INSTRUMENT.question_codes)

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
value = st.one_of(
    st.sampled_from(["1", "2", "3", "4", "5", "9", "0", "6", "", " 5", "direct", "time", "ho-tich", "x" * 40]),
    text,
)
answer_changes = st.dictionaries(
    st.one_of(st.sampled_from(CODES + ["started", "website"]), st.text(min_size=1, max_size=12)),
    st.one_of(value, st.lists(value, max_size=3)),
    max_size=8,
)


def counts(db) -> tuple[int, int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model)) for model in (Response, Answer, ResponseLinkage, ResponseFlag)
    )


def wipe(db) -> None:
    with db.engine.begin() as connection:
        for model in (ResponseFlag, ResponseLinkage, Answer, Response):
            connection.execute(delete(model))


@PROPERTY_SETTINGS
@given(changes=answer_changes, drop=st.sets(st.sampled_from(CODES), max_size=5))
def test_survey_post_never_fails_or_half_writes(app, survey_center, db, changes, drop):
    wipe(db)
    phone = app.test_client()
    tokens = hidden_inputs(phone.get("/s/qn-test").get_data(as_text=True))
    data = {k: v for k, v in complete_answers().items() if k not in drop}
    data.update(tokens)
    data.update(changes)
    response = phone.post("/s/qn-test", data=data)
    assert response.status_code in (303, 400, 409, 413, 422, 429), response.status_code
    responses, answers, linkage, _ = counts(db)
    if response.status_code == 303:
        assert responses in (0, 1)  # 0: the honeypot was filled
        if responses:
            assert answers > 0 and linkage == 1
            stored = db.session.scalars(select(Answer)).all()
            for answer in stored:
                question = INSTRUMENT.question(answer.question_code)
                if answer.value is not None and question.type != "field":
                    assert answer.value in question.values
    else:
        assert (responses, answers, linkage) == (0, 0, 0)


@PROPERTY_SETTINGS
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda s: s.encode("utf-8"))))
def test_raw_bodies_never_fail(app, survey_center, db, body):
    wipe(db)
    phone = app.test_client()
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json"):
        response = phone.post("/s/qn-test", data=body, content_type=content_type)
        assert response.status_code in (400, 413, 422), response.status_code
    assert counts(db)[:3] == (0, 0, 0)


cell = st.one_of(st.sampled_from(["qn-x", "qn-test", "c-qn-test", "commune", "province", "2025-07-01", "31/02/2025", "1", "0", ""]), text)
rows = st.lists(st.lists(cell, min_size=0, max_size=8), max_size=6)
headers = st.one_of(
    st.just(["code", "name_vi", "unit_code", "level", "valid_from", "active"]),
    st.lists(st.sampled_from(["code", "name_vi", "unit_code", "level", "name_en", "valid_from", "valid_to", "active", "address", "instrument", "xyz"]), max_size=8),
)


@PROPERTY_SETTINGS
@given(header=headers, body=rows, delimiter=st.sampled_from([",", ";"]))
def test_centre_import_never_fails_and_rejected_rows_change_nothing(runner, survey_center, db, tmp_path_factory, header, body, delimiter):
    with db.engine.begin() as connection:
        connection.execute(delete(ServiceCenter).where(ServiceCenter.code != "qn-test"))
    before = {c.code: (c.name_vi, c.active) for c in db.session.scalars(select(ServiceCenter).execution_options(populate_existing=True))}
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(body)
    path = tmp_path_factory.mktemp("csv") / "c.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = runner.invoke(args=["sipas", "import-centers", str(path)])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    after = {c.code: (c.name_vi, c.active) for c in db.session.scalars(select(ServiceCenter).execution_options(populate_existing=True))}
    accepted = {line.split(": ")[1] for line in result.output.splitlines() if line.startswith("row ") and (": created" in line or ": updated" in line)}
    assert set(after) - set(before) <= accepted
    for code in set(before) - accepted:
        assert after.get(code) == before[code]


@PROPERTY_SETTINGS
@given(
    keys=st.lists(st.sampled_from(["center_code", "field_code", "channel", "xyz", ""]), min_size=0, max_size=3),
    values=st.lists(st.lists(st.one_of(st.sampled_from(["qn-test", "ho-tich", "direct", "10", "-3", "abc", "1e400", ""]), text), min_size=1, max_size=4), max_size=5),
)
def test_totals_files_never_crash_the_analysis_command(tmp_path_factory, keys, values):
    from analysis.cli import main

    folder = tmp_path_factory.mktemp("totals")
    responses = folder / "responses.csv"
    answers = complete_answers()
    header = ["response_id", "submitted_at", "instrument", "center_code", "field_code", "channel", "flags"] + [c for c in CODES if c not in ("field_code", "channel")]
    row = ["r1", "2026-03-14T09:21:05+07:00", "sipas-dvhcc-2023@1", "qn-test", "ho-tich", "direct", ""] + [
        ";".join(answers[c]) if isinstance(answers.get(c), list) else answers.get(c, "") for c in header[7:]
    ]
    with responses.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, row])
    totals = folder / "totals.csv"
    with totals.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([keys + ["population"], *values])
    out = folder / "out.json"
    status = main(["indices", str(responses), "--out", str(out), "--weighting", "poststrat", "--totals", str(totals)])
    assert status in (0, 2)
    if status == 2:
        assert not out.exists()
    else:
        assert json.loads(out.read_text(encoding="utf-8"))["results"]


@pytest.fixture()
def api_headers(runner, make_user, survey_center):
    make_user("admin", email="api@example.vn")
    token = runner.invoke(args=["sipas", "api-token", "--email", "api@example.vn"]).output.split()[-1]
    return {"Authorization": f"Bearer {token}"}


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text, st.sampled_from(["qn-test", "ho-tich", "HS-1"])),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=6,
)


@PROPERTY_SETTINGS
@given(body=st.one_of(json_values, st.dictionaries(st.sampled_from(["dossier_code", "center_code", "field_code", "x"]), json_values, max_size=4)))
def test_api_parameters_never_fail(client, api_headers, db, body):
    before = db.session.scalar(select(func.count()).select_from(DossierLink))
    response = client.post("/api/v1/dossier-links", json=body, headers=api_headers)
    assert response.status_code in (201, 400, 403, 404, 409, 422), response.status_code
    payload = response.get_json()
    after = db.session.scalar(select(func.count()).select_from(DossierLink))
    if response.status_code == 201:
        assert after - before in (0, 1) and "/r/" in payload["url"]
    else:
        assert after == before and set(payload["error"]) >= {"status", "message"}
