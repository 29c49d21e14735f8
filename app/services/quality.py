"""Quality flags raised when a response is stored.

A flag never refuses a response: it marks it so that analysts can review it and every index can
be shown with and without flagged responses.
"""

from __future__ import annotations

from datetime import datetime


def submission_flags(
    started_at: datetime | None, submitted_at: datetime, min_plausible_seconds: int
) -> list[tuple[str, str]]:
    flags = []
    if started_at is not None:
        seconds = (submitted_at - started_at).total_seconds()
        if seconds < min_plausible_seconds:
            flags.append(
                ("too_fast", f"completed in {seconds:.0f} s; the minimum plausible time is {min_plausible_seconds} s")
            )
    return flags
