"""Administration use cases: saving units, centres, counters, fields and users."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import AdministrativeUnit, ServiceCenter, User

CENTER_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
SHORT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class AdminError(ValueError):
    """A change that cannot be saved, with a message for the administrator."""


def clean_text(value: Any) -> Any:
    return unicodedata.normalize("NFC", value.strip()) if isinstance(value, str) else value


def save(session: Session, obj, values: dict[str, Any], duplicate_message: str) -> None:
    """Apply ``values`` to ``obj`` and flush inside a savepoint; a broken constraint changes nothing."""
    try:
        with session.begin_nested():
            for key, value in values.items():
                setattr(obj, key, clean_text(value))
            session.add(obj)
    except IntegrityError:
        raise AdminError(duplicate_message) from None


def units_on(session: Session, code: str) -> list[AdministrativeUnit]:
    return list(session.scalars(select(AdministrativeUnit).filter_by(code=code).order_by(AdministrativeUnit.valid_from)))


def find_unit(session: Session, code: str, day) -> AdministrativeUnit | None:
    """The unit with this code that existed on ``day`` (units merge; codes may be reused)."""
    for unit in reversed(units_on(session, code)):
        if unit.valid_on(day):
            return unit
    return None


def set_user_centers(session: Session, user: User, center_ids: list[int]) -> None:
    centers = list(session.scalars(select(ServiceCenter).where(ServiceCenter.id.in_(center_ids)))) if center_ids else []
    user.centers = centers if user.role == "staff" else []
    session.flush()
