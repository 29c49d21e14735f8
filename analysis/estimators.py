"""Per-respondent estimators of satisfaction indices (statistics.md §1–§4).

These follow R ``survey`` step by step (influence values, calibration residuals, stratified
variance) and are the reference against which the sufficient-statistics path
(:mod:`analysis.sufficient`) is tested; both are tested against R.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis.design import SurveyDesign
from analysis.intervals import make_estimate
from analysis.results import Estimate

__all__ = ["answer_indicators", "item_index", "mean_of_item_indices", "proportion"]

DEFAULT_VALID = ("1", "2", "3", "4", "5")
DEFAULT_SATISFIED = ("4", "5")


def _mask(design: SurveyDesign, values, name: str) -> np.ndarray:
    if values is None:
        return np.ones(design.n, dtype=bool)
    values = np.asarray(values)
    if values.shape != (design.n,):
        raise ValueError(f"{name} must have one value per row ({design.n}), got {values.shape}")
    return values.astype(bool)


def answer_indicators(
    answers: pd.Series | Sequence[str],
    valid_values: Sequence[str] = DEFAULT_VALID,
    satisfied_values: Sequence[str] = DEFAULT_SATISFIED,
) -> tuple[np.ndarray, np.ndarray]:
    """(satisfied, valid) indicators from answer codes, compared as stripped strings.

    Blank, missing and not-applicable ("9") answers are not valid.
    """
    values = answers.to_numpy(dtype=object) if isinstance(answers, pd.Series) else answers
    codes = np.array(
        ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip() for v in values],
        dtype=object,
    )
    valid = np.isin(codes, [str(v) for v in valid_values])
    satisfied = valid & np.isin(codes, [str(v) for v in satisfied_values])
    return satisfied, valid


def _summary(design: SurveyDesign, respondents: np.ndarray) -> tuple[int, float, int, bool]:
    """n, Kish n_eff, df and whether a lonely stratum is involved, over the given respondents."""
    w = design.weights[respondents]
    n = int(respondents.sum())
    n_eff = float(w.sum() ** 2 / np.sum(w * w)) if n else 0.0
    strata = np.unique(design.strata[respondents])
    df = n - len(strata)
    lonely = bool(design.lonely_strata[strata].any()) if n else False
    return n, n_eff, df, lonely


def proportion(
    design: SurveyDesign,
    satisfied: Sequence[bool] | np.ndarray,
    valid: Sequence[bool] | np.ndarray | None = None,
    domain: Sequence[bool] | np.ndarray | None = None,
    *,
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> Estimate:
    """Weighted proportion p̂ = A/B with its Taylor-linearised variance.

    Parameters
    ----------
    design : SurveyDesign
    satisfied : array of bool
        y_i: the answer is in the satisfied set.
    valid : array of bool, optional
        The answer is on the scale (blank and "9" are not); default all.
    domain : array of bool, optional
        Membership of the domain; default the whole sample.
    ci : {"korn-graubard", "logit", "wald"}
    level : float

    Returns
    -------
    Estimate

    Notes
    -----
    With δ_i = valid_i·domain_i, A = Σδwy, B = Σδw, p̂ = A/B, the influence value per unit
    weight is u_i = δ_i (y_i − p̂)/B, the residuals e = ``design.residuals(u)`` and
    V̂ = ``design.total_variance(e)``. This is R::

        svymean(~y, subset(design, valid & domain), deff = "replace")

    whose subset keeps n_h of the whole file (statistics.md §2).
    """
    y = _mask(design, satisfied, "satisfied")
    delta = _mask(design, valid, "valid") & _mask(design, domain, "domain")
    n, n_eff, df, lonely = _summary(design, delta)
    if n == 0:
        return make_estimate(p=np.nan, variance=np.nan, n=0, n_eff=0.0, df=0, ci=ci, level=level)
    w = design.weights
    b = float(np.sum(w[delta]))
    p = float(np.sum(w[delta & y])) / b
    u = np.where(delta, (y - p) / b, 0.0)
    variance = design.total_variance(design.residuals(u))
    return make_estimate(
        p=p, variance=variance, n=n, n_eff=n_eff, df=df, lonely=lonely, ci=ci, level=level
    )


def item_index(
    design: SurveyDesign,
    question: str,
    *,
    valid_values: Sequence[str] = DEFAULT_VALID,
    satisfied_values: Sequence[str] = DEFAULT_SATISFIED,
    domain: Sequence[bool] | np.ndarray | None = None,
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> Estimate:
    """Item index of ``question``: share of ``satisfied_values`` among ``valid_values``
    (sipas-method.md §3), via :func:`proportion`."""
    satisfied, valid = answer_indicators(design.data[question], valid_values, satisfied_values)
    return proportion(design, satisfied, valid, domain, ci=ci, level=level)


def mean_of_item_indices(
    design: SurveyDesign,
    questions: Sequence[str],
    *,
    valid_values: Sequence[str] = DEFAULT_VALID,
    satisfied_values: Sequence[str] = DEFAULT_SATISFIED,
    domain: Sequence[bool] | np.ndarray | None = None,
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> Estimate:
    """Mean of the item indices of ``questions`` (index rule ``mean_of_items``).

    Notes
    -----
    θ̂ = (1/K) Σ_k p̂_k over the K items with at least one valid answer in the domain (an item
    nobody in the domain answered on the scale is left out rather than counted as 0). Its
    linearised variance uses the average of the items' influence values,
    u_i = (1/K) Σ_k δ_ki (y_ki − p̂_k)/B_k, through the same calibration residuals and stratified
    variance as :func:`proportion`; this is R::

        t <- svytotal(~a1 + b1 + ... + aK + bK, design)     # a_k = δ_k·y_k, b_k = δ_k
        svycontrast(t, quote((a1/b1 + ... + aK/bK)/K))

    ``n`` counts the respondents in the domain with a valid answer to at least one item; n_eff,
    df and deff (= V̂/(θ̂(1−θ̂)/(n−1))) are computed over them, and the intervals treat θ̂ as a
    proportion with that n.
    """
    domain_mask = _mask(design, domain, "domain")
    w = design.weights
    influence = np.zeros(design.n)
    estimates = []
    anyone = np.zeros(design.n, dtype=bool)
    for question in questions:
        satisfied, valid = answer_indicators(design.data[question], valid_values, satisfied_values)
        delta = valid & domain_mask
        b = float(np.sum(w[delta]))
        if b == 0:
            continue
        p = float(np.sum(w[delta & satisfied])) / b
        estimates.append(p)
        influence += np.where(delta, (satisfied - p) / b, 0.0)
        anyone |= delta
    n, n_eff, df, lonely = _summary(design, anyone)
    if not estimates:
        return make_estimate(p=np.nan, variance=np.nan, n=0, n_eff=0.0, df=0, ci=ci, level=level)
    k = len(estimates)
    variance = design.total_variance(design.residuals(influence / k))
    return make_estimate(
        p=float(np.mean(estimates)),
        variance=variance,
        n=n,
        n_eff=n_eff,
        df=df,
        lonely=lonely,
        ci=ci,
        level=level,
    )
