"""Month and quarter tallies (``flask sipas aggregate``): the database path reads whole, unchanged
months and quarters from them and gives exactly what the answers give; a month that changed, and
its quarter, are read from the answers."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, select

from app.models import MonthTally, Response, ResponseFlag, ResponseReview, TalliedMonth
from app.services import datasets
from app.services.datasets import IndexRequest, Selection, index_table, sufficient_tables
from app.services.tallies import is_quarter, months_of, quarter_of, still_matching, tallied_periods
from app.timeutil import VIETNAM, today_in_vietnam
from tests.app.test_datasets import FULL, assert_same

SELECTIONS = [
    (Selection(FULL, period="quarter"), IndexRequest(by=("center_code", "period"), strata=("center_code", "period"))),
    (Selection(FULL, period="month", exclude_flagged=True, channels=("direct", "online")),
     IndexRequest(by=("field_code", "period"), strata=("center_code",))),
    (Selection(FULL, period="year", since=date(2025, 12, 15), until=date(2026, 8, 31), level="commune"),
     IndexRequest(by=("commune_code",), strata=("center_code", "period"))),
]


@pytest.fixture()
def demo(app, runner, db):
    assert runner.invoke(args=["sipas", "seed-demo", "--responses", "600"]).exit_code == 0
    return db


def results(app, selection, request, tallies=True, monkeypatch=None):
    with app.app_context():
        from app.extensions import db as app_db

        if not tallies:
            monkeypatch.setattr(datasets, "tallied_periods", lambda *args: {})
        try:
            return index_table(app_db.session, selection, request)
        finally:
            monkeypatch.undo() if not tallies else None


def used_periods(app) -> set[str]:
    """The months and quarters whose tallies the database path would read now."""
    with app.app_context():
        from app.extensions import db as app_db

        version = app_db.session.scalar(select(Response.instrument_version_id).limit(1))
        return still_matching(app_db.session, version, tallied_periods(app_db.session, version, None, None))


def test_aggregate_counts_finished_months_and_quarters_once(app, runner, demo):
    first = runner.invoke(args=["sipas", "aggregate"])
    assert first.exit_code == 0, first.output
    assert " quarters counted" in first.output and demo.session.scalar(select(func.count()).select_from(TalliedMonth)) >= 12
    assert demo.session.scalar(select(func.count()).select_from(MonthTally)) > 0
    again = runner.invoke(args=["sipas", "aggregate"])
    assert again.output.strip().startswith("0 months and 0 quarters counted")
    used = used_periods(app)
    assert len({key for key in used if not is_quarter(key)}) >= 11  # every finished month but the current one
    quarters = {key for key in used if is_quarter(key)}
    assert len(quarters) >= 3 and all(months_of(quarter)[-1] < today_in_vietnam().strftime("%Y-%m") for quarter in quarters)


def test_a_quarter_holds_the_sum_of_its_months(app, runner, demo):
    assert runner.invoke(args=["sipas", "aggregate"]).exit_code == 0
    quarter = min(key for key in used_periods(app) if is_quarter(key))
    cell = (MonthTally.center_id, MonthTally.field_id, MonthTally.channel, MonthTally.excludable,
            MonthTally.question_code, MonthTally.value)

    def counts(months: list[str]) -> dict:
        rows = demo.session.execute(select(*cell, func.sum(MonthTally.count)).where(MonthTally.month.in_(months)).group_by(*cell))
        return {tuple(row[:-1]): row[-1] for row in rows}

    assert counts([quarter]) == counts(months_of(quarter)) and counts([quarter])


def test_reports_by_quarter_read_quarters_and_by_month_read_months(app, runner, demo, monkeypatch):
    assert runner.invoke(args=["sipas", "aggregate"]).exit_code == 0
    read = []
    tallied = datasets._tallied
    monkeypatch.setattr(datasets, "_tallied", lambda connection, scope, periods, *rest: read.append(periods) or tallied(connection, scope, periods, *rest))
    keys = ("center_code", "period")
    with app.app_context():
        from app.extensions import db as app_db

        by_quarter = sufficient_tables(app_db.session, Selection(FULL, period="quarter"), keys)
        quarterly = [key for periods in read for key in periods]
        read.clear()
        by_month = sufficient_tables(app_db.session, Selection(FULL, period="month"), keys)
        monthly = [key for periods in read for key in periods]
    quarters = [key for key in quarterly if is_quarter(key)]
    assert quarters and not set(quarterly) & {month for quarter in quarters for month in months_of(quarter)}
    assert monthly and not any(is_quarter(key) for key in monthly)
    monkeypatch.setattr(datasets, "tallied_periods", lambda *args: {})
    with app.app_context():
        from app.extensions import db as app_db

        for expected, selection in ((by_quarter, Selection(FULL, period="quarter")), (by_month, Selection(FULL, period="month"))):
            for ours, live in zip(expected, sufficient_tables(app_db.session, selection, keys)):
                pd.testing.assert_frame_equal(ours, live)


@pytest.mark.parametrize("case", range(len(SELECTIONS)))
def test_tallied_months_give_the_same_indices_as_the_answers(app, runner, demo, monkeypatch, case):
    selection, request = SELECTIONS[case]
    live = results(app, selection, request, tallies=False, monkeypatch=monkeypatch)
    assert runner.invoke(args=["sipas", "aggregate"]).exit_code == 0
    assert used_periods(app)
    assert_same(results(app, selection, request), live, list(request.by))


@pytest.mark.parametrize("one_connection", [False, True])
def test_multiple_choices_and_respondents_from_tallies_equal_the_answers(app, runner, demo, monkeypatch, one_connection):
    """Tallies read on a connection of their own, or on the session's (an in-memory SQLite)."""
    keys = ("center_code", "channel", "period")

    def tables(tallies: bool):
        with app.app_context():
            from app.extensions import db as app_db

            if not tallies:
                monkeypatch.setattr(datasets, "tallied_periods", lambda *args: {})
            monkeypatch.setattr(datasets, "_in_memory", lambda session: one_connection)
            frames = sufficient_tables(app_db.session, Selection(FULL, period="month"), keys, questions=("HL", "UT", "PA1"))
            monkeypatch.undo()
            return [f.sort_values(list(f.columns[:-3])).reset_index(drop=True) for f in frames]

    live = tables(False)
    assert runner.invoke(args=["sipas", "aggregate"]).exit_code == 0
    for expected, actual in zip(live, tables(True)):
        pd.testing.assert_frame_equal(actual, expected)


