"""Change between periods, ranking of centres and funnel limits (statistics.md §5).

These sit here, on top of the results rows that ``analysis`` computes, until ``analysis`` ships
its own versions; they take and return plain numbers.

- Change between two periods held in different strata: Var(p̂_t − p̂_s) = V̂_t + V̂_s; the
  interval and the two-sided p-value use the normal approximation.
- Ranking: empirical-Bayes (beta-binomial) shrinkage on effective counts (x* = p̂·n_eff,
  n* = n_eff), with the prior's mean and spread from the method of moments across centres.
- Funnel: control limits p0 ± z·sqrt(φ·p0(1−p0)/n_eff) around the overall index p0, with the
  overdispersion φ = max(1, mean of the squared z-scores) (Spiegelhalter 2005, without
  winsorising).
- Centres below the overall index: one-sided p-values, Benjamini–Hochberg across centres
  (``statsmodels.stats.multitest.multipletests``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests


@dataclass(frozen=True)
class Change:
    difference: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def _usable(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def change(current: dict | None, previous: dict | None, level: float = 0.95) -> Change | None:
    """Difference ``current − previous`` of two results rows (``estimate``, ``se``)."""
    if not current or not previous:
        return None
    if not all(_usable(row.get(k)) for row in (current, previous) for k in ("estimate", "se")):
        return None
    difference = float(current["estimate"]) - float(previous["estimate"])
    se = math.sqrt(float(current["se"]) ** 2 + float(previous["se"]) ** 2)
    z = stats.norm.ppf(0.5 + level / 2)
    if se == 0:
        p_value = 1.0 if difference == 0 else 0.0
    else:
        p_value = float(2 * stats.norm.sf(abs(difference) / se))
    return Change(difference, se, difference - z * se, difference + z * se, p_value)


@dataclass(frozen=True)
class RankedCentre:
    code: str
    estimate: float
    shrunken: float
    n: int
    n_eff: float
    rank: int
    p_below: float
    q_below: float
    below: bool
    outside: int


@dataclass(frozen=True)
class Ranking:
    centres: list[RankedCentre]
    overall: float
    phi: float
    prior_strength: float

    def limits(self, n_eff: float) -> tuple[float, float, float, float]:
        spread = math.sqrt(self.phi * self.overall * (1 - self.overall) / max(n_eff, 1e-9))
        z95, z998 = stats.norm.ppf(0.975), stats.norm.ppf(0.999)
        return (self.overall - z95 * spread, self.overall + z95 * spread, self.overall - z998 * spread, self.overall + z998 * spread)


def rank_centres(rows: list[dict], overall: float, fdr: float = 0.05) -> Ranking:
    """Rank results rows (``code``, ``estimate``, ``n``, ``n_eff``) on shrunken estimates."""
    usable = [r for r in rows if _usable(r.get("estimate")) and _usable(r.get("n_eff")) and r["n_eff"] > 0]
    if not usable:
        return Ranking([], overall, 1.0, 0.0)
    p = np.array([float(r["estimate"]) for r in usable])
    n = np.array([float(r["n_eff"]) for r in usable])
    mean = float(np.sum(p * n) / np.sum(n))
    sampling = float(np.mean(mean * (1 - mean) / n))
    between = float(np.sum(n * (p - mean) ** 2) / np.sum(n)) - sampling
    if between <= 0 or mean in (0.0, 1.0):
        strength = math.inf
    else:
        strength = max(mean * (1 - mean) / between - 1, 0.0)
    if math.isinf(strength):
        shrunken = np.full_like(p, mean)
    else:
        shrunken = (p * n + strength * mean) / (n + strength)
    base = overall * (1 - overall)
    z = np.where(base > 0, (p - overall) / np.sqrt(np.maximum(base, 1e-12) / n), 0.0)
    phi = max(1.0, float(np.mean(z**2))) if len(z) > 1 else 1.0
    p_below = stats.norm.cdf(z / math.sqrt(phi))
    q_below = multipletests(p_below, alpha=fdr, method="fdr_bh")[1] if len(p_below) else p_below
    order = np.lexsort((-p, -shrunken))
    ranking = Ranking([], overall, phi, strength)
    for rank, i in enumerate(order, start=1):
        limits = ranking.limits(n[i])
        outside = -1 if p[i] < limits[2] else (1 if p[i] > limits[3] else 0)
        ranking.centres.append(
            RankedCentre(
                code=str(usable[i]["code"]),
                estimate=float(p[i]),
                shrunken=float(shrunken[i]),
                n=int(usable[i]["n"]),
                n_eff=float(n[i]),
                rank=rank,
                p_below=float(p_below[i]),
                q_below=float(q_below[i]),
                below=bool(q_below[i] < fdr),
                outside=outside,
            )
        )
    return ranking
