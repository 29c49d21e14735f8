"""Counts of whole months kept for the analyst's indices (``app/services/tallies.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow
from app.models.surveys import BigId


class MonthTally(Base):
    """One count of a month (Vietnam time) for one instrument version, centre, field and channel.

    ``question_code`` NULL: respondents; ``value`` NULL with a question: respondents who answered
    that multiple-choice question; otherwise respondents who gave that answer. ``excludable``
    marks responses left out when flagged responses are excluded (flagged without an analyst's
    "include", or excluded by an analyst).
    """

    __tablename__ = "month_tallies"
    __table_args__ = (
        CheckConstraint("count > 0", name="count"),
        Index("ix_month_tallies_version_month", "instrument_version_id", "month"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instrument_version_id: Mapped[int] = mapped_column(ForeignKey("instrument_versions.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))
    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id", ondelete="CASCADE"))
    field_id: Mapped[int | None] = mapped_column(ForeignKey("fields.id", ondelete="CASCADE"))
    channel: Mapped[str | None] = mapped_column(String(16))
    excludable: Mapped[bool]
    question_code: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[str | None] = mapped_column(String(32))
    count: Mapped[int]


class TalliedMonth(Base):
    """A month whose counts are in ``month_tallies``, with the fingerprint of what they counted:
    they are used only while the month's responses, flags and reviews still match it."""

    __tablename__ = "tallied_months"

    instrument_version_id: Mapped[int] = mapped_column(
        ForeignKey("instrument_versions.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    tallied_at: Mapped[datetime] = mapped_column(default=utcnow)
