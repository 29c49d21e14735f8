"""Confidence intervals and reliability flags for a weighted proportion (statistics.md §4).

All three methods take the point estimate p̂, its linearised variance V̂, the number n of valid
answers in the domain and the design degrees of freedom df.

``korn-graubard`` (default)
    R ``svyciprop(method = "beta")``: the effective sample size n* = p̂(1−p̂)/V̂ is multiplied by
    (t_{α/2, n−1} / t_{α/2, df})², and the interval is the Clopper–Pearson one at n*·p̂ successes
    out of n*: ``[qbeta(α/2, n*p̂, n*(1−p̂)+1), qbeta(1−α/2, n*p̂+1, n*(1−p̂))]``. Where p̂ is 0
    or 1, or V̂ ≤ 1e-9·p̂(1−p̂)/(n−1) (a zero variance that floating point turns into 1e-35 or a
    hair below zero), n* = n: the exact Clopper–Pearson interval, without the df adjustment.
    R's function uses the whole file's row count for n on calibrated designs; we always use the
    domain's.
``logit``
    R ``svyciprop(method = "xlogit")``: expit(logit p̂ ± t_{1−α/2, df}·SE/(p̂(1−p̂))); undefined
    (NaN) at p̂ of 0 or 1.
``wald``
    R ``confint(svymean(...))``: p̂ ± z_{1−α/2}·SE, clipped to [0, 1].

Where df = 0 (every stratum in the domain holds exactly one of its answers) no interval is
defined, whichever the method: both bounds are NaN and the figure is flagged ``df=0``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from analysis.results import (
    FLAG_DF0,
    FLAG_LONELY,
    FLAG_N0,
    FLAG_NEFF,
    FLAG_WIDTH,
    Estimate,
)

__all__ = [
    "CI_METHODS",
    "MIN_N_EFF",
    "MAX_CI_WIDTH",
    "clopper_pearson",
    "korn_graubard",
    "logit_interval",
    "estimate_columns",
    "make_estimate",
    "make_estimates",
    "wald_interval",
]

CI_METHODS = ("korn-graubard", "logit", "wald")
#: NCHS-style reliability rule (statistics.md §4).
MIN_N_EFF = 30.0
MAX_CI_WIDTH = 0.30
#: V̂ at or below this fraction of the binomial variance p̂(1−p̂)/(n−1) counts as zero.
ZERO_VARIANCE_FRACTION = 1e-9

_NAN = float("nan")


def _check_level(level: float) -> None:
    if not (0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def clopper_pearson(x: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson interval for x successes out of n (x, n need not be integers).

    Quantiles come from ``scipy.special`` (``betaincinv``, ``stdtrit``, ``ndtri``), the same
    routines as ``scipy.stats``' ``ppf`` without their per-call overhead.

    ``[qbeta(α/2, x, n−x+1), qbeta(1−α/2, x+1, n−x)]`` with the conventions lower = 0 at x = 0
    and upper = 1 at x = n (R ``qbeta`` with a zero shape parameter).
    """
    _check_level(level)
    alpha = 1.0 - level
    lower = 0.0 if x <= 0 else float(special.betaincinv(x, n - x + 1, alpha / 2))
    upper = 1.0 if x >= n else float(special.betaincinv(x + 1, n - x, 1 - alpha / 2))
    return lower, upper


def _is_zero_variance(p: float, variance: float, n: int) -> bool:
    if p <= 0.0 or p >= 1.0:
        return True
    if n <= 1:
        return True
    return variance <= ZERO_VARIANCE_FRACTION * p * (1.0 - p) / (n - 1)


def korn_graubard(
    p: float, variance: float, n: int, df: int, level: float = 0.95
) -> tuple[float, float]:
    """Korn–Graubard interval (R ``svyciprop(method = "beta")``); see the module docstring."""
    _check_level(level)
    if n <= 0 or df <= 0 or math.isnan(p):
        return _NAN, _NAN
    if _is_zero_variance(p, variance, n):
        return clopper_pearson(n * p, n, level)
    alpha = 1.0 - level
    n_star = p * (1.0 - p) / variance
    n_star *= (special.stdtrit(n - 1, alpha / 2) / special.stdtrit(df, alpha / 2)) ** 2
    return clopper_pearson(n_star * p, n_star, level)


