"""Quality flags raised when a response is stored, using the rules of ``analysis.integrity``.

A flag never refuses a response: it marks it so that analysts can review it and every index can
be shown with and without flagged responses. Flags are written in the same transaction as the
response, so an export right after a submission shows them.
"""

from __future__ import annotations

import re
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Sequence

from sqlalchemy import and_, bindparam, case, delete, exists, func, literal_column, or_, select, true, union, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from analysis.integrity import CentreBaseline, Rules, Submission, baseline_period, flags_for
from app.models import Answer, CenterBaseline, Response, ResponseFlag, ResponseLinkage, ResponseReview
from surveys import Instrument, available_instruments, load_instrument

RECENT_WINDOW = timedelta(hours=3)
SCALE_VALUES = ("1", "2", "3", "4", "5")
# A centre's baseline covers the 28 days before today, so one computation serves it all day:
# it is stored (``CenterBaseline``) and each worker remembers the ones it used.
_BASELINES: OrderedDict[tuple, CentreBaseline] = OrderedDict()
_BASELINE_CACHE_SIZE = 4096


@lru_cache(maxsize=1)
def scale_question_codes() -> frozenset[str]:
    """Codes of the satisfaction-scale questions of every shipped instrument (the codes are shared)."""
    return frozenset(
        q.code for key in available_instruments() for q in load_instrument(key).questions if q.type == "scale"
    )


def clear_baseline_cache() -> None:
    _BASELINES.clear()


@dataclass(frozen=True)
class StoredBaseline:
    """The centre's stored counts for the day (responses, top rated, satisfied), or None, as a
    statement that ran anyway has read them (``stored_baseline_before_insert``)."""

    counts: tuple[int, int, int] | None


def centre_baseline(
    session: Session, center_id: int, submitted_at: datetime, rules: Rules, stored: StoredBaseline | None = None
) -> CentreBaseline:
    """The centre's usual traffic over the 28 days before the submission's day
    (``analysis.integrity.CentreBaseline``): poster-link responses, leaving out flagged ones no
    analyst has included, counted by their lowest satisfaction answer.

    Counted once per centre and day for every worker and server (``CenterBaseline``): the
    first submission of the day at a centre counts it and stores it in its own transaction
    (and deletes the centre's rows of earlier days); later ones read the row, or the worker's
    memory. A concurrent first submission keeps the row already there. ``stored``: the row as
    read already (the submission's insert on PostgreSQL reads it), so as not to read it again."""
    start, end = baseline_period(submitted_at)
    key = (str(session.get_bind().url), center_id, end)
    if key in _BASELINES:
        _BASELINES.move_to_end(key)
        return _BASELINES[key]
    connection = session.connection()
    day = end.date()
    if stored is None:
        stored = stored_from_row(connection.execute(_STORED_BASELINE, {"center": center_id, "baseline_day": day}).one_or_none())
    counts = stored.counts
    if counts is None:
        params = {"center_id": center_id, "start": start, "end": end}
        counts = tuple(count or 0 for count in connection.execute(_baseline_statement(), params).one())
        connection.execute(_FORGET_BASELINES, {"center_id": center_id, "day": day})
        connection.execute(
            _STORE_BASELINE[connection.dialect.name],
            {"center_id": center_id, "day": day, "responses": counts[0], "top_rated": counts[1], "satisfied": counts[2]},
        )
    responses, top, satisfied = counts
    baseline = CentreBaseline(
        responses=responses,
        top_rated=top,
        satisfied=satisfied,
        opening_hours=rules.hours_for(str(center_id)).hours_between(start, end),
    )
    _BASELINES[key] = baseline
    if len(_BASELINES) > _BASELINE_CACHE_SIZE:
        _BASELINES.popitem(last=False)
    return baseline


def _insert_keeping_existing(table, key: list[str]) -> dict:
    """An insert per dialect that leaves a row whose ``key`` is taken as it is."""
    return {
        name: dialect.insert(table).on_conflict_do_nothing(index_elements=key)
        for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
    }


