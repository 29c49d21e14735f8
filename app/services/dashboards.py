"""What the analyst's pages show: every figure from ``analysis`` through ``datasets``.

The design is the same everywhere (and in the downloads and the API): strata are centres ×
periods (statistics.md §2), Korn–Graubard 95% intervals, and the weighting the filters ask for.
Each page makes one trip to the database (``datasets.sufficient_tables``) and asks ``analysis``
for the estimates it needs, so that a number on a page equals the CLI's
``python -m analysis indices EXPORT.csv --period <per> --strata center_code,period`` for the
same responses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from flask_babel import format_datetime, format_decimal, format_percent
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analysis import DataError, StatisticsDesign, SufficientStatistics, WeightingError, indices_from_statistics
from app.models import AdministrativeUnit, Answer, Field, Response, ServiceCenter
from app.services import charts
from analysis import Change
from app.services.comparisons import DEFAULT_TARGET, Ranking, change, q_values, rank_centres
from app.services.datasets import response_conditions, sufficient_tables
from app.services.filters import STRATA, Filters, period_bounds, periods_between, previous_period
from app.services.privacy import mask_personal_data
from app.services.weighting_totals import AppliedWeighting, apply, describe_error, plan
from app.timeutil import VIETNAM
from surveys import IndexDefinition, Instrument, load_instrument

#: Breakdowns: URL name -> results column.
DIMENSIONS = {
    "center": "center_code",
    "commune": "commune_code",
    "level": "level",
    "field": "field_code",
    "channel": "channel",
}
CI = "korn-graubard"
LEVEL = 0.95


# -- formatting ---------------------------------------------------------------------------------


def percent(value, decimals: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if decimals < 0:
        return format_decimal(round(value), "#,##0")
    pattern = "#,##0%" if decimals == 0 else "#,##0." + "0" * decimals + "%"
    return format_percent(value, pattern)


def points(value) -> str:
    """A change in percentage points, signed: ``+1,23`` / ``−0,50``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = format_decimal(abs(value) * 100, "#,##0.00")
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format_decimal(value, "#,##0.#")


