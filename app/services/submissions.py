"""Storing a citizen's answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import Text, bindparam, cast, func, insert, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from analysis.integrity import Rules
from app.models import Answer, Field, Response, ResponseLinkage, ServiceCenter
from app.services.instruments import published_version_id
from app.services.quality import record_flags
from surveys import Instrument


_INSERT_RESPONSE = insert(Response.__table__).returning(Response.__table__.c.id)
_INSERT_ANSWERS = insert(Answer.__table__)
# On PostgreSQL the answers travel as three arrays in one statement: a fifth of the client's work
# of an executemany of thirty rows, and one statement for the server instead of thirty.
_INSERT_ANSWER_ARRAYS = text(
    "INSERT INTO answers (response_id, question_code, value, text) SELECT :response_id, * "
    "FROM unnest(CAST(:codes AS text[]), CAST(:values AS text[]), CAST(:texts AS text[]))"
)
_INSERT_LINKAGE = insert(ResponseLinkage.__table__)
_RESPONSE_COLUMNS = (
    "uid", "center_id", "instrument_version_id", "field_id", "poster_id", "counter_id",
    "channel", "locale", "source", "started_at", "submitted_at",
)


@lru_cache(maxsize=1)
def _insert_submission():
    """PostgreSQL: the response, its answers (three arrays) and its linkage as one statement of
    data-modifying CTEs, returning the response's id: one round trip and one statement to parse,
    plan and execute instead of three. All or nothing, like the three."""
    responses, answers, linkage = Response.__table__, Answer.__table__, ResponseLinkage.__table__
    response = (
        insert(responses)
        .values({name: bindparam(name, type_=responses.c[name].type) for name in _RESPONSE_COLUMNS})
        .returning(responses.c.id)
        .cte("new_response")
    )
    arrays = [cast(bindparam(name), ARRAY(Text)) for name in ("codes", "values", "texts")]
    rows = func.unnest(*arrays).table_valued("code", "value", "text").render_derived("answer")
    new_answers = insert(answers).from_select(
        ["response_id", "question_code", "value", "text"],
        # One response row joined to every answer row.
        select(response.c.id, rows.c.code, rows.c.value, rows.c.text).select_from(response.join(rows, true())),
    ).cte("new_answers")
    linkage_values = [bindparam(name, type_=linkage.c[column].type) for name, column in (
        ("center_id", "center_id"), ("day", "day"), ("via", "via"), ("device_hash", "device_hash"),
        ("network_hash", "network_hash"), ("submitted_at", "created_at"),
    )]
    new_linkage = insert(linkage).from_select(
        ["response_id", "center_id", "day", "via", "device_hash", "network_hash", "created_at"],
        select(response.c.id, *linkage_values),
    ).cte("new_linkage")
    return select(response.c.id).add_cte(new_answers, new_linkage)


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
) -> StoredResponse:
    """Insert one response with its answers, linkage and quality flags in the session's transaction.

    Never commits. ``answers`` must already be validated against ``instrument``: codes by question
    code, a list for several choices, text for open questions. With ``via = 'poster'`` the database
    refuses a second response from the same device at the same centre on the same day
    (IntegrityError).
    """
    version_id = published_version_id(session, instrument)
    field_code = answers.get("field_code")
    field = fields_by_code.get(field_code) if isinstance(field_code, str) else None
    channel = answers.get("channel")
    uid = str(uuid.uuid4())
    # Core statements on the session's connection, built once: a submission is the hot path, and
    # the ORM's bulk insert and building statements per request cost more than the rows.
    connection = session.connection()
    response_row = {
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
            rows.append((question.code, None, answer))
        else:
            rows.extend((question.code, value, None) for value in (answer if isinstance(answer, list) else [answer]))
    if connection.dialect.name == "postgresql" and linkage is not None:
        codes, values, texts = (list(column) for column in zip(*rows)) if rows else ([], [], [])
        response_id = connection.execute(
            _insert_submission(),
            {
                **response_row,
                "codes": codes,
                "values": values,
                "texts": texts,
                "day": linkage.day,
                "via": linkage.via,
                "device_hash": linkage.device_hash,
                "network_hash": linkage.network_hash,
            },
        ).scalar_one()
    else:
        response_id = _insert_separately(connection, response_row, rows, linkage)
    flags = record_flags(
        session,
        response_id=response_id,
        center_id=center.id,
        instrument=instrument,
        answers=answers,
        started_at=started_at,
        submitted_at=submitted_at,
        device=linkage.device_hash if linkage else None,
        network=linkage.network_hash if linkage else None,
        via=linkage.via if linkage else "poster",
        rules=rules,
        compare_with_recent=compare_with_recent,
    )
    return StoredResponse(response_id, uid, tuple(flags))


def _insert_separately(connection, response_row: dict, rows: list[tuple], linkage: Linkage | None) -> int:
    """The response, its answers and its linkage as separate statements (SQLite, or no linkage)."""
    response_id = connection.execute(_INSERT_RESPONSE, response_row).scalar_one()
    if rows and connection.dialect.name == "postgresql":
        codes, values, texts = (list(column) for column in zip(*rows))
        connection.execute(_INSERT_ANSWER_ARRAYS, {"response_id": response_id, "codes": codes, "values": values, "texts": texts})
    elif rows:
        connection.execute(
            _INSERT_ANSWERS,
            [{"response_id": response_id, "question_code": code, "value": value, "text": text} for code, value, text in rows],
        )
    if linkage is not None:
        connection.execute(
            _INSERT_LINKAGE,
            {
                "response_id": response_id,
                "center_id": response_row["center_id"],
                "day": linkage.day,
                "via": linkage.via,
                "device_hash": linkage.device_hash,
                "network_hash": linkage.network_hash,
                "created_at": response_row["submitted_at"],
            },
        )
    return response_id