_BASELINES_TABLE = CenterBaseline.__table__
# The centre's stored baseline for a day: run alone, or as a subquery of the statement that
# inserts a response (``stored_baseline_before_insert``); its row goes to ``stored_from_row``.
_STORED_BASELINE = select(
    _BASELINES_TABLE.c.responses.label("baseline_responses"),
    _BASELINES_TABLE.c.top_rated.label("baseline_top_rated"),
    _BASELINES_TABLE.c.satisfied.label("baseline_satisfied"),
).where(_BASELINES_TABLE.c.center_id == bindparam("center"), _BASELINES_TABLE.c.day == bindparam("baseline_day"))
_FORGET_BASELINES = delete(_BASELINES_TABLE).where(
    _BASELINES_TABLE.c.center_id == bindparam("center_id"), _BASELINES_TABLE.c.day < bindparam("day")
)
_STORE_BASELINE = _insert_keeping_existing(_BASELINES_TABLE, ["center_id", "day"])


def _constants(values) -> list:
    """Codes of the shipped instruments as SQL literals: written into a statement once, when it is
    compiled, rather than expanded into it at every execution as parameters would be."""
    for value in values:
        if not _CODE.fullmatch(value):
            raise ValueError(f"not a plain code: {value!r}")
    return [literal_column(f"'{value}'") for value in values]


_CODE = re.compile(r"[A-Za-z0-9_.+-]{1,32}")


def _is_scale_answer():
    """A satisfaction answer (1–5 to a scale question); the constant codes are written into the SQL."""
    return and_(
        Answer.question_code.in_(_constants(sorted(scale_question_codes()))),
        Answer.value.in_(_constants(SCALE_VALUES)),
    )


@lru_cache(maxsize=1)
def _baseline_statement():
    """One statement, built once: the counted responses, each with its lowest satisfaction answer
    (a look-up in the answers' unique index), and how many are top-rated and satisfied."""
    flagged = exists().where(ResponseFlag.response_id == Response.id)
    included = exists().where(ResponseReview.response_id == Response.id, ResponseReview.decision == "include")
    poster = or_(ResponseLinkage.via == "poster", ResponseLinkage.response_id.is_(None))
    lowest = (
        select(func.min(Answer.value))
        .where(Answer.response_id == Response.id, _is_scale_answer())
        .scalar_subquery()
    )
    counted = (
        select(Response.id, lowest.label("lowest"))
        .outerjoin(ResponseLinkage, ResponseLinkage.response_id == Response.id)
        .where(
            Response.center_id == bindparam("center_id"),
            Response.submitted_at >= bindparam("start"),
            Response.submitted_at < bindparam("end"),
            poster,
        )
        .where(or_(~flagged, included))
        .subquery()
    )
    return select(
        func.count(),
        func.count().filter(counted.c.lowest == "5"),
        func.count().filter(counted.c.lowest.in_(_constants(("4", "5")))),
    )


def rules_from_config(config) -> Rules:
    return config.get("INTEGRITY_RULES") or Rules()


def scale_answers(instrument: Instrument, answers: dict) -> tuple[str, ...]:
    values = []
    for code, scale_values in _scale_questions(instrument):
        answer = answers.get(code)
        if isinstance(answer, str) and answer in scale_values:
            values.append(answer)
    return tuple(values)


# The scale questions of each instrument and their satisfaction codes, found once per instrument
# rather than at every submission (``Instrument.questions`` and ``Question.scale_values`` are
# computed each time they are read).
_SCALE_QUESTIONS: dict[str, tuple[Instrument, tuple[tuple[str, frozenset[str]], ...]]] = {}


def _scale_questions(instrument: Instrument) -> tuple[tuple[str, frozenset[str]], ...]:
    found = _SCALE_QUESTIONS.get(instrument.key)
    if found is None or found[0] is not instrument:
        questions = tuple((q.code, frozenset(q.scale_values)) for q in instrument.questions if q.type == "scale")
        found = _SCALE_QUESTIONS[instrument.key] = (instrument, questions)
    return found[1]


RECENT_LIMIT = 500