def p_value(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "< " + format_decimal(0.001, "0.###") if value < 0.001 else format_decimal(value, "0.###")


def when(moment) -> str:
    """Date and time in Vietnam time, dd/MM/yyyy HH:mm."""
    return format_datetime(moment, "dd/MM/yyyy HH:mm")


def period_name(label: str) -> str:
    if len(label) == 4:
        return _("Year %(year)s", year=label)
    if "-Q" in label:
        return _("Quarter %(quarter)s/%(year)s", quarter=label[-1], year=label[:4])
    return _("Month %(month)s/%(year)s", month=label[5:7], year=label[:4])


def language() -> str:
    from app.i18n import current_language

    return current_language()


# -- labels -------------------------------------------------------------------------------------


def index_labels(instrument: Instrument) -> dict[str, str]:
    lang = language()
    labels = {"SIPAS": _("SIPAS: overall satisfaction")}
    for section in instrument.sections:
        for question in section.questions:
            if question.role == "general" and question.element:
                labels[question.element] = section.title.get(lang)
            elif question.role in ("item", "perception", "priority"):
                labels[question.code] = f"{question.code}. {question.text.get(lang)}"
    return labels


def domain_labels(session: Session, column: str) -> dict[str, str]:
    lang = language()
    if column == "center_code":
        return {c.code: c.name(lang) for c in session.scalars(select(ServiceCenter))}
    if column in ("commune_code", "district_code", "province_code"):
        units = session.scalars(select(AdministrativeUnit).order_by(AdministrativeUnit.valid_from)).all()
        return {u.code: u.name for u in units}
    if column == "field_code":
        return {f.code: f.name(lang) for f in session.scalars(select(Field))}
    if column == "level":
        return {"province": _("Province"), "district": _("District"), "commune": _("Commune")}
    if column == "channel":
        return {"direct": _("In person"), "online": _("Online"), "postal": _("By post")}
    if column == "period":
        return {}
    return {}


def reasons(flag: str, small: bool, minimum: int) -> list[str]:
    texts = {
        "n=0": _("no answers"),
        "df=0": _("no degrees of freedom for an interval"),
        "n_eff<30": _("fewer than 30 effective responses"),
        "ci_width>0.30": _("interval wider than 30 percentage points"),
        "n_h=1": _("a stratum holds a single response"),
    }
    found = [texts.get(part, part) for part in (flag or "").split(";") if part]
    if small:
        found.append(_("fewer than %(minimum)s responses: hidden outside the analysts' workspace", minimum=minimum))
    return found


@dataclass
class Figure:
    index: str
    label: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    n_eff: float
    deff: float
    flag: str
    small: bool
    reasons: list[str]
    domain: str = ""

    @property
    def unreliable(self) -> bool:
        return bool(self.flag) or self.small

    @property
    def point(self) -> charts.Point:
        return charts.Point(self.estimate, self.ci_low, self.ci_high, self.unreliable)

    @property
    def row(self) -> dict:
        return {"estimate": self.estimate, "se": self.se, "n": self.n, "n_eff": self.n_eff}


def figures(table: pd.DataFrame | None, labels: dict[str, str], minimum: int, domain_column: str | None = None) -> list[Figure]:
    if table is None:
        return []
    return [figure(record, labels, minimum, domain_column) for record in table.to_dict("records")]


def figure(record: dict, labels: dict[str, str], minimum: int, domain_column: str | None = None) -> Figure:
    small = int(record["n"]) < minimum
    return Figure(
        index=record["index"],
        label=labels.get(record["index"], record["index"]),
        estimate=float(record["estimate"]),
        se=float(record["se"]),
        ci_low=float(record["ci_low"]),
        ci_high=float(record["ci_high"]),
        n=int(record["n"]),
        n_eff=float(record["n_eff"]),
        deff=float(record["deff"]),
        flag=record["flag"] or "",
        small=small,
        reasons=reasons(record["flag"], small, minimum),
        domain=str(record.get(domain_column, "")) if domain_column else "",
    )


def describe(f: Figure) -> str:
    """A figure in words, for a chart's text alternative."""
    text = f"{f.label}: {percent(f.estimate)} ({percent(f.ci_low)} – {percent(f.ci_high)}, n = {number(f.n)})"
    return text + (f" [{', '.join(f.reasons)}]" if f.reasons else "")


# -- computation --------------------------------------------------------------------------------


def definitions_for(instrument: Instrument, kinds: Sequence[str] = ("overall", "element", "item"), codes: Sequence[str] | None = None):
    return [
        d for d in instrument.index_definitions
        if d.rule == "question" and d.kind in kinds and (codes is None or d.index in codes)
    ]


@dataclass
class Computation:
    filters: Filters
    periods: list[str]
    by: tuple[str, ...]
    unweighted: pd.DataFrame
    weighted: pd.DataFrame | None = None
    weighted_periods: list[str] = field(default_factory=list)
    applied: AppliedWeighting | None = None
    notices: list[str] = field(default_factory=list)
    respondents: dict[str, int] = field(default_factory=dict)

    @property
    def primary(self) -> pd.DataFrame:
        return self.weighted if self.weighted is not None else self.unweighted

    @property
    def is_weighted(self) -> bool:
        return self.weighted is not None


def _slice(statistics: SufficientStatistics, periods: list[str]) -> SufficientStatistics:
    keep = lambda frame: frame[frame["period"].isin(periods)].reset_index(drop=True)  # noqa: E731
    return SufficientStatistics(statistics.keys, keep(statistics.respondents), keep(statistics.answers))


def _empty(by: Sequence[str]) -> pd.DataFrame:
    from analysis import result_columns

    return pd.DataFrame(columns=result_columns(by))


def compute(
    session: Session,
    filters: Filters,
    *,
    by: tuple[str, ...] = (),
    first_period: str | None = None,
    definitions=None,
    questions: tuple[str, ...] | None = None,
    weighted: bool = True,
) -> Computation:
    """Results of ``definitions`` for the chosen period (or ``first_period`` to it), unweighted
    and, when the filters ask for it and totals allow it, weighted."""
    instrument = load_instrument(filters.instrument)
    definitions = list(definitions if definitions is not None else definitions_for(instrument))
    periods = periods_between(period_bounds(first_period or filters.period)[0], filters.bounds[1], filters.per)
    planned = plan(session, filters.weighting, periods) if weighted else None
    weighting_keys = planned.keys if planned else ()
    keys = tuple(dict.fromkeys((*STRATA, *by, *weighting_keys)))
    if questions is None:
        questions = tuple(sorted({d.question for d in definitions}))
    respondents, answers = sufficient_tables(session, filters.selection(first_period=first_period), keys, questions)
    statistics = SufficientStatistics(keys, respondents, answers)
    counts = respondents.groupby("period")["count"].sum().to_dict() if len(respondents) else {}
    result = Computation(filters, periods, by, _empty(by), respondents={str(k): int(v) for k, v in counts.items()})
    if respondents.empty:
        return result
    result.unweighted = indices_from_statistics(statistics, definitions, strata=STRATA, by=by, ci=CI, level=LEVEL)
    if planned is None:
        return result
    usable = [p for p in periods if p in planned.tables and counts.get(p)]
    if not usable:
        result.notices.append(_("No totals have been uploaded for %(periods)s: the figures are unweighted.", periods=", ".join(period_name(p) for p in periods)))
        return result
    planned.missing_periods = []
    planned.tables = {p: planned.tables[p] for p in usable}
    sliced = _slice(statistics, usable)
    applied = apply(planned, sliced.respondents)
    result.applied = applied
    if applied.weighting is None:
        result.notices.append(applied.problem or "")
        return result
    try:
        design = StatisticsDesign(sliced, strata=STRATA, weighting=applied.weighting)
        result.weighted = indices_from_statistics(sliced, definitions, by=by, ci=CI, level=LEVEL, design=design)
    except (WeightingError, DataError) as error:
        result.notices.append(describe_error(error))
        result.applied = None
        return result
    result.weighted_periods = usable
    missing = [p for p in periods if p not in usable]
    if missing:
        result.notices.append(_("No totals for %(periods)s: those periods are shown unweighted only.", periods=", ".join(period_name(p) for p in missing)))
    if applied.dropped_cells:
        result.notices.append(
            _(
                "%(cells)s weighting cells have totals but no responses in this view; they are left out (%(share)s of the population).",
                cells=applied.dropped_cells,
                share=percent(applied.dropped_population / applied.population if applied.population else 0.0, 1),
            )
        )
    return result


def _rows(table: pd.DataFrame, **where) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column] == value
    return table[mask].reset_index(drop=True)


