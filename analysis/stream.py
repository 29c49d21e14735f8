"""One streaming pass over a responses file: validation and sufficient statistics.

:func:`scan_responses` reads a responses export (interfaces.md §4) piece by piece with
:class:`analysis.reader.CsvBlocks`, checks everything ``python -m analysis indices`` checks, and
adds every block into the sufficient-statistics tables of :mod:`analysis.sufficient` (statistics
.md §6). Memory therefore depends on the number of groups (combinations of key values), not on
the number of responses: ten million responses take the memory of a few hundred thousand.

Large files are parsed by worker processes (``fork``; one per CPU): the reading process only
cuts the file into pieces of whole records and hashes it, the workers parse, validate and
tabulate their pieces with rows counted from the piece's start, and the reading process adds the
results in file order, turning those rows into the file's. The result does not depend on the
number of workers or the size of the pieces.

Checks and the order of their reports
-------------------------------------
The whole file is read before anything is reported, and the problem reported is the one the
former whole-file reader reported first, so that error messages do not depend on where a block
ends:

1. the file cannot be read: not UTF-8, malformed CSV, empty, bad header;
2. a totals file cannot be read (:func:`scan_responses` receives that error from the caller);
3. a column every responses file has (``response_id``, ``submitted_at``, ``instrument``) is
   missing; the file holds no responses;
4. a blank or repeated ``response_id``; an invalid ``submitted_at``; a blank or unknown
   ``instrument``; two instrument versions in one file without ``by`` instrument;
5. per instrument (in order of first appearance) and per question of its index definitions (in
   order): the column is missing, or holds an answer that is not a code of the question;
6. a stratum, domain or totals key column is missing; a weight that is not a number > 0;
7. the ``flags`` column is missing, or no response is left once flagged ones are excluded.

Within one check the first row is reported. Duplicate identifiers are found by 64-bit hashes
and confirmed, on a second pass over the identifiers only, before being reported.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.periods import PERIODS, period_labels
from analysis.reader import Block, CsvBlocks, Piece, parse_block
from analysis.sufficient import SufficientStatistics

__all__ = ["BASE_COLUMNS", "BLOCK_BYTES", "ScannedResponses", "scan_responses"]

BASE_COLUMNS = ("response_id", "submitted_at", "instrument")
NOT_APPLICABLE = "9"
#: Bytes read per block; small values are for tests that cross block boundaries.
BLOCK_BYTES = 16 << 20

#: Stands for "two instrument versions" until every version is known.
_MIXED = DataError("mixed instrument versions")
_TIMESTAMP_WIDTH = len("2026-03-14T09:21:05+07:00")
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24]


def _allowed_answers(instrument: Any, definition_values: Sequence[str], code: str) -> set[str]:
    allowed: set[str] = set()
    question = getattr(instrument, "question", None)
    if callable(question):
        try:
            allowed = {str(v) for v in question(code).values}
        except (KeyError, AttributeError):
            allowed = set()
    if not allowed:
        allowed = {*map(str, definition_values), NOT_APPLICABLE}
    return allowed | {""}


def _definition_codes(definition: Any) -> list[str]:
    return [definition.question] if definition.rule == "question" else list(definition.items)


# ---------------------------------------------------------------------- dates


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 0000-03-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(year, month) of days since 0000-03-01 (H. Hinnant's civil_from_days)."""
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month