def logit_interval(
    p: float, variance: float, n: int, df: int, level: float = 0.95
) -> tuple[float, float]:
    """Logit interval (R ``svyciprop(method = "xlogit")``); see the module docstring."""
    _check_level(level)
    if n <= 0 or df <= 0 or math.isnan(p) or p <= 0.0 or p >= 1.0:
        return _NAN, _NAN
    t = float(special.stdtrit(df, 1 - (1 - level) / 2))
    centre = math.log(p / (1.0 - p))
    half = t * math.sqrt(max(variance, 0.0)) / (p * (1.0 - p))
    return _expit(centre - half), _expit(centre + half)


def wald_interval(
    p: float, variance: float, n: int, df: int, level: float = 0.95
) -> tuple[float, float]:
    """Wald interval p̂ ± z·SE clipped to [0, 1] (R ``confint(svymean(...))``)."""
    _check_level(level)
    if n <= 0 or df <= 0 or math.isnan(p):
        return _NAN, _NAN
    z = float(special.ndtri(1 - (1 - level) / 2))
    half = z * math.sqrt(max(variance, 0.0))
    return max(0.0, p - half), min(1.0, p + half)


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


_METHODS = {"korn-graubard": korn_graubard, "logit": logit_interval, "wald": wald_interval}


def _interval_arrays(
    method: str,
    p: np.ndarray,
    variance: np.ndarray,
    n: np.ndarray,
    df: np.ndarray,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised form of :func:`korn_graubard`, :func:`logit_interval`, :func:`wald_interval`."""
    alpha = 1.0 - level
    defined = (n > 0) & (df > 0) & ~np.isnan(p)
    with np.errstate(all="ignore"):
        if method == "korn-graubard":
            binomial = p * (1.0 - p)
            zero = (p <= 0) | (p >= 1) | (n <= 1) | (
                variance <= ZERO_VARIANCE_FRACTION * binomial / np.maximum(n - 1, 1)
            )
            ratio = special.stdtrit(np.maximum(n - 1, 1), alpha / 2) / special.stdtrit(
                np.maximum(df, 1), alpha / 2
            )
            n_star = np.where(zero, n, binomial / variance * ratio**2)
            x = n_star * p
            low = np.where(x <= 0, 0.0, special.betaincinv(x, n_star - x + 1, alpha / 2))
            high = np.where(x >= n_star, 1.0, special.betaincinv(x + 1, n_star - x, 1 - alpha / 2))
        elif method == "logit":
            defined &= (p > 0) & (p < 1)
            t = special.stdtrit(np.maximum(df, 1), 1 - alpha / 2)
            centre = np.log(p / (1.0 - p))
            half = t * np.sqrt(np.maximum(variance, 0.0)) / (p * (1.0 - p))
            low, high = special.expit(centre - half), special.expit(centre + half)
        else:
            z = special.ndtri(1 - alpha / 2)
            half = z * np.sqrt(np.maximum(variance, 0.0))
            low, high = np.maximum(0.0, p - half), np.minimum(1.0, p + half)
    return np.where(defined, low, np.nan), np.where(defined, high, np.nan)


def estimate_columns(
    *,
    p: np.ndarray,
    variance: np.ndarray,
    n: np.ndarray,
    n_eff: np.ndarray,
    df: np.ndarray,
    lonely: np.ndarray | None = None,
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> dict[str, np.ndarray]:
    """The fields of :class:`~analysis.results.Estimate` as arrays, one element per domain.

    Same rules as :func:`make_estimate`; this is what the estimators of many domains use, and
    :func:`make_estimates` wraps it.
    """
    if ci not in _METHODS:
        raise ValueError(f"unknown interval method {ci!r}; expected one of {', '.join(CI_METHODS)}")
    _check_level(level)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    n = np.asarray(n, dtype=np.int64)
    df = np.asarray(df, dtype=np.int64)
    n_eff = np.asarray(n_eff, dtype=float)
    lonely = np.zeros(len(p), dtype=bool) if lonely is None else np.asarray(lonely, dtype=bool)
    empty = n <= 0
    variance = np.maximum(np.asarray(variance, dtype=float), 0.0)
    with np.errstate(all="ignore"):
        binomial = p * (1.0 - p)
        zero = (p <= 0) | (p >= 1) | (n <= 1) | (
            variance <= ZERO_VARIANCE_FRACTION * binomial / np.maximum(n - 1, 1)
        )
        # exact zeros come out of floating point as 1e-35 or a hair below zero
        variance = np.where(zero, 0.0, variance)
        deff = np.where((p > 0) & (p < 1) & (n > 1), variance / (binomial / (n - 1)), np.nan)
    low, high = _interval_arrays(ci, p, variance, n, df, level)
    if ci == "korn-graubard":
        kg_low, kg_high = low, high
    else:
        kg_low, kg_high = _interval_arrays("korn-graubard", p, variance, n, df, level)
    se = np.sqrt(variance)
    wide = ~np.isnan(kg_low) & (kg_high - kg_low > MAX_CI_WIDTH)
    reasons = [
        (df <= 0, FLAG_DF0),
        (n_eff < MIN_N_EFF, FLAG_NEFF),
        (wide, FLAG_WIDTH),
        (lonely, FLAG_LONELY),
    ]
    flag = np.full(len(p), "", dtype=object)
    for i in np.flatnonzero(np.any([mask for mask, _ in reasons], axis=0) if len(p) else []).tolist():
        flag[i] = ";".join(reason for mask, reason in reasons if mask[i])
    flag[empty] = FLAG_N0
    nan = np.where(empty, np.nan, 1.0)
    return {
        "estimate": p * nan,
        "se": se * nan,
        "ci_low": low * nan,
        "ci_high": high * nan,
        "n": np.where(empty, 0, n),
        "n_eff": np.where(empty, 0.0, n_eff),
        "deff": deff * nan,
        "df": np.maximum(df, 0),
        "flag": flag,
    }


def make_estimates(
    *,
    p: np.ndarray,
    variance: np.ndarray,
    n: np.ndarray,
    n_eff: np.ndarray,
    df: np.ndarray,
    lonely: np.ndarray | None = None,
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> list[Estimate]:
    """Vectorised :func:`make_estimate`: one :class:`Estimate` per element of the arrays."""
    columns = estimate_columns(
        p=p, variance=variance, n=n, n_eff=n_eff, df=df, lonely=lonely, ci=ci, level=level
    )
    fields = ("estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "df", "flag")
    return [
        Estimate(
            float(e), float(s), float(lo), float(hi), int(k), float(ne), float(de), int(d), str(f)
        )
        for e, s, lo, hi, k, ne, de, d, f in zip(*(columns[name].tolist() for name in fields))
    ]


def make_estimate(
    *,
    p: float,
    variance: float,
    n: int,
    n_eff: float,
    df: int,
    lonely: bool = False,
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> Estimate:
    """Assemble an :class:`~analysis.results.Estimate` from the sufficient quantities.

    Parameters
    ----------
    p, variance : float
        p̂ and V̂ (a V̂ a hair below zero is clamped to zero).
    n : int
        Valid answers in the domain.
    n_eff : float
        Kish effective sample size.
    df : int
        Design degrees of freedom of the domain.
    lonely : bool
        Whether a single-respondent stratum contributes (flag ``n_h=1``).
    ci : {"korn-graubard", "logit", "wald"}
        Interval method.
    level : float
        Confidence level.

    Notes
    -----
    A V̂ at or below 1e-9·p̂(1−p̂)/(n−1) is reported as exactly 0 (see the module docstring).
    deff = V̂ / (p̂(1−p̂)/(n−1)), R ``svymean(..., deff = "replace")``; NaN at p̂ of 0 or 1 and at
    n = 1. Flags: ``n=0``; ``df=0``; ``n_eff<30``; ``ci_width>0.30`` when the Korn–Graubard
    interval (computed for the flag whatever ``ci`` is) is wider than 0.30; ``n_h=1``.
    """
    (estimate,) = make_estimates(
        p=np.array([p], dtype=float),
        variance=np.array([variance], dtype=float),
        n=np.array([n]),
        n_eff=np.array([n_eff], dtype=float),
        df=np.array([df]),
        lonely=np.array([lonely]),
        ci=ci,
        level=level,
    )
    return estimate
