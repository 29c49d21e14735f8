"""Printable QR posters, read back as a printer and a phone would: poppler extracts the text and
rasterises the pages, zbar decodes the codes from the pixels."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fpdf import FPDF

from app.posters import FONT_DIR, POSTER_SIZES, PosterPage, poster_pdf, qr_png, qr_svg
from app.posters.qr import QUIET_ZONE_MODULES, qr_matrix

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("pdftotext", "pdfinfo", "pdffonts", "pdftoppm", "zbarimg")
DPI = 150
MM_PER_INCH = 25.4

URL = "https://sipas.example.vn/s/qn-ha-long?t=abc.DEF-123_x"
PAGE = PosterPage(
    url=URL,
    short_url="sipas.example.vn/s/qn-ha-long?t=abc.DEF-123_x",
    center_name="Trung tâm Phục vụ hành chính công đặc khu Vân Đồn",
    province_name="Tỉnh Quảng Ninh",
    counter_name="Quầy số 3",
)
FIXED_TEXT = [
    "Quét mã QR để đánh giá mức độ hài lòng",
    "Phiếu khảo sát ẩn danh, không thu thập họ tên hay số điện thoại.",
    "Ý kiến của Ông/Bà giúp chúng tôi phục vụ tốt hơn.",
]
# Page sizes in points (ISO 216) and the smallest printed code (without its quiet zone), in mm.
PAPER_POINTS = {"a4": (595.28, 841.89), "a5": (419.53, 595.28), "a6": (297.64, 419.53)}
MIN_SYMBOL_MM = {"a4": 120, "a5": 85, "a6": 50}


@pytest.fixture(scope="module")
def tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"poster tests need {', '.join(missing)} (Debian packages poppler-utils and zbar-tools)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def run(*command: str | Path) -> str:
    return subprocess.run([str(part) for part in command], check=True, capture_output=True, text=True).stdout


def write_pdf(tmp_path: Path, pages: list[PosterPage], size: str, name: str = "poster.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(poster_pdf(pages, size))
    return path


def page_text(pdf: Path, page: int) -> str:
    """The page's text with line breaks and runs of spaces made single spaces."""
    return " ".join(run("pdftotext", "-f", page, "-l", page, "-enc", "UTF-8", pdf, "-").split())


def pdf_info(pdf: Path) -> dict[str, str]:
    info = {}
    for line in run("pdfinfo", "-f", 1, "-l", 1000, pdf).splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def decode(image: Path) -> list[str]:
    """Every code zbar finds in the image (zbarimg exits 4 when it finds none)."""
    result = subprocess.run(["zbarimg", "--raw", "-q", str(image)], capture_output=True, text=True)
    assert result.returncode in (0, 4), result.stderr
    return result.stdout.splitlines()


def rasterise(pdf: Path, tmp_path: Path, *options: str, suffix: str = ".png") -> list[Path]:
    prefix = tmp_path / f"{pdf.stem}{'-'.join(options)}"
    run("pdftoppm", "-r", DPI, *options, pdf, prefix)
    return sorted(tmp_path.glob(f"{prefix.name}-*{suffix}"), key=lambda path: int(path.stem.rsplit("-", 1)[1]))


def read_pgm(path: Path) -> tuple[int, int, bytes]:
    """Width, height and 8-bit grey pixels of a binary PGM written by ``pdftoppm -gray``."""
    data = path.read_bytes()
    fields, position = [], 0
    while len(fields) < 4:
        while data[position : position + 1].isspace():
            position += 1
        end = position
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    assert fields[0] == b"P5" and fields[3] == b"255"
    width, height = int(fields[1]), int(fields[2])
    return width, height, data[position + 1 :]