def test_a_month_that_changed_after_counting_is_read_from_the_answers(app, runner, demo, monkeypatch):
    assert runner.invoke(args=["sipas", "aggregate"]).exit_code == 0
    months = used_periods(app)  # and quarters
    # A flag and an analyst's decision in counted months, as the platform would add them later.
    in_month = {}
    for response in demo.session.scalars(select(Response).order_by(Response.id)):
        in_month.setdefault(response.submitted_at.astimezone(VIETNAM).strftime("%Y-%m"), []).append(response)
    flagged_month, reviewed_month = sorted(m for m in months if m in in_month)[:2]
    target = next(r for r in in_month[flagged_month] if not r.flags)
    demo.session.add(ResponseFlag(response_id=target.id, code="burst", reason="added later"))
    reviewed = next(r for r in in_month[reviewed_month] if not r.flags)
    demo.session.add(ResponseFlag(response_id=reviewed.id, code="burst", reason="added later"))
    demo.session.add(ResponseReview(response_id=reviewed.id, decision="exclude"))
    demo.session.commit()
    changed = {flagged_month, reviewed_month, quarter_of(flagged_month), quarter_of(reviewed_month)}
    assert used_periods(app) == months - changed  # and the quarters that hold them
    selection, request = Selection(FULL, period="month", exclude_flagged=True), IndexRequest(by=("period",))
    live = results(app, selection, request, tallies=False, monkeypatch=monkeypatch)
    assert_same(results(app, selection, request), live, ["period"])
    # A changed decision changes the fingerprint too.
    assert runner.invoke(args=["sipas", "aggregate"]).exit_code == 0
    assert {reviewed_month, quarter_of(reviewed_month)} <= used_periods(app)
    demo.session.get(ResponseReview, reviewed.id).decision = "include"
    demo.session.commit()
    assert not {reviewed_month, quarter_of(reviewed_month)} & used_periods(app)
    assert_same(results(app, selection, request), results(app, selection, request, tallies=False, monkeypatch=monkeypatch), ["period"])
