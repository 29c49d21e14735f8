"""Time the estimation step alone, from the two sufficient-statistics frames.

The web app builds ``respondents`` and ``answers`` with one ``GROUP BY`` (analysis/sufficient.py
documents both tables); the responses CSV path builds the same tables while reading
(``analysis.scan_responses``). Whatever built them, estimating every index is the same step, and
:func:`time_estimation` times it, so that the database benchmark and the CSV benchmark report
comparable figures::

    from bench.estimation import time_estimation   # or sys.path.insert(0, "bench")

    timing = time_estimation(respondents, answers, keys=("center_code", "field_code", "period"),
                             index_definitions=instrument.index_definitions,
                             weighting=PostStratification(totals))
    print(timing.summary())

Run as a script it times the step on tables scanned from a responses file::

    .venv/bin/python bench/estimation.py bench/out/responses-1000000-to-2026-11-27.csv bench/out/totals-1000000-to-2026-11-27.csv
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from analysis import (  # noqa: E402
    PostStratification,
    Raking,
    StatisticsDesign,
    SufficientStatistics,
    indices_from_statistics,
)

__all__ = ["EstimationTiming", "peak_rss_mb", "time_estimation"]


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size so far, in MB (``getrusage().ru_maxrss``, kilobytes on Linux).

    ``RUSAGE_CHILDREN`` gives the largest of the finished child processes, not their sum.
    """
    return resource.getrusage(who).ru_maxrss / 1024


@dataclass(frozen=True)
class EstimationTiming:
    """How long estimating every index took.

    Attributes
    ----------
    design_seconds : float
        Building the :class:`~analysis.StatisticsDesign` (codes, weights, calibration).
    estimate_seconds : float
        Estimating every index in every domain (:func:`~analysis.indices_from_statistics`).
    groups, answer_rows, result_rows : int
        Rows of ``respondents``, of ``answers`` and of the results.
    peak_rss_mb : float
        The process's peak resident set size when done (includes what came before).
    results : pandas.DataFrame
        The results table (interfaces.md §4).
    """

    design_seconds: float
    estimate_seconds: float
    groups: int
    answer_rows: int
    result_rows: int
    peak_rss_mb: float
    results: pd.DataFrame = field(repr=False)

    @property
    def seconds(self) -> float:
        return self.design_seconds + self.estimate_seconds

    def summary(self) -> str:
        return (
            f"estimation {self.seconds:.2f} s (design {self.design_seconds:.2f} s, indices "
            f"{self.estimate_seconds:.2f} s): {self.groups} groups, {self.answer_rows} answer rows, "
            f"{self.result_rows} result rows; peak RSS {self.peak_rss_mb:.0f} MB"
        )


def time_estimation(
    respondents: pd.DataFrame,
    answers: pd.DataFrame,
    *,
    keys: Sequence[str],
    index_definitions: Iterable[Any],
    strata: Sequence[str] = ("center_code", "period"),
    weighting: PostStratification | Raking | None = None,
    by: Sequence[str] = ("center_code", "period"),
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> EstimationTiming:
    """Time building the design and estimating every index from the two frames.

    Parameters
    ----------
    respondents, answers : pandas.DataFrame
        The sufficient-statistics tables of :mod:`analysis.sufficient`.
    keys : sequence of str
        Their key columns (must include ``strata``, the weighting's keys and ``by``).
    index_definitions : iterable
        The instrument's index definitions (rule ``question``).
    strata, weighting, by, ci, level
        As for :func:`analysis.indices_from_statistics`; the defaults are the benchmark
        report's (strata and domains centre × quarter).
    """
    definitions = list(index_definitions)
    statistics = SufficientStatistics(tuple(keys), respondents, answers)
    started = time.perf_counter()
    design = StatisticsDesign(statistics, strata=list(strata), weighting=weighting)
    designed = time.perf_counter()
    results = indices_from_statistics(
        statistics, definitions, by=list(by), ci=ci, level=level, design=design
    )
    finished = time.perf_counter()
    return EstimationTiming(
        design_seconds=designed - started,
        estimate_seconds=finished - designed,
        groups=len(respondents),
        answer_rows=len(answers),
        result_rows=len(results),
        peak_rss_mb=peak_rss_mb(),
        results=results,
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    from analysis import scan_responses
    from analysis.io import read_totals
    from surveys import load_instrument

    parser = argparse.ArgumentParser(description="Time the estimation step on a scanned responses file.")
    parser.add_argument("responses", type=Path)
    parser.add_argument("totals", type=Path)
    args = parser.parse_args(argv)
    totals = read_totals(args.totals)
    keys = ("center_code", "period", *[k for k in totals.keys if k not in ("center_code", "period")])
    started = time.perf_counter()
    scanned = scan_responses(args.responses, load_instrument=load_instrument, keys=keys, period="quarter")
    print(f"scan {time.perf_counter() - started:.2f} s ({scanned.responses} responses)")
    instrument = next(iter(scanned.instruments.values()))
    timing = time_estimation(
        scanned.statistics.respondents,
        scanned.statistics.answers,
        keys=keys,
        index_definitions=instrument.index_definitions,
        weighting=PostStratification(totals),
    )
    print(timing.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
