"""Looking up service centres and fields for the public survey.

The survey reads plain rows, not ORM objects: every page view and submission needs them, and
the ORM's identity map and instance building cost more than the query. Each worker keeps them
a while (``app.services.survey_lookups``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.models import Field, ServiceCenter
from app.models.base import BilingualName


@dataclass(frozen=True)
class CenterView(BilingualName):
    """A centre as the survey needs it: what it shows, which instrument, whether it is open."""

    id: int
    code: str
    name_vi: str
    name_en: str
    instrument_key: str | None
    active: bool
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True)
class FieldView(BilingualName):
    id: int
    code: str
    name_vi: str
    name_en: str


# Built once: a statement built per call costs half as much again as running it (its cache key
# is computed anew).
CENTERS = select(
    ServiceCenter.id, ServiceCenter.code, ServiceCenter.name_vi, ServiceCenter.name_en,
    ServiceCenter.instrument_key, ServiceCenter.active, ServiceCenter.valid_from, ServiceCenter.valid_to,
)
_CENTER_BY_CODE = CENTERS.where(ServiceCenter.code == bindparam("code"))
_ACTIVE_FIELDS = (
    select(Field.id, Field.code, Field.name_vi, Field.name_en).where(Field.active.is_(True)).order_by(Field.sort_order, Field.code)
)


def valid_code(code: str) -> bool:
    return bool(code) and len(code) <= 32


def find_center(session: Session, code: str) -> CenterView | None:
    """The centre with this code, open or not; None for an unknown code."""
    if not valid_code(code):
        return None
    row = session.execute(_CENTER_BY_CODE, {"code": code}).one_or_none()
    return CenterView(*row) if row is not None else None


def is_open(center, day: date) -> bool:
    """Whether a centre is active and valid on ``day``."""
    return center.active and center.valid_from <= day and (center.valid_to is None or day <= center.valid_to)


def active_fields(session: Session) -> tuple[FieldView, ...]:
    return tuple(FieldView(*row) for row in session.execute(_ACTIVE_FIELDS))
