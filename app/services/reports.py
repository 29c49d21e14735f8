"""Downloads: results (CSV, JSON, XLSX), responses (CSV, XLSX) and the formal PDF report.

The results are the CLI's: for the filters' responses exported with the same filters,
``python -m analysis indices EXPORT.csv --period <per> --strata center_code,period [--by COL]``
gives the same rows (``cli_command`` writes the line). The XLSX holds one sheet per breakdown,
each exactly the CLI's output for ``--by`` that column, and a sheet stating the method, the
weights, the filters, the software version and the date.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from importlib.metadata import version
from typing import Iterator

import pandas as pd
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis import DataError, StatisticsDesign, SufficientStatistics, WeightingError, indices_from_statistics
from analysis.cli import _software
from app.models import Response, ResponseReview
from app.services.dashboards import CI, LEVEL, definitions_for, period_name, percent
from app.services.datasets import sufficient_tables
from app.services.export import iter_export_rows
from app.services.filters import STRATA, Filters
from app.services.weighting_totals import apply, describe_error, plan, totals_frame
from app.timeutil import VIETNAM, vietnam_day_bounds
from surveys import load_instrument

BREAKDOWNS = ("center_code", "commune_code", "level", "field_code", "channel")
PERCENT_COLUMNS = ("estimate", "se", "ci_low", "ci_high")


@dataclass
class Results:
    filters: Filters
    tables: dict[str, pd.DataFrame]  # "" (whole sample) and each breakdown column
    weighted: bool
    weighting_note: str | None
    totals: pd.DataFrame
    responses: int
    generated_at: datetime

    def meta(self) -> dict:
        return {
            "instrument": self.filters.instrument,
            "responses": self.responses,
            "period": self.filters.period,
            "period_type": self.filters.per,
            "since": self.filters.bounds[0].isoformat(),
            "until": self.filters.bounds[1].isoformat(),
            "filters": {k: v for k, v in self.filters.query().items()},
            "flagged_responses": self.filters.flagged,
            "weighting": self.filters.weighting if self.weighted else "none",
            "weighting_note": self.weighting_note,
            "strata": list(STRATA),
            "ci": CI,
            "level": LEVEL,
            "cli": cli_command(self.filters, weighted=self.weighted),
            "software": {**_software(), "sipas-platform": version("sipas-platform")},
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
        }


def cli_command(filters: Filters, by: str = "", weighted: bool = False) -> str:
    parts = ["python -m analysis indices RESPONSES.csv --out RESULTS.xlsx", f"--period {filters.per}", "--strata center_code,period"]
    if by:
        parts.append(f"--by {by}")
    if weighted:
        parts.append(f"--weighting {filters.weighting} --totals TOTALS.csv")
    return " ".join(parts)


def results(session: Session, filters: Filters, now: datetime) -> Results:
    """Whole-sample rows and one table per breakdown, from one trip to the database."""
    instrument = load_instrument(filters.instrument)
    definitions = definitions_for(instrument)
    planned = plan(session, filters.weighting, [filters.period])
    keys = tuple(dict.fromkeys((*STRATA, *BREAKDOWNS, *(planned.keys if planned else ()))))
    respondents, answers = sufficient_tables(session, filters.selection(), keys)
    statistics = SufficientStatistics(keys, respondents, answers)
    total = int(respondents["count"].sum()) if len(respondents) else 0
    note, weighting, totals = None, None, pd.DataFrame()
    if planned is not None and total:
        applied = apply(planned, respondents)
        if applied.weighting is None:
            note = applied.problem
        else:
            weighting, totals = applied.weighting, totals_frame(applied)
    tables: dict[str, pd.DataFrame] = {}
    if total:
        try:
            design = StatisticsDesign(statistics, strata=STRATA, weighting=weighting)
        except (WeightingError, DataError) as error:
            note, weighting, totals = describe_error(error), None, pd.DataFrame()
            design = StatisticsDesign(statistics, strata=STRATA)
        tables[""] = indices_from_statistics(statistics, definitions, by=(), ci=CI, level=LEVEL, design=design)
        for column in BREAKDOWNS:
            tables[column] = indices_from_statistics(statistics, definitions, by=(column,), ci=CI, level=LEVEL, design=design)
    else:
        from analysis import result_columns

        tables[""] = pd.DataFrame(columns=result_columns(()))
        for column in BREAKDOWNS:
            tables[column] = pd.DataFrame(columns=result_columns((column,)))
    return Results(filters, tables, weighting is not None, note, totals, total, now)


def _json_value(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def results_csv(found: Results, by: str) -> bytes:
    table = found.tables[by]
    return ("\ufeff" + table.to_csv(index=False, lineterminator="\n", na_rep="")).encode("utf-8")


def results_json(found: Results, by: str) -> bytes:
    table = found.tables[by]
    records = [{k: _json_value(v) for k, v in r.items()} for r in table.to_dict("records")]
    meta = found.meta() | {"by": [by] if by else []}
    return (json.dumps({"meta": meta, "results": records}, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _sheet_name(by: str) -> str:
    return {
        "": _("Overall"),
        "center_code": _("By centre"),
        "commune_code": _("By commune"),
        "level": _("By level"),
        "field_code": _("By field"),
        "channel": _("By channel"),
    }[by][:31]


def results_xlsx(found: Results) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for by, table in found.tables.items():
        sheet = book.create_sheet(_sheet_name(by))
        sheet.append(list(table.columns))
        for cell in sheet[1]:
            cell.font = bold
        for record in table.to_dict("records"):
            sheet.append([_json_value(record[c]) for c in table.columns])
        for column_index, name in enumerate(table.columns, start=1):
            letter = sheet.cell(row=1, column=column_index).column_letter
            sheet.column_dimensions[letter].width = 14 if name not in ("flag",) else 22
            if name in PERCENT_COLUMNS:
                for row in sheet.iter_rows(min_row=2, min_col=column_index, max_col=column_index):
                    row[0].number_format = "0.00%"
            elif name in ("n_eff", "deff"):
                for row in sheet.iter_rows(min_row=2, min_col=column_index, max_col=column_index):
                    row[0].number_format = "0.00"
        sheet.freeze_panes = "A2"
    if len(found.totals):
        sheet = book.create_sheet(_("Weighting totals")[:31])
        sheet.append(list(found.totals.columns))
        for record in found.totals.to_dict("records"):
            sheet.append([_json_value(record[c]) for c in found.totals.columns])
        sheet.freeze_panes = "A2"
    sheet = book.create_sheet(_("Method")[:31])
    sheet.append([_("Item"), _("Value")])
    for cell in sheet[1]:
        cell.font = bold
    for key, value in method_lines(found):
        sheet.append([key, value])
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 110
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def method_lines(found: Results) -> list[tuple[str, str]]:
    filters = found.filters
    meta = found.meta()
    described = ", ".join(f"{k}={v}" for k, v in filters.query().items()) or _("none")
    return [
        (_("Questionnaire"), filters.instrument),
        (_("Period"), f"{period_name(filters.period)} ({filters.bounds[0]:%d/%m/%Y} – {filters.bounds[1]:%d/%m/%Y})"),
        (_("Responses"), str(found.responses)),
        (_("Filters"), described),
        (_("Flagged responses"), _("left out (unless an analyst included them)") if filters.flagged == "exclude" else _("counted")),
        (_("Index"), _("Share of answers 4 (satisfied) or 5 (very satisfied) among answers on the 1–5 scale; 'not applicable' and blank answers are left out.")),
        (_("Design"), _("Strata: centre × period; each response its own sampling unit; Taylor linearisation (as R's survey package).")),
        (_("Interval"), _("Korn–Graubard confidence interval at %(level)s.", level=percent(LEVEL, 0))),
        (_("Weights"), _("Weighted to the uploaded administrative totals (%(method)s)", method=filters.weighting) if found.weighted else _("None: every response weighs 1.")),
        (_("Weighting note"), found.weighting_note or ""),
        (_("Reliability"), _("A figure is flagged when the effective number of responses is below 30 or its interval is wider than 30 percentage points.")),
        (_("Self-selection"), _("Respondents chose to answer a QR survey: the intervals measure sampling noise, not the bias from who answers.")),
        (_("Columns"), _("index, kind, breakdown, estimate, se (standard error), ci_low, ci_high (interval), n (answers), n_eff (effective number), deff (design effect), flag (why a figure is unreliable)")),
        (_("Same numbers from the command line"), meta["cli"]),
        (_("Software"), json.dumps(meta["software"], ensure_ascii=False)),
        (_("Created"), found.generated_at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")),
    ]


# -- responses --------------------------------------------------------------------------------


def _review_decisions(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Response.uid, ResponseReview.decision).join(ResponseReview, ResponseReview.response_id == Response.id)).all())


def response_rows(
    session: Session,
    since: date | None,
    until: date | None,
    *,
    instrument: str | None = None,
    center: str = "",
    unit: str = "",
    level: str = "",
    field: str = "",
    channel: str = "",
    exclude_flagged: bool = False,
    centers: tuple[str, ...] | None = None,
) -> Iterator[list[str]]:
    """The responses CSV rows (interfaces.md §4) between two Vietnam days (inclusive) that pass
    the filters: header first, comments masked. With ``exclude_flagged``, flagged responses are
    left out unless an analyst included them, and excluded ones always."""
    start, end = vietnam_day_bounds(since, until)
    decisions = _review_decisions(session) if exclude_flagged else {}
    rows = iter_export_rows(session, start, end)
    header = next(rows)
    yield header
    at = {name: i for i, name in enumerate(header)}

    def keep(row: list[str]) -> bool:
        if instrument and row[at["instrument"]] != instrument:
            return False
        if center and row[at["center_code"]] != center:
            return False
        if centers is not None and row[at["center_code"]] not in centers:
            return False
        if unit and unit not in (row[at["commune_code"]], row[at["district_code"]], row[at["province_code"]]):
            return False
        if level and row[at["level"]] != level:
            return False
        if field and row[at["field_code"]] != field:
            return False
        if channel and row[at["channel"]] != channel:
            return False
        if exclude_flagged:
            decision = decisions.get(row[at["response_id"]])
            if decision == "exclude" or (row[at["flags"]] and decision != "include"):
                return False
        return True

    for row in rows:
        if keep(row):
            yield row


def filtered_response_rows(session: Session, filters: Filters) -> Iterator[list[str]]:
    """The responses behind the workspace's figures for these filters."""
    return response_rows(
        session,
        *filters.bounds,
        instrument=filters.instrument,
        center=filters.center,
        unit=filters.unit,
        level=filters.level,
        field=filters.field,
        channel=filters.channel,
        exclude_flagged=filters.flagged == "exclude",
    )


def responses_csv_stream(rows: Iterator[list[str]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    yield "\ufeff".encode("utf-8")
    for number, row in enumerate(rows):
        writer.writerow(row)
        if number % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def responses_xlsx_stream(rows: Iterator[list[str]]) -> Iterator[bytes]:
    """A write-only workbook spooled to a temporary file, then sent in chunks."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Responses")[:31])
    sheet.freeze_panes = "A2"
    header = next(rows)
    bold = Font(bold=True)
    cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    for row in rows:
        sheet.append(row)
    with tempfile.TemporaryFile() as handle:
        book.save(handle)
        handle.seek(0)
        while True:
            block = handle.read(64 * 1024)
            if not block:
                break
            yield block


# -- the PDF report ------------------------------------------------------------------------------


def report_pdf(session: Session, filters: Filters, minimum: int, now: datetime) -> bytes:
    """Báo cáo kết quả đo lường sự hài lòng, in Vietnamese whatever the page's language."""
    from app.services.report_pdf import build_report

    with force_locale("vi"):
        return build_report(session, filters, minimum, now)