def _period_codes(
    block: Block, period: str, source: str
) -> tuple[np.ndarray, np.ndarray, DataError | None]:
    """Period label code of every row, the labels, and the first invalid timestamp.

    Timestamps of the exporter's shape (``2026-03-14T09:21:05+07:00``, any offset) are read
    with integer arithmetic; anything else goes through :func:`analysis.periods.period_labels`,
    which defines what is valid.
    """
    matrix, usable = block.fixed("submitted_at", _TIMESTAMP_WIDTH)
    digits = matrix[:, _DIGITS].astype(np.int64) - 48
    shaped = (
        usable
        & ((digits >= 0) & (digits <= 9)).all(axis=1)
        & (matrix[:, 4] == 45) & (matrix[:, 7] == 45)
        & ((matrix[:, 10] == 84) | (matrix[:, 10] == 32))
        & (matrix[:, 13] == 58) & (matrix[:, 16] == 58) & (matrix[:, 22] == 58)
        & ((matrix[:, 19] == 43) | (matrix[:, 19] == 45))
    )

    def number(*positions: int) -> np.ndarray:
        value = np.zeros(block.n, dtype=np.int64)
        for p in positions:
            value = value * 10 + digits[:, _DIGITS.index(p)]
        return value

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    hour, minute, second = number(11, 12), number(14, 15), number(17, 18)
    offset_hours, offset_minutes = number(20, 21), number(23, 24)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    in_month = month_days[np.clip(month - 1, 0, 11)] + ((month == 2) & leap)
    fast = (
        shaped
        & (year >= 1976) & (year <= 9000)
        & (month >= 1) & (month <= 12) & (day >= 1) & (day <= in_month)
        & (hour <= 23) & (minute <= 59) & (second <= 59)
        & (offset_hours <= 14) & (offset_minutes <= 59)
    )
    sign = np.where(matrix[:, 19] == 43, 1, -1)
    local_minutes = hour * 60 + minute - sign * (offset_hours * 60 + offset_minutes) + 7 * 60
    days = _days(year, month, day) + np.floor_divide(local_minutes, 1440)
    local_year, local_month = _civil(days)
    key = np.where(fast, local_year * 12 + local_month - 1, -1)
    error = None
    slow = np.flatnonzero(~fast)
    extra: dict[str, int] = {}
    if len(slow):
        text = block.strings("submitted_at", slow)
        try:
            labels = period_labels(pd.Series(text), period, source=source, rows=block.rows[slow])
        except DataError as problem:
            error = problem
            labels = pd.Series([""] * len(slow))
        for i, label in zip(slow.tolist(), labels.tolist()):
            key[i] = -2 - extra.setdefault(label, len(extra))
    distinct, codes = np.unique(key, return_inverse=True)
    names = {-2 - v: k for k, v in extra.items()}
    out = []
    for value in distinct.tolist():
        if value <= -2:
            out.append(names[value])
            continue
        y, m = divmod(value, 12)
        m += 1
        out.append(
            f"{y}" if period == "year" else f"{y}-Q{(m - 1) // 3 + 1}" if period == "quarter" else f"{y}-{m:02d}"
        )
    # months of one quarter or year, and the slow path's labels, share labels: one code each
    labels, merged = np.unique(np.array(out, dtype=object), return_inverse=True)
    return merged.reshape(-1)[codes].astype(np.int64), labels, error


# ---------------------------------------------------------------------- accumulation


class _Codebook:
    """Global integer ids of the labels of one column, across blocks."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.labels: list[str] = []

    def translate(self, labels: np.ndarray) -> np.ndarray:
        out = np.empty(len(labels), dtype=np.int64)
        for i, label in enumerate(labels.tolist()):
            found = self.ids.get(label)
            if found is None:
                found = self.ids[label] = len(self.labels)
                self.labels.append(label)
            out[i] = found
        return out


class _Growing:
    """A 2-D float array whose rows and columns grow on demand."""

    def __init__(self, columns: int = 8) -> None:
        self.array = np.zeros((1024, columns))

    def add(self, rows: int, columns: int, flat: np.ndarray, values: np.ndarray, width: int) -> None:
        """Add ``values`` at flat positions ``row * width + column``."""
        need_r, need_c = rows, columns
        have_r, have_c = self.array.shape
        if need_r > have_r or need_c > have_c:
            grown = np.zeros((max(need_r, have_r * 2 if need_r > have_r else have_r), max(need_c, have_c)))
            grown[:have_r, :have_c] = self.array
            self.array = grown
        summed = np.bincount(flat, weights=values, minlength=rows * width).reshape(rows, width)
        self.array[:rows, :width] += summed


@dataclass(frozen=True, eq=False)
class ScannedResponses:
    """What :func:`scan_responses` learned from a responses file.

    Attributes
    ----------
    statistics : SufficientStatistics
        The tables of :mod:`analysis.sufficient` over the kept responses, key columns as
        categoricals.
    responses : int
        Responses kept (after ``exclude_flagged``).
    excluded : int
        Responses left out because they carry quality flags.
    instruments : dict
        Instrument key → loaded instrument, in order of first appearance.
    sha256 : str
        Hex SHA-256 of the file.
    source : str
        The file's name, for messages.
    first_rows : numpy.ndarray
        Row number of the first kept response of every row of ``statistics.respondents``.
    data : pandas.DataFrame or None
        The ``keep`` columns of the kept responses (stripped strings), when asked for.
    rows : numpy.ndarray or None
        The row numbers of ``data``.
    """

    statistics: SufficientStatistics
    responses: int
    excluded: int
    instruments: dict
    sha256: str
    source: str
    first_rows: np.ndarray = field(repr=False)
    data: pd.DataFrame | None = None
    rows: np.ndarray | None = None

    def locate(self, cell: Mapping[str, str]) -> tuple[str | None, int | None]:
        """(file, row) of the first kept response whose key values are ``cell``'s."""
        table = self.statistics.respondents
        match = np.ones(len(table), dtype=bool)
        for column, value in cell.items():
            match &= (table[column].astype(str) == str(value)).to_numpy()
        hits = self.first_rows[match]
        return self.source, (int(hits.min()) if len(hits) else None)


