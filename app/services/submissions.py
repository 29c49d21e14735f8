"""Storing a citizen's answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import JSON, Date, Text, bindparam, cast, column, func, insert, or_, select, true
from sqlalchemy.orm import Session

from analysis.integrity import Rules, Submission
from app.models import Answer, Field, Poster, Response, ResponseLinkage, ServiceCenter
from app.services.instruments import published_version_id
from app.services.quality import (
    StoredBaseline, recent_before_insert, recent_from_rows, recent_parameters, record_flags, stored_baseline_before_insert,
    stored_from_row,
)
from surveys import Instrument


@dataclass(frozen=True)
class StoredResponse:
    id: int
    uid: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Linkage:
    """Where a response came from, as keyed hashes (``app.services.linkage``)."""

    via: str
    day: date
    device_hash: str | None
    network_hash: str | None


_RESPONSES, _ANSWERS, _LINKAGE = Response.__table__, Answer.__table__, ResponseLinkage.__table__
# A linkage row is its response's id, centre and time, and the fields of ``Linkage``.
_LINKAGE_VALUES = tuple(field.name for field in fields(Linkage))
_INSERT_ANSWERS = insert(_ANSWERS)


def _guards(response: dict, open_on: date | None) -> tuple[str, ...]:
    """What a guarded insert checks (``submit_response``'s ``open_on``): its centre, and its field
    and its poster issue when it names them; nothing without ``open_on``."""
    if open_on is None:
        return ()
    return ("center", *(name for name in ("field", "poster") if response[f"{name}_id"] is not None))


def _still_valid(guards: tuple[str, ...]) -> list:
    """The conditions of ``guards``: the centre active and valid on ``open_on``, the field
    active, the poster issue the centre's and not revoked."""
    centres, open_on = ServiceCenter.__table__.c, bindparam("open_on", type_=Date)
    center_id = bindparam("center_id", type_=_RESPONSES.c.center_id.type)
    required = [
        select(centres.id).where(
            centres.id == center_id,
            centres.active.is_(True),
            centres.valid_from <= open_on,
            or_(centres.valid_to.is_(None), centres.valid_to >= open_on),
        ).exists()
    ]
    if "field" in guards:
        field = Field.__table__.c
        required.append(
            select(field.id).where(field.id == bindparam("field_id", type_=field.id.type), field.active.is_(True)).exists()
        )
    if "poster" in guards:
        poster = Poster.__table__.c
        required.append(
            select(poster.id).where(
                poster.id == bindparam("poster_id", type_=poster.id.type),
                poster.center_id == center_id,
                poster.revoked_at.is_(None),
            ).exists()
        )
    return required


def _insert_response(columns: tuple[str, ...], guards: tuple[str, ...], typed: bool):
    """The response's row from parameters named as its columns, written only while the
    conditions of ``guards`` hold (INSERT ... SELECT ... WHERE), so nothing is read first.
    ``typed`` casts each parameter to its column's type (PostgreSQL types a bare parameter in a
    select list as text; SQLite would turn a time cast to DATETIME into a number)."""

    def value(name: str):
        parameter = bindparam(name, type_=_RESPONSES.c[name].type)
        return cast(parameter, _RESPONSES.c[name].type) if typed else parameter

    row = select(*(value(name) for name in columns))
    if guards:
        row = row.where(*_still_valid(guards))
    return insert(_RESPONSES).from_select(list(columns), row)


@lru_cache(maxsize=None)
def _sqlite_insert_response(columns: tuple[str, ...], guards: tuple[str, ...]):
    return _insert_response(columns, guards, typed=False).returning(_RESPONSES.c.id)


def _insert_linkage(response, *where):
    """The linkage of the response found in ``response`` (the responses table, or the CTE that
    inserts the row), taking its id, centre and time from there."""
    return insert(_LINKAGE).from_select(
        ["response_id", "center_id", "created_at", *_LINKAGE_VALUES],
        select(
            response.c.id,
            response.c.center_id,
            response.c.submitted_at,
            *(bindparam(name, type_=_LINKAGE.c[name].type) for name in _LINKAGE_VALUES),
        ).where(*where),
    )


_INSERT_LINKAGE = _insert_linkage(_RESPONSES, _RESPONSES.c.id == bindparam("response_id"))


@lru_cache(maxsize=None)
def _insert_submission(columns: tuple[str, ...], linked: bool, with_recent: bool, guards: tuple[str, ...]):
    """PostgreSQL: the response, its answers and (when ``linked``) its linkage as one statement of
    data-modifying CTEs, returning the response's id (``response_id``): one round trip and one
    statement to parse, plan and execute instead of three. All or nothing, like the three.
    With ``with_recent`` it also reads the fraud checks' recent responses
    (``quality.recent_before_insert``): a row per recent response beside the id, each with the
    centre's stored baseline for the day (``quality.stored_baseline_before_insert``).
    A response that ``guards`` no longer allow (``_insert_response``) writes nothing, and the
    statement returns no row.

    The answers travel as one JSON array of rows (``json_to_recordset``): psycopg adapts one
    string much faster than three arrays of thirty, and the server reads thirty rows from one
    parameter instead of one per row."""
    response = (
        _insert_response(columns, guards, typed=True)
        .returning(_RESPONSES.c.id, _RESPONSES.c.center_id, _RESPONSES.c.submitted_at)
        .cte("new_response")
    )
    answer = (
        func.json_to_recordset(bindparam("answers", type_=JSON))
        .table_valued(column("question_code", Text), column("value", Text), column("text", Text))
        .render_derived("answer", with_types=True)
    )
    new_answers = insert(_ANSWERS).from_select(
        ["response_id", "question_code", "value", "text"],
        # One response row joined to every answer row.
        select(response.c.id, answer.c.question_code, answer.c.value, answer.c.text).select_from(
            response.join(answer, true())
        ),
    ).cte("new_answers")
    ctes = [new_answers]
    if linked:
        ctes.append(_insert_linkage(response).cte("new_linkage"))
    statement = select(response.c.id.label("response_id"))
    if with_recent:
        recent, stored = recent_before_insert(), stored_baseline_before_insert()
        statement = statement.add_columns(recent, stored).select_from(
            response.outerjoin(recent, true()).outerjoin(stored, true())
        )
    return statement.add_cte(*ctes)


def submit_response(
    session: Session,
    *,
    center: ServiceCenter,
    instrument: Instrument,
    answers: dict[str, str | list[str]],
    fields_by_code: dict[str, Field],
    locale: str,
    started_at: datetime | None,
    submitted_at: datetime,
    rules: Rules,
    linkage: Linkage | None = None,
    source: str = "survey",
    poster_id: int | None = None,
    counter_id: int | None = None,
    compare_with_recent: bool = True,
    open_on: date | None = None,
) -> StoredResponse | None:
    """Insert one response with its answers, linkage and quality flags in the session's transaction.

    Never commits. ``answers`` must already be validated against ``instrument``: codes by question
    code, a list for several choices, text for open questions. With ``via = 'poster'`` the database
    refuses a second response from the same device at the same centre on the same day
    (IntegrityError).

    With ``open_on`` the insert itself checks that the centre is open that day, the field still
    active and the poster issue not revoked, and writes nothing otherwise (returns None): the
    survey takes them from a worker's memory (``survey_lookups``), which may be seconds old,
    without reading the database first.
    """
    version_id = published_version_id(session, instrument)
    field_code = answers.get("field_code")
    field = fields_by_code.get(field_code) if isinstance(field_code, str) else None
    channel = answers.get("channel")
    uid = str(uuid.uuid4())
    response = {
        "uid": uid,
        "center_id": center.id,
        "instrument_version_id": version_id,
        "field_id": field.id if field is not None else None,
        "poster_id": poster_id,
        "counter_id": counter_id,
        "channel": channel if isinstance(channel, str) else None,
        "locale": locale,
        "source": source,
        "started_at": started_at,
        "submitted_at": submitted_at,
    }
    rows = []
    for question in instrument.questions:
        answer = answers.get(question.code)
        if answer is None:
            continue
        if question.type == "text":
            rows.append({"question_code": question.code, "value": None, "text": answer})
        else:
            for value in answer if isinstance(answer, list) else (answer,):
                rows.append({"question_code": question.code, "value": value, "text": None})
    device = linkage.device_hash if linkage else None
    network = linkage.network_hash if linkage else None
    lookup = recent_parameters(center.id, device, network, submitted_at) if compare_with_recent else None
    inserted = _insert(
        session.connection(), response, rows, vars(linkage) if linkage is not None else None, lookup,
        _guards(response, open_on), open_on,
    )
    if inserted is None:
        return None
    response_id, recent, stored_baseline = inserted
    flags = record_flags(
        session,
        response_id=response_id,
        center_id=center.id,
        instrument=instrument,
        answers=answers,
        started_at=started_at,
        submitted_at=submitted_at,
        device=device,
        network=network,
        via=linkage.via if linkage else "poster",
        rules=rules,
        compare_with_recent=compare_with_recent,
        recent=recent,
        stored_baseline=stored_baseline,
    )
    return StoredResponse(response_id, uid, tuple(flags))


def _insert(
    connection, response: dict, answers: list[dict], linkage: dict | None, lookup: dict | None,
    guards: tuple[str, ...], open_on: date | None,
) -> tuple[int, list[Submission] | None, StoredBaseline | None] | None:
    """Insert the response (its columns by name), its answers and its linkage; return its id and,
    when the same statement could read them, the fraud checks' recent responses and the centre's
    stored baseline (``lookup``: the parameters of their look-up, None for none). None when
    ``guards`` refused the response.

    Core statements on the session's connection, built once: a submission is the hot path, and
    the ORM's bulk insert and building statements per request cost more than the rows. On
    PostgreSQL one statement, which reads the recent responses too; elsewhere (SQLite) one for
    each table, and ``record_flags`` reads them.
    """
    if connection.dialect.name == "postgresql":
        statement = _insert_submission(tuple(response), linkage is not None, lookup is not None, guards)
        params = {**response, "answers": answers, **(linkage or {}), **(lookup or {}), "open_on": open_on}
        rows = connection.execute(statement, params).all()
        if not rows:
            return None
        if lookup is None:
            return rows[0].response_id, None, None
        return rows[0].response_id, recent_from_rows(rows), stored_from_row(rows[0])
    statement = _sqlite_insert_response(tuple(response), guards)
    response_id = connection.execute(statement, {**response, "open_on": open_on}).scalar_one_or_none()
    if response_id is None:
        return None
    if answers:
        connection.execute(_INSERT_ANSWERS, [{"response_id": response_id, **answer} for answer in answers])
    if linkage is not None:
        connection.execute(_INSERT_LINKAGE, {"response_id": response_id, **linkage})
    return response_id, None, None
