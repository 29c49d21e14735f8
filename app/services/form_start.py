"""A signed record of when a survey form was handed out.

The form carries the time it was served, signed with the application's secret, so the server
knows how long a respondent took without storing anything before the answers arrive.
"""

from __future__ import annotations

from datetime import datetime, timezone

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

SALT = "sipas.survey-start"


def issue_start_token(secret_key: str, center_code: str) -> str:
    return TimestampSigner(secret_key, salt=SALT).sign(center_code).decode("ascii")


def read_start_token(secret_key: str, token: str, center_code: str, max_age: int) -> datetime | None:
    """When the form was served, or None for a missing, forged, expired or foreign token."""
    if not token or len(token) > 200:
        return None
    try:
        value, timestamp = TimestampSigner(secret_key, salt=SALT).unsign(
            token, max_age=max_age, return_timestamp=True
        )
    except (BadSignature, SignatureExpired, UnicodeError):
        return None
    if value.decode("utf-8", "replace") != center_code:
        return None
    return timestamp.astimezone(timezone.utc)
