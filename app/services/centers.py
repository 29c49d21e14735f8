"""Looking up service centres and fields for the public survey."""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.models import Field, ServiceCenter

# Built once: every survey request runs both, and a statement built per call costs half as much
# again as running it (its cache key is computed anew).
_CENTER_BY_CODE = select(ServiceCenter).where(ServiceCenter.code == bindparam("code"))
_ACTIVE_FIELDS = select(Field).where(Field.active.is_(True)).order_by(Field.sort_order, Field.code)


def find_open_center(session: Session, code: str, today: date) -> ServiceCenter | None:
    """The active centre with this code, valid today; None for unknown, inactive or closed ones."""
    if not code or len(code) > 32:
        return None
    center = session.scalars(_CENTER_BY_CODE, {"code": code}).one_or_none()
    return center if center is not None and is_open(center, today) else None


def is_open(center, day: date) -> bool:
    """Whether a centre (or a page view's copy of it) is active and valid on ``day``."""
    return center.active and center.valid_from <= day and (center.valid_to is None or day <= center.valid_to)


def active_fields(session: Session) -> list[Field]:
    return list(session.scalars(_ACTIVE_FIELDS))
