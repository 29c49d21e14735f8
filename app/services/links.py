"""Signed poster links and one-time dossier links.

Poster tokens are signed with itsdangerous and name the centre, the counter and the poster
issue. They are verified against every key in ``LINK_SIGNING_KEYS`` (the last one signs new
tokens; ``SECRET_KEY`` when the list is empty), so keys can rotate without killing posters already
on the walls: append the new key, keep the old ones until their posters have been reissued.

Dossier links carry a random token; the database keeps only keyed hashes of the token and the
dossier code (mã hồ sơ).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.models import Counter, DossierLink, Field, Poster, ServiceCenter

POSTER_SALT = "sipas.poster-link"


class LinkError(ValueError):
    """A link that cannot be used; ``reason`` is a stable code for messages and tests."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _signing_keys(config) -> list[str]:
    keys = [k for k in config.get("LINK_SIGNING_KEYS", ()) if k]
    return keys or [config["SECRET_KEY"]]


def keyed_hash(config, label: str, value: str) -> str:
    key = (config.get("LINK_HASH_KEY") or config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(key, f"{label}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()


# Poster links -------------------------------------------------------------------------------


def current_poster(session: Session, center: ServiceCenter, counter: Counter | None, user_id: int | None) -> Poster:
    """The newest unrevoked poster issue for a centre or counter, created on first use."""
    query = (
        select(Poster)
        .where(Poster.center_id == center.id, Poster.revoked_at.is_(None))
        .where(Poster.counter_id == counter.id if counter else Poster.counter_id.is_(None))
        .order_by(Poster.id.desc())
    )
    poster = session.scalars(query).first()
    if poster is None:
        poster = Poster(center=center, counter=counter, created_by_id=user_id)
        session.add(poster)
        session.flush()
    return poster


def reissue_poster(
    session: Session, center: ServiceCenter, counter: Counter | None, user_id: int | None, revoke_old: bool, now: datetime
) -> Poster:
    if revoke_old:
        session.execute(
            update(Poster)
            .where(Poster.center_id == center.id, Poster.revoked_at.is_(None))
            .where(Poster.counter_id == counter.id if counter else Poster.counter_id.is_(None))
            .values(revoked_at=now)
        )
    poster = Poster(center=center, counter=counter, created_by_id=user_id, created_at=now)
    session.add(poster)
    session.flush()
    return poster


def poster_token(config, poster: Poster) -> str:
    payload = {"c": poster.center.code, "p": poster.id}
    if poster.counter is not None:
        payload["k"] = poster.counter.code
    return URLSafeSerializer(_signing_keys(config), salt=POSTER_SALT).dumps(payload)


@dataclass(frozen=True)
class PosterOrigin:
    poster_id: int
    counter_id: int | None


@dataclass(frozen=True)
class PosterState:
    """What a QR link's poster issue says about it: whose it is and whether it was revoked."""

    id: int
    center_id: int
    counter_id: int | None
    revoked: bool


_POSTER_STATE = select(Poster.id, Poster.center_id, Poster.counter_id, Poster.revoked_at.is_not(None)).where(
    Poster.id == bindparam("id")
)


def find_poster(session: Session, poster_id: int) -> PosterState | None:
    row = session.execute(_POSTER_STATE, {"id": poster_id}).one_or_none()
    return PosterState(*row) if row is not None else None


def read_poster_token(find: Callable[[int], PosterState | None], config, token: str, center) -> PosterOrigin:
    """Where a QR link came from; raises LinkError("invalid") or LinkError("revoked").

    ``find`` gives a poster issue's state by id: ``find_poster`` on a session, or the survey's
    remembered copy (``app.services.survey_lookups``).
    """
    if len(token) > 300:
        raise LinkError("invalid")
    try:
        payload = URLSafeSerializer(_signing_keys(config), salt=POSTER_SALT).loads(token)
    except (BadSignature, UnicodeError, ValueError):
        raise LinkError("invalid") from None
    if not isinstance(payload, dict) or payload.get("c") != center.code or not isinstance(payload.get("p"), int):
        raise LinkError("invalid")
    poster = find(payload["p"])
    if poster is None or poster.center_id != center.id:
        raise LinkError("invalid")
    if poster.revoked:
        raise LinkError("revoked")
    return PosterOrigin(poster.id, poster.counter_id)


# Dossier links ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MintedLink:
    token: str
    link: DossierLink


def mint_dossier_link(
    session: Session, config, dossier_code: str, center: ServiceCenter, field: Field | None, now: datetime
) -> MintedLink:
    """A one-time link for a dossier. A second link for the same dossier replaces an unused one
    and is refused (LinkError("answered")) once the dossier has a response."""
    dossier_code = (dossier_code or "").strip()
    if not 1 <= len(dossier_code) <= 100 or any(ch.isspace() for ch in dossier_code):
        raise LinkError("bad_dossier")
    dossier_hash = keyed_hash(config, "dossier", dossier_code)
    token = secrets.token_urlsafe(24)
    expires_at = now + timedelta(days=config.get("DOSSIER_LINK_DAYS", 30))
    existing = session.scalars(select(DossierLink).filter_by(dossier_hash=dossier_hash)).one_or_none()
    if existing is not None:
        if existing.used_at is not None:
            raise LinkError("answered")
        existing.token_hash = keyed_hash(config, "token", token)
        existing.center = center
        existing.field = field
        existing.created_at = now
        existing.expires_at = expires_at
        session.flush()
        return MintedLink(token, existing)
    link = DossierLink(
        token_hash=keyed_hash(config, "token", token),
        dossier_hash=dossier_hash,
        center=center,
        field=field,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(link)
    session.flush()
    return MintedLink(token, link)


def find_dossier_link(session: Session, config, token: str, now: datetime) -> DossierLink:
    """The usable link for a token; raises LinkError("unknown" | "expired" | "answered")."""
    if not token or len(token) > 100:
        raise LinkError("unknown")
    link = session.scalars(select(DossierLink).filter_by(token_hash=keyed_hash(config, "token", token))).one_or_none()
    if link is None:
        raise LinkError("unknown")
    if link.used_at is not None:
        raise LinkError("answered")
    if link.expires_at <= now:
        raise LinkError("expired")
    return link


def consume_dossier_link(session: Session, link: DossierLink, response_id: int, now: datetime) -> None:
    """Mark the link used by ``response_id``; exactly one of two concurrent submissions wins.

    The conditional UPDATE is atomic in the database: the loser updates no row and gets
    LinkError("answered"), and its transaction must be rolled back.
    """
    result = session.execute(
        update(DossierLink)
        .where(DossierLink.id == link.id, DossierLink.used_at.is_(None))
        .values(used_at=now, response_id=response_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LinkError("answered")
