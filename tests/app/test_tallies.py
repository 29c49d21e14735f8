"""Month tallies (``flask sipas aggregate``): the database path reads whole, unchanged months from
them and gives exactly what the answers give; a month that changed is read from the answers."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, select

from app.models import MonthTally, Response, ResponseFlag, ResponseReview, TalliedMonth
from app.services import datasets
from app.services.datasets import IndexRequest, Selection, index_table, sufficient_tables
from app.timeutil import VIETNAM
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
            monkeypatch.setattr(datasets, "usable_months", lambda *args: set())
        try:
            return index_table(app_db.session, selection, request)
        finally:
            monkeypatch.undo() if not tallies else None


def used_months(app) -> set[str]:
    from app.services.tallies import usable_months

    with app.app_context():
        from app.extensions import db as app_db

        version = app_db.session.scalar(select(Response.instrument_version_id).limit(1))
        return usable_months(app_db.session, version, None, None)


def test_aggregate_counts_finished_months_once(app, runner, demo):
    first = runner.invoke(args=["sipas", "aggregate"])
    assert first.exit_code == 0, first.output
    assert "months counted" in first.output and demo.session.scalar(select(func.count()).select_from(TalliedMonth)) >= 12
    assert demo.session.scalar(select(func.count()).select_from(MonthTally)) > 0
    again = runner.invoke(args=["sipas", "aggregate"])
    assert again.output.strip().startswith("0 months counted")
    assert len(used_months(app)) >= 11  # every finished month but the current one


@pytest.mark.parametrize("case", range(len(SELECTIONS)))
def test_tallied_months_give_the_same_indices_as_the_answers(app, runner, demo, monkeypatch, case):
    selection, request = SELECTIONS[case]
    live = results(app, selection, request, tallies=False, monkeypatch=monkeypatch)
    assert runner.invoke(args=["sipas", "aggregate"]).exit_code == 0
    assert used_months(app)
    assert_same(results(app, selection, request), live, list(request.by))


@pytest.mark.parametrize("one_connection", [False, True])
def test_multiple_choices_and_respondents_from_tallies_equal_the_answers(app, runner, demo, monkeypatch, one_connection):
    """Tallies read on a connection of their own, or on the session's (an in-memory SQLite)."""
    keys = ("center_code", "channel", "period")

    def tables(tallies: bool):
        with app.app_context():
            from app.extensions import db as app_db

            if not tallies:
                monkeypatch.setattr(datasets, "usable_months", lambda *args: set())
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
    months = used_months(app)
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
    assert used_months(app) == months - {flagged_month, reviewed_month}
    selection, request = Selection(FULL, period="month", exclude_flagged=True), IndexRequest(by=("period",))
    live = results(app, selection, request, tallies=False, monkeypatch=monkeypatch)
    assert_same(results(app, selection, request), live, ["period"])
    # A changed decision changes the fingerprint too.
    assert runner.invoke(args=["sipas", "aggregate"]).exit_code == 0
    assert reviewed_month in used_months(app)
    demo.session.get(ResponseReview, reviewed.id).decision = "include"
    demo.session.commit()
    assert reviewed_month not in used_months(app)
    assert_same(results(app, selection, request), results(app, selection, request, tallies=False, monkeypatch=monkeypatch), ["period"])
