"""Administrative totals uploaded for weighting (interfaces.md §4 "Totals"), one table per period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

TOTALS_KINDS = ("poststrat", "margin")


class WeightingTotals(Base):
    """One totals table for one reporting period (``2026``, ``2026-Q3``, ``2026-07``).

    ``kind = 'poststrat'``: the cells of post-stratification (one table per period);
    ``kind = 'margin'``: one margin of raking (one table per period and set of key columns).
    ``content`` is the validated CSV (key columns and ``population``) as uploaded, normalised.
    """

    __tablename__ = "weighting_totals"
    __table_args__ = (
        UniqueConstraint("period", "kind", "keys"),
        CheckConstraint("kind IN ('poststrat', 'margin')", name="kind"),
        CheckConstraint("population >= 0", name="population"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    keys: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    cells: Mapped[int]
    population: Mapped[float]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(self.keys.split(","))
