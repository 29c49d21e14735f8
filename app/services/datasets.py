"""From database rows to the frames that ``analysis`` reads.

The only place that turns stored responses into statistics input. The indices come from one
``GROUP BY`` over the answers (statistics.md §6): counts per centre × field × channel × period ×
question × answer, plus respondents per centre × field × channel × period. Every domain, stratum
and weighting cell that the analyst can choose is a roll-up of those counts, so nothing else is
read, whatever the number of responses. Weights are constant within weighting cells, so counts
are the whole story (``sum_w = sum_w2 = count``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from analysis import PostStratification, Raking, StatisticsDesign, SufficientStatistics, indices_from_statistics
from app.models import AdministrativeUnit, Answer, Field, InstrumentVersion, MonthTally, Response, ServiceCenter
from app.services.response_sql import kept_when_excluding_flagged, period_expression, period_from_parts
from app.services.tallies import is_quarter, month_bounds, months_of, still_matching, tallied_periods
from app.timeutil import vietnam_day_bounds
from surveys import Instrument, load_instrument

#: Columns an analyst may report by, stratify on or weight by on the database path.
KEY_COLUMNS = ("center_code", "commune_code", "district_code", "province_code", "level", "field_code", "channel", "period")
PERIODS = ("month", "quarter", "year")


@dataclass(frozen=True)
class Selection:
    """Which responses count: one instrument version, a date range (Vietnam days, inclusive) and
    optional filters. ``exclude_flagged`` leaves out flagged responses that no analyst has
    decided to include, and responses an analyst excluded."""

    instrument: str
    since: date | None = None
    until: date | None = None
    center_codes: tuple[str, ...] = ()
    unit_codes: tuple[str, ...] = ()
    level: str | None = None
    field_codes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    exclude_flagged: bool = False
    period: str = "quarter"

    def with_changes(self, **changes) -> Selection:
        return replace(self, **changes)


@dataclass(frozen=True)
class _Scope:
    """The selection resolved against the database: ids instead of codes."""

    version_id: int
    since: date | None
    until: date | None
    center_ids: tuple[int, ...] | None  # None: every centre
    field_codes: tuple[str, ...]
    channels: tuple[str, ...]
    exclude_flagged: bool


def _scope(session: Session, selection: Selection) -> _Scope:
    instrument = load_instrument(selection.instrument)
    version_id = session.scalar(
        select(InstrumentVersion.id).filter_by(instrument_id=instrument.id, version=instrument.version)
    )
    centers = _centers(session)
    chosen = set(centers)
    if selection.center_codes:
        chosen &= {i for i, c in centers.items() if c["center_code"] in selection.center_codes}
    if selection.unit_codes:
        chosen &= {
            i for i, c in centers.items()
            if {c["commune_code"], c["district_code"], c["province_code"]} & set(selection.unit_codes)
        }
    if selection.level:
        chosen &= {i for i, c in centers.items() if c["level"] == selection.level}
    return _Scope(
        version_id=version_id if version_id is not None else -1,
        since=selection.since,
        until=selection.until,
        center_ids=None if chosen == set(centers) else tuple(sorted(chosen)),
        field_codes=tuple(selection.field_codes),
        channels=tuple(selection.channels),
        exclude_flagged=selection.exclude_flagged,
    )


def _conditions(scope: _Scope, table=Response) -> list:
    """WHERE conditions for the scope on ``Response`` or, without the dates, on ``MonthTally``."""
    conditions = [table.instrument_version_id == scope.version_id]
    start, end = vietnam_day_bounds(scope.since, scope.until)
    if table is Response and start:
        conditions.append(Response.submitted_at >= start)
    if table is Response and end:
        conditions.append(Response.submitted_at < end)
    if scope.center_ids is not None:
        conditions.append(table.center_id.in_(scope.center_ids or [-1]))
    if scope.field_codes:
        conditions.append(table.field_id.in_(select(Field.id).where(Field.code.in_(scope.field_codes))))
    if scope.channels:
        conditions.append(table.channel.in_(scope.channels))
    if scope.exclude_flagged:
        conditions.append(kept_when_excluding_flagged() if table is Response else MonthTally.excludable.is_(False))
    return conditions


def response_conditions(session: Session, selection: Selection) -> list:
    """WHERE conditions on ``Response`` for the selection (for listings beside the indices)."""
    return _conditions(_scope(session, selection))


def _centers(session: Session) -> dict[int, dict[str, str]]:
    """Key values of every centre: its code, level and the codes of its units."""
    result = {}
    # Units and their parents in three queries instead of one per centre and level.
    loading = selectinload(ServiceCenter.unit).selectinload(AdministrativeUnit.parent).selectinload(AdministrativeUnit.parent)
    for center in session.scalars(select(ServiceCenter).options(loading)):
        unit = center.unit

        def code(level: str) -> str:
            found = unit.ancestor(level) if unit is not None else None
            return found.code if found is not None else ""

        result[center.id] = {
            "center_code": center.code,
            "commune_code": code("commune"),
            "district_code": code("district"),
            "province_code": code("province"),
            "level": center.level,
        }
    return result


CENTER_KEYS = ("center_code", "commune_code", "district_code", "province_code", "level")
#: Selections of at least this many responses are grouped in ranges of response ids, each on a
#: connection of its own in a thread (the database works on them in parallel).
PARALLEL_MIN_RESPONSES = 100_000
PARALLEL_PARTS = max(1, min(4, os.cpu_count() or 1))


def sufficient_tables(
    session: Session, selection: Selection, keys: tuple[str, ...], questions: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``respondents`` and ``answers`` tables of ``analysis.sufficient`` for ``keys``.

    Two ``GROUP BY`` queries at the grain the keys need (centre, field, channel, period: only
    those that some key reads), rolled up to ``keys`` in memory. The selected responses and
    their grain come from one materialised common table expression, so that the period is
    computed once per response rather than once per answer; a large selection is grouped in
    ranges of response ids on parallel connections and the counts added. Whole months and
    quarters that ``flask sipas aggregate`` has counted and that have not changed since are read
    from their tallies instead (``app/services/tallies.py``), the rest from the answers. ``questions``
    defaults to those the instrument's indices read. A question with several choices
    (``multi``) becomes one question per option, ``UT=time``, answered ``1`` (chosen) or ``0``
    (the question answered without it), so that the share choosing an option is a proportion
    like any other (a third query counts who answered).
    """
    unknown = set(keys) - set(KEY_COLUMNS)
    if unknown:
        raise ValueError(f"unknown key columns: {', '.join(sorted(unknown))}")
    needed = {
        "center_id": bool(set(keys) & set(CENTER_KEYS)),
        "field_id": "field_code" in keys,
        "channel": "channel" in keys,
        "period": "period" in keys,
    }
    cells = [name for name, used in needed.items() if used]
    dialect = session.get_bind().dialect.name
    period = period_expression(dialect, selection.period)
    instrument = load_instrument(selection.instrument)
    questions = sorted(index_questions(instrument) if questions is None else questions)
    multi = {q.code: q.values for q in instrument.questions if q.type == "multi" and q.code in questions}

    def statements(conditions: list, bounds: tuple[int, int] | None = None) -> list:
        columns = {"center_id": Response.center_id, "field_id": Response.field_id, "channel": Response.channel, "period": period}
        selected = (
            select(Response.id.label("response_id"), *[columns[name].label(name) for name in cells])
            .where(*conditions)
            .cte("selected")
            .prefix_with("MATERIALIZED")
        )
        grain = [selected.c[name] for name in cells]
        answers = select(*grain).select_from(selected).join(Answer, Answer.response_id == selected.c.response_id)
        if bounds is not None:  # lets the database read only that range of the answers' index
            answers = answers.where(Answer.response_id.between(*bounds))
        chosen = [
            select(*grain, func.count()).select_from(selected).group_by(*grain),
            answers.add_columns(Answer.question_code, Answer.value, func.count())
            .where(Answer.question_code.in_(questions), Answer.value.is_not(None))
            .group_by(*grain, Answer.question_code, Answer.value),
        ]
        if multi:
            chosen.append(
                answers.add_columns(Answer.question_code, func.count(func.distinct(Answer.response_id)))
                .where(Answer.question_code.in_(sorted(multi)), Answer.value.is_not(None))
                .group_by(*grain, Answer.question_code)
            )
        return chosen

    scope = _scope(session, selection)
    conditions = _conditions(scope)
    monthly = "period" in cells and selection.period == "month"
    stored = tallied_periods(session, scope.version_id, scope.since, scope.until)
    if stored and not _in_memory(session):
        # The tallies are read, a query per month or quarter on connections of their own, while
        # their fingerprints are checked and the rest is grouped from the answers; a month or a
        # quarter that no longer matches is dropped, and its months are read from the answers.
        engine = session.get_bind()

        def tallied(key: str) -> list[list[tuple]]:
            with engine.connect() as connection:
                return _tallied(connection, scope, [key], cells, selection.period, questions, multi)

        with ThreadPoolExecutor(PARALLEL_PARTS) as pool:
            readings = {key: pool.submit(tallied, key) for key in _chosen(set(stored), monthly)[0]}
            periods, covered = _chosen(still_matching(session, scope.version_id, stored), monthly)
            for key in set(readings) - set(periods):
                readings.pop(key).cancel()
            readings.update({key: pool.submit(tallied, key) for key in periods if key not in readings})
            tables = _grouped(session, _outside(covered, conditions), statements)
            counted = _joined([readings.pop(key).result() for key in periods]) if periods else []
    else:
        periods, covered = _chosen(still_matching(session, scope.version_id, stored), monthly)
        tables = _grouped(session, _outside(covered, conditions), statements)
        counted = _tallied(session.connection(), scope, periods, cells, selection.period, questions, multi) if periods else []
    for table, rows in zip(tables, counted):
        table.extend(rows)
    del counted
    respondents = pd.DataFrame(tables[0], columns=[*cells, "count"])
    answers = pd.DataFrame(tables[1], columns=[*cells, "question", "answer", "count"])
    answered = pd.DataFrame(tables[2], columns=[*cells, "question", "answered"]) if multi else None
    tables.clear()  # the rows as tuples are let go before the roll-up copies the frames
    if multi:
        answers = _options_as_questions(answers, answered, cells, multi)
    centers = _centers(session)
    fields = dict(session.execute(select(Field.id, Field.code)).all())
    return _roll_up(respondents, centers, fields, keys, []), _roll_up(answers, centers, fields, keys, ["question", "answer"])


