"""Quality flags raised when a response is stored, using the rules of ``analysis.integrity``.

A flag never refuses a response: it marks it so that analysts can review it and every index can
be shown with and without flagged responses. Flags are written in the same transaction as the
response, so an export right after a submission shows them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from analysis.integrity import Rules, Submission, flags_for
from app.models import Answer, Response, ResponseFlag, ResponseLinkage
from surveys import Instrument

RECENT_WINDOW = timedelta(hours=3)


def rules_from_config(config) -> Rules:
    return config.get("INTEGRITY_RULES") or Rules()


def scale_answers(instrument: Instrument, answers: dict) -> tuple[str, ...]:
    values = []
    for question in instrument.questions:
        answer = answers.get(question.code)
        if question.type == "scale" and isinstance(answer, str) and answer in question.scale_values:
            values.append(answer)
    return tuple(values)


def _recent(session: Session, center_id: int, device: str | None, network: str | None, now: datetime) -> list[Submission]:
    since = now - RECENT_WINDOW
    same_source = [ResponseLinkage.device_hash == device] if device else []
    if network:
        same_source.append(ResponseLinkage.network_hash == network)
    query = (
        select(
            Response.id, Response.submitted_at, Response.started_at, Response.center_id,
            ResponseLinkage.device_hash, ResponseLinkage.network_hash, ResponseLinkage.via,
        )
        .outerjoin(ResponseLinkage, ResponseLinkage.response_id == Response.id)
        .where(Response.submitted_at >= since)
        .where(or_(Response.center_id == center_id, *same_source))
        .order_by(Response.submitted_at, Response.id)
        .limit(2000)
    )
    rows = session.execute(query).all()
    if not rows:
        return []
    scale = defaultdict(list)
    counts = defaultdict(int)
    for response_id, value in session.execute(
        select(Answer.response_id, Answer.value).where(Answer.response_id.in_([r.id for r in rows]))
    ):
        counts[response_id] += 1
        if value in ("1", "2", "3", "4", "5"):
            scale[response_id].append(value)
    return [
        Submission(
            key=row.id,
            center=str(row.center_id),
            submitted_at=row.submitted_at,
            seconds=(row.submitted_at - row.started_at).total_seconds() if row.started_at else None,
            scale_answers=tuple(scale[row.id]),
            answer_count=counts[row.id],
            device=row.device_hash,
            network=row.network_hash,
            via=row.via or "poster",
        )
        for row in rows
    ]


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
) -> list[str]:
    """Evaluate the rules for a stored response; insert its flags and any raised on earlier ones."""
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
    recent = []
    if compare_with_recent:
        recent = [s for s in _recent(session, center_id, device, network, submitted_at) if s.key != response_id]
    flags = flags_for(new, recent, rules)
    if flags:
        rows = [{"response_id": f.key, "code": f.code, "reason": f.reason[:300]} for f in flags]
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # An earlier response may carry the flag already; keep the first reason.
        session.execute(insert(ResponseFlag).values(rows).on_conflict_do_nothing(index_elements=["response_id", "code"]))
    return [f.code for f in flags if f.key == response_id]