def word_boxes(pdf: Path, page: int) -> list[tuple[str, float, float, float, float]]:
    """(word, x_min, y_min, x_max, y_max) in pixels at DPI, from ``pdftotext -bbox``."""
    root = ET.fromstring(run("pdftotext", "-bbox", "-f", page, "-l", page, pdf, "-"))
    scale = DPI / 72
    return [
        (word.text or "", *(float(word.get(key)) * scale for key in ("xMin", "yMin", "xMax", "yMax")))
        for word in root.iter("{http://www.w3.org/1999/xhtml}word")
    ]


def code_box(pixels: bytes, width: int, height: int, words) -> tuple[int, int, int, int]:
    """The printed code's bounding box (left, top, right, bottom) in pixels, found in the raster.

    The words' boxes are blanked; what remains inside the frame is the code, the rules and the
    frame. Rows with ink are grouped into bands, bridging light rows inside the code (shorter
    than 3 mm, while the quiet zone is at least 5 mm); the tallest band is the code.
    """
    ink = bytearray(1 if value < 128 else 0 for value in pixels)
    for _, x0, y0, x1, y1 in words:
        first, last = max(0, int(x0) - 2), min(width, int(x1) + 3)
        for y in range(max(0, int(y0) - 2), min(height, int(y1) + 3)):
            ink[y * width + first : y * width + last] = bytes(last - first)
    # The frame runs within 4 % of the page's edges on every size; the code and the text never do.
    left, right = int(width * 0.05), int(width * 0.95)
    rows = [y for y in range(int(height * 0.04), int(height * 0.96)) if any(ink[y * width + left : y * width + right])]
    bridge = 3 / MM_PER_INCH * DPI
    bands, start = [], rows[0]
    for previous, row in zip(rows, rows[1:]):
        if row - previous > bridge:
            bands.append((start, previous))
            start = row
    bands.append((start, rows[-1]))
    top, bottom = max(bands, key=lambda band: band[1] - band[0])
    columns = [
        x for x in range(left, right) if any(ink[y * width + x] for y in range(top, bottom + 1, 2))
    ]
    return columns[0], top, columns[-1], bottom


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("size", POSTER_SIZES)
def test_each_size_prints_every_line_with_its_diacritics_on_the_right_paper(tools, tmp_path, size):
    pdf = write_pdf(tmp_path, [PAGE], size)

    text = page_text(pdf, 1)
    for expected in [PAGE.center_name, PAGE.province_name, PAGE.counter_name, PAGE.short_url, *FIXED_TEXT]:
        assert expected in text, f"{expected!r} not in {text!r}"
    info = pdf_info(pdf)
    assert info["Pages"] == "1"
    width, height = (float(value) for value in info["Page    1 size"].split()[0:3:2])
    assert (width, height) == pytest.approx(PAPER_POINTS[size], abs=0.5)


@pytest.mark.parametrize("size", POSTER_SIZES)
def test_each_size_carries_exactly_one_code_that_decodes_to_the_page_url(tools, tmp_path, size):
    pdf = write_pdf(tmp_path, [PAGE], size)

    [image] = rasterise(pdf, tmp_path, "-png")
    assert decode(image) == [URL]


