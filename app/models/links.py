"""Counters, posters and one-time dossier links: how a response is tied to where it came from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.places import Field, ServiceCenter


class Counter(Base):
    """A counter (quầy) of a centre, which can have a poster or counter card of its own."""

    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("center_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)

    center: Mapped[ServiceCenter] = relationship(back_populates="counters")


class Poster(Base):
    """One issue of a printed QR code for a centre or one of its counters.

    Its id goes into the signed token of the QR link. Reissuing a counter's poster can revoke the
    previous issue, after which its QR code is refused.
    """

    __tablename__ = "posters"
    __table_args__ = (CheckConstraint("revoked_at IS NULL OR revoked_at >= created_at", name="revocation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]

    center: Mapped[ServiceCenter] = relationship()
    counter: Mapped[Counter | None] = relationship()


class DossierLink(Base):
    """A one-time survey link bound to one dossier (mã hồ sơ).

    Neither the token nor the dossier code is stored: only keyed hashes, enough to find the link
    from its URL and to refuse a second link or a second response for the same dossier.
    """

    __tablename__ = "dossier_links"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expiry"),
        CheckConstraint("response_id IS NULL OR used_at IS NOT NULL", name="used_with_response"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    dossier_hash: Mapped[str] = mapped_column(String(64), unique=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id"), index=True)
    field_id: Mapped[int | None] = mapped_column(ForeignKey("fields.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="SET NULL"), unique=True)

    center: Mapped[ServiceCenter] = relationship()
    field: Mapped[Field | None] = relationship()


class ApiToken(Base):
    """A bearer token for programs (one-stop-shop software) acting for a user. Stored hashed."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