@lru_cache(maxsize=2)
def _recent_statements(limit: int = RECENT_LIMIT):
    """The look-ups of ``_recent``, built once (building them costs more than running them).

    Responses: the last hours at the centre, by the same device anywhere and from the same
    network anywhere, as three indexed look-ups (one OR across two tables would use no index),
    each keeping its newest ``limit``. Answers: per response, how many of each satisfaction
    code and how many others, counted in SQL. On PostgreSQL both in one statement: the distinct
    responses, each joined (LATERAL) to its answers' count and its satisfaction codes as one
    array, a look-up in the answers' unique index per response and one row per response (a
    busy centre's look-up returns hundreds); elsewhere the responses as one UNION ALL, then
    their answers.
    """
    columns = (
        Response.id, Response.submitted_at, Response.started_at, Response.center_id,
        ResponseLinkage.device_hash, ResponseLinkage.network_hash, ResponseLinkage.via,
    )
    since = bindparam("since")
    at_centre = (
        select(*columns)
        .outerjoin(ResponseLinkage, ResponseLinkage.response_id == Response.id)
        .where(Response.center_id == bindparam("center"), Response.submitted_at >= since)
    )
    lookups = [at_centre] + [
        select(*columns)
        .join(ResponseLinkage, ResponseLinkage.response_id == Response.id)
        .where(column == bindparam(name), ResponseLinkage.created_at >= since)
        for column, name in ((ResponseLinkage.device_hash, "device"), (ResponseLinkage.network_hash, "network"))
    ]
    newest = [lookup.order_by(Response.submitted_at.desc()).limit(limit).subquery() for lookup in lookups]
    responses = union_all(*(select(subquery) for subquery in newest))
    scale_value = case((_is_scale_answer(), Answer.value))
    answers = (
        select(Answer.response_id, scale_value, func.count())
        .where(Answer.response_id.in_(bindparam("ids", expanding=True)))
        .group_by(Answer.response_id, scale_value)
    )
    distinct = union(*(select(subquery) for subquery in newest)).subquery("recent")
    counts = (
        select(
            func.count().label("answers"),
            func.array_agg(postgresql.aggregate_order_by(Answer.value, Answer.value))
            .filter(_is_scale_answer())
            .label("scale_values"),
        )
        .where(Answer.response_id == distinct.c.id)
        .lateral("counts")
    )
    together = select(distinct, counts.c.answers, counts.c.scale_values).select_from(distinct.join(counts, true()))
    return responses, answers, together


@lru_cache(maxsize=1)
def recent_before_insert():
    """PostgreSQL: the look-up of ``_recent`` as a subquery, for the statement that inserts the
    new response (``app.services.submissions``): its parameters are ``recent_parameters``, its
    rows (those whose ``id`` is not null) go to ``recent_from_rows``.

    The parts of one statement share a snapshot, so the look-up does not see the new response,
    which ``_recent``, run after the insert, finds and leaves out: it keeps one response fewer
    from each look-up, so that both find the same."""
    return _recent_statements(RECENT_LIMIT - 1)[2].subquery("recent_responses")


@lru_cache(maxsize=1)
def stored_baseline_before_insert():
    """PostgreSQL: the centre's stored baseline for the day (``CenterBaseline``) as a subquery of
    at most one row, for the statement that inserts the new response; its parameters are
    ``recent_parameters``', its row goes to ``stored_from_row``."""
    return _STORED_BASELINE.subquery("stored_baseline")


def stored_from_row(row) -> StoredBaseline:
    """``_STORED_BASELINE``'s row, alone or beside the inserted response's id; None: no row."""
    if row is None or row.baseline_responses is None:
        return StoredBaseline(None)
    return StoredBaseline((row.baseline_responses, row.baseline_top_rated, row.baseline_satisfied))


def recent_parameters(center_id: int, device: str | None, network: str | None, now: datetime) -> dict:
    return {
        "center": center_id, "since": now - RECENT_WINDOW, "device": device, "network": network,
        "baseline_day": baseline_period(now)[1].date(),
    }


