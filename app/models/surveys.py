"""Published instrument versions, responses and their answers (long format)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.places import Field, ServiceCenter

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key for large volumes.
BigId = BigInteger().with_variant(Integer, "sqlite")

CHANNELS = ("direct", "online", "postal")
LOCALES = ("vi", "en")
SOURCES = ("survey", "demo")


class InstrumentVersion(Base):
    """An immutable snapshot of an instrument definition as it was fielded."""

    __tablename__ = "instrument_versions"
    __table_args__ = (
        UniqueConstraint("instrument_id", "version"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("length(sha256) = 64", name="sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    definition: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def key(self) -> str:
        return f"{self.instrument_id}@{self.version}"


class Response(Base):
    """One completed questionnaire. Anonymous: nothing here names the respondent."""

    __tablename__ = "responses"
    __table_args__ = (
        CheckConstraint("channel IS NULL OR channel IN ('direct', 'online', 'postal')", name="channel"),
        CheckConstraint("locale IN ('vi', 'en')", name="locale"),
        CheckConstraint("source IN ('survey', 'demo')", name="source"),
        CheckConstraint("started_at IS NULL OR started_at <= submitted_at", name="times"),
        Index("ix_responses_center_submitted", "center_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id"))
    instrument_version_id: Mapped[int] = mapped_column(ForeignKey("instrument_versions.id"), index=True)
    field_id: Mapped[int | None] = mapped_column(ForeignKey("fields.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"), index=True)
    poster_id: Mapped[int | None] = mapped_column(ForeignKey("posters.id"))
    channel: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16), default="survey")
    started_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime] = mapped_column(index=True)

    center: Mapped[ServiceCenter] = relationship()
    field: Mapped[Field | None] = relationship()
    instrument_version: Mapped[InstrumentVersion] = relationship()
    answers: Mapped[list[Answer]] = relationship(
        back_populates="response", cascade="all, delete-orphan", passive_deletes=True
    )
    flags: Mapped[list[ResponseFlag]] = relationship(
        back_populates="response", cascade="all, delete-orphan", passive_deletes=True
    )


class Answer(Base):
    """One answer, keyed by the instrument's stable question code.

    ``value`` holds an answer code (``1``–``5`` on a satisfaction scale, the instrument's
    not-applicable code, an option code); a question with several choices has one row per
    choice; an open question stores ``text`` instead. A question left blank has no row, so
    "không áp dụng" (a row with the not-applicable code) and "no answer" (no row) stay distinct.
    """

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("response_id", "question_code", "value"),
        CheckConstraint(
            "(value IS NOT NULL AND text IS NULL) OR (value IS NULL AND text IS NOT NULL)",
            name="value_or_text",
        ),
        CheckConstraint("value IS NULL OR length(value) BETWEEN 1 AND 32", name="value_length"),
        CheckConstraint("text IS NULL OR length(text) BETWEEN 1 AND 10000", name="text_length"),
        Index("ix_answers_question_value", "question_code", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique constraint, whose first column it is.
    response_id: Mapped[int] = mapped_column(BigId, ForeignKey("responses.id", ondelete="CASCADE"))
    question_code: Mapped[str] = mapped_column(String(32))
    value: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)

    response: Mapped[Response] = relationship(back_populates="answers")


class ResponseFlag(Base):
    """A quality flag on a response, with the reason it was raised."""

    __tablename__ = "response_flags"
    __table_args__ = (UniqueConstraint("response_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    response_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("responses.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(300))

    response: Mapped[Response] = relationship(back_populates="flags")
