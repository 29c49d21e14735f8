"""Deleting linkage data once fraud checks no longer need it; the answers stay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.models import DossierLink, ResponseLinkage


@dataclass(frozen=True)
class PurgeReport:
    linkage_rows: int
    dossier_links_unlinked: int


def purge_linkage(session: Session, older_than_days: int, now: datetime) -> PurgeReport:
    """Remove device and network hashes of responses older than the limit, and the tie between a
    used dossier link and its response. Flushes, never commits."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = now - timedelta(days=older_than_days)
    removed = session.execute(delete(ResponseLinkage).where(ResponseLinkage.created_at < cutoff)).rowcount
    unlinked = session.execute(
        update(DossierLink)
        .where(DossierLink.used_at < cutoff, DossierLink.response_id.is_not(None))
        .values(response_id=None)
    ).rowcount
    return PurgeReport(removed or 0, unlinked or 0)