def flagged_count(session: Session, filters: Filters) -> tuple[int, int]:
    """(responses with quality flags, of which an analyst has decided) in the chosen period."""
    from app.models import ResponseReview

    conditions = response_conditions(session, filters.selection().with_changes(exclude_flagged=False))
    flagged = select(Response.id).where(*conditions, Response.flags.any())
    total = session.scalar(select(func.count()).select_from(flagged.subquery()))
    reviewed = session.scalar(
        select(func.count()).select_from(ResponseReview).where(ResponseReview.response_id.in_(flagged))
    )
    return int(total or 0), int(reviewed or 0)


# -- pages --------------------------------------------------------------------------------------


@dataclass
class OverviewRow:
    figure: Figure
    unweighted: Figure | None
    change: Change | None


def overview(session: Session, filters: Filters, minimum: int) -> dict:
    instrument = load_instrument(filters.instrument)
    labels = index_labels(instrument)
    computation = compute(session, filters, by=("period",), first_period=filters.previous, definitions=definitions_for(instrument, ("overall", "element")))
    current_primary = _rows(computation.primary, period=filters.period) if computation.weighted is None or filters.period in computation.weighted_periods else pd.DataFrame()
    current = figures(current_primary, labels, minimum)
    unweighted = {f.index: f for f in figures(_rows(computation.unweighted, period=filters.period), labels, minimum)}
    compare_table = computation.weighted if computation.is_weighted and filters.previous in computation.weighted_periods else computation.unweighted
    previous = {r["index"]: r for r in _rows(compare_table, period=filters.previous).to_dict("records")}
    now = {r["index"]: r for r in _rows(compare_table, period=filters.period).to_dict("records")}
    if not current:
        current = list(unweighted.values())
    rows = [OverviewRow(f, unweighted.get(f.index) if computation.is_weighted else None, change(now.get(f.index), previous.get(f.index))) for f in current]
    series = [charts.Series(_("Weighted") if computation.is_weighted else _("Estimate"), [r.figure.point for r in rows])]
    if computation.is_weighted:
        series.append(charts.Series(_("Unweighted"), [r.unweighted.point if r.unweighted else None for r in rows]))
    chart = charts.interval_chart(
        "overview",
        _("SIPAS and the five element indices, %(period)s", period=period_name(filters.period)),
        "; ".join(describe(r.figure) for r in rows),
        [r.figure.label for r in rows],
        series,
        percent,
        _("Unreliable (grey, hollow)"),
    )
    flagged, reviewed = flagged_count(session, filters)
    return {
        "rows": rows,
        "chart": chart,
        "computation": computation,
        "responses": computation.respondents.get(filters.period, 0),
        "previous_responses": computation.respondents.get(filters.previous, 0),
        "flagged": flagged,
        "reviewed": reviewed,
    }


