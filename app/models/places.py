"""Where services are delivered: administrative units, service centres, fields of procedures."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BilingualName, utcnow

UNIT_LEVELS = ("province", "district", "commune")


class AdministrativeUnit(Base):
    """A province, district or commune as it existed between ``valid_from`` and ``valid_to``.

    Units merge and disappear (districts were abolished on 1 July 2025), so a code may be reused
    by a later unit: a unit is identified by its code and the day it came into being.
    """

    __tablename__ = "administrative_units"
    __table_args__ = (
        UniqueConstraint("code", "valid_from"),
        CheckConstraint("level IN ('province', 'district', 'commune')", name="level"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        CheckConstraint(
            "(level = 'province' AND parent_id IS NULL) OR (level <> 'province' AND parent_id IS NOT NULL)",
            name="parent",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("administrative_units.id"), index=True)
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]

    parent: Mapped[AdministrativeUnit | None] = relationship(remote_side=[id])

    def ancestor(self, level: str) -> AdministrativeUnit | None:
        unit: AdministrativeUnit | None = self
        while unit is not None and unit.level != level:
            unit = unit.parent
        return unit

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class Field(BilingualName, Base):
    """A field of administrative procedures (lĩnh vực): land, civil status, construction, ..."""

    __tablename__ = "fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)


class ServiceCenter(BilingualName, Base):
    """A public administration service centre or one-stop desk that citizens rate."""

    __tablename__ = "service_centers"
    __table_args__ = (
        CheckConstraint("level IN ('province', 'district', 'commune')", name="level"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        CheckConstraint("length(code) >= 2", name="code_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("administrative_units.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    # None: the platform's default instrument (config DEFAULT_INSTRUMENT).
    instrument_key: Mapped[str | None] = mapped_column(String(80))
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[AdministrativeUnit] = relationship()
    counters: Mapped[list["Counter"]] = relationship(back_populates="center", order_by="Counter.code")
