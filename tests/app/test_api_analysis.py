"""``/api/v1`` for analysis: indices with the CLI's options, listings, the responses export,
the small-cell rule for centre staff, JSON errors, and a schemathesis run of the OpenAPI
document (bounded examples, no server errors, responses as documented)."""

from __future__ import annotations

import json

import hypothesis
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase
from sqlalchemy import select

from analysis.cli import main as cli_main
from app.models import AuditEvent, ServiceCenter
from app.services.api_tokens import create_api_token
from app.timeutil import now_utc


@pytest.fixture()
def seeded(app, runner, db):
    assert runner.invoke(args=["sipas", "seed-demo", "--responses", "250"]).exit_code == 0
    return db


def token_for(app, db, user) -> str:
    with app.app_context():
        token = create_api_token(db.session, app.config, user, "test", now_utc())
        db.session.commit()
    return token


@pytest.fixture()
def analyst_token(app, seeded, make_user):
    return token_for(app, seeded, make_user("analyst", email="api-analyst@example.vn"))


def get(client, token, path, **params):
    return client.get(path, query_string=params, headers={"Authorization": f"Bearer {token}"})


def test_indices_equal_the_cli_on_the_exported_responses(app, client, analyst_token, tmp_path):
    export = get(client, analyst_token, "/api/v1/responses", instrument="sipas-dvhcc-2023@1")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert export.data.startswith("\ufeff".encode())
    source = tmp_path / "responses.csv"
    source.write_bytes(export.data)
    out = tmp_path / "cli.json"
    options = ["--by", "center_code", "--strata", "center_code,period", "--period", "quarter", "--ci", "logit", "--level", "0.9"]
    assert cli_main(["indices", str(source), "--out", str(out), *options]) == 0
    expected = pd.DataFrame(json.loads(out.read_text(encoding="utf-8"))["results"])
    response = get(client, analyst_token, "/api/v1/indices", by="center_code", strata="center_code,period", period="quarter", ci="logit", level="0.9")
    assert response.status_code == 200
    actual = pd.DataFrame(response.get_json()["results"])
    assert list(actual.columns)[: len(expected.columns)] == list(expected.columns)
    assert len(actual) == len(expected)
    keys = ["index", "kind", "center_code"]
    actual = actual.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    assert (actual[keys].to_numpy() == expected[keys].to_numpy()).all()
    for column in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
        np.testing.assert_allclose(actual[column].astype(float), expected[column].astype(float), rtol=1e-9, equal_nan=True)
    assert (actual["flag"] == expected["flag"]).all() and (actual["n"] == expected["n"]).all()
    assert actual.loc[actual["n"] < 10, "small_cell"].all() and not actual.loc[actual["n"] >= 10, "small_cell"].any()
    document = response.get_json()["meta"]
    assert document["ci"] == "logit" and document["strata"] == ["center_code", "period"]


def test_staff_see_only_their_centres_without_small_cells(app, client, seeded, make_user):
    center = seeded.session.scalars(select(ServiceCenter).filter_by(code="qn-ha-long")).one()
    other = seeded.session.scalars(select(ServiceCenter).filter_by(code="qn-bai-chay")).one()
    token = token_for(app, seeded, make_user("staff", email="canbo@example.vn", centers=[center]))
    response = get(client, token, "/api/v1/indices", by="field_code")
    assert response.status_code == 200
    rows = response.get_json()["results"]
    small = [r for r in rows if r["small_cell"]]
    assert small and all(r["estimate"] is None and r["ci_low"] is None and r["flag"] == "n<10" for r in small)
    assert all(r["estimate"] is not None for r in rows if not r["small_cell"])
    assert get(client, token, "/api/v1/indices", center_code=other.code).status_code == 403
    assert get(client, token, "/api/v1/responses").status_code == 403
    assert get(client, token, "/api/v1/centers").status_code == 200


def test_errors_are_json_with_a_stable_shape(client, analyst_token):
    for params in ({"by": "gender"}, {"ci": "bayes"}, {"level": "1.5"}, {"level": "abc"}, {"weighting": "column"},
                   {"weighting": "poststrat"}, {"by": "period"}, {"since": "2026-13-01"}, {"since": "2026-05-01", "until": "2026-04-01"},
                   {"surprise": "1"}, {"instrument": "nope@1"}, {"exclude_flagged": "perhaps"}, {"channel": "fax"}):
        response = get(client, analyst_token, "/api/v1/indices", **params)
        assert response.status_code == 422, params
        body = response.get_json()
        assert set(body) == {"error"} and set(body["error"]) == {"status", "message", "request_id"}
        assert body["error"]["status"] == 422 and body["error"]["message"]
    assert get(client, analyst_token, "/api/v1/indices", since="2001-01-01", until="2001-01-31").status_code == 404
    assert client.get("/api/v1/indices").status_code == 401
    assert client.get("/api/v1/indices").get_json()["error"]["status"] == 401
    assert get(client, analyst_token, "/api/v1/nothing-here").get_json()["error"]["status"] == 404


def test_listings_and_audited_exports(client, analyst_token, seeded):
    centers = get(client, analyst_token, "/api/v1/centers").get_json()["centers"]
    assert len(centers) == 14 and {"code", "name_vi", "level", "commune_code"} <= set(centers[0])
    units = get(client, analyst_token, "/api/v1/units").get_json()["units"]
    assert any(u["level"] == "district" and u["valid_to"] for u in units)
    fields = get(client, analyst_token, "/api/v1/fields").get_json()["fields"]
    assert {f["code"] for f in fields} >= {"dat-dai", "ho-tich"}
    body = get(client, analyst_token, "/api/v1/responses", since="2000-01-01").get_data(as_text=True)
    assert body.count("\n") > 200 and "0912 345 678" not in body
    assert seeded.session.scalars(select(AuditEvent).filter_by(action="download", target="api responses")).all()
    document = client.get("/api/v1/openapi.json").get_json()
    assert {"/indices", "/centers", "/units", "/fields", "/responses", "/dossier-links"} <= set(document["paths"])


def test_schemathesis_finds_no_server_error(app, analyst_token):
    import schemathesis
    from schemathesis import checks

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    selected = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance, checks.response_schema_conformance]
    for operation in operations:
        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=12, deadline=None, database=None, derandomize=True,
            suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
        )
        def run(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {analyst_token}"}, checks=selected)

        run()


def test_nul_characters_get_422_not_a_database_error(client, analyst_token, app, seeded, make_user, sign_in):
    assert get(client, analyst_token, "/api/v1/indices", field_code="ho\x00tich").status_code == 422
    assert get(client, analyst_token, "/api/v1/responses", center_code="a\x00").status_code == 422
    response = client.post(
        "/api/v1/dossier-links", json={"dossier_code": "HS-1", "center_code": "qn-ha-long\x00"},
        headers={"Authorization": f"Bearer {analyst_token}"},
    )
    assert response.status_code == 422
    surrogate = client.post(
        "/api/v1/dossier-links", data='{"dossier_code": "HS-1", "center_code": "\\udb6e"}',
        headers={"Authorization": f"Bearer {analyst_token}", "Content-Type": "application/json"},
    )
    assert surrogate.status_code == 422
    browser = sign_in(app.test_client(), make_user("analyst", email="nul@example.vn"))
    assert browser.get("/analyst/?center=qn%00").status_code == 400
    assert browser.get("/analyst/?field=x%00y").status_code == 400
