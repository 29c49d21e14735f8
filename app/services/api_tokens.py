"""Bearer tokens for programs. Only a keyed hash of each token is stored."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken, User
from app.services.links import keyed_hash

PREFIX = "sipas_"


def create_api_token(session: Session, config, user: User, name: str, now: datetime) -> str:
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name[:100], token_hash=keyed_hash(config, "api", token), created_at=now))
    session.flush()
    return token


def user_for_token(session: Session, config, authorization: str | None, now: datetime) -> User | None:
    """The active user behind an ``Authorization: Bearer …`` header, or None."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    token = authorization[len("Bearer ") :].strip()
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    record = session.scalars(select(ApiToken).filter_by(token_hash=keyed_hash(config, "api", token))).one_or_none()
    if record is None or record.revoked_at is not None:
        return None
    user = session.get(User, record.user_id)
    if user is None or not user.active:
        return None
    record.last_used_at = now
    return user
