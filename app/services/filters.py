"""The analyst's filters, all carried in the URL so that a view can be shared.

``Filters.parse(args, ...)`` reads a query string (a Werkzeug ``MultiDict`` or a plain dict) and
refuses what it cannot use with a :class:`FilterError` whose message a person can read;
``Filters.query()`` writes it back for ``url_for``. ``Filters.selection()`` turns it into the
``datasets.Selection`` of one reporting period.

Parameters: ``instrument`` (key, e.g. ``sipas-dvhcc-2023@1``), ``per`` (``month``, ``quarter``,
``year``), ``period`` (a label of that granularity: ``2026-07``, ``2026-Q3``, ``2026``; default the
latest with responses), ``unit`` (administrative unit code), ``level``, ``center``, ``field``,
``channel``, ``weighting`` (``none``, ``poststrat``, ``rake``) and ``flagged`` (``include``,
``exclude``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AdministrativeUnit, Field, InstrumentVersion, Response, ServiceCenter
from app.models.surveys import CHANNELS
from app.services.datasets import PERIODS, Selection
from app.timeutil import VIETNAM
from surveys import available_instruments, load_instrument

LEVELS = ("province", "district", "commune")
WEIGHTINGS = ("none", "poststrat", "rake")
FLAGGED = ("include", "exclude")
#: The design of every figure in the workspace: centres × periods are strata (statistics.md §2).
STRATA = ("center_code", "period")

# Years 1900–2099: enough for any survey, and the period before the first one still exists.
_YEAR = r"(19\d\d|20\d\d)"
_PATTERNS = {
    "year": re.compile(rf"^{_YEAR}$"),
    "quarter": re.compile(rf"^{_YEAR}-Q([1-4])$"),
    "month": re.compile(rf"^{_YEAR}-(0[1-9]|1[0-2])$"),
}


class FilterError(ValueError):
    """A filter value the workspace cannot use; the message is for people."""


def granularity_of(label: str) -> str | None:
    for name, pattern in _PATTERNS.items():
        if pattern.match(label):
            return name
    return None


def period_bounds(label: str) -> tuple[date, date]:
    """First and last day (inclusive) of a period label."""
    granularity = granularity_of(label)
    if granularity is None:
        raise FilterError(_l("Unknown period."))
    year = int(label[:4])
    if granularity == "year":
        return date(year, 1, 1), date(year, 12, 31)
    if granularity == "quarter":
        first_month = 3 * (int(label[-1]) - 1) + 1
    else:
        first_month = int(label[5:7])
    months = 3 if granularity == "quarter" else 1
    start = date(year, first_month, 1)
    end_month = first_month + months
    end = date(year + (end_month > 12), (end_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def period_label(day: date, granularity: str) -> str:
    if granularity == "year":
        return f"{day.year}"
    if granularity == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def previous_period(label: str) -> str:
    start, _ = period_bounds(label)
    return period_label(start - timedelta(days=1), granularity_of(label) or "quarter")


def periods_between(first: date, last: date, granularity: str) -> list[str]:
    """Every period label from the one holding ``first`` to the one holding ``last``."""
    labels = []
    label = period_label(first, granularity)
    final = period_label(last, granularity)
    while True:
        labels.append(label)
        if label == final or len(labels) > 1200:
            return labels
        label = period_label(period_bounds(label)[1] + timedelta(days=1), granularity)


@dataclass(frozen=True)
class Filters:
    instrument: str
    per: str = "quarter"
    period: str = ""
    unit: str = ""
    level: str = ""
    center: str = ""
    field: str = ""
    channel: str = ""
    weighting: str = "none"
    flagged: str = "include"

    @classmethod
    def parse(cls, args, session: Session, default_instrument: str) -> Filters:
        def one(name: str, default: str = "") -> str:
            value = args.get(name, default)
            value = (value or default).strip() if isinstance(value, str) else default
            if "\x00" in value:
                # PostgreSQL refuses NUL in text: say so instead of failing in the database.
                raise FilterError(_l("The address holds characters that are not allowed."))
            return value

        instrument = one("instrument", default_instrument)
        if instrument not in available_instruments():
            raise FilterError(_l("Unknown questionnaire version."))
        period = one("period")
        per = one("per", "quarter")
        if per not in PERIODS:
            raise FilterError(_l("Unknown period."))
        if period:
            given = granularity_of(period)
            if given is None:
                raise FilterError(_l("Unknown period."))
            if "per" not in args:
                per = given
            elif given != per:
                # The granularity changed on the form: keep the time, in the new granularity.
                found = response_range(session, instrument)
                end = period_bounds(period)[1]
                period = period_label(min(end, found[1]) if found else end, per)
        level = one("level")
        if level and level not in LEVELS:
            raise FilterError(_l("Unknown level."))
        channel = one("channel")
        if channel and channel not in CHANNELS:
            raise FilterError(_l("Unknown channel."))
        weighting = one("weighting", "none")
        if weighting not in WEIGHTINGS:
            raise FilterError(_l("Unknown weighting."))
        flagged = one("flagged", "include")
        if flagged not in FLAGGED:
            raise FilterError(_l("Unknown choice for flagged responses."))
        center = one("center")
        if center and session.scalar(select(ServiceCenter.id).filter_by(code=center)) is None:
            raise FilterError(_l("Unknown centre."))
        field = one("field")
        if field and session.scalar(select(Field.id).filter_by(code=field)) is None:
            raise FilterError(_l("Unknown field."))
        unit = one("unit")
        if unit and session.scalar(select(AdministrativeUnit.id).filter_by(code=unit).limit(1)) is None:
            raise FilterError(_l("Unknown administrative unit."))
        filters = cls(instrument, per, period, unit, level, center, field, channel, weighting, flagged)
        if not period:
            filters = replace(filters, period=latest_period(session, filters))
        return filters

    def query(self, **changes) -> dict[str, str]:
        """Non-default parameters, for ``url_for(endpoint, **filters.query())``."""
        values = asdict(replace(self, **changes))
        defaults = {"per": "quarter", "weighting": "none", "flagged": "include"}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}

    def with_changes(self, **changes) -> Filters:
        return replace(self, **changes)

    @property
    def bounds(self) -> tuple[date, date]:
        return period_bounds(self.period)

    @property
    def previous(self) -> str:
        return previous_period(self.period)

    def selection(self, period: str | None = None, first_period: str | None = None) -> Selection:
        """The responses of ``period`` (default the chosen one), or of ``first_period`` to it."""
        label = period or self.period
        since = period_bounds(first_period or label)[0]
        until = period_bounds(label)[1]
        return Selection(
            instrument=self.instrument,
            since=since,
            until=until,
            center_codes=(self.center,) if self.center else (),
            unit_codes=(self.unit,) if self.unit else (),
            level=self.level or None,
            field_codes=(self.field,) if self.field else (),
            channels=(self.channel,) if self.channel else (),
            exclude_flagged=self.flagged == "exclude",
            period=self.per,
        )

    @property
    def is_filtered(self) -> bool:
        return bool(self.unit or self.level or self.center or self.field or self.channel)


def response_range(session: Session, instrument_key: str) -> tuple[date, date] | None:
    """Vietnam days of the first and last response of an instrument version."""
    instrument = load_instrument(instrument_key)
    version_id = session.scalar(
        select(InstrumentVersion.id).filter_by(instrument_id=instrument.id, version=instrument.version)
    )
    if version_id is None:
        return None
    first, last = session.execute(
        select(func.min(Response.submitted_at), func.max(Response.submitted_at)).where(
            Response.instrument_version_id == version_id
        )
    ).one()
    if first is None:
        return None
    return first.astimezone(VIETNAM).date(), last.astimezone(VIETNAM).date()


def latest_period(session: Session, filters: Filters) -> str:
    from app.timeutil import today_in_vietnam

    found = response_range(session, filters.instrument)
    return period_label(found[1] if found else today_in_vietnam(), filters.per)


def available_periods(session: Session, filters: Filters) -> list[str]:
    """Periods of the chosen granularity from the first response to the last, newest first."""
    found = response_range(session, filters.instrument)
    if not found:
        return [filters.period]
    labels = periods_between(found[0], found[1], filters.per)
    if filters.period not in labels:
        labels.append(filters.period)
    return sorted(labels, reverse=True)
