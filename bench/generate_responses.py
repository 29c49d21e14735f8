"""Stream a realistic synthetic responses export (interfaces.md §4) and its weighting totals.

Run from the repository root::

    .venv/bin/python bench/generate_responses.py --rows 1000000 [--centers 400] [--seed 2026]
        [--until 2026-11-27] [--out bench/out/responses-1000000-to-2026-11-27.csv] [--totals ...]

The file has the columns and the column order of the app's export (``app/services/export.py``)
for instrument ``sipas-dvhcc-2023@1``: one province centre and about 80 commune centres in each of
five provinces (after the 2025 reform there is no district level, so ``district_code`` is
blank), centre volumes that differ by an order of magnitude, nine fields of procedures, dates from
1 January 2026 up to today (``--until``; none in the future) in Vietnam time in chronological
order (working days, office hours), and answers from the model of the demo seed
(``app/services/demo.py``): a level of satisfaction per centre and field, a leniency per
respondent, items of one element that move together, "không áp dụng" (``9``) for results not yet
received and for feedback never given, a few skipped optional items, demographics left blank by
some, multiple choices joined by ``;``, free-text comments with commas, quotes, line breaks and
Vietnamese diacritics, and a few quality flags. The overall question (``HL``) follows the
elements with unequal weights (``KQ`` and ``TT`` matter most), so that a key-driver analysis has
something to find.

The totals file holds the number of dossiers per ``center_code,field_code`` cell that received
responses (responses are 5–30 % of dossiers, varying by centre and field), for
``--weighting poststrat``.

Rows are produced and written ``--chunk`` at a time, so memory stays flat whatever ``--rows``;
all randomness comes from ``numpy.random.default_rng(seed)``, so a seed, a row count and a last
day always give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
INSTRUMENT = "sipas-dvhcc-2023@1"

COLUMNS = [
    "response_id", "submitted_at", "instrument", "center_code", "province_code", "district_code",
    "commune_code", "level", "field_code", "channel", "locale", "source",
    "gender", "age_group", "ethnicity", "education", "occupation",
    "result_received", "respondent_type",
    "TC1", "TC2", "TC3", "TC", "TT1", "TT2", "TT3", "TT4", "TT", "CC1", "CC2", "CC3", "CC",
    "KQ1", "KQ2", "KQ3", "KQ", "PA1", "PA2", "PA3", "PA", "HL",
    "PH", "TN", "SL", "UT", "YK", "flags",
]
ELEMENTS = {
    "TC": ("TC1", "TC2", "TC3"),
    "TT": ("TT1", "TT2", "TT3", "TT4"),
    "CC": ("CC1", "CC2", "CC3"),
    "KQ": ("KQ1", "KQ2", "KQ3"),
    "PA": ("PA1", "PA2", "PA3"),
}
ELEMENT_SHIFT = {"TC": 0.3, "TT": 0.0, "CC": 0.2, "KQ": -0.1, "PA": -0.4}
#: How much each element's latent satisfaction moves the overall question (sums to 1).
OVERALL_WEIGHT = {"TC": 0.15, "TT": 0.3, "CC": 0.15, "KQ": 0.3, "PA": 0.1}
CUTS = np.array([-2.6, -1.7, -0.5, 1.7])
PROVINCES = [("22", "qn"), ("01", "hn"), ("79", "hcm"), ("48", "dn"), ("92", "ct")]
FIELDS = [
    ("dat-dai", -0.7, 0.22), ("xay-dung", -0.4, 0.08), ("ho-tich", 0.4, 0.20),
    ("chung-thuc", 0.5, 0.20), ("dang-ky-kinh-doanh", 0.1, 0.06), ("lao-dong-xa-hoi", 0.2, 0.08),
    ("tu-phap", 0.2, 0.06), ("giao-thong", -0.1, 0.05), ("moi-truong", -0.3, 0.05),
]
COMMENTS = [
    "Cán bộ hướng dẫn nhiệt tình, chu đáo.",
    "Thời gian chờ lấy số hơi lâu vào buổi sáng.",
    "Nên có thêm chỗ để xe cho người dân.",
    "Hồ sơ đất đai trả chậm so với giấy hẹn.",
    "Phòng chờ sạch sẽ, có nước uống miễn phí.",
    "Mong được hướng dẫn nộp hồ sơ trực tuyến kỹ hơn.",
    'Máy lấy số thứ tự bị "treo", phải hỏi nhiều lần.',
    "Rất hài lòng, cảm ơn các cán bộ.",
    "Phải đi lại nhiều lần vì thiếu giấy tờ\nmà không được báo trước.",
    "Cổng dịch vụ công hay lỗi; nên sửa sớm.",
]
UT_OPTIONS = ["capacity", "attitude", "transparency", "time", "procedures", "online", "facilities"]
FLAGS = ["", "too_fast", "off_hours", "device_repeat", "centre_burst", "device_repeat;too_fast"]


def _csv_field(text: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([text])  # quotes fields with "\n" too
    return buffer.getvalue()[: -len("\r\n")]


class Population:
    """Centres, their volumes and satisfaction levels, and the calendar (fixed by the seed)."""

    def __init__(self, centers: int, year: int, rng: np.random.Generator, until: date | None = None) -> None:
        per_province = max(1, round(centers / len(PROVINCES)) - 1)
        codes, provinces, communes, levels, volume = [], [], [], [], []
        for number, (province, slug) in enumerate(PROVINCES):
            codes.append(f"{slug}-hcc")
            provinces.append(province)
            communes.append("")
            levels.append("province")
            volume.append(rng.uniform(4.0, 8.0))
            for commune in range(per_province):
                codes.append(f"{slug}-x{commune + 1:03d}")
                provinces.append(province)
                communes.append(f"{number + 1}{commune + 1:04d}")
                levels.append("commune")
                volume.append(rng.lognormal(0.0, 0.7))
        self.place = np.array(
            [",".join((c, p, "", x, l)) for c, p, x, l in zip(codes, provinces, communes, levels)],
            dtype=object,
        )
        self.codes = np.array(codes, dtype=object)
        self.share = np.array(volume) / np.sum(volume)
        self.level = rng.normal(1.3, 0.45, len(codes))
        self.field_shift = np.array([shift for _, shift, _ in FIELDS])
        self.field_share = np.array([share for _, _, share in FIELDS])
        self.field_share /= self.field_share.sum()
        # share of a cell's dossiers whose applicant answered: by centre and field
        self.response_rate = rng.uniform(0.05, 0.3, (len(codes), len(FIELDS)))
        last = min(date(year, 12, 31), until or date(year, 12, 31))
        days = [date(year, 1, 1) + timedelta(days=i) for i in range((last - date(year, 1, 1)).days + 1)]
        weight = np.array([0.0 if d.weekday() == 6 else 0.3 if d.weekday() == 5 else 1.0 for d in days])
        self.days = np.array([d.isoformat().encode() + b"T" for d in days])
        self.day_share = weight / weight.sum()


def _score(latent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = latent + rng.normal(0.0, 0.9, latent.shape)
    return 1 + (noisy[..., None] > CUTS).sum(axis=-1)


def _uuid4(n: int, rng: np.random.Generator) -> np.ndarray:
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    text = np.empty((n, 36), dtype=np.uint8)
    text[:, [8, 13, 18, 23]] = ord("-")
    positions = [i for i in range(36) if i not in (8, 13, 18, 23)]
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    text[:, positions] = hexdigits[nibbles]
    return text.view("S36").ravel().astype(str).astype(object)


def _timestamps(day: np.ndarray, seconds: np.ndarray, population: Population) -> np.ndarray:
    n = len(day)
    text = np.empty((n, 25), dtype=np.uint8)
    text[:, :11] = population.days.view(np.uint8).reshape(-1, 11)[day]
    hours, rest = np.divmod(seconds, 3600)
    minutes, secs = np.divmod(rest, 60)
    zero = ord("0")
    for offset, value in ((11, hours), (14, minutes), (17, secs)):
        text[:, offset] = zero + value // 10
        text[:, offset + 1] = zero + value % 10
    text[:, [13, 16]] = ord(":")
    text[:, 19:25] = np.frombuffer(b"+07:00", dtype=np.uint8)
    return text.view("S25").ravel().astype(str).astype(object)


def _choice_text(values: list[str], index: np.ndarray) -> np.ndarray:
    return np.array(values, dtype=object)[index]


def _maybe_blank(values: np.ndarray, keep: float, rng: np.random.Generator) -> np.ndarray:
    return np.where(rng.random(len(values)) < keep, values, "")


def chunk_rows(
    first_day: np.ndarray, population: Population, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Columns (object arrays of text, in :data:`COLUMNS` order) of len(first_day) responses,
    and their centre and field indices (for the totals)."""
    n = len(first_day)
    seconds = np.where(
        rng.random(n) < 0.6, rng.uniform(7.5 * 3600, 11.5 * 3600, n), rng.uniform(13.5 * 3600, 17 * 3600, n)
    ).astype(np.int64)
    order = np.lexsort((seconds, first_day))
    day, seconds = first_day[order], seconds[order]
    center = rng.choice(len(population.codes), n, p=population.share)
    field = rng.choice(len(FIELDS), n, p=population.field_share)
    trips = rng.choice(4, n, p=[0.60, 0.28, 0.08, 0.04])
    person = population.level[center] + population.field_shift[field] + rng.normal(0, 0.8, n)
    person -= np.array([0.0, 0.4, 0.9, 1.4])[trips]
    received = rng.random(n) < 0.75
    gave_feedback = rng.random(n) < 0.3
    channel = rng.choice(3, n, p=[0.80, 0.17, 0.03])
    answers: dict[str, np.ndarray] = {}
    overall = np.zeros(n)
    codes = np.array(["", "1", "2", "3", "4", "5", "9"], dtype=object)
    for element, items in ELEMENTS.items():
        latent = person + ELEMENT_SHIFT[element] + rng.normal(0, 0.5, n)
        overall += OVERALL_WEIGHT[element] * latent
        not_applicable = ~gave_feedback if element == "PA" else ~received if element == "KQ" else None
        for question in (*items, element):
            score = _score(latent + rng.normal(0, 0.4, n), rng)
            if question != element:  # items are optional: a few are skipped
                score = np.where(rng.random(n) < 0.03, 0, score)
            if not_applicable is not None:
                score = np.where(not_applicable & (rng.random(n) < 0.9), 6, score)
            answers[question] = codes[score]
    answers["HL"] = codes[_score(overall + 0.1, rng)]
    ut_choices = [";".join(c) for k in (1, 2, 3) for c in combinations(UT_OPTIONS, k)]
    ut_weight = np.array([3.0 if s.count(";") == 0 else 1.0 / (1 + s.count(";")) for s in ut_choices])
    ut = _choice_text(ut_choices, rng.choice(len(ut_choices), n, p=ut_weight / ut_weight.sum()))
    comments = [_csv_field(text) for text in COMMENTS]
    columns = {
        "response_id": _uuid4(n, rng),
        "submitted_at": _timestamps(day, seconds, population),
        "instrument": np.full(n, INSTRUMENT, dtype=object),
        "place": population.place[center],
        "field_code": _choice_text([f for f, _, _ in FIELDS], field),
        "channel": _choice_text(["direct", "online", "postal"], channel),
        "locale": np.where(rng.random(n) < 0.97, "vi", "en").astype(object),
        "source": np.full(n, "survey", dtype=object),
        "gender": _maybe_blank(_choice_text(["male", "female"], rng.choice(2, n)), 0.88, rng),
        "age_group": _maybe_blank(
            _choice_text(["18-24", "25-34", "35-49", "50-60", "60+"],
                         rng.choice(5, n, p=[0.10, 0.27, 0.33, 0.18, 0.12])), 0.88, rng),
        "ethnicity": _maybe_blank(np.where(rng.random(n) < 0.9, "kinh", "other").astype(object), 0.88, rng),
        "education": _maybe_blank(
            _choice_text(["primary", "lower_secondary", "upper_secondary", "vocational", "university"],
                         rng.choice(5, n, p=[0.06, 0.17, 0.30, 0.17, 0.30])), 0.88, rng),
        "occupation": _maybe_blank(
            _choice_text(["civil_servant", "business", "worker", "farmer", "student", "retired", "other"],
                         rng.choice(7, n, p=[0.14, 0.22, 0.24, 0.16, 0.04, 0.12, 0.08])), 0.88, rng),
        "result_received": _maybe_blank(np.where(received, "yes", "no").astype(object), 0.88, rng),
        "respondent_type": _maybe_blank(
            np.where(rng.random(n) < 0.88, "person", "organisation").astype(object), 0.88, rng),
        **answers,
        "PH": _maybe_blank(_choice_text(["none", "some", "many"], rng.choice(3, n, p=[0.94, 0.05, 0.01])), 0.88, rng),
        "TN": _maybe_blank(np.where(rng.random(n) < 0.015, "yes", "no").astype(object), 0.88, rng),
        "SL": _maybe_blank(_choice_text(["1", "2", "3", "4+"], trips), 0.88, rng),
        "UT": np.where(rng.random(n) < 0.7, ut, "").astype(object),
        "YK": np.where(rng.random(n) < 0.08, _choice_text(comments, rng.choice(len(comments), n)), "").astype(object),
        "flags": _choice_text(FLAGS, rng.choice(len(FLAGS), n, p=[0.98, 0.006, 0.004, 0.004, 0.004, 0.002])),
    }
    ordered = [columns["response_id"], columns["submitted_at"], columns["instrument"], columns["place"]]
    ordered += [columns[c] for c in COLUMNS[8:]]
    return ordered, center, field


