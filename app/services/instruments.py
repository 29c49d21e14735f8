"""Instrument versions: which one a centre fields, and its snapshot in the database."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import InstrumentVersion, ServiceCenter
from surveys import Instrument, InstrumentError, canonical_bytes, load_instrument


def instrument_for_center(center: ServiceCenter) -> Instrument:
    return load_instrument(center.instrument_key or current_app.config["DEFAULT_INSTRUMENT"])


def ensure_published(session: Session, instrument: Instrument) -> InstrumentVersion:
    """The database snapshot of ``instrument``, created on first use.

    A snapshot that differs from the shipped file means a fielded version was edited: that is
    refused, because answers already collected would silently change meaning.
    """
    query = select(InstrumentVersion).filter_by(instrument_id=instrument.id, version=instrument.version)
    existing = session.scalars(query).one_or_none()
    if existing is None:
        snapshot = InstrumentVersion(
            instrument_id=instrument.id,
            version=instrument.version,
            definition=canonical_bytes(instrument.definition).decode("utf-8"),
            sha256=instrument.sha256,
        )
        try:
            with session.begin_nested():
                session.add(snapshot)
            return snapshot
        except IntegrityError:
            # Another request published it at the same moment.
            existing = session.scalars(query).one()
    if existing.sha256 != instrument.sha256:
        raise InstrumentError(
            f"{instrument.key}: the shipped file differs from the published snapshot "
            f"({instrument.sha256[:12]}… ≠ {existing.sha256[:12]}…)"
        )
    return existing
