"""Linkage data kept for fraud checks, analysts' review decisions, and the audit log.

Linkage (device and network hashes) sits apart from the answers, in its own table, so that
``flask sipas purge`` can delete it after the fraud checks no longer need it while the answers
stay.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow
from app.models.surveys import BigId

VIAS = ("poster", "dossier")


class ResponseLinkage(Base):
    """Keyed hashes of the device cookie and the network a response came from.

    The hash key changes every day (``app.services.linkage``), so hashes from two days cannot be
    matched, and the raw identifiers are never stored. ``day`` is the Vietnam date of the
    submission; with ``via = 'poster'`` a device may answer once per centre per day, which the
    partial unique index enforces.
    """

    __tablename__ = "response_linkage"
    __table_args__ = (
        CheckConstraint("via IN ('poster', 'dossier')", name="via"),
        Index(
            "uq_response_linkage_device_center_day",
            "device_hash",
            "center_id",
            "day",
            unique=True,
            sqlite_where=text("via = 'poster' AND device_hash IS NOT NULL"),
            postgresql_where=text("via = 'poster' AND device_hash IS NOT NULL"),
        ),
        Index("ix_response_linkage_center_day", "center_id", "day"),
        # The fraud checks look up the last hours of one device or one network.
        Index("ix_response_linkage_device_created", "device_hash", "created_at"),
        Index("ix_response_linkage_network_created", "network_hash", "created_at"),
    )

    response_id: Mapped[int] = mapped_column(BigId, ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id"))
    day: Mapped[date]
    via: Mapped[str] = mapped_column(String(16))
    device_hash: Mapped[str | None] = mapped_column(String(64))
    network_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CenterBaseline(Base):
    """A centre's 28-day baseline for the fraud checks (``analysis.integrity.CentreBaseline``),
    counted once for the Vietnam ``day`` it serves and shared by every worker and server.

    Counting it reads four weeks of the centre's responses; each worker also remembers it, but
    nationally most submissions are a worker's first at their centre that day. Rows of past
    days serve nothing: the day's count at a centre deletes the centre's earlier rows
    (``app.services.quality.centre_baseline``).
    """

    __tablename__ = "center_baselines"
    __table_args__ = (CheckConstraint("0 <= top_rated AND top_rated <= satisfied AND satisfied <= responses", name="counts"),)

    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    responses: Mapped[int]
    top_rated: Mapped[int]
    satisfied: Mapped[int]
    counted_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResponseReview(Base):
    """An analyst's decision on a flagged response: count it in the indices or leave it out."""

    __tablename__ = "response_reviews"
    __table_args__ = (CheckConstraint("decision IN ('include', 'exclude')", name="decision"),)

    response_id: Mapped[int] = mapped_column(BigId, ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(500))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who did what, when: sign-ins, administrative changes, weighting uploads, downloads."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
