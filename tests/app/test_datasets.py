"""The database path (one GROUP BY, rolled up) gives exactly the per-respondent results.

Runs on SQLite and, with DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from analysis import PostStratification, SurveyDesign, Totals, add_period, compute_indices, proportion
from analysis.io import read_responses
from app.models import Response, ResponseFlag, ResponseReview
from app.services.datasets import IndexRequest, Selection, index_table
from surveys import load_instrument

FULL = "sipas-dvhcc-2023@1"


@pytest.fixture()
def exported(app, runner, db, tmp_path):
    assert runner.invoke(args=["sipas", "seed-demo", "--responses", "400"]).exit_code == 0
    out = tmp_path / "responses.csv"
    assert runner.invoke(args=["sipas", "export-responses", "--out", str(out)]).exit_code == 0
    frame = read_responses(out)
    return frame[frame["instrument"] == FULL].reset_index(drop=True)


def database_results(app, selection: Selection, request: IndexRequest) -> pd.DataFrame:
    with app.app_context():
        from app.extensions import db as app_db

        return index_table(app_db.session, selection, request)


def assert_same(left: pd.DataFrame, right: pd.DataFrame, by: list[str]) -> None:
    keys = ["index", "kind", *by]
    left = left.sort_values(keys).reset_index(drop=True)
    right = right.sort_values(keys).reset_index(drop=True)
    assert len(left) == len(right) and len(left) > 0
    assert (left[keys].fillna("").astype(str).to_numpy() == right[keys].fillna("").astype(str).to_numpy()).all()
    for column in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
        np.testing.assert_allclose(left[column].astype(float), right[column].astype(float), rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=column)
    assert (left["n"].to_numpy() == right["n"].to_numpy()).all()
    assert (left["flag"].fillna("").to_numpy() == right["flag"].fillna("").to_numpy()).all()


@pytest.mark.parametrize("period", ["quarter", "month", "year"])
def test_database_path_equals_per_respondent_path(app, exported, period):
    instrument = load_instrument(FULL)
    data = add_period(exported, period)
    by = ["center_code", "period"]
    expected = compute_indices(data, instrument.index_definitions, strata=["center_code", "period"], by=by)
    actual = database_results(app, Selection(FULL, period=period), IndexRequest(by=tuple(by), strata=("center_code", "period")))
    assert_same(actual, expected, by)


def test_database_path_with_post_stratification_and_filters(app, exported):
    instrument = load_instrument(FULL)
    data = add_period(exported, "quarter")
    data = data[data["channel"] == "direct"].reset_index(drop=True)
    cells = data.groupby(["center_code", "field_code"]).size().reset_index(name="n")
    totals = Totals.from_frame(cells.assign(population=(cells["n"] * 7 + 3).astype(str)).drop(columns="n").astype(str))
    weighting = PostStratification(totals)
    expected = compute_indices(data, instrument.index_definitions, strata=["center_code"], weighting=weighting, by=["field_code"], ci="logit")
    request = IndexRequest(by=("field_code",), strata=("center_code",), weighting=weighting, ci="logit")
    actual = database_results(app, Selection(FULL, channels=("direct",)), request)
    assert_same(actual, expected, ["field_code"])


def test_overall_index_against_the_plain_per_respondent_estimator(app, exported):
    """SIPAS for one centre, computed with SurveyDesign row by row, equals the database path."""
    data = add_period(exported, "quarter")
    design = SurveyDesign(data, strata=["center_code", "period"])
    answer = data["HL"]
    estimate = proportion(
        design, answer.isin(["4", "5"]).to_numpy(), answer.isin(list("12345")).to_numpy(), (data["center_code"] == "qn-ha-long").to_numpy()
    )
    actual = database_results(app, Selection(FULL), IndexRequest(by=("center_code",), strata=("center_code", "period")))
    row = actual[(actual["index"] == "SIPAS") & (actual["center_code"] == "qn-ha-long")].iloc[0]
    assert row["estimate"] == pytest.approx(estimate.estimate, abs=1e-12)
    assert row["se"] == pytest.approx(estimate.se, rel=1e-10)
    assert row["n"] == estimate.n


def test_excluding_flagged_responses_respects_reviews(app, exported, db):
    from analysis import compute_indices as per_respondent

    before = database_results(app, Selection(FULL, exclude_flagged=True), IndexRequest())
    unflagged = select(Response.id).where(~Response.flags.any()).order_by(Response.id)
    ids = [i for i in db.session.scalars(unflagged) if db.session.get(Response, i).instrument_version.key == FULL][:3]
    db.session.add_all([ResponseFlag(response_id=i, code="burst", reason="test") for i in ids])
    db.session.add(ResponseReview(response_id=ids[0], decision="include"))
    already = db.session.scalars(select(ResponseFlag.response_id).where(ResponseFlag.response_id.not_in(ids))).first()
    if already is not None:
        db.session.add(ResponseReview(response_id=already, decision="include"))
    db.session.commit()
    after = database_results(app, Selection(FULL, exclude_flagged=True), IndexRequest())
    sipas = lambda frame: frame[frame["index"] == "SIPAS"].iloc[0]  # noqa: E731
    restored = 1 if already is not None and db.session.get(Response, already).instrument_version.key == FULL else 0
    assert sipas(before)["n"] - sipas(after)["n"] == 2 - restored
    everything = database_results(app, Selection(FULL), IndexRequest())
    data = exported[exported["flags"] == ""]
    assert sipas(before)["n"] == per_respondent(data, load_instrument(FULL).index_definitions).query("index == 'SIPAS'").iloc[0]["n"]
    assert sipas(everything)["n"] == len(exported)


@pytest.mark.parametrize("keys", [(), ("channel",), ("field_code", "period"), ("province_code", "level")])
def test_sufficient_tables_at_any_grain_count_every_answer_and_every_option(app, exported, keys):
    """Only the grain the keys need is grouped on; multiple choices become one question per option."""
    from app.services.datasets import sufficient_tables

    with app.app_context():
        from app.extensions import db as app_db

        respondents, answers = sufficient_tables(app_db.session, Selection(FULL), keys, questions=("HL", "UT"))
    assert list(respondents.columns[: len(keys)]) == list(keys)
    assert respondents["count"].sum() == len(exported)
    hl = exported["HL"][exported["HL"] != ""]
    assert answers.loc[answers["question"] == "HL", "count"].sum() == len(hl)
    ut = exported["UT"][exported["UT"] != ""]
    chosen = ut.str.split(";").map(set)
    for option in load_instrument(FULL).question("UT").values:
        rows = answers[answers["question"] == f"UT={option}"]
        assert rows.loc[rows["answer"] == "1", "count"].sum() == chosen.map(lambda s: option in s).sum()
        assert rows["count"].sum() == len(ut)


def test_grouping_in_parallel_ranges_of_responses_gives_the_same_tables(app, exported, monkeypatch):
    from app.services import datasets

    keys = ("center_code", "field_code", "period")
    with app.app_context():
        from app.extensions import db as app_db

        def tables():
            respondents, answers = datasets.sufficient_tables(app_db.session, Selection(FULL), keys, questions=("HL", "TC1", "UT"))
            return respondents.sort_values(list(keys)).reset_index(drop=True), answers.sort_values([*keys, "question", "answer"]).reset_index(drop=True)

        monkeypatch.setattr(datasets, "PARALLEL_PARTS", 1)
        single = tables()
        monkeypatch.setattr(datasets, "PARALLEL_PARTS", 3)
        monkeypatch.setattr(datasets, "PARALLEL_MIN_RESPONSES", 1)
        calls = []
        real = datasets._rows
        monkeypatch.setattr(datasets, "_rows", lambda connection, statement: calls.append(1) or real(connection, statement))
        parallel = tables()
    assert len(calls) == 3 * 3  # three ranges × (respondents, answers, who answered UT)
    pd.testing.assert_frame_equal(single[0], parallel[0])
    pd.testing.assert_frame_equal(single[1], parallel[1])
