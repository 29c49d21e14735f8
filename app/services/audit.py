"""The audit log: sign-ins, administrative changes, weighting uploads and every download."""

from __future__ import annotations

import json
from typing import Any

from flask import g, has_request_context
from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.models import AuditEvent
from app.timeutil import now_utc

ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "admin_change",
    "import_centers",
    "weighting_upload",
    "download",
    "review",
    "api_token",
    "purge",
)


def record(session: Session, user, action: str, target: str | None = None, **details: Any) -> None:
    """Add one event in the caller's transaction (flush, never commit).

    ``user`` may be None (a failed sign-in, a command run by the operator); the actor is then
    given in ``details["actor"]`` or recorded as "system".
    """
    actor = getattr(user, "email", None) or details.pop("actor", None) or "system"
    session.execute(
        insert(AuditEvent).values(
            at=now_utc(),
            user_id=getattr(user, "id", None),
            actor=actor[:254],
            action=action,
            target=(target or "")[:300] or None,
            details=json.dumps(details, ensure_ascii=False, sort_keys=True, default=str) if details else None,
            request_id=g.get("request_id") if has_request_context() else None,
        )
    )
