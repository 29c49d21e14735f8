"""Looking up service centres and fields for the public survey."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Field, ServiceCenter


def find_open_center(session: Session, code: str, today: date) -> ServiceCenter | None:
    """The active centre with this code, valid today; None for unknown, inactive or closed ones."""
    if not code or len(code) > 32:
        return None
    center = session.scalars(select(ServiceCenter).filter_by(code=code)).one_or_none()
    if center is None or not center.active:
        return None
    if center.valid_from > today or (center.valid_to is not None and center.valid_to < today):
        return None
    return center


def active_fields(session: Session) -> list[Field]:
    return list(session.scalars(select(Field).filter_by(active=True).order_by(Field.sort_order, Field.code)))