def _in_memory(session: Session) -> bool:
    """An in-memory SQLite database, which other connections cannot see."""
    return session.get_bind().url.database in (None, "", ":memory:")


def _grouped(session: Session, conditions: list, statements) -> list[list[tuple]]:
    """The rows of ``statements(conditions)``, added up over ranges of response ids when the
    selection is large enough to be worth grouping in parallel."""
    engine = session.get_bind()
    if PARALLEL_PARTS < 2 or _in_memory(session):
        return [_rows(session.connection(), statement) for statement in statements(conditions)]
    low, high, count = session.execute(
        select(func.min(Response.id), func.max(Response.id), func.count()).where(*conditions)
    ).one()
    if not count:
        return [_rows(session.connection(), statement) for statement in statements(conditions)]
    if count < PARALLEL_MIN_RESPONSES:  # the range still spares reading answers outside it
        return [_rows(session.connection(), statement) for statement in statements(conditions, (low, high))]
    step = (high - low) // PARALLEL_PARTS + 1
    ranges = [(start, min(start + step - 1, high)) for start in range(low, high + 1, step)]

    def part(bounds: tuple[int, int]) -> list[list[tuple]]:
        with engine.connect() as connection:
            return [_rows(connection, s) for s in statements([*conditions, Response.id.between(*bounds)], bounds)]

    with ThreadPoolExecutor(len(ranges)) as pool:
        return _joined(list(pool.map(part, ranges)))


