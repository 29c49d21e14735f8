"""The workspace's comparisons, computed by ``analysis`` (statistics.md §5).

A thin layer between the results rows of a page and ``analysis.change``, ``analysis.shrink``,
``analysis.funnel`` and ``analysis.below_target``: it picks the rows, calls the library and
joins what a page shows (rank, shrunken estimate, funnel position, flag below the target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from analysis import AnalysisError, Change, below_target, funnel, shrink
from analysis import change as analysis_change

#: The level provincial plans set (e.g. Quảng Ninh's plan 205/KH-UBND: SIPAS above 95%).
DEFAULT_TARGET = 0.95
FDR = 0.05
FUNNEL_LEVELS = (0.95, 0.998)


def _usable(row: dict | None) -> bool:
    return bool(row) and all(
        row.get(k) is not None and not (isinstance(row.get(k), float) and math.isnan(row[k])) for k in ("estimate", "se")
    )


def change(current: dict | None, previous: dict | None, level: float = 0.95) -> Change | None:
    """``analysis.change`` of two results rows (later, earlier), or None if either is missing."""
    if not (_usable(current) and _usable(previous)):
        return None
    return analysis_change(current, previous, level=level)


def is_significant(result: Change | None, alpha: float = 0.05) -> bool:
    return result is not None and not math.isnan(result.p_value) and result.p_value < alpha


def q_values(p_values: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (NaN stays NaN)."""
    values = np.asarray(p_values, dtype=float)
    out = np.full(len(values), np.nan)
    usable = ~np.isnan(values)
    if usable.any():
        out[usable] = multipletests(values[usable], method="fdr_bh")[1]
    return list(out)


@dataclass
class RankedCentre:
    code: str
    rank: int
    raw_rank: int
    estimate: float
    shrunk: float
    shrunk_low: float
    shrunk_high: float
    n: int
    n_eff: float
    ci_low: float
    ci_high: float
    flag: str
    outside: int  # -1 below the outer funnel limit, +1 above, 0 inside
    below: bool
    p_adjusted: float


@dataclass
class Ranking:
    centres: list[RankedCentre] = field(default_factory=list)
    overall: float = math.nan
    target: float = DEFAULT_TARGET
    phi: float = 1.0
    funnel: object | None = None
    shrunk: bool = True

    def limits(self, n_eff: float) -> tuple[float, float, float, float]:
        row = self.funnel.limits([n_eff]).iloc[0]
        return (row["low_95"], row["high_95"], row["low_99.8"], row["high_99.8"])


def rank_centres(table: pd.DataFrame, overall: float, target: float = DEFAULT_TARGET) -> Ranking:
    """Rank the centre rows of one index (``center_code`` and the results columns)."""
    domains = table[table["n_eff"].astype(float) > 0].reset_index(drop=True)
    result = Ranking(overall=overall, target=target)
    if domains.empty:
        return result
    try:
        ranked_table = shrink(domains[["center_code", "estimate", "n_eff"]]).table
    except AnalysisError:
        # One centre (or none with answers): nothing to shrink towards; rank on the estimate.
        ranked_table = domains[["center_code", "estimate", "n_eff"]].copy()
        ranked_table["shrunk"] = ranked_table["estimate"].astype(float)
        ranked_table["shrunk_low"] = ranked_table["shrunk_high"] = np.nan
        ranked_table["rank"] = ranked_table["raw_rank"] = ranked_table["estimate"].rank(ascending=False, method="min").astype(int)
        ranked_table = ranked_table.sort_values("rank", kind="stable")
        result.shrunk = False
    positions = {}
    if len(domains) >= 2 and 0 < overall < 1:
        try:
            result.funnel = funnel(domains[["center_code", "estimate", "n_eff"]], target=overall, levels=FUNNEL_LEVELS)
        except AnalysisError:
            result.funnel = None
        if result.funnel is not None:
            result.phi = result.funnel.phi_used
            for record in result.funnel.table.to_dict("records"):
                outside = record["outside_99.8"]
                positions[record["center_code"]] = -1 if outside == "below" else (1 if outside == "above" else 0)
    flags = below_target(domains[["center_code", "estimate", "se", "n"]], target=target, fdr=FDR).table
    below = {r["center_code"]: (bool(r["flagged"]), float(r["p_adjusted"])) for r in flags.to_dict("records")}
    rows = {r["center_code"]: r for r in domains.to_dict("records")}
    for record in ranked_table.to_dict("records"):
        code = record["center_code"]
        row = rows[code]
        flagged, adjusted = below.get(code, (False, math.nan))
        result.centres.append(
            RankedCentre(
                code=code,
                rank=int(record["rank"]),
                raw_rank=int(record["raw_rank"]),
                estimate=float(record["estimate"]),
                shrunk=float(record["shrunk"]),
                shrunk_low=float(record["shrunk_low"]),
                shrunk_high=float(record["shrunk_high"]),
                n=int(row["n"]),
                n_eff=float(record["n_eff"]),
                ci_low=float(row["ci_low"]),
                ci_high=float(row["ci_high"]),
                flag=row["flag"] or "",
                outside=positions.get(code, 0),
                below=flagged,
                p_adjusted=adjusted,
            )
        )
    return result
