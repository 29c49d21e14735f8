"""Reading a large CSV file in blocks of records, with numpy instead of a per-value parser.

A responses export of ten million rows is a few gigabytes of text. Reading it whole (as
:func:`analysis.io.read_csv_file` does) needs memory many times its size, and a per-value parser
spends most of its time making a Python object of every field. :class:`CsvBlocks` instead reads
the bytes a piece at a time (``block_bytes``, some megabytes, cut after a whole record),
:func:`parse_block` finds records and fields with vectorised byte comparisons, and a
:class:`Block` cuts out only the columns asked for: as integer codes and their distinct labels
(key and answer columns), fixed-width byte matrices (timestamps), 64-bit hashes (identifiers) or
Python strings (anything else). Memory stays flat, whatever the file's size, and pieces can be
parsed in other processes (:func:`analysis.stream.scan_responses` does).

The dialect is the one :func:`analysis.io.read_csv_file` accepts: UTF-8 (a BOM is skipped),
comma-separated, ``"`` quoting with ``""`` for a quote inside quotes (so quoted fields may hold
commas and line breaks), ``\\n`` or ``\\r\\n`` line ends, blank lines (and lines of spaces) skipped,
every value stripped of surrounding white space. Records without quotes, nearly all of them, are
cut with numpy alone; so are quoted fields that simply wrap a value; anything less usual in a
record goes through :mod:`csv`. Row numbers are record numbers, the header being row 1, as in
the rest of :mod:`analysis`; problems with the text itself name physical lines. A quote inside
an unquoted field (``ab"c``), which pandas reads as a character, is not supported: the record is
reported as malformed.

Problems are recorded rather than raised, so that the caller can finish the pass and report the
problem that the whole-file reader would have reported first: :attr:`CsvBlocks.error` holds the
first invalid UTF-8 (which takes precedence, as decoding came first there) or else the first
malformed record (a record whose number of fields differs from the header's, or a quote left
open); once a piece is malformed no further block is yielded, but the rest of the file is still
checked for UTF-8.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from analysis.errors import DataError

__all__ = ["Block", "CsvBlocks", "Piece", "parse_block"]

_COMMA, _NEWLINE, _QUOTE, _RETURN = 44, 10, 34, 13
_BOM = b"\xef\xbb\xbf"
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 32]] = True
#: Widest field cut into a byte matrix; wider columns go through Python strings.
_MAX_MATRIX_WIDTH = 96
UTF8_MESSAGE = "is not UTF-8 text"


def _valid_utf8(buf: np.ndarray) -> bool:
    """Whether the bytes are well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at
    most U+10FFFF), looking only at the bytes ≥ 0x80."""
    high = np.flatnonzero(buf >= 0x80)
    if not len(high):
        return True
    b = buf[high]
    continuation = (b & 0xC0) == 0x80
    need = np.select(
        [(b >= 0xC2) & (b <= 0xDF), (b & 0xF0) == 0xE0, (b >= 0xF0) & (b <= 0xF4)], [1, 2, 3], 0
    )
    lead = ~continuation
    if (lead & (need == 0)).any():
        return False  # 0xC0, 0xC1 or above 0xF4
    if int(continuation.sum()) != int(need.sum()):
        return False
    padded = np.concatenate([buf, np.zeros(3, dtype=np.uint8)])
    leads = high[lead]
    needs = need[lead]
    for k in (1, 2, 3):
        at = leads[needs >= k] + k
        if ((padded[at] & 0xC0) != 0x80).any() or (at >= len(buf)).any():
            return False
    second = padded[leads + 1]
    first = buf[leads]
    bad = (
        ((first == 0xE0) & (second < 0xA0))
        | ((first == 0xED) & (second > 0x9F))
        | ((first == 0xF0) & (second < 0x90))
        | ((first == 0xF4) & (second > 0x8F))
    )
    return not bad.any()


def _hash_words(matrix: np.ndarray, length: np.ndarray) -> np.ndarray:
    """A 64-bit hash of every row of a zero-padded byte matrix (width a multiple of 8) and its
    length: the row's 64-bit words mixed in turn (multiply, xor-shift; SplitMix64 constants)."""
    words = np.ascontiguousarray(matrix).view("<u8")
    value = np.asarray(length).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for w in range(words.shape[1]):
            value = (value ^ words[:, w]) * np.uint64(0xBF58476D1CE4E5B9)
            value ^= value >> np.uint64(31)
    return value