def _joined(parts: list[list[list[tuple]]]) -> list[list[tuple]]:
    """The rows of each statement from several parts of the selection, one after the other."""
    return [[row for part in parts for row in part[i]] for i in range(len(parts[0]))]


def _chosen(usable: set[str], monthly: bool) -> tuple[list[str], list[str]]:
    """Of the usable tallied months and quarters, those to read (quarters unless the report is
    by month, and the months no quarter covers), and every month they cover."""
    quarters = [] if monthly else sorted(key for key in usable if is_quarter(key))
    covered = {month for quarter in quarters for month in months_of(quarter)}
    months = sorted(key for key in usable if not is_quarter(key) and key not in covered)
    return quarters + months, sorted(covered | set(months))


def _outside(months: list[str], conditions: list) -> list:
    """``conditions`` and, if there are ``months`` (Vietnam time) read from the tallies, not
    in them: ranges of ``submitted_at``, which its index serves, rather than each response's
    month compared with the list."""
    if not months:
        return conditions
    runs: list[list[date]] = []  # first and last day of consecutive months
    for month in sorted(months):
        first, last = month_bounds(month)
        if runs and runs[-1][1] + timedelta(days=1) == first:
            runs[-1][1] = last
        else:
            runs.append([first, last])
    bounds = [moment for first, last in runs for moment in vietnam_day_bounds(first, last)]
    column = Response.submitted_at
    between = [and_(column >= start, column < end) for start, end in zip(bounds[1::2], bounds[2::2])]
    return [*conditions, or_(column < bounds[0], *between, column >= bounds[-1])]