class _Problems:
    """The first problem of every check; the one with the smallest priority is reported."""

    def __init__(self) -> None:
        self.best: tuple[tuple, DataError] | None = None

    def add(self, priority: tuple, error: DataError) -> None:
        if self.best is None or priority < self.best[0]:
            self.best = (priority, error)


# ---------------------------------------------------------------------- one block


@dataclass(frozen=True)
class _Settings:
    """What every block's processing needs (shared with worker processes)."""

    path: str
    source: str
    header: dict
    keys: tuple
    period: str | None
    weight_column: str | None
    exclude_flagged: bool
    keep: tuple
    tabulate: bool
    load_instrument: Callable[[str], Any]


class _Instruments:
    """Instruments loaded so far in this process, and the answer checks of each."""

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings
        self.loaded: dict[str, Any] = {}
        self.unknown: dict[str, str] = {}
        self.checks: dict[str, list[tuple[int, str, set[str]]]] = {}

    def load(self, name: str) -> bool:
        if name in self.loaded:
            return True
        if name in self.unknown:
            return False
        try:
            instrument = self.settings.load_instrument(name)
        except (ValueError, KeyError, LookupError) as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            self.unknown[name] = detail
            return False
        self.loaded[name] = instrument
        checks, position = [], 0
        for definition in instrument.index_definitions:
            for question in _definition_codes(definition):
                checks.append((position, question, _allowed_answers(instrument, definition.valid_values, question)))
                position += 1
        self.checks[name] = checks
        return True


@dataclass
class _BlockResult:
    """What one block contributes; merged in file order by :func:`scan_responses`."""

    start: int
    n: int
    hashes: np.ndarray
    problems: list  # (priority, DataError); answers: ("answer", instrument, position, row)
    first_rows: dict  # instrument label -> first row in the block
    first_label: str
    kept: int
    excluded: int
    group_labels: list | None = None  # per key: the label of every local group
    group_first_rows: np.ndarray | None = None
    group_sums: np.ndarray | None = None  # local groups × (count, Σd, Σd²)
    answers: dict | None = None  # question -> (group, answer labels, answer, count, Σd, Σd²)
    data: pd.DataFrame | None = None
    rows: np.ndarray | None = None


