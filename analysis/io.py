"""Reading the responses and totals files and writing results (interfaces.md §4).

Files are UTF-8 CSV with a header row; a UTF-8 BOM is accepted on input and written on CSV
output. Every problem is a :class:`~analysis.errors.DataError` naming the file, the row (CSV
record number, header = row 1) and the column. Outputs are written to a temporary file beside the
target and renamed into place, so that a failure never leaves a partial file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.weighting import Totals

__all__ = [
    "OUTPUT_FORMATS",
    "read_csv_file",
    "read_responses",
    "read_totals",
    "sha256_of",
    "write_results",
]

OUTPUT_FORMATS = (".csv", ".json", ".xlsx")


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_csv_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV file as strings (blank = ``""``), refusing what cannot be read cleanly."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"cannot be read ({error.strerror})", file=name) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError("is not UTF-8 text", file=name, row=line) from None
    if not text.strip():
        raise DataError("is empty (no header row)", file=name, row=1)
    header = next(csv.reader(io.StringIO(text)))
    header = [column.strip() for column in header]
    seen = set()
    for column in header:
        if column == "":
            raise DataError("blank column name in the header", file=name, row=1)
        if column in seen:
            raise DataError("column appears twice in the header", file=name, row=1, column=column)
        seen.add(column)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, ValueError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else "malformed CSV"
        match = re.search(r"line (\d+)", message)
        raise DataError(
            f"malformed CSV ({message})", file=name, row=int(match.group(1)) if match else None
        ) from None
    frame.columns = header
    return frame


def read_responses(path: str | os.PathLike) -> pd.DataFrame:
    """The responses file as a frame of stripped strings; row number of record i is i + 2."""
    frame = read_csv_file(path)
    return frame.apply(lambda column: column.str.strip())


def read_totals(path: str | os.PathLike) -> Totals:
    """A totals file (key columns + ``population``), validated (see :class:`Totals`)."""
    frame = read_csv_file(path)
    return Totals.from_frame(frame.apply(lambda c: c.str.strip()), source=str(path))


def _json_value(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _records(results: pd.DataFrame) -> list[dict]:
    return [
        {key: _json_value(value) for key, value in record.items()}
        for record in results.to_dict("records")
    ]


def _write_csv(results: pd.DataFrame, meta: Mapping[str, Any], handle) -> None:
    text = results.to_csv(index=False, lineterminator="\n", na_rep="")
    handle.write(("\ufeff" + text).encode("utf-8"))


def _write_json(results: pd.DataFrame, meta: Mapping[str, Any], handle) -> None:
    document = {"meta": dict(meta), "results": _records(results)}
    text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)
    handle.write((text + "\n").encode("utf-8"))


def _write_xlsx(results: pd.DataFrame, meta: Mapping[str, Any], handle) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "results"
    sheet.append(list(results.columns))
    for record in _records(results):
        sheet.append([record[column] for column in results.columns])
    info = book.create_sheet("meta")
    info.append(["key", "value"])
    for key, value in meta.items():
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            value = json.dumps(value, ensure_ascii=False)
        info.append([key, value])
    book.save(handle)


_WRITERS = {".csv": _write_csv, ".json": _write_json, ".xlsx": _write_xlsx}


def write_results(
    results: pd.DataFrame, meta: Mapping[str, Any], path: str | os.PathLike
) -> None:
    """Write results as CSV (with BOM), JSON (``{"meta": ..., "results": [...]}``) or XLSX.

    The format follows the extension. The file appears complete or not at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITERS:
        raise ValueError(f"{path}: output must end in {', '.join(OUTPUT_FORMATS)}")
    directory = path.parent if str(path.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            _WRITERS[suffix](results, meta, handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 is for the temporary only
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