def _tallied(connection, scope: _Scope, periods: list[str], cells: list[str], period: str, questions, multi) -> list[list[tuple]]:
    """The rows of ``sufficient_tables``' statements for whole months and quarters, from
    ``month_tallies`` (the rows of a cell may repeat: one from the quarters, one from the months)."""
    if connection.dialect.name == "postgresql":
        # Room to aggregate a year of tallies in memory; only for this connection's transaction.
        connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    tables: list[list[tuple]] = [[], [], []] if multi else [[], []]
    quarters = [key for key in periods if is_quarter(key)]
    months = [key for key in periods if not is_quarter(key)]
    for chosen, period_column in ((quarters, _period_of_quarter), (months, _period_of_month)):
        if not chosen:
            continue
        columns = {
            "center_id": MonthTally.center_id,
            "field_id": MonthTally.field_id,
            "channel": MonthTally.channel,
            "period": period_column(period).label("period"),
        }
        grain = [columns[name] for name in cells]
        where = [*_conditions(scope, MonthTally), MonthTally.month.in_(chosen)]
        count = func.sum(MonthTally.count)
        question, value = MonthTally.question_code, MonthTally.value
        statements = [
            select(*grain, count).where(*where, question.is_(None)).group_by(*grain),
            select(*grain, question, value, count).where(*where, question.in_(questions), value.is_not(None))
            .group_by(*grain, question, value),
        ]
        if multi:
            statements.append(
                select(*grain, question, count).where(*where, question.in_(sorted(multi)), value.is_(None)).group_by(*grain, question)
            )
        for table, statement in zip(tables, statements):
            # Without a grain, a sum over no rows is one row of NULL.
            table.extend(row for row in _rows(connection, statement) if row[-1] is not None)
    return tables


def _period_of_month(period: str):
    """The period (as ``period_expression`` gives it) of ``MonthTally.month`` (``YYYY-MM``)."""
    month = MonthTally.month
    return period_from_parts(period, month, func.substr(month, 1, 4), func.substr(month, 6, 2))


def _period_of_quarter(period: str):
    """The quarter or the year of ``MonthTally.month`` holding a quarter (``YYYY-Qn``)."""
    if period == "month":
        raise ValueError("a quarter's tallies cannot give months")
    return MonthTally.month if period == "quarter" else func.substr(MonthTally.month, 1, 4)


