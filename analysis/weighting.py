"""Weighting to administrative totals: post-stratification and raking (statistics.md §3).

Both act on *cells*: the cross-classification of the totals' key columns. The adjustment factor
g_c (final weight / base weight) is constant within a cell, so the same code serves the
per-respondent design (:class:`analysis.design.SurveyDesign`) and the sufficient-statistics path
(:mod:`analysis.sufficient`): both pass the base-weight sum D1_c of every cell and receive g_c.

Post-stratification (R ``postStratify(design, ~cells, population)``)
    g_c = N_c / D1_c, so that w_i = d_i·N_c/N̂_c.
Raking (R ``calibrate(design, ~m1 + m2, population, calfun = "raking")``)
    Iterative proportional fitting over the cross-classified cells, starting from the constant
    factor N/Σd (R's Newton raking can diverge from a start of 1 on lopsided data; the start
    changes neither the final weights nor the variance), until the largest relative margin error
    is below ``tolerance`` (1e-12 by default, within statistics.md's 1e-10). Optional trimming
    bounds the factor relative to that start, w_i / (d_i·N/Σd) ∈ [lower, upper]: every raking
    step is followed by the cap (bounded IPF), so the margins are met exactly with the capped
    weights, or a :class:`~analysis.errors.WeightingError` says the bounds are too tight.

A cell with responses but no total, a total (> 0) without responses, a cell with responses and a
total of 0, and margins whose sums disagree are :class:`~analysis.errors.WeightingError`\\ s that
name the cell. Cells are never collapsed silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from analysis.errors import DataError, WeightingError

__all__ = ["PostStratification", "Raking", "Totals", "calibration_factors"]

POPULATION = "population"


def _as_key_strings(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


@dataclass(frozen=True, eq=False)
class Totals:
    """Administrative totals: key columns (names of response columns) and ``population``.

    Build with :meth:`from_frame` (or :func:`analysis.io.read_totals`), which validates.

    Attributes
    ----------
    keys : tuple of str
        The key columns, in file order.
    table : pandas.DataFrame
        Key columns as stripped strings and ``population`` as float.
    source : str
        File or source name used in error messages.
    rows : numpy.ndarray
        Row number of each table row in ``source`` (header = row 1).
    """

    keys: tuple[str, ...]
    table: pd.DataFrame
    source: str = "totals"
    rows: np.ndarray = field(default=None)  # type: ignore[assignment]

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, source: str = "totals", rows: Sequence[int] | None = None
    ) -> "Totals":
        """Validate a totals frame (key columns + ``population``)."""
        if POPULATION not in frame.columns:
            raise DataError("no 'population' column", file=source, row=1, column=POPULATION)
        keys = tuple(str(c) for c in frame.columns if c != POPULATION)
        if not keys:
            raise DataError("no key column beside 'population'", file=source, row=1)
        if rows is None:
            rows = np.arange(len(frame)) + 2
        rows = np.asarray(rows, dtype=np.int64)
        table = pd.DataFrame({key: _as_key_strings(frame[key]) for key in keys})
        raw = frame[POPULATION]
        population = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(population) | (population < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"population {str(raw.iloc[i])!r} is not a number >= 0",
                file=source,
                row=int(rows[i]),
                column=POPULATION,
            )
        duplicated = table.duplicated(keep="first").to_numpy()
        if duplicated.any():
            i = int(np.flatnonzero(duplicated)[0])
            raise DataError(
                f"cell {_describe(keys, table.iloc[i])} appears twice",
                file=source,
                row=int(rows[i]),
                column=",".join(keys),
            )
        table[POPULATION] = population
        return cls(keys=keys, table=table.reset_index(drop=True), source=source, rows=rows)

    @property
    def total(self) -> float:
        """Σ population."""
        return float(self.table[POPULATION].sum())


@dataclass(frozen=True, eq=False)
class PostStratification:
    """Post-stratify to one table of totals; its key columns define the cells."""

    totals: Totals

    @property
    def keys(self) -> tuple[str, ...]:
        return self.totals.keys

    @property
    def name(self) -> str:
        return "poststrat"


@dataclass(frozen=True, eq=False)
class Raking:
    """Rake to several margins (one :class:`Totals` each).

    Parameters
    ----------
    margins : sequence of Totals
        One table per margin; their population sums must agree (relative 1e-9).
    trim : (float, float), optional
        Bounds on w_i / (d_i·N/Σd); weights are capped after every raking step.
    tolerance : float
        Largest relative margin error accepted. The default, 1e-12, is stricter than the 1e-10
        statistics.md requires, so that the weights themselves match R's ``calibrate`` to 1e-10.
    max_iterations : int
        IPF sweeps before giving up with a :class:`~analysis.errors.WeightingError`.
    """

    margins: tuple[Totals, ...]
    trim: tuple[float, float] | None = None
    tolerance: float = 1e-12
    max_iterations: int = 10_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "margins", tuple(self.margins))
        if not self.margins:
            raise ValueError("raking needs at least one margin")
        if self.trim is not None:
            lower, upper = self.trim
            if not (0 <= lower < 1 < upper):
                raise ValueError(f"trim bounds must satisfy 0 <= lower < 1 < upper, got {self.trim}")

    @property
    def keys(self) -> tuple[str, ...]:
        seen: list[str] = []
        for margin in self.margins:
            for key in margin.keys:
                if key not in seen:
                    seen.append(key)
        return tuple(seen)

    @property
    def name(self) -> str:
        return "rake"


def _describe(keys: Sequence[str], values) -> str:
    return ", ".join(f"{key}={value}" for key, value in zip(keys, list(values)))


#: ``locate(cell_index) -> (file, row)``: where the first response of a cell is, for messages.
Locator = Callable[[int], tuple[str | None, int | None]]


def _no_location(_: int) -> tuple[str | None, int | None]:
    return None, None


def _match(
    cells: pd.DataFrame, totals: Totals, d1: np.ndarray, locate: Locator
) -> tuple[np.ndarray, np.ndarray]:
    """Map every cell to a row of ``totals``; return (level code per cell, population per level).

    ``cells`` holds unique combinations of (at least) ``totals.keys``.
    """
    keys = list(totals.keys)
    projected = cells[keys].reset_index(drop=True)
    lookup = totals.table.reset_index(drop=True).copy()
    lookup["_level"] = np.arange(len(lookup))
    merged = projected.merge(lookup, on=keys, how="left", sort=False)
    level = merged["_level"].to_numpy(dtype=float)
    missing = np.isnan(level)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        file, row = locate(i)
        raise WeightingError(
            f"cell {_describe(keys, projected.iloc[i])} has responses but no total in "
            f"{totals.source}",
            file=file,
            row=row,
            column=",".join(keys),
        )
    level = level.astype(np.int64)
    population = totals.table[POPULATION].to_numpy(dtype=float)
    counted = np.bincount(level, weights=d1, minlength=len(population))
    zero_total = (population == 0) & (counted > 0)
    if zero_total.any():
        j = int(np.flatnonzero(zero_total)[0])
        raise WeightingError(
            f"cell {_describe(keys, totals.table.iloc[j][keys])} has responses but a total of 0",
            file=totals.source,
            row=int(totals.rows[j]),
            column=POPULATION,
        )
    orphan = (population > 0) & (counted == 0)
    if orphan.any():
        j = int(np.flatnonzero(orphan)[0])
        raise WeightingError(
            f"cell {_describe(keys, totals.table.iloc[j][keys])} has a total but no responses",
            file=totals.source,
            row=int(totals.rows[j]),
            column=",".join(keys),
        )
    return level, population


def _rake(
    d1: np.ndarray,
    levels: list[np.ndarray],
    populations: list[np.ndarray],
    start: np.ndarray,
    tolerance: float,
    max_iterations: int,
    source: str,
    bounds: tuple[float, float] | None = None,
) -> np.ndarray:
    """IPF on cell totals; returns the calibrated cell totals W_c.

    With ``bounds`` the factor W_c/D1_c is clipped to them after every margin step (bounded
    IPF), so cells at a bound are held and the others absorb the rest of each margin.
    """
    total = start.copy()
    worst = math.inf
    for _ in range(max_iterations):
        for level, population in zip(levels, populations):
            current = np.bincount(level, weights=total, minlength=len(population))
            ratio = np.divide(population, current, out=np.ones_like(population), where=current > 0)
            total *= ratio[level]
            if bounds is not None:
                total = np.clip(total / d1, bounds[0], bounds[1]) * d1
        worst = 0.0
        for level, population in zip(levels, populations):
            current = np.bincount(level, weights=total, minlength=len(population))
            used = population > 0
            error = np.abs(current[used] - population[used]) / population[used]
            worst = max(worst, float(error.max(initial=0.0)))
        if worst < tolerance:
            return total
    reason = " within the trimming bounds" if bounds is not None else ""
    raise WeightingError(
        f"raking did not converge{reason} in {max_iterations} iterations (largest relative "
        f"margin error {worst:.3g})",
        file=source,
    )


def calibration_factors(
    cells: pd.DataFrame,
    d1: np.ndarray,
    weighting: PostStratification | Raking,
    *,
    locate: Locator | None = None,
) -> np.ndarray:
    """Adjustment factor g_c (final / base weight) of every cell.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per cell that holds responses; columns include ``weighting.keys`` (strings).
    d1 : numpy.ndarray
        Σ base weight of the responses in each cell (all respondents, every one > 0).
    weighting : PostStratification or Raking
    locate : callable, optional
        ``locate(i) -> (file, row)`` of the first response in cell ``i``, for error messages.

    Returns
    -------
    numpy.ndarray
        g_c, so that w_i = d_i·g_{c(i)}.
    """
    locate = locate or _no_location
    d1 = np.asarray(d1, dtype=float)
    if isinstance(weighting, PostStratification):
        level, population = _match(cells, weighting.totals, d1, locate)
        counted = np.bincount(level, weights=d1, minlength=len(population))
        return population[level] / counted[level]
    if not isinstance(weighting, Raking):
        raise TypeError(f"unknown weighting {weighting!r}")
    levels, populations = [], []
    grand = None
    for margin in weighting.margins:
        level, population = _match(cells, margin, d1, locate)
        levels.append(level)
        populations.append(population)
        if grand is None:
            grand = margin.total
            first = margin
        elif not math.isclose(margin.total, grand, rel_tol=1e-9):
            raise WeightingError(
                f"margin totals disagree: {margin.total:g} here, {grand:g} in {first.source}",
                file=margin.source,
                column=POPULATION,
            )
    assert grand is not None
    start_factor = grand / d1.sum()
    bounds = None
    if weighting.trim is not None:
        bounds = (weighting.trim[0] * start_factor, weighting.trim[1] * start_factor)
    total = _rake(
        d1,
        levels,
        populations,
        d1 * start_factor,
        weighting.tolerance,
        weighting.max_iterations,
        weighting.margins[0].source,
        bounds,
    )
    return total / d1