def element(session: Session, filters: Filters, code: str, minimum: int) -> dict | None:
    instrument = load_instrument(filters.instrument)
    definition = next((d for d in instrument.index_definitions if d.kind == "element" and d.index == code), None)
    if definition is None:
        return None
    labels = index_labels(instrument)
    codes = [code, *definition.items]
    computation = compute(session, filters, definitions=definitions_for(instrument, ("element", "item"), codes))
    found = figures(computation.primary, labels, minimum)
    chart = charts.interval_chart(
        f"element-{code}",
        _("%(element)s: element index and items, %(period)s", element=labels.get(code, code), period=period_name(filters.period)),
        "; ".join(describe(f) for f in found),
        [f.label for f in found],
        [charts.Series(_("Estimate"), [f.point for f in found])],
        percent,
        _("Unreliable (grey, hollow)"),
    )
    return {"code": code, "label": labels.get(code, code), "figures": found, "chart": chart, "computation": computation}


def breakdown(session: Session, filters: Filters, dimension: str, index: str, minimum: int) -> dict:
    column = DIMENSIONS[dimension]
    instrument = load_instrument(filters.instrument)
    labels = index_labels(instrument)
    computation = compute(session, filters, by=(column,), definitions=definitions_for(instrument, ("overall", "element")))
    names = domain_labels(session, column)
    domains = _rows(computation.primary[computation.primary[column] != ""], index=index) if len(computation.primary) else computation.primary
    found = figures(domains, labels, minimum, column)
    for f in found:
        f.label = names.get(f.domain, f.domain)
    found.sort(key=lambda f: (-(f.estimate if not math.isnan(f.estimate) else -1)))
    table = {}
    for record in computation.primary.to_dict("records") if len(computation.primary) else []:
        if record[column]:
            table.setdefault(record[column], {})[record["index"]] = record
    chart = charts.interval_chart(
        f"breakdown-{dimension}",
        _("%(index)s by %(dimension)s, %(period)s", index=labels.get(index, index), dimension=dimension_name(dimension), period=period_name(filters.period)),
        "; ".join(describe(f) for f in found),
        [f.label for f in found],
        [charts.Series(_("Estimate"), [f.point for f in found])],
        percent,
        _("Unreliable (grey, hollow)"),
    )
    matrix = []
    indices = [d.index for d in definitions_for(instrument, ("overall", "element"))]
    for f in found:
        cells = []
        for code in indices:
            record = table.get(f.domain, {}).get(code)
            cells.append(figure(record, labels, minimum) if record else None)
        matrix.append((f, cells))
    return {"dimension": dimension, "column": column, "index": index, "figures": found, "chart": chart, "matrix": matrix, "indices": indices, "labels": labels, "computation": computation}


def dimension_name(dimension: str) -> str:
    return {
        "center": _("centre"),
        "commune": _("commune"),
        "level": _("level"),
        "field": _("field"),
        "channel": _("channel"),
    }.get(dimension, dimension)


TREND_LENGTH = {"month": 12, "quarter": 8, "year": 5}


def trend(session: Session, filters: Filters, index: str, minimum: int, first_response=None) -> dict:
    instrument = load_instrument(filters.instrument)
    labels = index_labels(instrument)
    first = filters.period
    for _step in range(TREND_LENGTH[filters.per] - 1):
        earlier = previous_period(first)
        if first_response is not None and period_bounds(earlier)[1] < first_response:
            break
        first = earlier
    computation = compute(session, filters, by=("period",), first_period=first, definitions=definitions_for(instrument, ("overall", "element")))
    table = computation.primary if computation.weighted is None or len(computation.weighted_periods) == len(computation.periods) else computation.unweighted
    rows = []
    previous_row = None
    for period in computation.periods:
        selected = _rows(table, period=period, index=index) if len(table) else table
        record = selected.to_dict("records")[0] if len(selected) else None
        rows.append((period, figure(record, labels, minimum) if record else None, change(record, previous_row)))
        previous_row = record
    changes = [delta for _, _, delta in rows if delta is not None]
    adjusted = q_values([delta.p_value for delta in changes])
    with_q = []
    for period, found_figure, delta in rows:
        q = adjusted.pop(0) if delta is not None else None
        with_q.append((period, found_figure, delta, None if q is None or math.isnan(q) else q))
    chart = charts.trend_chart(
        "trend",
        _("%(index)s across periods", index=labels.get(index, index)),
        "; ".join(f"{period_name(p)}: {percent(f.estimate) if f else '–'}" for p, f, _d, _q in with_q),
        [p for p, *_ in with_q],
        [charts.Series(labels.get(index, index), [f.point if f else None for _p, f, _d, _q in with_q])],
        percent,
        _("Unreliable (grey, hollow)"),
    )
    return {"index": index, "label": labels.get(index, index), "rows": with_q, "chart": chart, "computation": computation, "weighted": table is computation.weighted}


