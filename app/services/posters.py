"""Posters for centres and counters: the signed link of each, and the printable pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from app.models import Counter, ServiceCenter
from app.posters import PosterPage
from app.services.links import current_poster, poster_token


def survey_link(base_url: str, center: ServiceCenter, token: str | None) -> str:
    url = f"{base_url.rstrip('/')}/s/{center.code}"
    return f"{url}?t={token}" if token else url


def short_link(base_url: str, center: ServiceCenter) -> str:
    """The address printed under the code, for people who type it: no scheme, no token."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/s/{center.code}"


def poster_page(
    session: Session, config, base_url: str, center: ServiceCenter, counter: Counter | None, user_id: int | None
) -> PosterPage:
    poster = current_poster(session, center, counter, user_id)
    province = center.unit.ancestor("province") if center.unit else None
    return PosterPage(
        url=survey_link(base_url, center, poster_token(config, poster)),
        short_url=short_link(base_url, center),
        center_name=center.name_vi,
        province_name=province.name if province else "",
        counter_name=counter.name if counter else None,
    )
