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

import pandas as pd

from analysis.design import as_columns
from analysis.errors import DataError
from analysis.indices import compute_indices, result_columns
from analysis.intervals import CI_METHODS
from analysis.io import OUTPUT_FORMATS, read_totals, sha256_of, write_results
from analysis.periods import PERIODS
from analysis.stream import scan_responses
from analysis.weighting import PostStratification, Raking

__all__ = ["main"]

PROGRAM = "python -m analysis"
WEIGHTINGS = ("none", "column", "poststrat", "rake")


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
    """Validate the inputs, compute the results and their meta (no output written).

    The responses file is read once, block by block (:func:`analysis.stream.scan_responses`):
    validated, and tabulated into sufficient statistics on the way, so that memory does not
    grow with the number of responses. Only index rules that need per-respondent data
    (``mean_of_items``) keep the columns they read.
    """
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

    totals, totals_error = [], None
    try:
        totals = [read_totals(path) for path in args.totals]
    except DataError as error:
        totals_error = error
    weighting_keys = tuple(dict.fromkeys(k for t in totals for k in t.keys))
    keys = tuple(dict.fromkeys([*strata, *weighting_keys, *by]))
    if by and "instrument" in by:
        keys = tuple(dict.fromkeys([*keys, "instrument"]))
    weight_column = "weight" if weighting_name == "column" else None
    scan = dict(
        load_instrument=load_instrument,
        keys=keys,
        period=args.period,
        weight_column=weight_column,
        exclude_flagged=args.exclude_flagged,
        pooled_instruments="instrument" in by,
        required=[*((c, "named by --strata") for c in strata), *((c, "named by --by") for c in by)],
        totals_columns=[(c, t.source) for t in totals for c in t.keys],
        earlier_error=totals_error,
    )
    scanned = scan_responses(source, **scan)
    instruments = scanned.instruments
    items = [
        code
        for instrument in instruments.values()
        for definition in instrument.index_definitions
        if definition.rule == "mean_of_items"
        for code in definition.items
    ]
    if items:
        # rule mean_of_items needs per-respondent data: read the file again for those columns
        keep = [*keys, *items, *((weight_column,) if weight_column else ())]
        scanned = scan_responses(source, keep=list(dict.fromkeys(keep)), **scan)

    weighting = None
    if weighting_name == "poststrat":
        weighting = PostStratification(totals[0])
    elif weighting_name == "rake":
        weighting = Raking(tuple(totals))

    data, weights = scanned.data, None
    if data is not None and weight_column:
        weights = pd.to_numeric(data[weight_column]).to_numpy(dtype=float)
    tables = []
    for key, instrument in instruments.items():
        definitions = list(instrument.index_definitions)
        common = dict(
            strata=strata, weights=weights, weighting=weighting, ci=args.ci, level=args.level,
            source=source, rows=scanned.rows, statistics=scanned.statistics, locate=scanned.locate,
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
    excluded = scanned.excluded

    meta = {
        "input": Path(source).name,
        "input_sha256": scanned.sha256,
        "instrument": next(iter(instruments)) if len(instruments) == 1 else sorted(instruments),
        "responses": scanned.responses,
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