@pytest.mark.parametrize("size", POSTER_SIZES)
@pytest.mark.parametrize(
    "page",
    [
        PAGE,
        PosterPage(
            url="https://khao-sat.quangninh.gov.vn/s/qn-dac-khu-van-don?t="
            "eyJjIjoicW4tdmFuLWRvbiIsInEiOjN9.Zk1xYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo-_AbCdEfGhIjKlMnOpQrStUv",
            short_url="khao-sat.quangninh.gov.vn/s/qn-dac-khu-van-don",
            center_name="Trung tâm Phục vụ hành chính công đặc khu Vân Đồn và Bộ phận Một cửa liên thông "
            "các xã đảo Quan Lạn, Minh Châu, Bản Sen, Thắng Lợi, Ngọc Vừng",
            province_name="Tỉnh Quảng Ninh",
            counter_name="Quầy số 12: Lĩnh vực đất đai, tài nguyên và môi trường",
        ),
        PosterPage(
            url="http://127.0.0.1:5000/s/qn",
            short_url="127.0.0.1:5000/s/qn",
            center_name="Bộ phận Một cửa phường Bãi Cháy",
            province_name="",
        ),
    ],
    ids=["counter", "long-name-and-token", "short-no-province"],
)
def test_layout_keeps_the_code_large_and_clear_and_the_text_on_the_page(tools, tmp_path, size, page):
    pdf = write_pdf(tmp_path, [page], size)
    [image] = rasterise(pdf, tmp_path, "-gray", suffix=".pgm")
    width, height, pixels = read_pgm(image)
    words = word_boxes(pdf, 1)
    px_per_mm = DPI / MM_PER_INCH

    left, top, right, bottom = code_box(pixels, width, height, words)
    assert abs((right - left) - (bottom - top)) <= 3, "the code is not square"
    assert (right - left) / px_per_mm >= MIN_SYMBOL_MM[size] - 1
    assert decode(rasterise(pdf, tmp_path, "-png")[0]) == [page.url]

    # No word within the quiet zone (4 modules around the code), none off the page, none on another.
    module = (right - left) / (len(qr_matrix(page.url)) - 2 * QUIET_ZONE_MODULES)
    margin = QUIET_ZONE_MODULES * module - 1
    quiet = (left - margin, top - margin, right + margin, bottom + margin)
    edge = 4 * px_per_mm
    shrunk = []
    for word, x0, y0, x1, y1 in words:
        assert edge <= x0 and x1 <= width - edge and edge <= y0 and y1 <= height - edge, f"{word!r} is off the page"
        # pdftotext boxes span the font's whole ascent and descent, taller than the line pitch
        # and than the ink.
        trim = (y1 - y0) * 0.15
        box = (x0, y0 + trim, x1, y1 - trim)
        assert not overlaps(box, quiet), f"{word!r} intrudes on the code's quiet zone"
        shrunk.append((word, box))
    for index, (word, box) in enumerate(shrunk):
        for other, other_box in shrunk[index + 1 :]:
            assert not overlaps(box, other_box), f"{word!r} overlaps {other!r}"


def test_a_batch_gives_one_page_per_centre_each_with_its_own_code(tools, tmp_path):
    pages = [
        PosterPage(
            url=f"https://sipas.example.vn/s/qn-{code}?t=tok.{number}",
            short_url=f"sipas.example.vn/s/qn-{code}",
            center_name=name,
            province_name="Tỉnh Quảng Ninh",
        )
        for number, (code, name) in enumerate(
            [
                ("ha-long", "Trung tâm Phục vụ hành chính công phường Hạ Long"),
                ("mong-cai-1", "Bộ phận Một cửa phường Móng Cái 1"),
                ("van-don", "Trung tâm Phục vụ hành chính công đặc khu Vân Đồn"),
            ]
        )
    ]
    pdf = write_pdf(tmp_path, pages, "a5")

    assert pdf_info(pdf)["Pages"] == "3"
    images = rasterise(pdf, tmp_path, "-png")
    assert [decode(image) for image in images] == [[page.url] for page in pages]
    for number, page in enumerate(pages, start=1):
        assert page.center_name in page_text(pdf, number)
        assert page.short_url in page_text(pdf, number)


def test_the_font_is_shipped_in_the_repository_loaded_from_there_and_embedded(tools, tmp_path, monkeypatch):
    assert FONT_DIR == ROOT / "app" / "static" / "fonts"
    assert (FONT_DIR / "OFL.txt").read_text(encoding="utf-8").startswith("Noto Sans")
    loaded = []
    original = FPDF.add_font

    def spy(self, family=None, style="", fname=None, **kwargs):
        loaded.append(Path(fname).resolve())
        return original(self, family, style, fname, **kwargs)

    monkeypatch.setattr(FPDF, "add_font", spy)
    pdf = write_pdf(tmp_path, [PAGE], "a6")

    assert loaded and all(path.parent == FONT_DIR and path.is_file() for path in loaded)
    fonts = [line.split() for line in run("pdffonts", pdf).splitlines()[2:]]
    assert {line[0].split("+")[-1] for line in fonts} == {"NotoSans", "NotoSansBold"}
    # Columns: name, type (two words), encoding, emb, sub, uni, object, generation.
    assert all(line[-5] == "yes" for line in fonts), fonts


