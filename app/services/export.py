"""The responses CSV of interfaces.md §4, produced in chunks so memory does not grow with rows."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import Answer, Field, InstrumentVersion, Response, ResponseFlag, ServiceCenter
from app.services.privacy import mask_personal_data
from app.timeutil import VIETNAM
from surveys import parse_instrument

BASE_COLUMNS = [
    "response_id",
    "submitted_at",
    "instrument",
    "center_code",
    "province_code",
    "district_code",
    "commune_code",
    "level",
    "field_code",
    "channel",
    "locale",
    "source",
]
# Screening answers that already have their own column.
RESPONSE_COLUMNS = {"field_code", "channel"}


def _question_columns(session: Session) -> tuple[list[str], dict[int, object]]:
    versions = session.scalars(select(InstrumentVersion).order_by(InstrumentVersion.id)).all()
    instruments = {v.id: parse_instrument(json.loads(v.definition), source=v.key) for v in versions}
    demographic, other = [], []
    for instrument in instruments.values():
        for question in instrument.questions:
            target = demographic if question.role == "respondent" else other
            if question.code not in RESPONSE_COLUMNS and question.code not in demographic + other:
                target.append(question.code)
    return demographic + other, instruments


def iter_export_rows(
    session: Session, since: datetime | None = None, until: datetime | None = None, chunk_size: int = 2000
) -> Iterator[list[str]]:
    """Yield the header, then one row per response ordered by id."""
    question_columns, instruments = _question_columns(session)
    text_questions = {
        q.code for instrument in instruments.values() for q in instrument.questions if q.type == "text"
    }
    yield BASE_COLUMNS + question_columns + ["flags"]

    centers = {
        c.id: c
        for c in session.scalars(select(ServiceCenter).options(selectinload(ServiceCenter.unit)))
    }
    fields = {f.id: f.code for f in session.scalars(select(Field))}
    places = {}
    for center_id, center in centers.items():
        unit = center.unit
        places[center_id] = [
            center.code,
            _unit_code(unit, "province"),
            _unit_code(unit, "district"),
            _unit_code(unit, "commune"),
            center.level,
        ]

    last_id = 0
    while True:
        query = select(
            Response.id,
            Response.uid,
            Response.submitted_at,
            Response.instrument_version_id,
            Response.center_id,
            Response.field_id,
            Response.channel,
            Response.locale,
            Response.source,
        ).where(Response.id > last_id)
        if since is not None:
            query = query.where(Response.submitted_at >= since)
        if until is not None:
            query = query.where(Response.submitted_at < until)
        batch = session.execute(query.order_by(Response.id).limit(chunk_size)).all()
        if not batch:
            return
        ids = [row.id for row in batch]
        answers: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for response_id, code, value, text in session.execute(
            select(Answer.response_id, Answer.question_code, Answer.value, Answer.text)
            .where(Answer.response_id.in_(ids))
            .order_by(Answer.id)
        ):
            answers[response_id][code].append(mask_personal_data(text) if code in text_questions and text else value)
        flags: dict[int, list[str]] = defaultdict(list)
        for response_id, code in session.execute(
            select(ResponseFlag.response_id, ResponseFlag.code)
            .where(ResponseFlag.response_id.in_(ids))
            .order_by(ResponseFlag.code)
        ):
            flags[response_id].append(code)
        for row in batch:
            given = answers.get(row.id, {})
            yield [
                row.uid,
                row.submitted_at.astimezone(VIETNAM).isoformat(timespec="seconds"),
                instruments[row.instrument_version_id].key,
                *places[row.center_id],
                fields.get(row.field_id, ""),
                row.channel or "",
                row.locale,
                row.source,
                *[";".join(v for v in given.get(code, []) if v) for code in question_columns],
                ";".join(flags.get(row.id, [])),
            ]
        last_id = ids[-1]


def _unit_code(unit, level: str) -> str:
    found = unit.ancestor(level) if unit is not None else None
    return found.code if found is not None else ""
