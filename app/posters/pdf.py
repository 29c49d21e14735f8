"""Printable QR posters as PDF: one page per centre (or counter), A4, A5 or the A6 counter card.

Black on white only, so that any office printer or photocopier reproduces it. Vietnamese text is
set in Noto Sans, shipped under ``app/static/fonts`` and embedded (subset) in every file; all
Vietnamese letters exist precomposed in the font, so NFC text needs no shaping engine.
"""

from __future__ import annotations

import unicodedata
from textwrap import shorten
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from fpdf import FPDF
from fpdf.enums import Align, PathPaintRule, WrapMode, XPos, YPos

from app.posters.qr import QUIET_ZONE_MODULES, qr_matrix

FONT_DIR = Path(__file__).resolve().parent.parent / "static" / "fonts"
FONT_FAMILY = "NotoSans"
FONT_FILES = {"": FONT_DIR / "NotoSans-Regular.ttf", "B": FONT_DIR / "NotoSans-Bold.ttf"}

CALL_TO_ACTION = "Quét mã QR để đánh giá mức độ hài lòng"
THANKS_LINE = "Ý kiến của Ông/Bà giúp chúng tôi phục vụ tốt hơn."
ANONYMITY_NOTE = "Phiếu khảo sát ẩn danh, không thu thập họ tên hay số điện thoại."
DOCUMENT_TITLE = "Mã QR khảo sát mức độ hài lòng"
CREATOR = "SIPAS platform"
# Fixed unless the caller passes one, so the same arguments always give the same bytes.
REPRODUCIBLE_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)

PT = 25.4 / 72  # millimetres per typographic point
LINE_SPACING = 1.25  # line height as a multiple of the font size
MIN_TEXT_PT = 7.0  # below this, print stops being readable at arm's length
TEXT_SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)  # tried in turn until the code fits at its minimum size


# A centre whose unit has no province yet still gets a poster, without the province line.
OPTIONAL_FIELDS = ("province_name", "counter_name")


@dataclass(frozen=True)
class PosterPage:
    """What one poster page says. Text is stored NFC-normalised with runs of spaces collapsed.

    ``url`` is the absolute http(s) URL the code encodes; ``short_url`` is printed under the code
    for people who cannot scan (usually ``url`` without its scheme). ``province_name`` may be empty
    and ``counter_name`` empty or None: the line is then left out.
    """

    url: str
    short_url: str
    center_name: str
    province_name: str
    counter_name: str | None = None

    def __post_init__(self) -> None:
        for name in ("url", "short_url", "center_name", "province_name", "counter_name"):
            value = getattr(self, name)
            if value is None and name in OPTIONAL_FIELDS:
                continue
            if not isinstance(value, str) or (not value.strip() and name not in OPTIONAL_FIELDS):
                raise ValueError(f"PosterPage.{name} must be a non-empty string, not {value!r}")
            if name != "url":
                object.__setattr__(self, name, unicodedata.normalize("NFC", " ".join(value.split())))
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc or not self.url.isprintable() or " " in self.url:
            raise ValueError(f"PosterPage.url must be an absolute http(s) URL, not {self.url!r}")


@dataclass(frozen=True)
class _Format:
    """One paper size: lengths in millimetres, type sizes in points at text scale 1.

    ``symbol_min`` and ``symbol_max`` bound the printed code itself; its quiet zone comes on top.
    """

    name: str
    width: float
    height: float
    margin: float
    symbol_min: float
    symbol_max: float
    gap: float
    province_pt: float
    center_pt: float
    counter_pt: float
    action_pt: float
    url_pt: float
    thanks_pt: float
    note_pt: float


# A4 and A5 hang on walls and are scanned from a metre or more, so the code is at least 12 cm
# (A4) and 8.5 cm (A5) wide; the A6 card stands on a counter within reach, 5 cm is enough there.
FORMATS = {
    "a4": _Format("A4", 210, 297, 15, 120, 140, 6, 17, 26, 20, 24, 15, 16, 12),
    "a5": _Format("A5", 148, 210, 11, 85, 100, 4.5, 12, 18, 14, 17, 11, 12, 9),
    "a6": _Format("A6", 105, 148, 7, 50, 62, 3, 9, 14, 11, 14, 8.5, 9, 7),
}


@dataclass(frozen=True)
class _Block:
    text: str
    style: str
    size_pt: float
    space_after: float = 0.0
    # Only the URL may break inside a word, and only when it is wider than the page.
    wrapmode: WrapMode = WrapMode.WORD

    @property
    def line_height(self) -> float:
        return self.size_pt * PT * LINE_SPACING