def ranking(session: Session, filters: Filters, index: str, minimum: int, target: float = DEFAULT_TARGET) -> dict:
    instrument = load_instrument(filters.instrument)
    labels = index_labels(instrument)
    definitions = definitions_for(instrument, ("overall", "element"), [index])
    computation = compute(session, filters, by=("center_code",), definitions=definitions)
    table = computation.primary
    names = domain_labels(session, "center_code")
    overall_rows = _rows(table, center_code="", index=index) if len(table) else table
    overall = float(overall_rows.iloc[0]["estimate"]) if len(overall_rows) else float("nan")
    centre_rows = table[(table["center_code"] != "") & (table["index"] == index)] if len(table) else table
    result = rank_centres(centre_rows, overall, target) if len(centre_rows) and not math.isnan(overall) else Ranking(overall=overall, target=target)
    entries = []
    for centre in result.centres:
        small = centre.n < minimum
        entries.append({"centre": centre, "name": names.get(centre.code, centre.code), "small": small, "reasons": reasons(centre.flag, small, minimum)})
    chart = None
    if result.funnel is not None:
        chart = charts.funnel_chart(
            "funnel",
            _("Funnel plot: %(index)s of each centre against its effective number of responses", index=labels.get(index, index)),
            _("Centres outside the outer limits: %(names)s", names=", ".join(e["name"] for e in entries if e["centre"].outside) or _("none")),
            overall,
            result.limits,
            [charts.FunnelPoint(e["name"], e["centre"].n_eff, e["centre"].estimate, e["centre"].outside) for e in entries],
            percent,
            (_("Overall"), _("%(level)s limits", level=percent(0.95, 0)), _("%(level)s limits", level=percent(0.998, 1))),
        )
    return {"index": index, "label": labels.get(index, index), "overall": overall, "ranking": result, "entries": entries, "chart": chart, "computation": computation}


# -- perceptions and priorities ------------------------------------------------------------------


def perception_definitions(instrument: Instrument) -> list[tuple[str, list[IndexDefinition]]]:
    """Groups of proportions: harassment, informal payments, trips, priorities (codes the
    instrument has)."""
    groups = []
    codes = set(instrument.question_codes)
    if "PH" in codes:
        values = instrument.question("PH").values
        groups.append(("PH", [IndexDefinition("PH", "item", "question", "PH", valid_values=values, satisfied_values=tuple(v for v in values if v != "none"))]))
    if "TN" in codes:
        values = instrument.question("TN").values
        groups.append(("TN", [IndexDefinition("TN", "item", "question", "TN", valid_values=values, satisfied_values=("yes",))]))
    if "SL" in codes:
        values = instrument.question("SL").values
        groups.append(("SL", [IndexDefinition(f"SL={v}", "item", "question", "SL", valid_values=values, satisfied_values=(v,)) for v in values]))
    if "UT" in codes:
        groups.append(("UT", [IndexDefinition(f"UT={o}", "item", "question", f"UT={o}", valid_values=("0", "1"), satisfied_values=("1",)) for o in instrument.question("UT").values]))
    return groups


def perceptions(session: Session, filters: Filters, minimum: int) -> dict:
    instrument = load_instrument(filters.instrument)
    lang = language()
    groups = perception_definitions(instrument)
    if not groups:
        return {"groups": [], "computation": None}
    definitions = [d for _code, ds in groups for d in ds]
    questions = tuple(sorted({d.question.split("=")[0] for d in definitions}))
    computation = compute(session, filters, definitions=definitions, questions=questions)
    option_labels = {}
    for code, _definitions in groups:
        question = instrument.question(code)
        for option in question.options:
            option_labels[f"{code}={option.value}"] = option.label.get(lang)
    labels = {
        "PH": _("Officials caused trouble or harassment (some or many)"),
        "TN": _("Had to give money or gifts outside the rules"),
        **option_labels,
    }
    found = {f.index: f for f in figures(computation.primary, labels, minimum)}
    shown = []
    for code, ds in groups:
        items = [found[d.index] for d in ds if d.index in found]
        if code == "UT":
            items.sort(key=lambda f: -f.estimate)
        chart = charts.interval_chart(
            f"perception-{code}",
            instrument.question(code).text.get(lang),
            "; ".join(describe(f) for f in items),
            [f.label for f in items],
            [charts.Series(_("Share"), [f.point for f in items])],
            percent,
            _("Unreliable (grey, hollow)"),
        ) if items else None
        shown.append({"code": code, "question": instrument.question(code).text.get(lang), "figures": items, "chart": chart})
    return {"groups": shown, "computation": computation}


