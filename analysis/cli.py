"""``python -m analysis indices``: SIPAS indices from a responses export (interfaces.md §3).

::

    python -m analysis indices RESPONSES.csv --out RESULTS.{csv,json,xlsx}
        [--weighting none|column|poststrat|rake] [--totals TOTALS.csv]...
        [--strata COL[,COL...]] [--by COL[,COL...]] [--period month|quarter|year]
        [--ci logit|korn-graubard|wald] [--level 0.95] [--exclude-flagged]

Exit status 0 on success; 2 on a usage error or a bad file, with one line on stderr naming the
file, row and column, and no output file.

The instrument comes from the file's ``instrument`` column and is resolved by
``surveys.load_instrument``. Two instrument versions are never pooled (sipas-method.md §1): such
a file is refused unless ``--by instrument`` is given, in which case every row of the results
belongs to one instrument and the "whole-sample" rows are per instrument (their ``instrument``
column is filled, the other by-columns blank).

``--exclude-flagged`` leaves out the responses whose ``flags`` column (quality flags) is not
blank before anything is computed, weighting included.
"""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from analysis.design import as_columns
from analysis.errors import DataError
from analysis.indices import compute_indices, index_questions, result_columns
from analysis.intervals import CI_METHODS
from analysis.io import OUTPUT_FORMATS, read_responses, read_totals, sha256_of, write_results
from analysis.periods import PERIODS, add_period
from analysis.weighting import PostStratification, Raking

__all__ = ["main"]

PROGRAM = "python -m analysis"
WEIGHTINGS = ("none", "column", "poststrat", "rake")
BASE_COLUMNS = ("response_id", "submitted_at", "instrument")
NOT_APPLICABLE = "9"


