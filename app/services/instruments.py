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


# Ids of snapshots found in the database and matching their file, by database, instrument and
# hash. A snapshot is never edited or deleted once published, so each process looks it up once.
_PUBLISHED_IDS: dict[tuple[str, str, str], int] = {}


def forget_published() -> None:
    """Drop the remembered snapshot ids (tests empty the tables between tests)."""
    _PUBLISHED_IDS.clear()


def published_version_id(session: Session, instrument: Instrument) -> int:
    """``ensure_published(session, instrument).id``, remembered once the snapshot is found
    rather than created (a survey request runs in a transaction of its own, so what it finds is
    committed)."""
    key = (str(session.get_bind().url), instrument.key, instrument.sha256)
    version_id = _PUBLISHED_IDS.get(key)
    if version_id is None:
        version, created = _published(session, instrument)
        version_id = version.id
        if not created:
            # A snapshot created in this transaction could still be rolled back.
            _PUBLISHED_IDS[key] = version_id
    return version_id


def ensure_published(session: Session, instrument: Instrument) -> InstrumentVersion:
    """The database snapshot of ``instrument``, created on first use.

    A snapshot that differs from the shipped file means a fielded version was edited: that is
    refused, because answers already collected would silently change meaning.
    """
    return _published(session, instrument)[0]


def _published(session: Session, instrument: Instrument) -> tuple[InstrumentVersion, bool]:
    """The snapshot, and whether this transaction created it."""
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
            return snapshot, True
        except IntegrityError:
            # Another request published it at the same moment.
            existing = session.scalars(query).one()
    if existing.sha256 != instrument.sha256:
        raise InstrumentError(
            f"{instrument.key}: the shipped file differs from the published snapshot "
            f"({instrument.sha256[:12]}… ≠ {existing.sha256[:12]}…)"
        )
    return existing, False