def _rows(connection, statement) -> list[tuple]:
    """The statement's rows as plain tuples, executed on a Core connection.

    Fetched from the driver's cursor: these are counts, codes and ids, which need none of
    SQLAlchemy's per-row processing, and building a million ``Row`` objects and turning them
    into tuples again cost more than the query on large groupings.
    """
    result = connection.execute(statement)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _options_as_questions(answers: pd.DataFrame, answered: pd.DataFrame, cells: list[str], multi: dict) -> pd.DataFrame:
    # Rows from several ranges of response ids may repeat a cell: add them up first.
    answers = answers.groupby([*cells, "question", "answer"], sort=False, dropna=False)["count"].sum().reset_index()
    answered = answered.groupby([*cells, "question"], sort=False, dropna=False)["answered"].sum().reset_index()
    single = answers[~answers["question"].isin(list(multi))]
    parts = [single]
    for code, options in multi.items():
        base = answered[answered["question"] == code]
        chosen = answers[answers["question"] == code]
        for option in options:
            picked = chosen[chosen["answer"] == option][[*cells, "count"]]
            merged = base.merge(picked, on=cells, how="left").fillna({"count": 0}) if cells else _whole(base, picked)
            merged["count"] = merged["count"].astype("int64")
            name = f"{code}={option}"
            yes = merged.loc[merged["count"] > 0, cells].assign(question=name, answer="1", count=merged.loc[merged["count"] > 0, "count"])
            rest = merged["answered"] - merged["count"]
            no = merged.loc[rest > 0, cells].assign(question=name, answer="0", count=rest[rest > 0])
            parts.extend([yes, no])
    return pd.concat(parts, ignore_index=True)


def _whole(base: pd.DataFrame, picked: pd.DataFrame) -> pd.DataFrame:
    """``base`` with the count of ``picked`` when there are no cells to merge on (one row each)."""
    return base.assign(count=int(picked["count"].sum()))


def index_questions(instrument: Instrument) -> set[str]:
    codes = set()
    for definition in instrument.index_definitions:
        if definition.question:
            codes.add(definition.question)
        codes.update(definition.items)
    return codes


def _roll_up(frame: pd.DataFrame, centers, fields, keys, extra: list[str]) -> pd.DataFrame:
    columns = list(keys) + extra
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns} | {"count": [], "sum_w": [], "sum_w2": []})
    for key in CENTER_KEYS:
        if key in keys:
            frame[key] = frame["center_id"].map({i: values[key] for i, values in centers.items()})
    if "field_code" in keys:
        frame["field_code"] = frame["field_id"].map(fields).fillna("")
    if "channel" in frame:
        frame["channel"] = frame["channel"].fillna("")
    if "period" in frame:
        frame["period"] = frame["period"].fillna("").astype(str)
    rolled = frame.groupby(columns, sort=True, dropna=False)["count"].sum().reset_index() if columns else pd.DataFrame({"count": [frame["count"].sum()]})
    rolled["count"] = rolled["count"].astype("int64")
    rolled["sum_w"] = rolled["count"].astype(float)
    rolled["sum_w2"] = rolled["count"].astype(float)
    return rolled


@dataclass(frozen=True)
class IndexRequest:
    """What to compute: the domains, the design and the interval."""

    by: tuple[str, ...] = ()
    strata: tuple[str, ...] = ()
    weighting: PostStratification | Raking | None = field(default=None, compare=False)
    ci: str = "korn-graubard"
    level: float = 0.95


def index_table(session: Session, selection: Selection, request: IndexRequest) -> pd.DataFrame:
    """Results rows (interfaces.md §4) for the selection, through ``analysis``."""
    weighting_keys: tuple[str, ...] = ()
    if request.weighting is not None:
        weighting_keys = tuple(request.weighting.keys)
    keys = tuple(dict.fromkeys(request.by + request.strata + weighting_keys))
    respondents, answers = sufficient_tables(session, selection, keys)
    statistics = SufficientStatistics(keys, respondents, answers)
    instrument = load_instrument(selection.instrument)
    design = StatisticsDesign(statistics, strata=request.strata or None, weighting=request.weighting)
    return indices_from_statistics(
        statistics,
        instrument.index_definitions,
        by=request.by or None,
        ci=request.ci,
        level=request.level,
        design=design,
    )