class UsageError(Exception):
    """A command line argparse refuses."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not strictly between 0 and 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROGRAM, description="SIPAS statistics on an exported responses file.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    indices = commands.add_parser(
        "indices",
        help="SIPAS, element and item indices with standard errors and intervals",
        description="SIPAS, element and item indices (statistics.md) from a responses CSV.",
    )
    indices.add_argument("responses", help="responses CSV (interfaces.md §4)")
    indices.add_argument("--out", required=True, help="results file: .csv, .json or .xlsx")
    indices.add_argument("--weighting", choices=WEIGHTINGS, default="none")
    indices.add_argument("--totals", action="append", default=[], help="totals CSV (repeatable)")
    indices.add_argument("--strata", default="", help="design strata columns, comma-separated")
    indices.add_argument("--by", default="", help="domain columns, comma-separated")
    indices.add_argument("--period", choices=PERIODS, help="add a period column from submitted_at")
    indices.add_argument("--ci", choices=CI_METHODS, default="korn-graubard")
    indices.add_argument("--level", type=_level, default=0.95)
    indices.add_argument(
        "--exclude-flagged", action="store_true", help="leave out responses with quality flags"
    )
    return parser


def _default_loader(key: str) -> Any:
    from surveys import load_instrument

    return load_instrument(key)


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


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _software() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "pandas", "scipy", "statsmodels", "openpyxl"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    from analysis import __version__

    versions["analysis"] = __version__
    return versions


def run_indices(
    args: argparse.Namespace, load_instrument: Callable[[str], Any]
) -> tuple[pd.DataFrame, dict]:
    """Validate the inputs, compute the results and their meta (no output written)."""
    source = args.responses
    out = Path(args.out)
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise UsageError(f"--out {args.out}: must end in {', '.join(OUTPUT_FORMATS)}")
    strata = as_columns(args.strata)
    by = as_columns(args.by)
    weighting_name = args.weighting
    if weighting_name in ("none", "column") and args.totals:
        raise UsageError(f"--totals is used only with --weighting poststrat or rake")
    if weighting_name == "poststrat" and len(args.totals) != 1:
        raise UsageError("--weighting poststrat takes exactly one --totals file")
    if weighting_name == "rake" and not args.totals:
        raise UsageError("--weighting rake takes one --totals file per margin")

    data = read_responses(source)
    rows = np.arange(len(data)) + 2
    totals = [read_totals(path) for path in args.totals]

    def require(column: str, why: str) -> None:
        if column not in data.columns:
            raise DataError(f"missing column ({why})", file=source, row=1, column=column)

    for column in BASE_COLUMNS:
        require(column, "every responses file has it")
    if len(data) == 0:
        raise DataError("holds no responses", file=source, row=2)

    ids = data["response_id"].to_numpy(dtype=object)
    blank = ids == ""
    if blank.any():
        raise DataError("blank response_id", file=source, row=int(rows[_first(blank)]), column="response_id")
    duplicated = data["response_id"].duplicated().to_numpy()
    if duplicated.any():
        i = _first(duplicated)
        raise DataError(f"response_id {ids[i]!r} appears twice", file=source, row=int(rows[i]), column="response_id")

    # Dates are checked whether or not --period is used: a bad date is a bad file.
    with_period = add_period(data, args.period or "month", source=source, rows=rows)
    if args.period:
        data = with_period

    keys = data["instrument"].to_numpy(dtype=object)
    if (keys == "").any():
        raise DataError("blank instrument", file=source, row=int(rows[_first(keys == "")]), column="instrument")
    instruments: dict[str, Any] = {}
    for key in dict.fromkeys(keys):
        try:
            instruments[key] = load_instrument(key)
        except (ValueError, KeyError, LookupError) as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise DataError(
                f"unknown instrument {key!r}" + (f" ({detail})" if detail else ""),
                file=source,
                row=int(rows[_first(keys == key)]),
                column="instrument",
            ) from None
    if len(instruments) > 1 and "instrument" not in by:
        raise DataError(
            f"the file mixes instrument versions {', '.join(sorted(instruments))}; they are "
            "never pooled: analyse them separately or pass --by instrument",
            file=source,
            row=int(rows[_first(keys != keys[0])]),
            column="instrument",
        )

    for key, instrument in instruments.items():
        definitions = list(instrument.index_definitions)
        index_questions(definitions)
        mine = keys == key
        for definition in definitions:
            codes = [definition.question] if definition.rule == "question" else definition.items
            for code in codes:
                require(code, f"a question of {key}")
                allowed = _allowed_answers(instrument, definition.valid_values, code)
                values = data[code].to_numpy(dtype=object)
                bad = mine & ~np.isin(values, sorted(allowed))
                if bad.any():
                    i = _first(bad)
                    raise DataError(
                        f"answer {values[i]!r} is not a code of {code} "
                        f"(expected one of {', '.join(sorted(a for a in allowed if a))} or blank)",
                        file=source,
                        row=int(rows[i]),
                        column=code,
                    )

    for column in strata:
        require(column, "named by --strata")
    for column in by:
        require(column, "named by --by")
    for table in totals:
        for column in table.keys:
            if column not in data.columns:
                raise DataError(
                    f"the totals name column {column!r}, which the responses file lacks",
                    file=table.source,
                    row=1,
                    column=column,
                )
    weights = None
    if weighting_name == "column":
        require("weight", "--weighting column")
        parsed = pd.to_numeric(data["weight"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(parsed) | (parsed <= 0)
        if bad.any():
            i = _first(bad)
            raise DataError(
                f"weight {data['weight'].iloc[i]!r} is not a number > 0",
                file=source,
                row=int(rows[i]),
                column="weight",
            )
        weights = parsed

    excluded = 0
    if args.exclude_flagged:
        require("flags", "--exclude-flagged")
        keep = (data["flags"] == "").to_numpy()
        excluded = int((~keep).sum())
        data = data.loc[keep].reset_index(drop=True)
        rows = rows[keep]
        keys = keys[keep]
        if weights is not None:
            weights = weights[keep]
        if len(data) == 0:
            raise DataError("no responses left after --exclude-flagged", file=source, column="flags")

    weighting = None
    if weighting_name == "poststrat":
        weighting = PostStratification(totals[0])
    elif weighting_name == "rake":
        weighting = Raking(tuple(totals))

    tables = []
    for key, instrument in instruments.items():
        definitions = list(instrument.index_definitions)
        common = dict(
            strata=strata, weights=weights, weighting=weighting, ci=args.ci, level=args.level,
            source=source, rows=rows,
        )
        if len(instruments) == 1:
            table = compute_indices(data, definitions, by=by, **common)
        else:
            whole = compute_indices(data, definitions, by=("instrument",), whole_sample=False, **common)
            whole = whole.reindex(columns=result_columns(by), fill_value="")
            parts = [whole]
            if set(by) != {"instrument"}:
                parts.append(compute_indices(data, definitions, by=by, whole_sample=False, **common))
            table = pd.concat(parts, ignore_index=True)
            table = table.loc[table["instrument"] == key]
        tables.append(table)
    results = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    results = results[result_columns(by)].reset_index(drop=True)

    meta = {
        "input": Path(source).name,
        "input_sha256": sha256_of(source),
        "instrument": next(iter(instruments)) if len(instruments) == 1 else sorted(instruments),
        "responses": int(len(data)),
        "excluded_flagged": excluded,
        "weighting": weighting_name,
        "totals": [{"file": Path(t.source).name, "sha256": sha256_of(t.source)} for t in totals],
        "strata": list(strata),
        "by": list(by),
        "period": args.period,
        "ci": args.ci,
        "level": args.level,
        "software": _software(),
    }
    return results, meta


def main(
    argv: Sequence[str] | None = None,
    *,
    load_instrument: Callable[[str], Any] | None = None,
) -> int:
    """Entry point of ``python -m analysis``; returns the exit status.

    ``load_instrument(key)`` resolves an instrument key (default ``surveys.load_instrument``).
    """
    try:
        args = _parser().parse_args(argv)
        results, meta = run_indices(args, load_instrument or _default_loader)
        write_results(results, meta, args.out)
    except UsageError as error:
        _complain(f"{PROGRAM}: usage error: {error} (see --help)")
        return 2
    except DataError as error:
        _complain(f"{PROGRAM}: error: {error}")
        return 2
    return 0


def _complain(message: str) -> None:
    print(" ".join(message.split()), file=sys.stderr)