def generate(
    rows: int,
    out: Path,
    totals: Path,
    *,
    centers: int = 400,
    seed: int = 2026,
    year: int = 2026,
    until: date | None = None,
    chunk: int = 100_000,
) -> None:
    """Write ``rows`` responses to ``out`` and their post-stratification totals to ``totals``:
    dated from 1 January of ``year`` to ``until`` (default: the end of the year, or today if
    that is earlier; a real export holds no response from the future)."""
    rng = np.random.default_rng(seed)
    population = Population(centers, year, rng, last_day(year, until))
    per_day = rng.multinomial(rows, population.day_share)
    day_of_row_end = np.cumsum(per_day)
    counts = np.zeros((len(population.codes), len(FIELDS)), dtype=np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write("\ufeff" + ",".join(COLUMNS) + "\n")
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            day = np.searchsorted(day_of_row_end, np.arange(start, stop), side="right")
            columns, center, field = chunk_rows(day, population, rng)
            np.add.at(counts, (center, field), 1)
            handle.write("\n".join(map(",".join, zip(*columns))))
            handle.write("\n")
    os.replace(temporary, out)
    with open(totals, "w", encoding="utf-8", newline="") as handle:
        handle.write("center_code,field_code,population\n")
        for c, f in zip(*np.nonzero(counts)):
            dossiers = int(np.ceil(counts[c, f] / population.response_rate[c, f]))
            handle.write(f"{population.codes[c]},{FIELDS[f][0]},{dossiers}\n")


def last_day(year: int, until: date | None = None) -> date:
    """The last day of the generated dates: ``until``, or today, and at most 31 December."""
    return min(date(year, 12, 31), until or date.today())


def default_paths(rows: int, seed: int, until: date | None = None) -> tuple[Path, Path]:
    """Where a run of ``rows``, ``seed`` and last day is written by default (under git-ignored
    bench/out), e.g. ``responses-1000000-to-2026-11-27.csv``."""
    suffix = f"{rows}" if seed == 2026 else f"{rows}-seed{seed}"
    suffix += f"-to-{last_day(2026, until).isoformat()}"
    return OUT / f"responses-{suffix}.csv", OUT / f"totals-{suffix}.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--centers", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--until", type=date.fromisoformat,
                        help="last day of the dates, YYYY-MM-DD (default: today, at most 31 December 2026)")
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--totals", type=Path)
    args = parser.parse_args(argv)
    out, totals = default_paths(args.rows, args.seed, args.until)
    out, totals = args.out or out, args.totals or totals
    started = time.perf_counter()
    generate(args.rows, out, totals, centers=args.centers, seed=args.seed, until=args.until, chunk=args.chunk)
    size = out.stat().st_size / 1e6
    print(f"{out} ({args.rows} rows, {size:.0f} MB) and {totals} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
