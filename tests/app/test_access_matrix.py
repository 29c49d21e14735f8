"""Every endpoint × every role: nothing can be left unguarded.

A new endpoint fails this test until its expected access is written down in RULES.
"""

from __future__ import annotations

import re

import pytest

from app.models import Counter

# Who may use each endpoint: "all" (including anonymous), a set of roles, or "token" (API).
RULES = {
    "static": "all",
    "public.survey_page": "all",
    "public.survey": "all",
    "public.dossier_page": "all",
    "public.dossier_survey": "all",
    "public.thanks": "all",
    "ops.healthz": "all",
    "auth.login": "all",
    "auth.logout": "all",
    "auth.account": {"staff", "analyst", "admin"},
    "staff.index": {"staff", "admin"},
    "staff.center": {"staff", "admin"},
    "staff.poster": {"staff", "admin"},
    "staff.qr": {"staff", "admin"},
    "staff.reissue": {"staff", "admin"},
    "admin.index": {"admin"},
    "admin.units": {"admin"},
    "admin.unit": {"admin"},
    "admin.unit_posters": {"admin"},
    "admin.centers": {"admin"},
    "admin.center": {"admin"},
    "admin.counter": {"admin"},
    "admin.import_centers_page": {"admin"},
    "admin.fields": {"admin"},
    "admin.field": {"admin"},
    "admin.users": {"admin"},
    "admin.user": {"admin"},
    "admin.audit_log": {"admin"},
    "analyst.index": {"analyst", "admin"},
    "analyst.element": {"analyst", "admin"},
    "analyst.breakdown": {"analyst", "admin"},
    "analyst.trend": {"analyst", "admin"},
    "analyst.ranking": {"analyst", "admin"},
    "analyst.perceptions": {"analyst", "admin"},
    "analyst.drivers": {"analyst", "admin"},
    "analyst.comments": {"analyst", "admin"},
    "analyst.review": {"analyst", "admin"},
    "analyst.review_decision": {"analyst", "admin"},
    "analyst.weighting": {"analyst", "admin"},
    "analyst.weighting_delete": {"analyst", "admin"},
    "analyst.weighting_file": {"analyst", "admin"},
    "analyst.results": {"analyst", "admin"},
    "analyst.responses": {"analyst", "admin"},
    "analyst.report": {"analyst", "admin"},
    "api.openapi": "all",
    "api.dossier_links": "token",
    "api.indices": "token",
    "api.centers": "token",
    "api.units": "token",
    "api.fields": "token",
    "api.responses_export": "token",
}
ROLES = ["anonymous", "staff", "analyst", "admin"]


@pytest.fixture()
def world(app, survey_center, make_center, make_user, db):
    other = make_center(code="qn-other")
    counter = Counter(center_id=survey_center.id, code="1", name="Quầy số 1")
    db.session.add(counter)
    db.session.commit()
    users = {
        "staff": make_user("staff", centers=[survey_center]),
        "analyst": make_user("analyst"),
        "admin": make_user("admin"),
    }
    values = {
        "center_code": survey_center.code,
        "code": survey_center.code,
        "center_id": survey_center.id,
        "counter_id": counter.id,
        "unit_id": survey_center.unit_id,
        "field_id": 1,
        "user_id": users["staff"].id,
        "token": "unknown-token",
        "kind": "png",
        "filename": "site.css",
        "dimension": "center",
        "uid": "no-such-response",
        "totals_id": 1,
        "fmt": "csv",
    }
    from app.models import Field

    values["field_id"] = db.session.query(Field).first().id
    app.config["WTF_CSRF_ENABLED"] = False
    yield users, values, other
    app.config["WTF_CSRF_ENABLED"] = True


def url_for_rule(rule, values) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def test_every_endpoint_has_a_rule(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(RULES), f"unlisted: {endpoints - set(RULES)}; stale: {set(RULES) - endpoints}"


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app, world, sign_in, role):
    users, values, _ = world
    for rule in app.url_map.iter_rules():
        expected = RULES[rule.endpoint]
        method = "GET" if "GET" in rule.methods else "POST"
        client = app.test_client()
        if role != "anonymous":
            sign_in(client, users[role])
        url = url_for_rule(rule, values)
        response = client.open(url, method=method)
        response.close()
        denied = response.status_code in (401, 403) or (
            response.status_code == 302 and "/auth/login" in response.headers.get("Location", "")
        )
        where = f"{role} {method} {url} -> {response.status_code}"
        assert response.status_code < 500, where
        if expected == "all":
            assert not denied, where
        elif expected == "token":
            assert response.status_code == 401, where
        elif role in expected:
            assert not denied, where
        elif role == "anonymous":
            assert response.status_code == 302 and "/auth/login" in response.headers["Location"], where
        else:
            assert response.status_code == 403, where


def test_staff_cannot_open_another_centres_pages(app, world, sign_in):
    users, _, other = world
    client = sign_in(app.test_client(), users["staff"])
    for path in ("", "/poster.pdf", "/qr.png", "/qr.svg"):
        assert client.get(f"/staff/centers/{other.code}{path}").status_code == 403, path
    assert client.post(f"/staff/centers/{other.code}/reissue").status_code == 403
    index = client.get("/staff/").get_data(as_text=True)
    assert "qn-test" in index and "qn-other" not in index


def test_staff_pages_show_counts_but_no_answers(app, world, sign_in, post_survey):
    from tests.app.conftest import complete_answers

    users, _, _ = world
    app.config["WTF_CSRF_ENABLED"] = True
    assert post_survey("qn-test", complete_answers()).status_code == 303
    client = sign_in(app.test_client(), users["staff"])
    page = client.get("/staff/centers/qn-test").get_data(as_text=True)
    assert "Tổng số: 1" in page
    # The random CSRF token may contain any letters (once it held "MHLx"), so it is left out.
    page = re.sub(r'name="csrf_token" value="[^"]*"', "", page)
    assert "Cán bộ rất nhiệt tình" not in page and "HL" not in page