def poster_pdf(pages: list[PosterPage], size: str, *, created_at: datetime | None = None) -> bytes:
    """A PDF with one poster page per element of ``pages``, each carrying exactly one QR code.

    ``size`` is ``"a4"``, ``"a5"`` or ``"a6"`` (the counter card). ``created_at`` is the creation
    date written in the metadata; without it a fixed date is written, so that the output depends
    on the arguments only. Raises ``ValueError`` for an unknown size, no pages, or text too long
    to fit beside a code of the minimum scannable size.
    """
    if size not in FORMATS:
        raise ValueError(f"unknown poster size {size!r}; expected one of {', '.join(FORMATS)}")
    if not pages:
        raise ValueError("a poster PDF needs at least one page")
    paper = FORMATS[size]

    # By dimensions, not name: fpdf2 knows no A6, and naming A5 raises a UserWarning in 2.8.x.
    pdf = FPDF(orientation="portrait", unit="mm", format=(paper.width, paper.height))
    pdf.set_auto_page_break(False)
    pdf.set_margins(paper.margin, paper.margin, paper.margin)
    pdf.c_margin = 0  # our own margins already keep text off the edges
    for style, path in FONT_FILES.items():
        pdf.add_font(FONT_FAMILY, style, path)
    pdf.set_lang("vi")
    title = DOCUMENT_TITLE if len(pages) > 1 else f"{DOCUMENT_TITLE}: {pages[0].center_name}"
    pdf.set_title(title)
    pdf.set_subject(CALL_TO_ACTION)
    pdf.set_creator(CREATOR)
    pdf.set_creation_date(created_at or REPRODUCIBLE_DATE)

    try:
        for page in pages:
            pdf.add_page()
            _draw_page(pdf, paper, page)
        return bytes(pdf.output())
    finally:
        # fpdf2 opens the font files lazily through fontTools and leaves them open.
        for font in pdf.fonts.values():
            ttfont = getattr(font, "ttfont", None)
            if ttfont is not None:
                ttfont.close()


def _header(page: PosterPage, paper: _Format, scale: float) -> list[_Block]:
    names = []
    if page.province_name:
        names.append(_Block(page.province_name, "", _pt(paper.province_pt, scale), paper.gap * 0.5))
    names.append(_Block(page.center_name, "B", _pt(paper.center_pt, scale), paper.gap * 0.5))
    if page.counter_name:
        names.append(_Block(page.counter_name, "B", _pt(paper.counter_pt, scale)))
    last = names[-1]
    names[-1] = _Block(last.text, last.style, last.size_pt, paper.gap * 2.5)  # the rule goes in the middle
    return [*names, _Block(CALL_TO_ACTION, "B", _pt(paper.action_pt, scale))]


def _footer(paper: _Format, scale: float) -> list[_Block]:
    return [
        _Block(THANKS_LINE, "", _pt(paper.thanks_pt, scale), paper.gap * 0.4),
        _Block(ANONYMITY_NOTE, "", _pt(paper.note_pt, scale)),
    ]


def _pt(size: float, scale: float) -> float:
    return max(MIN_TEXT_PT, size * scale)


def _draw_page(pdf: FPDF, paper: _Format, page: PosterPage) -> None:
    matrix = qr_matrix(page.url)
    modules = len(matrix)  # quiet zone included
    symbol_share = (modules - 2 * QUIET_ZONE_MODULES) / modules
    content_width = paper.width - 2 * paper.margin
    content_height = paper.height - 2 * paper.margin
    for scale in TEXT_SCALES:
        header, footer = _header(page, paper, scale), _footer(paper, scale)
        url_pt = _url_size(pdf, page.short_url, _pt(paper.url_pt, scale), content_width)
        url = _Block(page.short_url, "", url_pt, wrapmode=WrapMode.CHAR)
        header_height = sum(_height(pdf, block, content_width) for block in header)
        footer_height = sum(_height(pdf, block, content_width) for block in footer)
        # The quiet zone already separates the code from the text around it; the gaps are a
        # little air under the code and the space around the rule over the footer.
        spare = content_height - header_height - _height(pdf, url, content_width) - footer_height - paper.gap * 3
        symbol = min(paper.symbol_max, content_width * symbol_share, spare * symbol_share)
        if symbol >= paper.symbol_min:
            break
    else:
        raise ValueError(
            f"the text of the poster for {shorten(page.center_name, 60)!r} is too long to fit on {paper.name} "
            f"beside a QR code of {paper.symbol_min:g} mm"
        )
    qr_size = symbol / symbol_share

    # The header sits at the top and the footer at the bottom; what is left is shared evenly
    # above and below the code, which stays the visual centre of the page.
    slack = (spare - qr_size) / 2
    y = _write_blocks(pdf, header, paper.margin, content_width, paper=paper, rule_after=len(header) - 2)
    y += slack
    _draw_qr(pdf, matrix, (paper.width - qr_size) / 2, y, qr_size)
    _write_blocks(pdf, [url], y + qr_size + paper.gap * 0.5, content_width)

    footer_top = paper.height - paper.margin - footer_height
    _rule(pdf, paper, footer_top - paper.gap * 1.25)
    _write_blocks(pdf, footer, footer_top, content_width)
    _frame(pdf, paper)