def _recent(session: Session, center_id: int, device: str | None, network: str | None, now: datetime) -> list[Submission]:
    """The last hours at the centre plus the same device or network anywhere, oldest first."""
    responses, answers, together = _recent_statements()
    connection = session.connection()
    params = recent_parameters(center_id, device, network, now)
    if connection.dialect.name == "postgresql":
        return recent_from_rows(connection.execute(together, params))
    rows = {row.id: row for row in connection.execute(responses, params)}
    answered, scale = defaultdict(int), defaultdict(list)
    for response_id, value, count in connection.execute(answers, {"ids": list(rows)}) if rows else ():
        answered[response_id] += count
        if value is not None:
            scale[response_id] += [value] * count
    return _submissions(rows, answered, {key: tuple(sorted(values)) for key, values in scale.items()})


def recent_from_rows(rows) -> list[Submission]:
    """The PostgreSQL look-up's rows (one per response) as submissions."""
    responses = {row.id: row for row in rows if row.id is not None}
    return _submissions(
        responses,
        {key: row.answers for key, row in responses.items()},
        {key: tuple(row.scale_values) for key, row in responses.items() if row.scale_values},
    )


def _submissions(rows: dict, answered: dict, scale: dict) -> list[Submission]:
    """Submissions, oldest first, from response rows by id, their numbers of answers by id and
    their satisfaction codes by id (sorted: the rules look only at which codes were given and
    how many)."""
    if not rows:
        return []
    ordered = sorted(rows.values(), key=lambda r: (r.submitted_at, r.id))
    return [
        Submission(
            key=row.id,
            center=str(row.center_id),
            submitted_at=row.submitted_at,
            seconds=(row.submitted_at - row.started_at).total_seconds() if row.started_at else None,
            scale_answers=scale.get(row.id, ()),
            answer_count=answered.get(row.id, 0),
            device=row.device_hash,
            network=row.network_hash,
            via=row.via or "poster",
        )
        for row in ordered
    ]


# Core statements built once; the database keeps the first of two concurrent identical flags.
_INSERT_FLAGS = _insert_keeping_existing(ResponseFlag.__table__, ["response_id", "code"])


def record_flags(
    session: Session,
    *,
    response_id: int,
    center_id: int,
    instrument: Instrument,
    answers: dict,
    started_at: datetime | None,
    submitted_at: datetime,
    device: str | None,
    network: str | None,
    via: str,
    rules: Rules,
    compare_with_recent: bool = True,
    recent: Sequence[Submission] | None = None,
    stored_baseline: StoredBaseline | None = None,
) -> list[str]:
    """Evaluate the rules for a stored response; insert its flags and any raised on earlier ones.

    ``recent`` are the responses ``_recent`` would find, and ``stored_baseline`` the centre's
    stored baseline, when the caller has read them already (``recent_before_insert``,
    ``stored_baseline_before_insert``)."""
    new = Submission(
        key=response_id,
        center=str(center_id),
        submitted_at=submitted_at,
        seconds=(submitted_at - started_at).total_seconds() if started_at else None,
        scale_answers=scale_answers(instrument, answers),
        answer_count=sum(len(v) if isinstance(v, list) else 1 for v in answers.values()),
        device=device,
        network=network,
        via=via,
    )
    earlier, baseline = [], None
    if compare_with_recent:
        if recent is None:
            recent = _recent(session, center_id, device, network, submitted_at)
        earlier = [s for s in recent if s.key != response_id]
        baseline = centre_baseline(session, center_id, submitted_at, rules, stored_baseline)
    flags = flags_for(new, earlier, rules, baseline)
    if flags:
        # A burst flags its earlier members again at every new response: the database keeps the
        # flags already there (and the first of two concurrent ones), so one statement suffices.
        rows = [
            {"response_id": f.key, "code": f.code, "reason": f.reason[:300]}
            for f in {(f.key, f.code): f for f in flags}.values()
        ]
        connection = session.connection()
        connection.execute(_INSERT_FLAGS[connection.dialect.name], rows)
    return [f.code for f in flags if f.key == response_id]
