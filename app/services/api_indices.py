"""What ``/api/v1`` computes and lists: indices with the CLI's options, centres, units, fields.

``GET /api/v1/indices`` takes the options of ``python -m analysis indices`` (``by``, ``strata``,
``period``, ``ci``, ``level``, ``weighting``, ``exclude_flagged``) plus filters on the stored
responses (``instrument``, ``since``, ``until``, ``center_code``, ``unit_code``, ``center_level``,
``field_code``, ``channel``), and answers with the CLI's JSON document
(``{"meta": ..., "results": [...]}``). ``weighting`` uses the totals uploaded per period in the
workspace (it needs ``period``). Every row says whether it rests on fewer answers than
``SMALL_CELL_MINIMUM`` (``small_cell``); for centre staff such rows have their figures removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis import DataError, StatisticsDesign, SufficientStatistics, WeightingError, indices_from_statistics
from analysis.cli import _software
from analysis.intervals import CI_METHODS
from app.models import AdministrativeUnit, Field, ServiceCenter
from app.models.surveys import CHANNELS
from app.services.dashboards import small_cells_hidden
from app.services.datasets import KEY_COLUMNS, PERIODS, Selection, sufficient_tables
from app.services.filters import LEVELS, periods_between
from app.services.weighting_totals import apply, plan
from surveys import available_instruments, load_instrument

WEIGHTINGS = ("none", "poststrat", "rake")


class ApiInputError(ValueError):
    """A parameter the API cannot use; the message is for the caller."""


@dataclass(frozen=True)
class IndexQuery:
    instrument: str
    by: tuple[str, ...]
    strata: tuple[str, ...]
    period: str | None
    ci: str
    level: float
    weighting: str
    exclude_flagged: bool
    since: date | None
    until: date | None
    center_code: str
    unit_code: str
    center_level: str
    field_code: str
    channel: str


def _columns(text: str, name: str) -> tuple[str, ...]:
    columns = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in columns if c not in KEY_COLUMNS]
    if unknown:
        raise ApiInputError(_("%(name)s: unknown column %(column)s (allowed: %(allowed)s).", name=name, column=unknown[0], allowed=", ".join(KEY_COLUMNS)))
    if len(set(columns)) != len(columns):
        raise ApiInputError(_("%(name)s: a column is repeated.", name=name))
    return columns


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiInputError(_("%(name)s must be a date such as 2026-03-31.", name=name)) from None


def _check_text(args) -> None:
    for name, value in args.items(multi=True) if hasattr(args, "items") else []:
        if "\x00" in str(value) or "\x00" in str(name):
            raise ApiInputError(_("Parameters must not contain NUL characters."))


def parse_index_query(args, default_instrument: str) -> IndexQuery:
    _check_text(args)
    known = {"instrument", "by", "strata", "period", "ci", "level", "weighting", "exclude_flagged", "since", "until", "center_code", "unit_code", "center_level", "field_code", "channel"}
    for name in args:
        if name not in known:
            raise ApiInputError(_("Unknown parameter %(name)s.", name=name))
    get = lambda name, default="": (args.get(name) or default).strip()  # noqa: E731
    instrument = get("instrument", default_instrument)
    if instrument not in available_instruments():
        raise ApiInputError(_("Unknown instrument %(key)s.", key=instrument))
    period = get("period") or None
    if period is not None and period not in PERIODS:
        raise ApiInputError(_("period must be month, quarter or year."))
    by, strata = _columns(get("by"), "by"), _columns(get("strata"), "strata")
    if "period" in by + strata and period is None:
        raise ApiInputError(_("Name the period (month, quarter or year) to use the period column."))
    ci = get("ci", "korn-graubard")
    if ci not in CI_METHODS:
        raise ApiInputError(_("ci must be one of %(methods)s.", methods=", ".join(CI_METHODS)))
    try:
        level = float(get("level", "0.95"))
    except ValueError:
        raise ApiInputError(_("level must be a number strictly between 0 and 1.")) from None
    if not (0 < level < 1) or math.isnan(level):
        raise ApiInputError(_("level must be a number strictly between 0 and 1."))
    weighting = get("weighting", "none")
    if weighting == "column":
        raise ApiInputError(_("weighting=column needs a weight column, which stored responses do not have."))
    if weighting not in WEIGHTINGS:
        raise ApiInputError(_("weighting must be none, poststrat or rake."))
    if weighting != "none" and period is None:
        raise ApiInputError(_("Weighting uses the totals uploaded per period: name the period (month, quarter or year)."))
    flagged = get("exclude_flagged", "false").lower()
    if flagged not in ("true", "false", "1", "0"):
        raise ApiInputError(_("exclude_flagged must be true or false."))
    since, until = _day(get("since"), "since"), _day(get("until"), "until")
    if since and until and since > until:
        raise ApiInputError(_("since must not be after until."))
    center_level = get("center_level")
    if center_level and center_level not in LEVELS:
        raise ApiInputError(_("center_level must be province, district or commune."))
    channel = get("channel")
    if channel and channel not in CHANNELS:
        raise ApiInputError(_("channel must be direct, online or postal."))
    return IndexQuery(
        instrument, by, strata, period, ci, level, weighting, flagged in ("true", "1"), since, until,
        get("center_code"), get("unit_code"), center_level, get("field_code"), channel,
    )


def _records(table) -> list[dict]:
    out = []
    for record in table.to_dict("records"):
        row = {}
        for key, value in record.items():
            if hasattr(value, "item"):
                value = value.item()
            if isinstance(value, float) and math.isnan(value):
                value = None
            row[key] = value
        out.append(row)
    return out


def indices(session: Session, query: IndexQuery, *, minimum: int, reveal_small: bool, centers: tuple[str, ...] | None) -> dict:
    """The CLI's JSON document for the stored responses that ``query`` selects.

    ``centers``: the centre codes the caller may see (None: all). ``reveal_small``: show
    figures from fewer than ``minimum`` answers (analysts), else blank them (staff)."""
    center_codes = (query.center_code,) if query.center_code else ()
    if centers is not None:
        if query.center_code and query.center_code not in centers:
            raise PermissionError(query.center_code)
        center_codes = center_codes or (tuple(centers) or ("-",))
    selection = Selection(
        instrument=query.instrument,
        since=query.since,
        until=query.until,
        center_codes=center_codes,
        unit_codes=(query.unit_code,) if query.unit_code else (),
        level=query.center_level or None,
        field_codes=(query.field_code,) if query.field_code else (),
        channels=(query.channel,) if query.channel else (),
        exclude_flagged=query.exclude_flagged,
        period=query.period or "quarter",
    )
    planned = None
    if query.weighting != "none":
        first, last = query.since, query.until
        from app.services.filters import response_range

        found = response_range(session, query.instrument)
        if found:
            first, last = first or found[0], last or found[1]
        periods = periods_between(first, last, query.period) if first and last else []
        planned = plan(session, query.weighting, periods)
    keys = tuple(dict.fromkeys((*query.by, *query.strata, *(planned.keys if planned else ()), *(("period",) if planned else ()))))
    respondents, answers = sufficient_tables(session, selection, keys)
    total = int(respondents["count"].sum()) if len(respondents) else 0
    if total == 0:
        raise LookupError("no responses")
    statistics = SufficientStatistics(keys, respondents, answers)
    weighting = None
    if planned is not None:
        present = sorted(set(respondents["period"]))
        planned.missing_periods = [p for p in present if p not in planned.tables]
        applied = apply(planned, respondents)
        if applied.weighting is None:
            raise ApiInputError(applied.problem or _("The weights could not be computed."))
        weighting = applied.weighting
    instrument = load_instrument(query.instrument)
    definitions = [d for d in instrument.index_definitions if d.rule == "question"]
    try:
        design = StatisticsDesign(statistics, strata=query.strata or None, weighting=weighting)
        table = indices_from_statistics(statistics, definitions, by=query.by or None, ci=query.ci, level=query.level, design=design)
    except (WeightingError, DataError) as error:
        raise ApiInputError(str(error)) from None
    small = table["n"].astype(int) < minimum
    if not reveal_small:
        table = small_cells_hidden(table, minimum)
    table["small_cell"] = small.to_numpy()
    meta = {
        "instrument": query.instrument,
        "responses": total,
        "excluded_flagged": query.exclude_flagged,
        "weighting": query.weighting,
        "strata": list(query.strata),
        "by": list(query.by),
        "period": query.period,
        "ci": query.ci,
        "level": query.level,
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
        "small_cell_minimum": minimum,
        "software": {**_software(), "sipas-platform": version("sipas-platform")},
    }
    return {"meta": meta, "results": _records(table)}


def centers_list(session: Session) -> list[dict]:
    found = []
    for center in session.scalars(select(ServiceCenter).order_by(ServiceCenter.code)):
        unit = center.unit

        def code(level: str) -> str | None:
            ancestor = unit.ancestor(level) if unit is not None else None
            return ancestor.code if ancestor is not None else None

        found.append(
            {
                "code": center.code,
                "name_vi": center.name_vi,
                "name_en": center.name_en,
                "level": center.level,
                "unit_code": unit.code if unit else None,
                "commune_code": code("commune"),
                "district_code": code("district"),
                "province_code": code("province"),
                "active": center.active,
                "instrument": center.instrument_key,
                "valid_from": center.valid_from.isoformat(),
                "valid_to": center.valid_to.isoformat() if center.valid_to else None,
            }
        )
    return found


def units_list(session: Session) -> list[dict]:
    units = session.scalars(select(AdministrativeUnit).order_by(AdministrativeUnit.code, AdministrativeUnit.valid_from)).all()
    return [
        {
            "code": u.code,
            "name": u.name,
            "level": u.level,
            "parent_code": u.parent.code if u.parent else None,
            "valid_from": u.valid_from.isoformat(),
            "valid_to": u.valid_to.isoformat() if u.valid_to else None,
        }
        for u in units
    ]


def fields_list(session: Session) -> list[dict]:
    return [
        {"code": f.code, "name_vi": f.name_vi, "name_en": f.name_en, "active": f.active}
        for f in session.scalars(select(Field).order_by(Field.sort_order, Field.code))
    ]


@dataclass(frozen=True)
class ResponseQuery:
    since: date | None
    until: date | None
    instrument: str | None
    center_code: str
    exclude_flagged: bool


def parse_response_query(args) -> ResponseQuery:
    _check_text(args)
    for name in args:
        if name not in ("since", "until", "instrument", "center_code", "exclude_flagged"):
            raise ApiInputError(_("Unknown parameter %(name)s.", name=name))
    get = lambda name, default="": (args.get(name) or default).strip()  # noqa: E731
    since, until = _day(get("since"), "since"), _day(get("until"), "until")
    if since and until and since > until:
        raise ApiInputError(_("since must not be after until."))
    instrument = get("instrument")
    if instrument and instrument not in available_instruments():
        raise ApiInputError(_("Unknown instrument %(key)s.", key=instrument))
    flagged = get("exclude_flagged", "false").lower()
    if flagged not in ("true", "false", "1", "0"):
        raise ApiInputError(_("exclude_flagged must be true or false."))
    return ResponseQuery(since, until, instrument or None, get("center_code"), flagged in ("true", "1"))