def _url_size(pdf: FPDF, text: str, size_pt: float, width: float) -> float:
    """The URL reads badly once broken, so shrink it (not below the minimum) to keep one line."""
    pdf.set_font(FONT_FAMILY, "", size_pt)
    natural = pdf.get_string_width(text)
    if natural <= width:
        return size_pt
    return max(MIN_TEXT_PT, size_pt * width / natural * 0.98)


def _lines(pdf: FPDF, block: _Block, width: float) -> int:
    pdf.set_font(FONT_FAMILY, block.style, block.size_pt)
    lines = pdf.multi_cell(
        width, block.line_height, block.text, align=Align.C, dry_run=True, output="LINES", wrapmode=block.wrapmode
    )
    return len(lines)


def _balanced_width(pdf: FPDF, block: _Block, width: float) -> float:
    """The narrowest width that keeps the same number of lines, so that a wrapped name or
    sentence breaks into lines of similar length instead of leaving one word alone."""
    lines = _lines(pdf, block, width)
    if lines == 1 or block.wrapmode is WrapMode.CHAR:
        return width
    low, high = width / 2, width
    while high - low > 0.5:
        middle = (low + high) / 2
        if _lines(pdf, block, middle) == lines:
            high = middle
        else:
            low = middle
    return high


def _height(pdf: FPDF, block: _Block, width: float) -> float:
    return _lines(pdf, block, width) * block.line_height + block.space_after


def _write_blocks(
    pdf: FPDF, blocks: list[_Block], y: float, width: float, *, paper: _Format | None = None, rule_after: int = -1
) -> float:
    """Writes the blocks centred from ``y`` down, with a rule under block ``rule_after``; returns the y below."""
    for index, block in enumerate(blocks):
        block_width = _balanced_width(pdf, block, width)
        pdf.set_font(FONT_FAMILY, block.style, block.size_pt)
        pdf.set_xy(pdf.l_margin + (width - block_width) / 2, y)
        pdf.multi_cell(
            block_width,
            block.line_height,
            block.text,
            align=Align.C,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
            wrapmode=block.wrapmode,
        )
        y = pdf.get_y() + block.space_after
        if index == rule_after and paper is not None:
            _rule(pdf, paper, y - block.space_after / 2)
    return y


def _rule(pdf: FPDF, paper: _Format, y: float) -> None:
    inset = paper.width * 0.2
    pdf.set_draw_color(0)
    pdf.set_line_width(max(0.3, paper.width / 420))
    pdf.line(inset, y, paper.width - inset, y)


def _frame(pdf: FPDF, paper: _Format) -> None:
    inset = paper.margin / 2
    pdf.set_draw_color(0)
    pdf.set_line_width(max(0.4, paper.width / 260))
    pdf.rect(inset, inset, paper.width - 2 * inset, paper.height - 2 * inset, round_corners=True, corner_radius=inset)


def _draw_qr(pdf: FPDF, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
    """The code as one vector path: crisp at any printer resolution, with no seams between modules.

    ``size`` includes the quiet zone, which stays blank because nothing else is drawn inside it.
    """
    module = size / len(matrix)
    with pdf.new_path(paint_rule=PathPaintRule.FILL_NONZERO) as path:
        path.style.fill_color = "#000000"
        path.style.stroke_color = None
        for row_index, row in enumerate(matrix):
            column = 0
            while column < len(row):
                if not row[column]:
                    column += 1
                    continue
                run_start = column
                while column < len(row) and row[column]:
                    column += 1
                path.rectangle(
                    x + run_start * module, y + row_index * module, (column - run_start) * module, module
                )
