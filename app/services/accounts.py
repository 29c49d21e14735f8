"""Signing in: password check with a per-account lockout that backs off."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.models import User

FREE_ATTEMPTS = 5
FIRST_LOCK = timedelta(minutes=1)
LONGEST_LOCK = timedelta(hours=1)
# Checked against when the e-mail is unknown, so that a miss costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def lock_duration(failures: int) -> timedelta:
    """No lock for the first attempts, then 1 min, 2 min, 4 min, … up to an hour."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(FIRST_LOCK * 2 ** (failures - FREE_ATTEMPTS), LONGEST_LOCK)


def authenticate(session: Session, email: str, password: str, now: datetime) -> User | None:
    """The active user with these credentials, or None. Records failures; never says why."""
    email = (email or "").strip().lower()
    user = session.scalars(select(User).where(func.lower(User.email) == email)).one_or_none()
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if user.locked_until is not None and user.locked_until > now:
        return None
    if not user.check_password(password or "") or not user.active:
        user.failed_logins += 1
        duration = lock_duration(user.failed_logins)
        user.locked_until = now + duration if duration else None
        session.flush()
        return None
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return user


def load_user(session: Session, user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = session.get(User, int(user_id))
    return user if user is not None and user.active else None
