"""SQL expressions on stored responses shared by the database path and the month tallies."""

from __future__ import annotations

from sqlalchemy import Integer, String, and_, cast, exists, func, literal, not_, or_, select

from app.models import Response, ResponseFlag, ResponseReview


def period_expression(dialect: str, period: str):
    """The response's month (``2026-03``), quarter (``2026-Q1``) or year (``2026``), Vietnam time."""
    column = Response.submitted_at
    if dialect == "postgresql":
        local = func.timezone("Asia/Ho_Chi_Minh", column)
        pattern = {"month": "YYYY-MM", "quarter": 'YYYY-"Q"Q', "year": "YYYY"}[period]
        return func.to_char(local, pattern)
    # SQLite stores naive UTC; Vietnam has kept UTC+7 without daylight saving since 1975.
    return period_from_parts(
        period,
        func.strftime("%Y-%m", column, "+7 hours"),
        func.strftime("%Y", column, "+7 hours"),
        func.strftime("%m", column, "+7 hours"),
    )


def period_from_parts(period: str, month, year, month_number):
    """The period from SQL expressions for ``YYYY-MM``, ``YYYY`` and ``MM``: the month, the year,
    or ``YYYY-Qn``."""
    if period == "month":
        return month
    if period == "year":
        return year
    quarter = cast((cast(month_number, Integer) + 2) // 3, String)
    return year.op("||")(literal("-Q")).op("||")(quarter)


def kept_when_excluding_flagged():
    """True for a response that counts when flagged responses are excluded: not flagged and not
    excluded by an analyst, or included by an analyst."""
    flagged = exists().where(ResponseFlag.response_id == Response.id)
    review = select(ResponseReview.decision).where(ResponseReview.response_id == Response.id).scalar_subquery()
    return or_(and_(not_(flagged), or_(review.is_(None), review != "exclude")), review == "include")