def _process_block(block: Block, settings: _Settings, instruments: _Instruments) -> _BlockResult:
    """Validate one block and tabulate its kept rows (see the module docstring)."""
    source = settings.source
    header = settings.header
    rows = block.rows
    if not block.n:
        return _BlockResult(0, 0, np.zeros(0, dtype=np.uint64), [], {}, "", 0, 0)
    problems: list = []
    ids, blank_id = block.hashes("response_id")
    if blank_id.any():
        i = int(np.flatnonzero(blank_id)[0])
        problems.append(((4, 0, int(rows[i])), DataError("blank response_id", file=source, row=int(rows[i]), column="response_id")))
    period_codes, period_names, date_error = _period_codes(block, settings.period or "month", source)
    if date_error is not None:
        problems.append(((4, 2, date_error.row or 0), date_error))
    instrument_codes, instrument_names = block.categorical("instrument")
    first_of = {
        name: int(np.argmax(instrument_codes == code)) for code, name in enumerate(instrument_names.tolist())
    }
    if "" in first_of:
        row = int(rows[first_of[""]])
        problems.append(((4, 3, row), DataError("blank instrument", file=source, row=row, column="instrument")))
    present = [
        (code, name)
        for code, name in enumerate(instrument_names.tolist())
        if name != "" and instruments.load(name)
    ]
    questions = list(
        dict.fromkeys(q for _, name in present for _, q, _ in instruments.checks[name] if q in header)
    )
    answer_codes = block.narrow_categoricals(questions)  # one pass for the one-character answers
    for question in questions:
        if question not in answer_codes:
            answer_codes[question] = block.categorical(question)
    for code, name in present:
        mine = instrument_codes == code
        for position, question, allowed in instruments.checks[name]:
            if question not in header:
                continue  # reported once, by the merge
            codes, labels = answer_codes[question]
            bad_labels = np.flatnonzero(~np.isin(labels, sorted(allowed)))
            if not len(bad_labels):
                continue
            bad = mine & np.isin(codes, bad_labels)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                expected = ", ".join(sorted(a for a in allowed if a))
                problems.append(
                    (
                        ("answer", name, position, int(rows[i])),
                        DataError(
                            f"answer {labels[codes[i]]!r} is not a code of {question} "
                            f"(expected one of {expected} or blank)",
                            file=source,
                            row=int(rows[i]),
                            column=question,
                        ),
                    )
                )
    weights = None
    if settings.weight_column and settings.weight_column in header:
        text = block.strings(settings.weight_column)
        weights = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(weights) | (weights <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            problems.append(
                (
                    (11, 1, int(rows[i])),
                    DataError(f"weight {text[i]!r} is not a number > 0", file=source, row=int(rows[i]), column=settings.weight_column),
                )
            )
    keep_rows = np.ones(block.n, dtype=bool)
    if settings.exclude_flagged and "flags" in header:
        flag_codes, flag_names = block.categorical("flags")
        keep_rows = flag_names[flag_codes] == ""
    result = _BlockResult(
        start=block.start,
        n=block.n,
        hashes=ids,
        problems=problems,
        first_rows={name: int(rows[i]) for name, i in first_of.items()},
        first_label=str(instrument_names[instrument_codes[0]]),
        kept=int(keep_rows.sum()),
        excluded=int((~keep_rows).sum()),
    )
    index = np.flatnonzero(keep_rows)
    if problems or not settings.tabulate or not len(index):
        return result
    # ---------------------------------------------------------------- tabulate the kept rows
    derived_period = settings.period is not None
    key_codes, key_labels = [], []
    for k in settings.keys:
        codes, labels = (period_codes, period_names) if k == "period" and derived_period else block.categorical(k)
        key_codes.append(codes[index])
        key_labels.append(labels)
    if key_codes:
        dims = tuple(max(len(labels), 1) for labels in key_labels)
        local, group = _compact(np.ravel_multi_index(tuple(key_codes), dims), math.prod(dims))
        parts = np.unravel_index(local, dims)
        result.group_labels = [labels[part] for labels, part in zip(key_labels, parts)]
    else:
        local = np.zeros(1, dtype=np.int64)
        group = np.zeros(len(index), dtype=np.int64)
        result.group_labels = []
    size = len(local)
    # the first row of every group (a fancy assignment would not say which duplicate wins)
    position = np.full(size, len(index), dtype=np.int64)
    np.minimum.at(position, group, np.arange(len(index)))
    first = index[position]
    result.group_first_rows = rows[first]
    d = np.ones(len(index)) if weights is None else weights[index]
    result.group_sums = np.column_stack(
        [np.bincount(group, minlength=size), np.bincount(group, weights=d, minlength=size), np.bincount(group, weights=d * d, minlength=size)]
    ).astype(float)
    result.answers = {}
    weighted = weights is not None
    for question in questions:
        codes, labels = answer_codes[question]
        answer = codes[index]
        given = labels[answer] != ""
        width = len(labels)
        flat = group[given] * width + answer[given]
        counts = np.bincount(flat, minlength=size * width)
        cells = np.flatnonzero(counts)
        dg = d[given]
        result.answers[question] = (
            cells // width,
            labels,
            cells % width,
            counts[cells].astype(float),
            np.bincount(flat, weights=dg, minlength=size * width)[cells] if weighted else None,
            np.bincount(flat, weights=dg * dg, minlength=size * width)[cells] if weighted else None,
        )
    if settings.keep:
        frame = {}
        for column in settings.keep:
            if column == "period" and derived_period:
                frame[column] = period_names[period_codes[index]]
            elif column in header:
                frame[column] = block.strings(column, index)
        result.data = pd.DataFrame(frame)
        result.rows = rows[index]
    return result


def _compact(flat: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``flat`` (sorted) and every element's position among them, like
    ``np.unique(flat, return_inverse=True)`` but by counting where the range allows."""
    if size > 4 * len(flat) + 1024:
        local, inverse = np.unique(flat, return_inverse=True)
        return local, inverse.reshape(-1).astype(np.int64)
    local = np.flatnonzero(np.bincount(flat, minlength=size))
    position = np.zeros(size, dtype=np.int64)
    position[local] = np.arange(len(local))
    return local, position[flat]


# Worker processes (fork) keep their settings, instruments and file descriptor here.
_WORKER: dict[str, Any] = {}


def _start_worker(settings: _Settings) -> None:
    _WORKER["settings"] = settings
    _WORKER["instruments"] = _Instruments(settings)
    _WORKER["fd"] = os.open(settings.path, os.O_RDONLY)


def _work(piece: Piece) -> tuple[_BlockResult | DataError, int]:
    settings = _WORKER["settings"]
    data = os.pread(_WORKER["fd"], piece.length, piece.offset)
    return _parse_and_process(data, settings, _WORKER["instruments"])


def _parse_and_process(
    data: bytes, settings: _Settings, instruments: _Instruments
) -> tuple[_BlockResult | DataError, int]:
    """The piece's result (or the reason it cannot be read) and its number of physical lines.

    Rows and lines count from the piece's start (as if it were the first): pieces are cut and
    processed before the records of the earlier ones are counted, and :class:`_Merge` adds
    the offsets in file order.
    """
    lines = data.count(b"\n")
    block, error = parse_block(data, header=settings.header, name=settings.source)
    if error is not None:
        return error, lines
    return _process_block(block, settings, instruments), lines


def _workers(requested: int | None, size: int, block_bytes: int) -> int:
    if requested is not None:
        return max(1, requested)
    if size < 4 * block_bytes:
        return 1  # small files: starting processes costs more than it saves
    return max(1, min(os.cpu_count() or 1, 4))


def scan_responses(
    path: str | os.PathLike,
    *,
    load_instrument: Callable[[str], Any],
    keys: Sequence[str] = (),
    period: str | None = None,
    weight_column: str | None = None,
    exclude_flagged: bool = False,
    pooled_instruments: bool = False,
    required: Sequence[tuple[str, str]] = (),
    totals_columns: Sequence[tuple[str, str]] = (),
    keep: Sequence[str] = (),
    earlier_error: DataError | None = None,
    block_bytes: int | None = None,
    workers: int | None = None,
) -> ScannedResponses:
    """Validate a responses file and tabulate its sufficient statistics in one pass.

    Parameters
    ----------
    path : str or os.PathLike
        The responses CSV (interfaces.md §4).
    load_instrument : callable
        ``load_instrument(key)`` → instrument (``index_definitions``, ``question(code)``);
        ``ValueError``, ``KeyError`` or ``LookupError`` for an unknown key.
    keys : sequence of str
        Key columns of the sufficient statistics (strata, weighting cells, domains); may
        include ``period``, which is derived from ``submitted_at``.
    period : {"month", "quarter", "year"}, optional
        The ``period`` column's unit (timestamps are validated whether or not it is given).
    weight_column : str, optional
        Base weights d (``--weighting column``); default 1.
    exclude_flagged : bool
        Leave out responses whose ``flags`` column is not blank.
    pooled_instruments : bool
        Whether several instrument versions may share the file (``by`` includes
        ``instrument``).
    required : sequence of (column, why)
        Columns that must exist (strata and domains), reported in order (check 6).
    totals_columns : sequence of (column, totals file)
        Totals key columns that must exist in the responses (check 6).
    keep : sequence of str
        Columns to return per respondent in ``data`` (for estimators that need them).
    earlier_error : DataError, optional
        A problem found before the responses' contents are looked at (a totals file that
        cannot be read): reported unless the responses file itself cannot be read.
    block_bytes : int, optional
        Bytes per block (default :data:`BLOCK_BYTES`).
    workers : int, optional
        Processes that parse blocks. Default: one per CPU (at most 4) for files of more than
        four blocks, else 1 (no process is started). Blocks are merged in file order, so the
        result does not depend on it.

    Returns
    -------
    ScannedResponses

    Raises
    ------
    DataError
        The first problem in the order of the module docstring.
    """
    source = str(path)
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    keys = tuple(dict.fromkeys(keys))
    block_bytes = block_bytes or BLOCK_BYTES
    reader = CsvBlocks(path, block_bytes=block_bytes)
    derived_period = period is not None
    header = set(reader.header)
    problems = _Problems()
    if earlier_error is not None:
        problems.add((2,), earlier_error)
    for position, column in enumerate(BASE_COLUMNS):
        if column not in header:
            problems.add((3, position), DataError("missing column (every responses file has it)", file=source, row=1, column=column))
    available = header | ({"period"} if derived_period else set())
    for position, (column, why) in enumerate(required):
        if column not in available:
            problems.add((10, position), DataError(f"missing column ({why})", file=source, row=1, column=column))
    for position, (column, totals_source) in enumerate(totals_columns):
        if column not in available:
            problems.add(
                (10, len(required) + position),
                DataError(
                    f"the totals name column {column!r}, which the responses file lacks",
                    file=totals_source,
                    row=1,
                    column=column,
                ),
            )
    missing_keys = [k for k in keys if k not in available]
    if weight_column and weight_column not in header:
        problems.add((11, 0), DataError("missing column (--weighting column)", file=source, row=1, column=weight_column))
    if exclude_flagged and "flags" not in header:
        problems.add((12, 0), DataError("missing column (--exclude-flagged)", file=source, row=1, column="flags"))
    header_ok = all(c in header for c in BASE_COLUMNS)
    settings = _Settings(
        path=str(path),
        source=source,
        header={name: j for j, name in enumerate(reader.header)},
        keys=keys,
        period=period,
        weight_column=weight_column if weight_column in header else None,
        exclude_flagged=exclude_flagged,
        keep=tuple(keep),
        tabulate=problems.best is None and not missing_keys,
        load_instrument=load_instrument,
    )
    instruments = _Instruments(settings)
    merge = _Merge(keys, weight_column is not None, bool(keep))
    count = _workers(workers, os.path.getsize(path), block_bytes) if not keep else 1
    if not header_ok:
        # still parsed: a file that cannot be read is reported before anything else
        results = (
            (parse_block(piece.data, header=settings.header, name=source)[1], piece.data.count(b"\n"))
            for piece in reader.pieces()
        )
    elif count == 1:
        results = (_parse_and_process(piece.data, settings, instruments) for piece in reader.pieces())
    else:
        context = multiprocessing.get_context("fork")
        pool = context.Pool(count, initializer=_start_worker, initargs=(settings,))
    lines_before = reader.lines_before
    try:
        if header_ok and count > 1:
            results = pool.imap(_work, reader.pieces(with_data=False), chunksize=1)
        for result, lines in results:
            if result is None:
                pass
            elif isinstance(result, DataError):
                result.row = (result.row or 0) + lines_before
                reader.note(result)
            elif reader.error is None:
                for priority, error in merge.add(result):
                    if priority[0] != "answer":
                        problems.add(priority, error)
            lines_before += lines
    finally:
        if header_ok and count > 1:
            pool.close()
            pool.join()
    if reader.error is not None:
        raise reader.error
    # instruments in order of first appearance; checks that need every block
    order = sorted(merge.first_rows, key=merge.first_rows.get)
    known: dict[str, Any] = {}
    for name in order:
        if name == "":
            continue
        if instruments.load(name):
            known[name] = instruments.loaded[name]
        else:
            detail = instruments.unknown[name]
            row = merge.first_rows[name]
            problems.add(
                (4, 4, row),
                DataError(
                    f"unknown instrument {name!r}" + (f" ({detail})" if detail else ""),
                    file=source,
                    row=row,
                    column="instrument",
                ),
            )
    position_of = {name: i for i, name in enumerate(known)}
    for name, i in position_of.items():
        for position, question, _ in instruments.checks[name]:
            if question not in header:
                problems.add(
                    (5, i, position, 0),
                    DataError(f"missing column (a question of {name})", file=source, row=1, column=question),
                )
    for (_, name, position, row), error in merge.answer_problems:
        problems.add((5, position_of[name], position, row), error)
    if not pooled_instruments and merge.first_label is not None:
        others = [row for name, row in merge.first_rows.items() if name != merge.first_label]
        if others:
            row = min(others)
            versions = ", ".join(sorted(known))
            problems.add(
                (4, 5, row),
                DataError(
                    f"the file mixes instrument versions {versions}; they are never pooled: "
                    "analyse them separately or pass --by instrument",
                    file=source,
                    row=row,
                    column="instrument",
                ),
            )
    if header_ok and merge.records == 0:
        problems.add((3, 9), DataError("holds no responses", file=source, row=2))
    if merge.hashes and (problems.best is None or problems.best[0] > (4, 1)):
        duplicate = _first_duplicate(np.concatenate(merge.hashes), path, block_bytes)
        if duplicate is not None:
            row, value = duplicate
            problems.add((4, 1, row), DataError(f"response_id {value!r} appears twice", file=source, row=row, column="response_id"))
    if problems.best is not None:
        raise problems.best[1]
    if exclude_flagged and merge.kept == 0:
        raise DataError("no responses left after --exclude-flagged", file=source, column="flags")
    statistics = merge.tables()
    data = rows_out = None
    if keep:
        data = pd.concat(merge.data, ignore_index=True) if merge.data else pd.DataFrame(columns=list(keep))
        rows_out = np.concatenate(merge.rows) if merge.rows else np.zeros(0, dtype=np.int64)
    return ScannedResponses(
        statistics=statistics,
        responses=merge.kept,
        excluded=merge.excluded,
        instruments=known,
        sha256=reader.sha256,
        source=source,
        first_rows=np.array(merge.group_first_rows, dtype=np.int64),
        data=data,
        rows=rows_out,
    )


class _Merge:
    """Blocks' results added in file order: counts, hashes, first rows and the tables."""

    def __init__(self, keys: tuple, weighted: bool, keep: bool) -> None:
        self.keys = keys
        self.weighted = weighted
        self.records = self.kept = self.excluded = 0
        self.hashes: list[np.ndarray] = []
        self.first_rows: dict[str, int] = {}
        self.first_label: str | None = None
        self.answer_problems: list = []
        self.key_books = {k: _Codebook() for k in keys}
        self.group_ids: dict = {}
        self.group_keys: list[tuple] = []
        self.group_first_rows: list[int] = []
        self.respondent_sums = _Growing(3)
        self.answer_books: dict[str, _Codebook] = {}
        self.answer_sums: dict[str, tuple[_Growing, ...]] = {}
        self.data: list[pd.DataFrame] = []
        self.rows: list[np.ndarray] = []

    def add(self, result: _BlockResult) -> list:
        """Add a block's result (rows counted from the block's start); returns its problems
        with rows counted from the file's start."""
        offset = self.records  # records before this block
        self.records += result.n
        self.kept += result.kept
        self.excluded += result.excluded
        self.hashes.append(result.hashes)
        if self.first_label is None and result.n:
            self.first_label = result.first_label
        for name, row in result.first_rows.items():
            self.first_rows.setdefault(name, row + offset)
        problems = []
        for priority, error in result.problems:
            error.row = (error.row or 0) + offset
            problems.append((priority[:-1] + (priority[-1] + offset,), error))
        self.answer_problems.extend(p for p in problems if p[0][0] == "answer")
        if result.group_sums is None:
            return problems
        ids = [self.key_books[k].translate(labels) for k, labels in zip(self.keys, result.group_labels)]
        combinations = list(zip(*(i.tolist() for i in ids))) if ids else [()]
        mapping = np.empty(len(combinations), dtype=np.int64)
        for i, combination in enumerate(combinations):
            found = self.group_ids.get(combination)
            if found is None:
                found = self.group_ids[combination] = len(self.group_keys)
                self.group_keys.append(combination)
                self.group_first_rows.append(int(result.group_first_rows[i]) + offset)
            mapping[i] = found
        n_groups = len(self.group_keys)
        self.respondent_sums.add(
            n_groups, 3,
            np.concatenate([mapping * 3, mapping * 3 + 1, mapping * 3 + 2]),
            np.concatenate([result.group_sums[:, 0], result.group_sums[:, 1], result.group_sums[:, 2]]),
            3,
        )
        for question, (group, labels, answer, count, sum_w, sum_w2) in result.answers.items():
            book = self.answer_books.setdefault(question, _Codebook())
            answer = book.translate(labels)[answer]
            width = len(book.labels)
            sums = self.answer_sums.setdefault(
                question, (_Growing(), _Growing(), _Growing()) if self.weighted else (_Growing(),)
            )
            flat = mapping[group] * width + answer
            sums[0].add(n_groups, width, flat, count, width)
            if self.weighted:
                sums[1].add(n_groups, width, flat, sum_w, width)
                sums[2].add(n_groups, width, flat, sum_w2, width)
        if result.data is not None:
            self.data.append(result.data)
            self.rows.append(result.rows + offset)
        return problems

    def tables(self) -> SufficientStatistics:
        return _tables(
            list(self.keys), self.key_books, self.group_keys, self.respondent_sums,
            list(self.answer_books), self.answer_books, self.answer_sums, self.weighted,
        )


def _tables(
    keys: list[str],
    key_books: dict[str, _Codebook],
    group_keys: list[tuple],
    respondent_sums: _Growing,
    questions: list[str],
    answer_books: dict[str, _Codebook],
    answer_sums: dict[str, tuple[_Growing, ...]],
    weighted: bool,
) -> SufficientStatistics:
    n_groups = len(group_keys)
    codes = np.array(group_keys, dtype=np.int64).reshape(n_groups, len(keys))
    categories = {
        k: pd.Categorical.from_codes(codes[:, j], categories=pd.Index(key_books[k].labels, dtype=object))
        for j, k in enumerate(keys)
    }
    respondents = pd.DataFrame(categories)
    sums = respondent_sums.array[:n_groups, :3]
    respondents["count"] = np.rint(sums[:, 0]).astype(np.int64)
    respondents["sum_w"] = sums[:, 1]
    respondents["sum_w2"] = sums[:, 2]
    parts = []
    for question in questions:
        book = answer_books.get(question)
        if book is None:
            continue
        width = len(book.labels)
        counts = answer_sums[question][0].array[:n_groups, :width]
        group, answer = np.nonzero(counts)
        part = pd.DataFrame(
            {k: pd.Categorical.from_codes(codes[group, j], categories=respondents[k].cat.categories) for j, k in enumerate(keys)}
        )
        part["question"] = question
        part["answer"] = np.array(book.labels, dtype=object)[answer]
        count = counts[group, answer]
        part["count"] = np.rint(count).astype(np.int64)
        if weighted:
            part["sum_w"] = answer_sums[question][1].array[group, answer]
            part["sum_w2"] = answer_sums[question][2].array[group, answer]
        else:
            part["sum_w"] = count
            part["sum_w2"] = count
        parts.append(part)
    if parts:
        answers = pd.concat(parts, ignore_index=True)
    else:
        answers = pd.DataFrame(columns=[*keys, "question", "answer", "count", "sum_w", "sum_w2"])
    return SufficientStatistics(keys=tuple(keys), respondents=respondents, answers=answers)


def _first_duplicate(hashes: np.ndarray, path: str | os.PathLike, block_bytes: int) -> tuple[int, str] | None:
    """(row, value) of the first response_id that repeats an earlier one, or None."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(repeated):
        return None
    candidates = set(ordered[repeated].tolist())
    seen: dict[str, int] = {}
    for block in CsvBlocks(path, block_bytes=block_bytes):
        values, _ = block.hashes("response_id")
        hit = np.flatnonzero(np.isin(values, np.fromiter(candidates, dtype=np.uint64)))
        if not len(hit):
            continue
        text = block.strings("response_id")
        for i in hit.tolist():
            value = text[i]
            if value in seen:
                return int(block.rows[i]), value
            seen[value] = int(block.rows[i])
    return None
