"""The analyst's review of flagged responses: list them, decide include or exclude.

This is the one place where a comment is shown as typed (privacy.md: masked everywhere but the
analyst's own review), so that an analyst can judge whether it is genuine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Answer, Field, Response, ResponseFlag, ResponseReview, ServiceCenter
from app.services.datasets import response_conditions
from app.services.filters import Filters
from app.timeutil import VIETNAM
from surveys import load_instrument

PAGE_SIZE = 25
DECISIONS = ("include", "exclude")


@dataclass
class FlaggedResponse:
    id: int
    uid: str
    submitted_at: datetime
    seconds: float | None
    center: str
    field: str
    flags: list[tuple[str, str]]
    answers: list[tuple[str, str]]
    comment: str
    decision: str | None
    note: str | None


def flagged_responses(session: Session, filters: Filters, page: int, language: str) -> dict:
    instrument = load_instrument(filters.instrument)
    summary_codes = ["HL", *[d.question for d in instrument.index_definitions if d.kind == "element"]]
    comment_codes = {q.code for q in instrument.questions if q.role == "comment"}
    conditions = response_conditions(session, filters.selection().with_changes(exclude_flagged=False))
    base = select(Response.id).where(*conditions, Response.flags.any())
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    ids = list(session.scalars(base.order_by(Response.submitted_at.desc(), Response.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    rows = {
        r.id: r
        for r in session.scalars(select(Response).where(Response.id.in_(ids or [-1])))
    }
    centers = {c.id: c for c in session.scalars(select(ServiceCenter))}
    fields = {f.id: f for f in session.scalars(select(Field))}
    flags: dict[int, list[tuple[str, str]]] = {}
    for response_id, code, reason in session.execute(
        select(ResponseFlag.response_id, ResponseFlag.code, ResponseFlag.reason).where(ResponseFlag.response_id.in_(ids or [-1])).order_by(ResponseFlag.code)
    ):
        flags.setdefault(response_id, []).append((code, reason))
    answers: dict[int, dict[str, str]] = {}
    for response_id, code, value, text in session.execute(
        select(Answer.response_id, Answer.question_code, Answer.value, Answer.text).where(Answer.response_id.in_(ids or [-1]))
    ):
        answers.setdefault(response_id, {})[code] = text if code in comment_codes else value
    reviews = {r.response_id: r for r in session.scalars(select(ResponseReview).where(ResponseReview.response_id.in_(ids or [-1])))}
    found = []
    for response_id in ids:
        response = rows[response_id]
        given = answers.get(response_id, {})
        review = reviews.get(response_id)
        seconds = (response.submitted_at - response.started_at).total_seconds() if response.started_at else None
        found.append(
            FlaggedResponse(
                id=response.id,
                uid=response.uid,
                submitted_at=response.submitted_at.astimezone(VIETNAM),
                seconds=seconds,
                center=centers[response.center_id].name(language),
                field=fields[response.field_id].name(language) if response.field_id in fields else "",
                flags=flags.get(response_id, []),
                answers=[(code, given.get(code, "")) for code in summary_codes],
                comment=next((given[c] for c in comment_codes if given.get(c)), ""),
                decision=review.decision if review else None,
                note=review.note if review else None,
            )
        )
    return {"responses": found, "total": int(total), "page": page, "pages": max(1, math.ceil(total / PAGE_SIZE))}


def decide(session: Session, uid: str, decision: str, note: str | None, reviewer_id: int, now: datetime) -> Response | None:
    """Store (or replace) the decision on a flagged response; None if it is not flagged."""
    if decision not in DECISIONS:
        raise ValueError(decision)
    if "\x00" in uid or len(uid) > 36:
        return None
    response = session.scalars(select(Response).filter_by(uid=uid)).one_or_none()
    if response is None or not response.flags:
        return None
    review = session.get(ResponseReview, response.id)
    if review is None:
        review = ResponseReview(response_id=response.id)
        session.add(review)
    review.decision = decision
    review.note = (note or "").strip()[:500] or None
    review.reviewer_id = reviewer_id
    review.reviewed_at = now
    session.flush()
    return response