class Block:
    """A run of complete records of a :class:`CsvBlocks` file; columns are cut on demand.

    Attributes
    ----------
    start : int
        0-based record index of the first row (its row number in the file is ``start + 2``).
    n : int
        Number of records.
    """

    def __init__(
        self,
        data: bytes,
        start: int,
        header: dict[str, int],
        record_starts: np.ndarray,
        record_stops: np.ndarray,
        commas: np.ndarray,
        quoted: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        self._data = data
        self._buf = np.frombuffer(data, dtype=np.uint8)
        self.start = start
        self.n = len(record_starts)
        self._header = header
        self._record_starts = record_starts
        self._record_stops = record_stops
        #: quoted records: their rows, the spans of their fields (rows × columns; past the
        #: file's bytes for the fields :mod:`csv` read) and which fields still hold ``""``
        self._quoted_rows, self._quoted_starts, self._quoted_ends, self._quoted_escaped = quoted
        self._plain = None
        if len(self._quoted_rows):
            plain = np.ones(self.n, dtype=bool)
            plain[self._quoted_rows] = False
            self._plain = np.flatnonzero(plain)
        #: the commas of the plain records, one row per record
        self._grid = commas.reshape(-1, len(header) - 1) if len(header) > 1 else None
        self._spans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._trims: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._windows = None

    @property
    def rows(self) -> np.ndarray:
        """Row numbers in the file (header = 1) of the records."""
        return np.arange(self.start + 2, self.start + 2 + self.n)

    def _span(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Byte offsets (start, end) of the column's field in every record."""
        if column not in self._spans:
            j = self._header[column]
            k = len(self._header)
            if self._plain is None:
                starts, stops = self._record_starts, self._record_stops
            else:
                starts, stops = self._record_starts[self._plain], self._record_stops[self._plain]
            start = starts.copy() if j == 0 else self._grid[:, j - 1] + 1
            end = stops.copy() if j == k - 1 else self._grid[:, j].copy()
            if self._plain is not None:
                full_start = np.empty(self.n, dtype=np.int64)
                full_end = np.empty(self.n, dtype=np.int64)
                full_start[self._plain] = start
                full_end[self._plain] = end
                full_start[self._quoted_rows] = self._quoted_starts[:, j]
                full_end[self._quoted_rows] = self._quoted_ends[:, j]
                start, end = full_start, full_end
            self._spans[column] = (start, end)
        return self._spans[column]

    def _trimmed(self, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start, end of every field without surrounding white space, and the records whose
        value must come from Python (absurdly padded)."""
        if column in self._trims:
            return self._trims[column]
        start, end = self._span(column)
        slow = np.zeros(self.n, dtype=bool)
        escaped = self._escaped_rows(column)
        slow[escaped] = True
        last = max(len(self._buf) - 1, 0)
        # white space around a value is rare: strip it one character at a time where present
        for _ in range(16):
            lead = (end > start) & _SPACE[self._buf[np.minimum(start, last)]]
            trail = (end > start) & _SPACE[self._buf[np.maximum(end - 1, 0)]]
            if not (lead.any() or trail.any()):
                break
            start = start + lead
            end = end - (trail & (end > start))
        else:
            slow |= end > start
        self._trims[column] = (start, end, slow)
        return start, end, slow

    def _matrix(self, start: np.ndarray, end: np.ndarray, width: int) -> np.ndarray:
        """(n, width) bytes of every field from ``start``, zero beyond ``end``.

        Rows are gathered from a sliding-window view of the bytes (no copy of the block);
        the few fields that start within ``width`` bytes of its end are copied one by one.
        """
        size = len(self._buf)
        window = min(max(width, 64), size)
        if self._windows is None or self._windows.shape[1] != window:
            self._windows = np.lib.stride_tricks.sliding_window_view(self._buf, window)
        limit = size - window
        if width > window:  # a block smaller than one field's width
            matrix = np.zeros((len(start), width), dtype=np.uint8)
            limit = -1
        else:
            # (gathering whole windows, then slicing, is faster than gathering a slice of each)
            matrix = self._windows[np.minimum(start, limit)][:, :width]
        for row in np.flatnonzero(start > limit).tolist():
            piece = self._buf[start[row] : start[row] + width]
            matrix[row, : len(piece)] = piece
            matrix[row, len(piece) :] = 0
        length = end - start
        if int(length.min(initial=width)) < width:
            outside = np.arange(width) >= length[:, None]
            matrix = np.where(outside, 0, matrix).astype(np.uint8, copy=False)
        return matrix

    def _escaped_rows(self, column: str) -> np.ndarray:
        """Records whose field in ``column`` is quoted with ``""`` inside."""
        if not len(self._quoted_rows):
            return self._quoted_rows
        return self._quoted_rows[self._quoted_escaped[:, self._header[column]]]

    def strings(self, column: str, rows: np.ndarray | None = None) -> np.ndarray:
        """The column's values as stripped Python strings (object array), of all records or of
        the records ``rows`` (positions in the block)."""
        start, end = self._span(column)
        rows = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        data = self._data
        out = np.array(
            [data[a:b].decode("utf-8").strip() for a, b in zip(start[rows].tolist(), end[rows].tolist())],
            dtype=object,
        )
        escaped = np.flatnonzero(np.isin(rows, self._escaped_rows(column)))
        for i in escaped.tolist():
            raw = data[start[rows[i]] : end[rows[i]]].decode("utf-8")
            out[i] = next(csv.reader([raw]))[0].strip()
        return out

    def _relabel_slow(
        self, column: str, codes: np.ndarray, labels: list[str], slow_rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Give the ``slow_rows`` their Python-stripped value, and drop labels nobody has."""
        if not len(slow_rows):
            return codes, np.array(labels, dtype=object)
        if len(slow_rows):
            values = self.strings(column, slow_rows)
            index = {label: i for i, label in enumerate(labels)}
            for row, value in zip(slow_rows.tolist(), values.tolist()):
                if value not in index:
                    index[value] = len(labels)
                    labels.append(value)
                codes[row] = index[value]
            # the quoted records' placeholders may have left a label nobody has
            used = np.bincount(codes, minlength=len(labels)) > 0
            if not used.all():
                codes = (np.cumsum(used) - 1)[codes]
                labels = [label for label, keep in zip(labels, used.tolist()) if keep]
        return codes, np.array(labels, dtype=object)

    def narrow_categoricals(self, columns: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """:meth:`categorical` of the columns whose values are all at most one character long
        (answer codes), computed together; the other columns are left out of the result."""
        wanted = [c for c in dict.fromkeys(columns) if c in self._header]
        if not wanted or self._grid is None or self.n == 0:
            return {}
        k = len(self._header)
        j = np.array([self._header[c] for c in wanted])
        plain = slice(None) if self._plain is None else self._plain
        # the plain records' spans from the commas (first and last columns from the records)
        plain_starts = self._grid[:, np.maximum(j - 1, 0)] + 1
        plain_ends = self._grid[:, np.minimum(j, k - 2)]
        if (j == 0).any():
            plain_starts[:, j == 0] = self._record_starts[plain, None]
        if (j == k - 1).any():
            plain_ends[:, j == k - 1] = self._record_stops[plain, None]
        if self._plain is None:
            starts, ends = plain_starts, plain_ends
        else:
            starts = np.empty((self.n, len(j)), dtype=np.int64)
            ends = np.empty((self.n, len(j)), dtype=np.int64)
            starts[plain], ends[plain] = plain_starts, plain_ends
            starts[self._quoted_rows] = self._quoted_starts[:, j]
            ends[self._quoted_rows] = self._quoted_ends[:, j]
        length = ends - starts
        narrow = length.max(axis=0) <= 1
        if not narrow.any():
            return {}
        starts, length = starts[:, narrow], length[:, narrow]
        byte = np.where(length > 0, self._buf[np.minimum(starts, max(len(self._buf) - 1, 0))], 0)
        byte = np.where(_SPACE[byte], 0, byte)
        out = {}
        for position, column in enumerate(c for c, keep in zip(wanted, narrow.tolist()) if keep):
            codes, labels = self._byte_codes(byte[:, position])
            out[column] = self._relabel_slow(column, codes, labels, self._escaped_rows(column))
        return out

    def categorical(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Integer codes of the column's stripped values and the distinct values (object array of
        str, in no particular order); ``labels[codes]`` are the values."""
        start, end = self._span(column)
        length = end - start
        if int(length.max(initial=0)) <= 1:
            # one-character values (answer codes): the byte is the code, white space is blank
            byte = np.where(length > 0, self._buf[np.minimum(start, max(len(self._buf) - 1, 0))], 0)
            byte = np.where(_SPACE[byte], 0, byte)
            codes, labels = self._byte_codes(byte)
            return self._relabel_slow(column, codes, labels, self._escaped_rows(column))
        start, end, slow = self._trimmed(column)
        width = int((end - start).max(initial=0))
        if width > _MAX_MATRIX_WIDTH:
            codes, labels = pd.factorize(self.strings(column))
            return codes.astype(np.int64), np.asarray(labels, dtype=object)
        filled = np.flatnonzero(end > start)
        if len(filled) * 2 < self.n:
            # mostly blank (flags, optional answers): code the filled values only
            codes = np.zeros(self.n, dtype=np.int64)
            sub_codes, sub_labels = self._word_codes(start[filled], end[filled], width)
            codes[filled] = sub_codes + 1
            labels = ["", *sub_labels]
        else:
            codes, labels = self._word_codes(start, end, width)
        return self._relabel_slow(column, codes, labels, np.flatnonzero(slow))

    def _word_codes(self, start: np.ndarray, end: np.ndarray, width: int) -> tuple[np.ndarray, list[str]]:
        """Codes and labels of the fields' bytes, as 64-bit words factorised word by word
        (hashing, no sorting); ``labels`` may hold a duplicate only of ``""``."""
        words = -(-max(width, 1) // 8)
        if words == 1:
            matrix = self._word(start, end)[:, None]
        else:
            matrix = np.ascontiguousarray(self._matrix(start, end, 8 * words)).view("<u8")
        codes, _ = pd.factorize(matrix[:, 0])
        for w in range(1, words):
            word = matrix[:, w]
            if not word.any():
                continue  # a constant zero word adds nothing
            word_codes, word_uniques = pd.factorize(word)
            codes, _ = pd.factorize(codes.astype(np.int64) * len(word_uniques) + word_codes)
        codes = codes.astype(np.int64)
        # one row of each code gives its label
        first_row = np.full(int(codes.max(initial=-1)) + 1, -1, dtype=np.int64)
        first_row[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
        raw = matrix[first_row].view(f"S{8 * words}").ravel()
        return codes, [value.decode("utf-8") for value in raw.tolist()]

    def _word(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """The (at most 8) bytes of every field as one little-endian 64-bit word, zero-padded."""
        size = len(self._buf)
        if size < 8:
            return np.ascontiguousarray(self._matrix(start, end, 8)).view("<u8").ravel()
        words = np.ndarray((size - 7,), dtype="<u8", buffer=self._buf, strides=(1,))
        value = words[np.minimum(start, size - 8)]
        tail = np.flatnonzero(start > size - 8)
        if len(tail):  # fields in the last 8 bytes
            value[tail] = np.ascontiguousarray(self._matrix(start[tail], end[tail], 8)).view("<u8").ravel()
        length = np.minimum(end - start, 8).astype(np.uint64)
        partial = (np.uint64(1) << (np.uint64(8) * np.minimum(length, 7))) - np.uint64(1)
        keep = np.where(length >= 8, ~np.uint64(0), partial)
        return value & keep

    @staticmethod
    def _byte_codes(byte: np.ndarray) -> tuple[np.ndarray, list[str]]:
        present = np.flatnonzero(np.bincount(byte, minlength=256))
        position = np.zeros(256, dtype=np.int64)
        position[present] = np.arange(len(present))
        return position[byte], [chr(b) if b else "" for b in present.tolist()]

    def fixed(self, column: str, width: int) -> tuple[np.ndarray, np.ndarray]:
        """A (n, width) byte matrix of the stripped values and a mask of the records whose value
        is exactly ``width`` bytes long and unquoted (the others are for :meth:`strings`)."""
        start, end, slow = self._trimmed(column)
        usable = ~slow & (end - start == width)
        return self._matrix(start, np.where(usable, end, start), width), usable

    def hashes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """A 64-bit hash of every stripped value (equal values, equal hashes) and the mask of
        blank values."""
        start, end, slow = self._trimmed(column)
        length = end - start
        slow |= length > _MAX_MATRIX_WIDTH
        width = 8 * -(-int(np.where(slow, 0, length).max(initial=0)) // 8) or 8
        value = _hash_words(self._matrix(start, np.where(slow, start, end), width), length)
        blank = length == 0
        rows = np.flatnonzero(slow)
        if len(rows):
            encoded = [text.encode("utf-8") for text in self.strings(column, rows).tolist()]
            size = 8 * -(-max((len(e) for e in encoded), default=1) // 8) or 8
            matrix = np.zeros((len(rows), size), dtype=np.uint8)
            for i, e in enumerate(encoded):
                matrix[i, : len(e)] = np.frombuffer(e, dtype=np.uint8)
            lengths = np.array([len(e) for e in encoded])
            value[rows] = _hash_words(matrix, lengths)
            blank[rows] = lengths == 0
        return value, blank


class CsvBlocks:
    """Iterate over a CSV file's records in :class:`Block`\\ s.

    Parameters
    ----------
    path : str or os.PathLike
    block_bytes : int
        Bytes read per piece (records are never split).

    Attributes
    ----------
    header : list of str
        The header's column names, stripped (read on construction).
    error : DataError or None
        The first problem found so far (see the module docstring).
    sha256 : str
        Hex SHA-256 of the file's bytes, complete once iteration has finished.
    records : int
        Records seen so far.
    """

    def __init__(self, path: str | os.PathLike, *, block_bytes: int = 32 << 20) -> None:
        self.path = path
        self.name = str(path)
        self.block_bytes = block_bytes
        self.error: DataError | None = None
        self.records = 0
        self._digest = hashlib.sha256()
        self._lines_before = 0  # physical lines before the current block
        try:
            self._handle = open(path, "rb")
        except OSError as error:
            raise DataError(f"cannot be read ({error.strerror})", file=self.name) from None
        self._pending = b""
        self._eof = False
        self._bytes_read = 0
        self._read_header()
        self._index = {name: j for j, name in enumerate(self.header)}

    # ------------------------------------------------------------------ input
    def _read(self, size: int | None = None) -> bytes:
        chunk = self._handle.read(size or self.block_bytes)
        self._bytes_read += len(chunk)
        if not chunk:
            self._eof = True
            self._handle.close()
        self._digest.update(chunk)
        return chunk

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def _read_header(self) -> None:
        data = self._read(1 << 16)
        while len(data) < len(_BOM) and not self._eof:
            data += self._read(1 << 16)
        if data.startswith(_BOM):
            data = data[len(_BOM) :]
        lines_skipped = 0  # blank lines before the header are skipped, as pandas does
        while True:
            cut = self._record_end(data)
            if cut is None and not self._eof:
                data += self._read(1 << 16)
                continue
            line = data if cut is None else data[:cut]
            if cut is not None and line.strip(b" \t\r") == b"":
                data = data[cut + 1 :]
                lines_skipped += 1
                continue
            break
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            row = lines_skipped + 1 + line[: error.start].count(b"\n")
            raise DataError(UTF8_MESSAGE, file=self.name, row=row) from None
        if not text.strip():
            raise DataError("is empty (no header row)", file=self.name, row=1)
        header = next(csv.reader(io.StringIO(text.rstrip("\r"), newline="")), [])
        header = [column.strip() for column in header]
        seen = set()
        for column in header:
            if column == "":
                raise DataError("blank column name in the header", file=self.name, row=1)
            if column in seen:
                raise DataError(
                    "column appears twice in the header", file=self.name, row=1, column=column
                )
            seen.add(column)
        self.header = header
        self._lines_before = lines_skipped + 1 + line.count(b"\n")
        self._pending = b"" if cut is None else data[cut + 1 :]
        self._header_bytes = self._bytes_read - len(self._pending)

    @staticmethod
    def _record_end(data: bytes) -> int | None:
        """Position of the first newline outside quotes, or None."""
        buf = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(buf == _NEWLINE)
        if not len(newlines):
            return None
        quotes = np.flatnonzero(buf == _QUOTE)
        if len(quotes):
            newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
        return int(newlines[0]) if len(newlines) else None

    # ------------------------------------------------------------------ blocks
    def pieces(self, *, with_data: bool = True) -> Iterator[Piece]:
        """The file after the header, cut into runs of whole records of about ``block_bytes``.

        Reads the whole file (and so completes :attr:`sha256`) but parses nothing: a cut is
        the last newline with an even number of quotes before it, found with ``bytes.rfind``
        and ``bytes.count``. The pieces go to :func:`parse_block`, possibly in other processes
        (``with_data=False`` leaves the bytes out; they are at ``offset``, ``length`` in the
        file). :attr:`lines_before` is the number of physical lines before the first piece.
        """
        offset = self._header_bytes
        data = self._pending
        self._pending = b""
        while True:
            if not self._eof:
                data += self._read()
            if not data:
                return
            if self._eof:
                cut = len(data)
            else:
                cut = _last_record_end(data)
                if cut is None:
                    if len(data) <= 16 * self.block_bytes:
                        continue  # a record longer than the block: read on
                    cut = len(data)  # a quote left open: the piece will say so
            yield Piece(offset, data[:cut] if with_data else None, cut)
            offset += cut
            data = data[cut:]
            if self._eof and not data:
                return

    @property
    def lines_before(self) -> int:
        """Physical lines up to and including the header (blank lines before it too)."""
        return self._lines_before

    def __iter__(self) -> Iterator[Block]:
        first_record, lines_before = 0, self._lines_before
        for piece in self.pieces():
            block, error = parse_block(
                piece.data,
                header=self._index,
                first_record=first_record,
                lines_before=lines_before,
                name=self.name,
            )
            lines_before += piece.data.count(b"\n")
            if error is not None:
                self.note(error)
            if block is not None and self.error is None:
                first_record += block.n
                self.records = first_record
                if block.n:
                    yield block

    def note(self, error: DataError) -> None:
        """Record a problem of a piece; the first invalid UTF-8 takes precedence over the first
        malformed record."""
        utf8 = error.message == UTF8_MESSAGE
        if self.error is None or (utf8 and self.error.message != UTF8_MESSAGE):
            self.error = error


@dataclass(frozen=True)
class Piece:
    """A run of whole records of a file: ``length`` bytes at ``offset`` (and the bytes)."""

    offset: int
    data: bytes | None
    length: int


def _last_record_end(data: bytes) -> int | None:
    """Position after the last newline outside quotes, or None."""
    end = len(data)
    while True:
        cut = data.rfind(b"\n", 0, end)
        if cut < 0:
            return None
        if data.count(b'"', 0, cut) % 2 == 0:
            return cut + 1
        end = cut


def _newlines(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the newlines that end records (outside quotes) and of all newlines."""
    all_newlines = np.flatnonzero(buf == _NEWLINE)
    quotes = np.flatnonzero(buf == _QUOTE)
    if not len(quotes):
        return all_newlines, all_newlines
    return all_newlines[np.searchsorted(quotes, all_newlines) % 2 == 0], all_newlines


def _records(buf: np.ndarray, newlines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (before ``\r\n``/``\n``) of the non-blank records of a piece."""
    ends = newlines
    if not len(ends) or ends[-1] != len(buf) - 1:
        ends = np.append(ends, len(buf))  # last record without a final newline
    starts = np.concatenate(([0], ends[:-1] + 1))
    stops = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == _RETURN))
    nonblank = stops > starts
    # lines of spaces and tabs only are blank too (as pandas has them); they are rare, so only
    # the records that start with one are looked at
    padded = np.flatnonzero(nonblank & _SPACE[buf[np.minimum(starts, max(len(buf) - 1, 0))]])
    for r in padded.tolist():
        if not buf[starts[r] : stops[r]].tobytes().strip(b" \t\r"):
            nonblank[r] = False
    return starts[nonblank], stops[nonblank]


def parse_block(
    data: bytes,
    *,
    header: dict[str, int],
    first_record: int = 0,
    lines_before: int = 0,
    name: str,
) -> tuple[Block | None, DataError | None]:
    """Cut a piece of whole records (see :meth:`CsvBlocks.pieces`) into a :class:`Block`.

    Row numbers count from ``first_record`` (records before the piece) and line numbers from
    ``lines_before`` (physical lines before it); a caller that does not know them yet passes 0
    and adds them to the rows it reports.

    Returns the block, or None and the problem (invalid UTF-8, a malformed record).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines, all_newlines = _newlines(buf)

    def line_of(position: int) -> int:
        return lines_before + 1 + int(np.searchsorted(all_newlines, position))

    if not _valid_utf8(buf):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            return None, DataError(UTF8_MESSAGE, file=name, row=line_of(error.start))
    quotes = np.flatnonzero(buf == _QUOTE)
    if len(quotes) % 2:
        return None, DataError(
            "malformed CSV (a quote is never closed)", file=name, row=line_of(int(quotes[-1]))
        )
    starts, stops = _records(buf, newlines)
    n = len(starts)
    k = len(header)

    def malformed(position: int, saw: int) -> tuple[None, DataError]:
        line = line_of(position)
        return None, DataError(
            f"malformed CSV (expected {k} fields, saw {saw})", file=name, row=line
        )

    commas = np.flatnonzero(buf == _COMMA)
    has_quote = np.zeros(n, dtype=bool)
    if len(quotes):
        has_quote = np.searchsorted(quotes, stops) > np.searchsorted(quotes, starts)
    plain = ~has_quote
    if has_quote.any():
        # commas inside quoted records are theirs (read below); plain records lie outside them
        first_q = np.searchsorted(commas, starts[has_quote])
        count_q = np.searchsorted(commas, stops[has_quote]) - first_q
        inside = np.zeros(len(commas) + 1, dtype=np.int64)
        np.add.at(inside, first_q, 1)
        np.add.at(inside, first_q + count_q, -1)
        in_quoted_record = np.cumsum(inside)[:-1] > 0
        candidates = commas[in_quoted_record]
        commas = commas[~in_quoted_record]
    # Every plain record must hold k - 1 commas. If the count is right and every row of the
    # commas, k - 1 at a time, starts and ends inside its record, each record holds its own
    # row and nothing else: no per-record search is needed.
    n_plain = int(plain.sum())
    regular = len(commas) == n_plain * (k - 1)
    if regular and k > 1 and n_plain:
        grid = commas.reshape(n_plain, k - 1)
        regular = bool(((grid[:, 0] > starts[plain]) & (grid[:, -1] < stops[plain])).all())
    if not regular:
        first = np.searchsorted(commas, starts)
        count = np.searchsorted(commas, stops) - first
        wrong = np.flatnonzero(plain & (count != k - 1))
        r = int(wrong[0]) if len(wrong) else 0
        return malformed(int(starts[r]), int(count[r]) + 1)
    quoted_rows = np.flatnonzero(has_quote)
    quoted_starts = np.zeros((len(quoted_rows), k), dtype=np.int64)
    quoted_ends = np.zeros((len(quoted_rows), k), dtype=np.int64)
    quoted_escaped = np.zeros((len(quoted_rows), k), dtype=bool)
    if len(quoted_rows):
        irregular = _quoted_fields(
            buf, candidates, quotes, starts[quoted_rows], stops[quoted_rows], k,
            quoted_starts, quoted_ends, quoted_escaped,
        )
        side: list[bytes] = []
        offset = len(data)
        for i in np.flatnonzero(irregular).tolist():
            r = int(quoted_rows[i])
            text = data[starts[r] : stops[r]].decode("utf-8")
            parsed = list(csv.reader(io.StringIO(text, newline="")))
            if len(parsed) != 1 or len(parsed[0]) != k:
                return malformed(int(starts[r]), sum(len(p) for p in parsed) - max(len(parsed) - 1, 0))
            # fields as csv read them go after the bytes, so that they are spans too
            encoded = [field.encode("utf-8") for field in parsed[0]]
            ends_here = list(itertools.accumulate((len(e) for e in encoded), initial=offset))
            quoted_starts[i] = ends_here[:-1]
            quoted_ends[i] = ends_here[1:]
            quoted_escaped[i] = False
            offset = ends_here[-1]
            side.extend(encoded)
        if side:
            data = data + b"".join(side)
    block = Block(
        data, first_record, header, starts, stops, commas,
        (quoted_rows, quoted_starts, quoted_ends, quoted_escaped),
    )
    return block, None


def _quoted_fields(
    buf: np.ndarray,
    commas: np.ndarray,
    quotes: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    k: int,
    field_starts: np.ndarray,
    field_ends: np.ndarray,
    field_escaped: np.ndarray,
) -> np.ndarray:
    """Field spans of records that hold quotes, without Python where the quoting is plain:
    a field is either free of quotes or wrapped in them. Fills ``field_starts``,
    ``field_ends`` and ``field_escaped`` (fields with ``""`` inside, whose span keeps the
    quotes); returns the records that need :mod:`csv` (anything unusual)."""
    separators = commas[np.searchsorted(quotes, commas) % 2 == 0]
    first = np.searchsorted(separators, starts)
    count = np.searchsorted(separators, stops) - first
    irregular = count != k - 1
    regular = np.flatnonzero(~irregular)
    if not len(regular):
        return irregular
    cuts = separators[first[regular, None] + np.arange(k - 1)]
    begin = np.column_stack([starts[regular], cuts + 1])
    end = np.column_stack([cuts, stops[regular]])
    inner = np.searchsorted(quotes, end) - np.searchsorted(quotes, begin)
    last = len(buf) - 1
    wrapped = (
        (inner >= 2)
        & (inner % 2 == 0)
        & (end - begin >= 2)
        & (buf[np.minimum(begin, last)] == _QUOTE)
        & (buf[np.maximum(end - 1, 0)] == _QUOTE)
    )
    # "" inside quotes: the span keeps the quotes and the field is read by csv when asked for
    escaped = wrapped & (inner > 2)
    simple = wrapped & ~escaped
    unusual = ((inner != 0) & ~wrapped).any(axis=1)
    irregular[regular[unusual]] = True
    field_starts[regular] = begin + simple
    field_ends[regular] = end - simple
    field_escaped[regular] = escaped
    return irregular