def test_metadata_are_vietnamese_and_the_output_reproducible(tools, tmp_path):
    assert poster_pdf([PAGE], "a4") == poster_pdf([PAGE], "a4")
    info = pdf_info(write_pdf(tmp_path, [PAGE], "a4"))
    assert info["Title"] == f"Mã QR khảo sát mức độ hài lòng: {PAGE.center_name}"
    assert info["Creator"] == "SIPAS platform"

    dated = tmp_path / "dated.pdf"
    dated.write_bytes(poster_pdf([PAGE], "a4", created_at=datetime(2026, 3, 14, 2, 0, tzinfo=timezone.utc)))
    assert "2026" in pdf_info(dated)["CreationDate"]


def test_qr_png_decodes_to_the_url(tools, tmp_path):
    image = tmp_path / "code.png"
    image.write_bytes(qr_png(URL))
    assert image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert decode(image) == [URL]


def test_qr_png_box_size_sets_pixels_per_module():
    small, large = qr_png(URL, box_size=2), qr_png(URL, box_size=20)
    assert len(small) < len(large)
    with pytest.raises(ValueError):
        qr_png(URL, box_size=0)


def test_qr_svg_is_a_standalone_svg_document():
    document = qr_svg(URL)
    assert document.startswith(b"<?xml")
    root = ET.fromstring(document)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")
    assert len(root.findall("{http://www.w3.org/2000/svg}path")) == 1


def test_the_code_keeps_a_quiet_zone_and_recovers_from_damage():
    matrix = qr_matrix(URL)
    assert all(not any(row) for row in matrix[:QUIET_ZONE_MODULES] + matrix[-QUIET_ZONE_MODULES:])
    assert all(not any(row[:QUIET_ZONE_MODULES] + row[-QUIET_ZONE_MODULES:]) for row in matrix)
    # Level Q: version 5 (37 modules) holds this URL; level M would need only version 4 (33).
    assert len(matrix) - 2 * QUIET_ZONE_MODULES == 37


@pytest.mark.parametrize(
    "url", ["/s/qn-ha-long", "ftp://sipas.example.vn/s/x", "sipas.example.vn/s/x", "https:///s/x", "https://a.vn/s/x y"]
)
def test_a_page_refuses_a_url_that_is_not_absolute_http(url):
    with pytest.raises(ValueError, match="absolute http"):
        PosterPage(url=url, short_url="x", center_name="Trung tâm", province_name="Tỉnh Quảng Ninh")


def test_a_page_stores_nfc_text():
    decomposed = "Ti\u0309nh Qua\u0309ng Ninh"  # base letters followed by combining hook above
    page = PosterPage(url=URL, short_url="x", center_name="Trung  tâm", province_name=decomposed)
    assert page.province_name == "Tỉnh Quảng Ninh"
    assert page.center_name == "Trung tâm"


def test_poster_pdf_refuses_what_it_cannot_print():
    with pytest.raises(ValueError, match="unknown poster size"):
        poster_pdf([PAGE], "a3")
    with pytest.raises(ValueError, match="at least one page"):
        poster_pdf([], "a4")
    endless = PosterPage(url=URL, short_url="x", center_name="Trung tâm " * 200, province_name="Tỉnh Quảng Ninh")
    with pytest.raises(ValueError, match="too long to fit"):
        poster_pdf([endless], "a6")
