"""Key drivers: which items move overall satisfaction most (statistics.md §5).

A province that must choose what to fix first needs, for every item (``TC1`` … ``PA3``), two
numbers: how much satisfaction with the item goes with overall satisfaction (importance), and how
satisfied people are with it today (performance, the item index). :func:`key_drivers` fits a
weighted logistic regression of "satisfied overall" (``HL`` in 4–5) on the items' "satisfied"
indicators and reports both, with the items ordered by the potential gain
importance × (1 − performance): how much the overall index would rise, as far as the model can
tell, if everybody were satisfied with the item.

Model and variance (R ``svyglm(family = quasibinomial())``)
    logit P(y_i = 1) = β₀ + Σ_j β_j x_ij, fitted by survey-weighted pseudo-likelihood
    Σ w_i x_i (y_i − μ_i) = 0 with ``statsmodels`` ``GLM(family=Binomial(),
    var_weights=w)``. ``var_weights`` (not ``freq_weights``) because survey weights are not
    counts of identical respondents: with ``freq_weights`` statsmodels would take the number
    of observations to be Σw. The point estimates are the same either way; the covariance is
    not taken from statsmodels at all but computed from the design, as R does: the influence
    values per unit weight u_i = H⁻¹ x_i (y_i − μ_i), H = Σ w_i μ_i(1 − μ_i) x_i x_i', go
    through the design's calibration residuals and stratified with-replacement variance
    (:meth:`analysis.design.SurveyDesign.residuals`, ``total_covariance``). This is the
    sandwich estimator with the strata of the design, which statsmodels' robust covariances
    cannot express: ``cov_type="HC0"`` ignores the strata (with one stratum and no
    calibration it equals ours times (n − 1)/n), ``"HC1"`` adds a small-sample factor of its
    own, and clustering by stratum would treat the strata as the sampled units, which they
    are not (statistics.md §2: respondents are the units, centre × period the strata).
    Respondents outside the domain or without a valid answer to the outcome or an item are left
    out of the model (influence 0) but stay in the design, as R's ``subset`` does.
Importance
    ``coefficient`` (log odds ratio) and the average marginal effect ``ame``: the difference
    of the predictive margins Σw μ_i(x_ij = 1)/Σw − Σw μ_i(x_ij = 0)/Σw, in proportion
    points. Its variance is R ``svypredmeans``': the design variance of the mean predictions
    (coefficients held fixed) plus g'V̂(β̂)g, g the gradient of the margins in β (Graubard &
    Korn 1999, Biometrics 55:652).
Performance
    The item index (:func:`analysis.estimators.item_index`) in the same domain, over everybody
    who answered the item.

Items answered "satisfied" together are correlated: read the coefficients as the items' shares
of one story, not as effects of separate interventions, and remember that the survey measures
association, not cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import special

from analysis.design import SurveyDesign
from analysis.errors import AnalysisError
from analysis.estimators import DEFAULT_SATISFIED, DEFAULT_VALID, answer_indicators, item_index

__all__ = ["KeyDrivers", "key_drivers"]

QUADRANTS = ("concentrate", "keep_up", "low_priority", "possible_overkill")


@dataclass(frozen=True, eq=False)
class KeyDrivers:
    """Importance and performance of items for overall satisfaction.

    Attributes
    ----------
    outcome : str
        The overall question (``HL``).
    items : tuple of str
    n : int
        Respondents in the model (valid answers to the outcome and every item, in the domain).
    coefficients : pandas.Series
        β̂, ``Intercept`` first, then the items (and ``<item>:missing`` indicators with
        ``missing="indicator"``).
    covariance : pandas.DataFrame
        Design-based V̂(β̂) (R ``vcov(svyglm(...))``).
    level : float
        Level of the intervals in ``table``.
    table : pandas.DataFrame
        One row per item, sorted by ``priority`` (1 = fix first): ``item``, ``coefficient``,
        ``coefficient_se``, ``odds_ratio``, ``p_value`` (two-sided, normal, of the
        coefficient), ``ame``, ``ame_se``, ``ame_low``, ``ame_high``, ``performance``,
        ``performance_se``, ``performance_n``, ``potential_gain`` (ame × (1 − performance)),
        ``quadrant`` (importance-performance analysis, split at the items' medians:
        ``concentrate`` = important and weak, ``keep_up`` = important and strong,
        ``low_priority`` = unimportant and weak, ``possible_overkill`` = unimportant and strong)
        and ``priority``.
    """

    outcome: str
    items: tuple[str, ...]
    n: int
    coefficients: pd.Series = field(repr=False)
    covariance: pd.DataFrame = field(repr=False)
    level: float
    table: pd.DataFrame = field(repr=False)


def key_drivers(
    design: SurveyDesign,
    items: Sequence[str],
    *,
    outcome: str = "HL",
    valid_values: Sequence[str] = DEFAULT_VALID,
    satisfied_values: Sequence[str] = DEFAULT_SATISFIED,
    domain: Sequence[bool] | np.ndarray | None = None,
    missing: str = "drop",
    level: float = 0.95,
) -> KeyDrivers:
    """Which items move overall satisfaction most, and how each performs.

    Parameters
    ----------
    design : SurveyDesign
        Per-respondent design (strata, weights, calibration) over the whole file.
    items : sequence of str
        The item questions (e.g. ``TC1`` … ``PA3``).
    outcome : str
        The overall question; y = 1 when its answer is in ``satisfied_values``.
    valid_values, satisfied_values : sequence of str
        Answers on the scale and those counted as satisfied (as for the indices).
    domain : array of bool, optional
        Respondents of the domain (e.g. one province); default all.
    missing : {"drop", "indicator"}
        ``drop``: only respondents with a valid answer to every item (complete cases).
        ``indicator``: an item without a valid answer (blank, "không áp dụng") counts as not
        satisfied and gets an indicator ``<item>:missing`` in the model (items left blank by
        exactly the same respondents share the first one's), so that items
        many people cannot judge (e.g. feedback, ``PA``) do not empty the model.
    level : float
        Level of the intervals of the average marginal effects.

    Returns
    -------
    KeyDrivers

    Notes
    -----
    See the module docstring; the coefficients and their standard errors equal R's::

        svyglm(y ~ x1 + ... + xk, subset(design, used), family = quasibinomial())

    and the average marginal effect of item j and its standard error R's::

        m <- svyglm(y ~ <other items>, subset(design, used), family = quasibinomial())
        svycontrast(svypredmeans(m, ~xj), c(-1, 1))
    """
    import statsmodels.api as sm

    items = tuple(items)
    if not items:
        raise AnalysisError("key drivers need at least one item")
    if missing not in ("drop", "indicator"):
        raise ValueError(f"missing must be 'drop' or 'indicator', got {missing!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    for code in (outcome, *items):
        if code not in design.data.columns:
            raise AnalysisError(f"no column {code!r} in the design's data")
    n_rows = design.n
    in_domain = np.ones(n_rows, dtype=bool) if domain is None else np.asarray(domain, dtype=bool)
    y, y_valid = answer_indicators(design.data[outcome], valid_values, satisfied_values)
    used = y_valid & in_domain
    columns, names = [np.ones(n_rows)], ["Intercept"]
    indicators = []
    for item in items:
        satisfied, valid = answer_indicators(design.data[item], valid_values, satisfied_values)
        columns.append(satisfied.astype(float))
        names.append(item)
        indicators.append(valid)
    if missing == "drop":
        for valid in indicators:
            used &= valid
    else:
        # Items left blank by the same respondents (e.g. every result item when the result is
        # not yet received) share one indicator: identical columns would make the model singular.
        patterns = set()
        for item, valid in zip(items, indicators):
            pattern = (~valid[used]).tobytes()
            if (used & ~valid).any() and pattern not in patterns:
                patterns.add(pattern)
                columns.append((~valid).astype(float))
                names.append(f"{item}:missing")
    x = np.column_stack(columns)
    n_used = int(used.sum())
    if n_used <= x.shape[1]:
        raise AnalysisError(f"only {n_used} respondents for {x.shape[1]} coefficients")
    w = design.weights
    # converged to the fixed point (IRLS stops on the deviance: 1e-8 would leave the sixth digit)
    fit = sm.GLM(y[used].astype(float), x[used], family=sm.families.Binomial(), var_weights=w[used]).fit(
        tol=1e-14, maxiter=100
    )
    beta = np.asarray(fit.params, dtype=float)
    mu = special.expit(x @ beta)
    hessian = (x[used] * (w[used] * mu[used] * (1 - mu[used]))[:, None]).T @ x[used]
    try:
        inverse = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        raise AnalysisError("the items are collinear in this domain (an item is constant)") from None
    influence = np.where(used[:, None], x * (y - mu)[:, None], 0.0) @ inverse
    covariance = design.total_covariance(design.residuals(influence))

    # predictive margins at x_j = 1 and x_j = 0 (R svypredmeans), one item at a time
    total_w = float(np.sum(w[used]))
    k = len(items)
    ame, ame_variance = np.zeros(k), np.zeros(k)
    differences = np.zeros((n_rows, k))
    gradients = np.zeros((k, x.shape[1]))
    for j in range(k):
        high, low = x.copy(), x.copy()
        high[:, j + 1], low[:, j + 1] = 1.0, 0.0
        mu_high, mu_low = special.expit(high @ beta), special.expit(low @ beta)
        difference = np.where(used, mu_high - mu_low, 0.0)
        ame[j] = float(np.sum(w * difference)) / total_w
        differences[:, j] = np.where(used, (difference - ame[j]) / total_w, 0.0)
        gradients[j] = (
            ((w * used * mu_high * (1 - mu_high))[:, None] * high).sum(axis=0)
            - ((w * used * mu_low * (1 - mu_low))[:, None] * low).sum(axis=0)
        ) / total_w
    conditional = design.total_covariance(design.residuals(differences))
    ame_variance = np.diag(conditional) + np.einsum("ij,jk,ik->i", gradients, covariance, gradients)
    ame_se = np.sqrt(np.maximum(ame_variance, 0.0))
    z = float(special.ndtri(0.5 + level / 2))
    coefficient_se = np.sqrt(np.maximum(np.diag(covariance), 0.0))

    performance = [
        item_index(design, item, valid_values=valid_values, satisfied_values=satisfied_values, domain=in_domain)
        for item in items
    ]
    table = pd.DataFrame(
        {
            "item": list(items),
            "coefficient": beta[1 : k + 1],
            "coefficient_se": coefficient_se[1 : k + 1],
            "odds_ratio": np.exp(beta[1 : k + 1]),
            "p_value": 2 * special.ndtr(-np.abs(beta[1 : k + 1] / coefficient_se[1 : k + 1])),
            "ame": ame,
            "ame_se": ame_se,
            "ame_low": ame - z * ame_se,
            "ame_high": ame + z * ame_se,
            "performance": [e.estimate for e in performance],
            "performance_se": [e.se for e in performance],
            "performance_n": [e.n for e in performance],
        }
    )
    table["potential_gain"] = table["ame"] * (1 - table["performance"])
    important = table["ame"] >= table["ame"].median()
    strong = table["performance"] >= table["performance"].median()
    table["quadrant"] = np.select(
        [important & ~strong, important & strong, ~important & ~strong], list(QUADRANTS[:3]), QUADRANTS[3]
    )
    table = table.sort_values("potential_gain", ascending=False, kind="stable").reset_index(drop=True)
    table["priority"] = np.arange(1, k + 1)
    return KeyDrivers(
        outcome=outcome,
        items=items,
        n=n_used,
        coefficients=pd.Series(beta, index=names),
        covariance=pd.DataFrame(covariance, index=names, columns=names),
        level=level,
        table=table,
    )