# -- key drivers ---------------------------------------------------------------------------------


def drivers(session: Session, filters: Filters, minimum: int) -> dict | None:
    """``analysis.key_drivers`` on the period's responses: which items go with overall
    satisfaction, how each performs, and what to fix first (unweighted, per respondent)."""
    import warnings

    from analysis import AnalysisError, SurveyDesign, add_period, key_drivers
    from app.services.reports import filtered_response_rows

    instrument = load_instrument(filters.instrument)
    items = [item for d in instrument.index_definitions if d.kind == "element" for item in d.items]
    if not items or "HL" not in instrument.question_codes:
        return None
    rows = filtered_response_rows(session, filters)
    header = next(rows)
    data = pd.DataFrame(list(rows), columns=header, dtype=object)
    labels = index_labels(instrument)
    if len(data) < max(30, minimum):
        return {"rows": [], "problem": _("Too few responses in this view for the key-driver model (at least %(count)s are needed).", count=max(30, minimum))}
    data = add_period(data, filters.per)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            design = SurveyDesign(data, strata=list(STRATA))
            result = key_drivers(design, items, outcome="HL", missing="indicator")
        except (AnalysisError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            return {"rows": [], "problem": _("The key-driver model could not be fitted on these responses.")}
    quadrants = {
        "concentrate": _("Concentrate here: important and weak"),
        "keep_up": _("Keep up the good work: important and strong"),
        "low_priority": _("Low priority: less important and weak"),
        "possible_overkill": _("Possible overkill: less important and strong"),
    }
    found = []
    for record in result.table.to_dict("records"):
        found.append(
            {
                "item": record["item"],
                "label": labels.get(record["item"], record["item"]),
                "ame": record["ame"],
                "ame_low": record["ame_low"],
                "ame_high": record["ame_high"],
                "performance": record["performance"],
                "gain": record["potential_gain"],
                "quadrant": quadrants.get(record["quadrant"], record["quadrant"]),
                "priority": int(record["priority"]),
            }
        )
    note = _("The model did not converge cleanly; read the order with care.") if caught else None
    return {"rows": found, "n": result.n, "problem": note}


# -- comments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comment:
    submitted_at: object
    center: str
    field: str
    text: str


PAGE_SIZE = 50


def comments(session: Session, filters: Filters, page: int) -> dict:
    """Comments of the chosen period, newest first, with personal data masked."""
    instrument = load_instrument(filters.instrument)
    codes = [q.code for q in instrument.questions if q.role == "comment"]
    lang = language()
    conditions = response_conditions(session, filters.selection())
    base = (
        select(Response.submitted_at, ServiceCenter, Field, Answer.text)
        .join(Answer, Answer.response_id == Response.id)
        .join(ServiceCenter, ServiceCenter.id == Response.center_id)
        .outerjoin(Field, Field.id == Response.field_id)
        .where(*conditions, Answer.question_code.in_(codes or ["-"]), Answer.text.is_not(None))
    )
    total = session.scalar(select(func.count()).select_from(base.subquery()))
    rows = session.execute(base.order_by(Response.submitted_at.desc(), Response.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    found = [
        Comment(at.astimezone(VIETNAM), center.name(lang), field.name(lang) if field else "", mask_personal_data(text))
        for at, center, field, text in rows
    ]
    pages = max(1, math.ceil((total or 0) / PAGE_SIZE))
    return {"comments": found, "total": int(total or 0), "page": page, "pages": pages}


def small_cells_hidden(table: pd.DataFrame, minimum: int) -> pd.DataFrame:
    """For staff and public output: blank the figures of rows with fewer than ``minimum``
    answers and say why in ``flag``."""
    hidden = table.copy()
    small = hidden["n"].astype(int) < minimum
    for column in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
        hidden.loc[small, column] = float("nan")
    hidden.loc[small, "flag"] = f"n<{minimum}"
    return hidden
