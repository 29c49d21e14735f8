"""The formal report as PDF (fpdf2, Noto Sans embedded): "Báo cáo kết quả đo lường sự hài lòng".

Sections: scope, overview (SIPAS and the five elements, with a chart and the change from the
previous period), each element with its items, the ranking of centres, the trend, perceptions
and priorities, and a methodology note that says what a self-selected QR sample can and cannot
show. Charts are drawn with fpdf2's own lines and shapes (dots and intervals, a trend line),
in black and greys so that they print on any office printer.

The report may leave the Department: figures from fewer than ``SMALL_CELL_MINIMUM`` answers are
not printed (the analyst's pages show them, flagged).
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from pathlib import Path

from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy.orm import Session

from app.services import dashboards
from app.services.dashboards import Figure, percent, period_name, points
from app.services.filters import Filters
from app.timeutil import VIETNAM
from surveys import load_instrument

FONT_DIR = Path(__file__).resolve().parent.parent / "static" / "fonts"
FAMILY = "NotoSans"
INK = (26, 26, 26)
GREY = (130, 130, 130)
LIGHT = (215, 219, 225)


def text(value) -> str:
    # Noto Sans as shipped lacks U+2212 (minus sign): print the hyphen-minus instead.
    return unicodedata.normalize("NFC", str(value)).replace("\u2212", "-")


class ReportPDF(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.add_font(FAMILY, "", str(FONT_DIR / "NotoSans-Regular.ttf"))
        self.add_font(FAMILY, "B", str(FONT_DIR / "NotoSans-Bold.ttf"))
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, 18)

    def footer(self):
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*GREY)
        self.cell(0, 5, text(f"{self.footer_text} · {self.page_no()}"), align="C")
        self.set_text_color(*INK)

    # -- building blocks ----------------------------------------------------------------------

    def heading(self, value: str, size: float = 14) -> None:
        if self.get_y() > self.h - 50:
            self.add_page()
        self.ln(3)
        self.set_font(FAMILY, "B", size)
        self.multi_cell(0, size * 0.5, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def paragraph(self, value: str, size: float = 10) -> None:
        self.set_font(FAMILY, "", size)
        self.multi_cell(0, size * 0.5, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def table(self, headers: list[str], rows: list[list[str]], widths: list[float], greyed: list[bool] | None = None) -> None:
        self.set_font(FAMILY, "B", 8.5)
        self.set_fill_color(232, 240, 250)
        line = 4.4
        self._row(headers, widths, line, fill=True)
        self.set_font(FAMILY, "", 8.5)
        for number, row in enumerate(rows):
            if greyed and greyed[number]:
                self.set_text_color(*GREY)
            self._row(row, widths, line)
            self.set_text_color(*INK)
        self.ln(2)

    def _row(self, cells: list[str], widths: list[float], line: float, fill: bool = False) -> None:
        lines = max(len(self.multi_cell(w, line, text(c), dry_run=True, output="LINES")) for c, w in zip(cells, widths))
        height = max(1, lines) * line + 1
        if self.get_y() + height > self.h - 18:
            self.add_page()
        x, y = self.get_x(), self.get_y()
        for index, (cell, width) in enumerate(zip(cells, widths)):
            self.set_xy(x + sum(widths[:index]), y)
            self.rect(self.get_x(), y, width, height, style="DF" if fill else "D")
            align = "L" if index == 0 else "R" if any(ch.isdigit() for ch in cell[:2]) or cell.startswith(("+", "−", "–")) else "L"
            self.multi_cell(width, line, text(cell), align=align, padding=(0.5, 1, 0, 1), new_x=XPos.RIGHT, new_y=YPos.TOP)
        self.set_xy(x, y + height)

    def interval_chart(self, figures: list[Figure], low: float = 0.5) -> None:
        """Dots with interval lines on a percentage axis; unreliable figures hollow and grey."""
        usable = [f for f in figures if not math.isnan(f.estimate)]
        if not usable:
            return
        lows = [f.ci_low for f in usable if not math.isnan(f.ci_low)] + [f.estimate for f in usable]
        low = min(max(0.0, math.floor(min(lows) * 10) / 10), 0.9)
        label_width, axis_width, row = 70.0, 85.0, 6.5
        height = row * len(usable) + 10
        if self.get_y() + height > self.h - 20:
            self.add_page()
        x0, y0 = self.l_margin, self.get_y()
        left = x0 + label_width
        scale = lambda v: left + axis_width * (v - low) / (1 - low)  # noqa: E731
        self.set_font(FAMILY, "", 7.5)
        self.set_draw_color(*LIGHT)
        tick = low
        while tick <= 1.0001:
            self.line(scale(tick), y0, scale(tick), y0 + row * len(usable))
            self.set_xy(scale(tick) - 8, y0 + row * len(usable) + 0.5)
            self.cell(16, 4, text(percent(tick, 0)), align="C")
            tick += 0.1 if 1 - low > 0.35 else 0.05
        for i, f in enumerate(usable):
            y = y0 + row * i + row / 2
            self.set_xy(x0, y - 2.5)
            self.set_font(FAMILY, "", 8)
            self.cell(label_width - 2, 5, text(f.label[:48]), align="L")
            colour = GREY if f.unreliable else INK
            self.set_draw_color(*colour)
            self.set_line_width(0.5)
            if not math.isnan(f.ci_low) and not math.isnan(f.ci_high):
                if f.unreliable:
                    self.set_dash_pattern(dash=1, gap=1)
                self.line(scale(f.ci_low), y, scale(f.ci_high), y)
                self.set_dash_pattern()
            self.set_fill_color(*(255, 255, 255) if f.unreliable else colour)
            self.ellipse(scale(f.estimate) - 1.3, y - 1.3, 2.6, 2.6, style="DF")
            self.set_line_width(0.2)
            self.set_xy(left + axis_width + 2, y - 2.5)
            self.cell(20, 5, text(percent(f.estimate) + ("*" if f.unreliable else "")), align="L")
        self.set_draw_color(*INK)
        self.set_xy(x0, y0 + height)

    def trend_chart(self, rows: list[tuple[str, Figure | None]]) -> None:
        usable = [(p, f) for p, f in rows if f is not None and not math.isnan(f.estimate)]
        if len(usable) < 2:
            return
        width, height = 150.0, 55.0
        if self.get_y() + height + 12 > self.h - 20:
            self.add_page()
        x0, y0 = self.l_margin + 12, self.get_y() + 2
        lows = [f.ci_low for _, f in usable if not math.isnan(f.ci_low)] + [f.estimate for _, f in usable]
        low = min(max(0.0, math.floor(min(lows) * 10) / 10), 0.9)
        y_of = lambda v: y0 + height - height * (v - low) / (1 - low)  # noqa: E731
        x_of = lambda i: x0 + width * (i + 0.5) / len(rows)  # noqa: E731
        self.set_font(FAMILY, "", 7.5)
        self.set_draw_color(*LIGHT)
        tick = low
        while tick <= 1.0001:
            self.line(x0, y_of(tick), x0 + width, y_of(tick))
            self.set_xy(x0 - 13, y_of(tick) - 2)
            self.cell(12, 4, text(percent(tick, 0)), align="R")
            tick += 0.1 if 1 - low > 0.35 else 0.05
        index = {p: i for i, (p, _) in enumerate(rows)}
        self.set_draw_color(*INK)
        self.set_line_width(0.5)
        previous = None
        for period, f in usable:
            point = (x_of(index[period]), y_of(f.estimate))
            if previous:
                self.line(*previous, *point)
            previous = point
        for period, f in usable:
            x = x_of(index[period])
            colour = GREY if f.unreliable else INK
            self.set_draw_color(*colour)
            if not math.isnan(f.ci_low) and not math.isnan(f.ci_high):
                self.line(x, y_of(f.ci_low), x, y_of(f.ci_high))
            self.set_fill_color(*(255, 255, 255) if f.unreliable else colour)
            self.ellipse(x - 1.2, y_of(f.estimate) - 1.2, 2.4, 2.4, style="DF")
        self.set_line_width(0.2)
        self.set_draw_color(*INK)
        for period, i in index.items():
            self.set_xy(x_of(i) - 10, y0 + height + 1)
            self.cell(20, 4, text(period), align="C")
        self.set_xy(self.l_margin, y0 + height + 8)


def _shown(f: Figure | None, minimum: int) -> str:
    if f is None or math.isnan(f.estimate):
        return "–"
    if f.n < minimum:
        return _("hidden (n < %(minimum)s)", minimum=minimum)
    return percent(f.estimate) + ("*" if f.flag else "")


def _interval(f: Figure | None, minimum: int) -> str:
    if f is None or f.n < minimum or math.isnan(f.ci_low):
        return "–"
    return f"{percent(f.ci_low)} – {percent(f.ci_high)}"


def _reliability(f: Figure | None, minimum: int) -> str:
    if f is None:
        return ""
    if f.n < minimum:
        return _("fewer than %(minimum)s answers", minimum=minimum)
    return "; ".join(r for r in f.reasons)


def _hidden_small(figures: list[Figure], minimum: int) -> list[Figure]:
    return [f for f in figures if f.n >= minimum]


def build_report(session: Session, filters: Filters, minimum: int, now: datetime) -> bytes:
    instrument = load_instrument(filters.instrument)
    overview = dashboards.overview(session, filters, minimum)
    title = _("Report on the measurement of satisfaction")
    pdf = ReportPDF(f"{title} · {period_name(filters.period)}")
    pdf.set_title(text(title))
    pdf.set_author("SIPAS platform")
    pdf.set_creation_date(now)
    pdf.add_page()

    pdf.set_font(FAMILY, "B", 18)
    pdf.multi_cell(0, 9, text(title.upper()), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 11)
    pdf.multi_cell(0, 6, text(_("of citizens and organisations with the service of state administrative agencies")), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    bounds = filters.bounds
    scope = [
        _("Period: %(period)s (%(start)s – %(end)s)", period=period_name(filters.period), start=bounds[0].strftime("%d/%m/%Y"), end=bounds[1].strftime("%d/%m/%Y")),
        _("Questionnaire: %(title)s (%(key)s)", title=instrument.title.get("vi"), key=instrument.key),
        _("Responses: %(count)s", count=dashboards.number(overview["responses"])),
        _("Filters: %(filters)s", filters=", ".join(f"{k}={v}" for k, v in filters.query().items() if k not in ("instrument", "period", "per")) or _("none (the whole province)")),
        _("Weighting: %(weighting)s", weighting={"none": _("none"), "poststrat": _("post-stratification to administrative totals"), "rake": _("raking to administrative totals")}[filters.weighting] if overview["computation"].is_weighted else _("none")),
        _("Flagged responses: %(choice)s", choice=_("left out unless an analyst included them") if filters.flagged == "exclude" else _("counted")),
        _("Created: %(date)s", date=now.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")),
    ]
    for line in scope:
        pdf.paragraph(line, 10)

    # 1. Overview
    pdf.heading(_("1. Overview: SIPAS and the five elements"))
    pdf.paragraph(_("SIPAS is the share of respondents satisfied or very satisfied with the service overall; each element index is the share satisfied with that element in general."))
    rows = overview["rows"]
    pdf.interval_chart(_hidden_small([r.figure for r in rows], minimum))
    pdf.table(
        [_("Index"), _("Estimate"), _("95%% interval") % {}, _("Answers"), _("Change from %(period)s", period=period_name(filters.previous)), _("Reliability")],
        [
            [
                r.figure.label,
                _shown(r.figure, minimum),
                _interval(r.figure, minimum),
                dashboards.number(r.figure.n),
                (f"{points(r.change.estimate)} (p = {dashboards.p_value(r.change.p_value)})" if r.change and r.figure.n >= minimum else "–"),
                _reliability(r.figure, minimum),
            ]
            for r in rows
        ],
        [46, 20, 30, 16, 30, 32],
        [r.figure.unreliable for r in rows],
    )
    pdf.paragraph(_("* The figure is unreliable (fewer than 30 effective answers or an interval wider than 30 percentage points). Changes are in percentage points."), 8)

    # 2. Elements
    pdf.heading(_("2. The elements and their items"))
    labels = dashboards.index_labels(instrument)
    computation = dashboards.compute(session, filters, definitions=dashboards.definitions_for(instrument, ("element", "item")))
    by_index = {f.index: f for f in dashboards.figures(computation.primary, labels, minimum)}
    for definition in [d for d in instrument.index_definitions if d.kind == "element"]:
        pdf.heading(f"{definition.index}. {labels.get(definition.index, definition.index)}", 11)
        members = [by_index.get(code) for code in [definition.index, *definition.items]]
        members = [m for m in members if m is not None]
        if not members:
            pdf.paragraph(_("No answers."))
            continue
        pdf.table(
            [_("Question"), _("Estimate"), _("95%% interval") % {}, _("Answers"), _("Reliability")],
            [[m.label, _shown(m, minimum), _interval(m, minimum), dashboards.number(m.n), _reliability(m, minimum)] for m in members],
            [86, 20, 30, 16, 22],
            [m.unreliable for m in members],
        )

    # 3. Ranking
    pdf.heading(_("3. Ranking of centres (SIPAS)"))
    ranking = dashboards.ranking(session, filters, "SIPAS", minimum)
    pdf.paragraph(
        _("Centres are ranked on shrunken (empirical-Bayes) estimates, which pull centres with few answers towards the overall index (%(overall)s), so that luck in a few answers does not decide the rank. “Below” marks centres significantly below the target of %(target)s after the Benjamini–Hochberg correction.", overall=percent(ranking["overall"]), target=percent(ranking["ranking"].target, 0))
    )
    entries = ranking["entries"]
    pdf.table(
        [_("Rank"), _("Centre"), _("Shrunken"), _("Estimate"), _("Effective n"), _("Below?")],
        [
            [
                str(e["centre"].rank) if not e["small"] else "–",
                e["name"],
                percent(e["centre"].shrunk) if not e["small"] else _("hidden (n < %(minimum)s)", minimum=minimum),
                percent(e["centre"].estimate) if not e["small"] else "–",
                dashboards.number(e["centre"].n_eff) if not e["small"] else "–",
                (_("yes") if e["centre"].below else _("no")) if not e["small"] else "–",
            ]
            for e in entries
        ],
        [12, 78, 24, 22, 20, 18],
        [bool(e["reasons"]) for e in entries],
    )

    # 4. Trend
    pdf.heading(_("4. Trend of SIPAS"))
    from app.services.filters import response_range

    found_range = response_range(session, filters.instrument)
    trend = dashboards.trend(session, filters, "SIPAS", minimum, found_range[0] if found_range else None)
    trend_rows = [(period, f if f is not None and f.n >= minimum else None) for period, f, _c, _q in trend["rows"]]
    pdf.trend_chart(trend_rows)
    pdf.table(
        [_("Period"), _("SIPAS"), _("95%% interval") % {}, _("Answers"), _("Change"), _("p-value")],
        [
            [period_name(p), _shown(f, minimum), _interval(f, minimum), dashboards.number(f.n) if f else "–", points(c.estimate) if c and f and f.n >= minimum else "–", dashboards.p_value(c.p_value) if c and f and f.n >= minimum else "–"]
            for p, f, c, _q in trend["rows"]
        ],
        [40, 26, 40, 20, 24, 24],
    )

    # 5. Perceptions
    perceptions = dashboards.perceptions(session, filters, minimum)
    if perceptions["groups"]:
        pdf.heading(_("5. Perceptions and priorities for improvement"))
        for group in perceptions["groups"]:
            pdf.heading(group["question"], 10)
            pdf.table(
                [_("Answer"), _("Share"), _("95%% interval") % {}, _("Answers")],
                [[f.label, _shown(f, minimum), _interval(f, minimum), dashboards.number(f.n)] for f in group["figures"]],
                [90, 26, 40, 18],
            )

    # 6. Method
    pdf.heading(_("%(number)s. Methodology note", number=6 if perceptions["groups"] else 5))
    for paragraph in (
        _("Respondents scanned a QR code at the service centre or opened a link after their visit, and chose to answer. This is a self-selected sample, not a random one: the people who answer may be more (or less) satisfied than those who do not, and staff may encourage some people to answer."),
        _("What the figures can show: how satisfied the people who answered were, how that changes from one period to the next for the same kind of respondents, and where (centres, fields, elements) satisfaction is clearly lower, when the difference is larger than the interval."),
        _("What the figures cannot show: the satisfaction of everybody served. The confidence intervals measure only the sampling noise around the estimate; they do not measure the bias from who chooses to answer, which can be larger. Weighting to administrative totals corrects the mix of centres and fields, not who answers within them."),
        _("Computation: the index is the share of answers 4 (satisfied) or 5 (very satisfied) among answers on the 1–5 scale; 'not applicable' and blank answers are left out. Strata are centres × periods; standard errors by Taylor linearisation and Korn–Graubard intervals, as R's survey package computes them. A figure is flagged when fewer than 30 effective answers support it or its interval is wider than 30 percentage points."),
        _("Small numbers: figures from fewer than %(minimum)s answers are not printed in this report so that no respondent can be recognised.", minimum=minimum),
        _("Comparisons: changes between periods use the sum of the two variances; the ranking uses shrunken estimates and a funnel plot with an allowance for overdispersion; many comparisons are corrected with the Benjamini–Hochberg procedure."),
    ):
        pdf.paragraph(paragraph, 9.5)
    return bytes(pdf.output())
