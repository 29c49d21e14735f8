"""Creating and updating centres from a CSV file, with a row-by-row report.

Comma- or semicolon-separated. Columns: ``code``, ``name_vi``, ``unit_code``, ``level`` (required); ``name_en``, ``address``,
``active``, ``valid_from``, ``valid_to``, ``instrument`` (optional). A row that is rejected
changes nothing; the other rows are applied.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import UNIT_LEVELS, ServiceCenter
from app.services.administration import CENTER_CODE, clean_text, find_unit
from surveys import InstrumentError, load_instrument

REQUIRED = ("code", "name_vi", "unit_code", "level")
OPTIONAL = ("name_en", "address", "active", "valid_from", "valid_to", "instrument")
TRUE = {"1", "true", "yes", "có", "x", "co"}
FALSE = {"0", "false", "no", "không", "khong"}


@dataclass(frozen=True)
class RowResult:
    row: int
    code: str
    action: str  # created, updated, unchanged, rejected
    reason: str = ""


@dataclass(frozen=True)
class ImportReport:
    rows: list[RowResult]
    error: str = ""  # a problem with the whole file: nothing was imported

    def count(self, action: str) -> int:
        return sum(r.action == action for r in self.rows)


class _Rejected(Exception):
    pass


def _date(value: str, column: str) -> date | None:
    if not value:
        return None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise _Rejected(_("column %(column)s: %(value)s is not a date (use 2025-07-01 or 01/07/2025)", column=column, value=value))


def _values(session: Session, row: dict[str, str], today: date) -> dict:
    code = row["code"].strip().lower()
    if not CENTER_CODE.match(code):
        raise _Rejected(_("column code: use 2 to 32 lowercase letters, digits and hyphens"))
    name_vi = clean_text(row["name_vi"])
    if not name_vi or len(name_vi) > 200:
        raise _Rejected(_("column name_vi: required, at most 200 characters"))
    name_en = clean_text(row.get("name_en") or "") or name_vi
    if len(name_en) > 200:
        raise _Rejected(_("column name_en: at most 200 characters"))
    level = (row["level"] or "").strip().lower()
    if level not in UNIT_LEVELS:
        raise _Rejected(_("column level: must be province, district or commune"))
    valid_from = _date((row.get("valid_from") or "").strip(), "valid_from")
    valid_to = _date((row.get("valid_to") or "").strip(), "valid_to")
    unit_code = (row["unit_code"] or "").strip()
    unit = find_unit(session, unit_code, valid_from or today)
    if unit is None:
        raise _Rejected(_("column unit_code: no unit %(code)s existed on that date", code=unit_code or "—"))
    if unit.level != level:
        raise _Rejected(_("column level: unit %(code)s is a %(unit_level)s, not a %(level)s", code=unit_code, unit_level=unit.level, level=level))
    valid_from = valid_from or unit.valid_from
    if valid_to is not None and valid_to < valid_from:
        raise _Rejected(_("column valid_to: before valid_from"))
    active_text = (row.get("active") or "1").strip().lower()
    if active_text not in TRUE | FALSE:
        raise _Rejected(_("column active: use 1 or 0"))
    instrument = (row.get("instrument") or "").strip() or None
    if instrument:
        try:
            load_instrument(instrument)
        except InstrumentError:
            raise _Rejected(_("column instrument: unknown instrument %(key)s", key=instrument)) from None
    address = clean_text(row.get("address") or "") or None
    if address and len(address) > 300:
        raise _Rejected(_("column address: at most 300 characters"))
    return {
        "code": code,
        "name_vi": name_vi,
        "name_en": name_en,
        "unit_id": unit.id,
        "level": level,
        "address": address,
        "active": active_text in TRUE,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "instrument_key": instrument,
    }


def import_centers(session: Session, data: bytes, today: date) -> ImportReport:
    """Apply a centres CSV; flushes, never commits."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ImportReport([], _("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."))
    if "\x00" in text:
        return ImportReport([], _("The file is not a CSV text file."))
    # Excel with Vietnamese regional settings (decimal comma) saves CSV with semicolons.
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return ImportReport([], _("Missing columns: %(columns)s.", columns=", ".join(missing)))
    reader.fieldnames = header
    results: list[RowResult] = []
    seen: set[str] = set()
    try:
        for number, row in enumerate(reader, start=2):
            if None in row:
                results.append(RowResult(number, (row.get("code") or "").strip(), "rejected", _("more values than columns")))
                continue
            row = {k: (v or "") for k, v in row.items()}
            if not any(v.strip() for v in row.values()):
                continue
            results.append(_import_row(session, number, row, seen, today))
    except csv.Error as error:
        return ImportReport(results, _("The file cannot be read as CSV: %(error)s", error=str(error)))
    return ImportReport(results)


def _import_row(session: Session, number: int, row: dict[str, str], seen: set[str], today: date) -> RowResult:
    code = row.get("code", "").strip().lower()
    try:
        values = _values(session, row, today)
        if code in seen:
            raise _Rejected(_("the code appears twice in the file"))
        seen.add(code)
        center = session.scalars(select(ServiceCenter).filter_by(code=code)).one_or_none()
        if center is not None and all(getattr(center, k) == v for k, v in values.items()):
            return RowResult(number, code, "unchanged")
        action = "updated" if center is not None else "created"
        with session.begin_nested():
            center = center or ServiceCenter()
            for key, value in values.items():
                setattr(center, key, value)
            session.add(center)
        return RowResult(number, code, action)
    except _Rejected as rejected:
        return RowResult(number, code, "rejected", str(rejected))
    except IntegrityError:
        return RowResult(number, code, "rejected", _("the database refused the row"))
