"""Storing a citizen's answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.models import Answer, Field, Response, ResponseFlag, ServiceCenter
from app.services.instruments import ensure_published
from app.services.quality import submission_flags
from surveys import Instrument


@dataclass(frozen=True)
class StoredResponse:
    id: int
    uid: str


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
    min_plausible_seconds: int,
    source: str = "survey",
    poster_id: int | None = None,
    counter_id: int | None = None,
) -> StoredResponse:
    """Insert one response with its answers and quality flags in the session's transaction.

    Never commits.

    ``answers`` must already be validated against ``instrument``: codes by question code, a list
    for several choices, text for open questions.
    """
    version = ensure_published(session, instrument)
    field_code = answers.get("field_code")
    field = fields_by_code.get(field_code) if isinstance(field_code, str) else None
    channel = answers.get("channel")
    uid = str(uuid.uuid4())
    # Core inserts: a survey submission is the hot path, and the ORM unit of work costs more
    # than the rows themselves.
    response_id = session.execute(
        insert(Response)
        .values(
            uid=uid,
            center_id=center.id,
            instrument_version_id=version.id,
            field_id=field.id if field is not None else None,
            poster_id=poster_id,
            counter_id=counter_id,
            channel=channel if isinstance(channel, str) else None,
            locale=locale,
            source=source,
            started_at=started_at,
            submitted_at=submitted_at,
        )
        .returning(Response.id)
    ).scalar_one()
    rows = []
    for question in instrument.questions:
        answer = answers.get(question.code)
        if answer is None:
            continue
        if question.type == "text":
            rows.append({"response_id": response_id, "question_code": question.code, "value": None, "text": answer})
        else:
            for value in answer if isinstance(answer, list) else [answer]:
                rows.append({"response_id": response_id, "question_code": question.code, "value": value, "text": None})
    if rows:
        session.execute(insert(Answer), rows)
    flags = [
        {"response_id": response_id, "code": code, "reason": reason}
        for code, reason in submission_flags(started_at, submitted_at, min_plausible_seconds)
    ]
    if flags:
        session.execute(insert(ResponseFlag), flags)
    return StoredResponse(response_id, uid)
