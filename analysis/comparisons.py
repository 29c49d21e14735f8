"""Comparing domains: change between periods, rankings, funnel plots, flags (statistics.md §5).

Everything here works from what :func:`analysis.indices_from_statistics` returns for many domains
at once (``estimate``, ``se``, ``n``, ``n_eff``, ``flag`` and the domain columns), so the web app
can offer it without another pass over the responses. Each function takes such a table (or
:class:`~analysis.results.Estimate` objects) for **one** index.

Change between two periods: :func:`change`, :func:`period_changes`
    d̂ = p̂_t − p̂_s with V̂(d̂) = V̂_t + V̂_s. This needs the two estimates to come from
    different strata (strata that include the period, as the app's ``center_code, period``
    do): their linearised totals are then independent, and this equals R's
    ``svycontrast(svyby(..., covmat = TRUE), c(-1, 1))`` for an uncalibrated design. With
    post-stratification or raking to cells that span both periods the two estimates share the
    calibration and the covariance it induces is ignored (usually small, not zero).
    The interval and the two-sided p-value use the normal distribution, as R's ``svycontrast``
    and ``confint`` do; ``distribution="t"`` uses Student's t with the Welch–Satterthwaite
    degrees of freedom (V̂_t + V̂_s)² / (V̂_t²/df_t + V̂_s²/df_s) instead, for small domains.
Ranking on shrunken estimates: :func:`fit_beta_prior`, :func:`shrink`
    Empirical Bayes with a beta-binomial model on *effective* counts (Kish n_eff and
    x = n_eff·p̂, so that weighting's loss of precision is carried over): the prior Beta(α, β)
    is fitted to all domains by marginal likelihood (default) or the method of moments, and each
    domain is ranked on its posterior mean (x + α)/(n_eff + α + β). A small domain moves
    towards the overall level in proportion to its lack of information, so luck in small
    samples no longer decides the ranking.
Funnel plot: :func:`funnel`
    Spiegelhalter (2005), "Funnel plots for comparing institutional performance", Stat Med
    24:1185–1202: control limits θ₀ ± z_p·sqrt(φ·θ₀(1−θ₀)/n_eff) around the overall index θ₀,
    with a multiplicative overdispersion factor φ estimated from the domains' standardised
    residuals z_i = (p̂_i − θ₀)/sqrt(θ₀(1−θ₀)/n_eff,i), Winsorised at 10 % in each tail:
    φ̂ = Σ z_i²/I. The limits are widened only when φ̂ > 1.
Flagging domains below a target: :func:`below_target`
    A one-sided test of H₀: p ≥ target per domain, (p̂ − target)/SE against the normal (or t)
    distribution; where V̂ = 0 (p̂ of 0 or 1, or no variation) the exact binomial probability
    P(X ≤ n·p̂ | n, target) (regularised incomplete beta, so n·p̂ need not be an integer). The
    false discovery rate over all domains is controlled with Benjamini–Hochberg
    (``statsmodels.stats.multitest.multipletests(method="fdr_bh")``).

A QR survey is a self-selected sample: all of this measures sampling noise around the weighted
estimates, not the bias of who chooses to answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special

from analysis.errors import AnalysisError
from analysis.results import Estimate

__all__ = [
    "BelowTarget",
    "BetaPrior",
    "Change",
    "Funnel",
    "Ranking",
    "below_target",
    "change",
    "fit_beta_prior",
    "funnel",
    "period_changes",
    "shrink",
]

DISTRIBUTIONS = ("normal", "t")


def _value(source: Estimate | Mapping, name: str, default: float = math.nan) -> float:
    if isinstance(source, Estimate):
        return float(getattr(source, name))
    value = source.get(name, default) if hasattr(source, "get") else default
    if value is None or (isinstance(value, str) and value == ""):
        return default
    return float(value)


def _flags(source: Estimate | Mapping) -> str:
    value = source.flag if isinstance(source, Estimate) else source.get("flag", "")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


# ---------------------------------------------------------------------- change


@dataclass(frozen=True)
class Change:
    """The change p̂_later − p̂_earlier between two periods.

    Attributes
    ----------
    estimate : float
        d̂ = p̂_t − p̂_s (t later, s earlier).
    se : float
        sqrt(V̂_t + V̂_s).
    ci_low, ci_high : float
        d̂ ∓ q·se, q the normal (or t) quantile of the level; NaN where se is 0.
    statistic : float
        d̂ / se (z or t); NaN where se is 0.
    p_value : float
        Two-sided p-value of H₀: no change; NaN where se is 0.
    df : float
        Degrees of freedom of the t distribution; ``inf`` for the normal one.
    earlier, later : float
        p̂_s and p̂_t.
    flag : str
        Blank, or why the comparison is fragile: ``se=0`` (no variance estimated: an interval
        and a test would pretend certainty), and the flags of either estimate, prefixed
        ``earlier:`` or ``later:`` and joined with ``;``.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    df: float
    earlier: float
    later: float
    flag: str = ""


def change(
    later: Estimate | Mapping,
    earlier: Estimate | Mapping,
    *,
    level: float = 0.95,
    distribution: str = "normal",
) -> Change:
    """Change of an index between two periods estimated in different strata.

    Parameters
    ----------
    later, earlier : Estimate or mapping
        The two estimates: :class:`~analysis.results.Estimate` objects or result rows with
        ``estimate``, ``se`` (and ``df`` for ``distribution="t"``, ``flag`` optionally).
    level : float
        Confidence level of the interval.
    distribution : {"normal", "t"}
        Reference distribution of d̂/se (see the module docstring).

    Returns
    -------
    Change

    Notes
    -----
    V̂(p̂_t − p̂_s) = V̂_t + V̂_s holds when the two periods are in different strata and the
    weights are not calibrated across them (statistics.md §5); R::

        by <- svyby(~y, ~period, subset(design, valid), svymean, covmat = TRUE)
        svycontrast(by, c(-1, 1))          # estimate and SE
        2 * pnorm(-abs(coef / SE))         # the p-value
    """
    _check_level(level)
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}")
    p_t, p_s = _value(later, "estimate"), _value(earlier, "estimate")
    v_t, v_s = _value(later, "se") ** 2, _value(earlier, "se") ** 2
    d = p_t - p_s
    se = math.sqrt(v_t + v_s)
    if distribution == "t":
        df_t, df_s = _value(later, "df"), _value(earlier, "df")
        if math.isnan(df_t) or math.isnan(df_s):
            raise AnalysisError("distribution='t' needs the degrees of freedom (df) of both estimates")
        terms = (v_t**2 / df_t if df_t > 0 else math.inf) + (v_s**2 / df_s if df_s > 0 else math.inf)
        df = (v_t + v_s) ** 2 / terms if terms > 0 else math.nan
    else:
        df = math.inf
    flags = []
    if not se > 0:
        flags.append("se=0")
    for prefix, source in (("earlier", earlier), ("later", later)):
        flags += [f"{prefix}:{part}" for part in _flags(source).split(";") if part]
    if se > 0 and not math.isnan(d) and not math.isnan(df):
        statistic = d / se
        if math.isinf(df):
            quantile = float(special.ndtri(0.5 + level / 2))
            p_value = float(2 * special.ndtr(-abs(statistic)))
        else:
            quantile = float(special.stdtrit(df, 0.5 + level / 2))
            p_value = float(2 * special.stdtr(df, -abs(statistic)))
        low, high = d - quantile * se, d + quantile * se
    else:
        statistic = p_value = low = high = math.nan
    return Change(
        estimate=d,
        se=se,
        ci_low=low,
        ci_high=high,
        statistic=statistic,
        p_value=p_value,
        df=df,
        earlier=p_s,
        later=p_t,
        flag=";".join(flags),
    )


def period_changes(
    results: pd.DataFrame,
    *,
    earlier: str,
    later: str,
    period_column: str = "period",
    level: float = 0.95,
    distribution: str = "normal",
) -> pd.DataFrame:
    """:func:`change` for every index and domain present in both periods of a results table.

    Parameters
    ----------
    results : pandas.DataFrame
        Rows of :func:`analysis.indices_from_statistics` with ``period_column`` among the
        ``by`` columns (and strata that include the period).
    earlier, later : str
        The two period labels (e.g. ``"2026-Q1"``, ``"2026-Q2"``).
    period_column : str
    level, distribution
        As in :func:`change`.

    Returns
    -------
    pandas.DataFrame
        One row per index and domain (the other by-columns): ``index``, ``kind``, the domain
        columns, then the fields of :class:`Change`.
    """
    if period_column not in results.columns:
        raise AnalysisError(f"the results have no {period_column!r} column")
    reserved = {"index", "kind", period_column, "estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "flag", "df"}
    domain = [c for c in results.columns if c not in reserved]
    keys = ["index", "kind", *domain]
    s = results[results[period_column] == earlier].set_index(keys)
    t = results[results[period_column] == later].set_index(keys)
    common = [k for k in t.index if k in s.index]
    rows = []
    for key in common:
        result = change(t.loc[key].to_dict(), s.loc[key].to_dict(), level=level, distribution=distribution)
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **result.__dict__})
    columns = [*keys, *Change.__dataclass_fields__]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------- empirical Bayes


@dataclass(frozen=True)
class BetaPrior:
    """The beta prior of domain-level satisfaction, fitted across domains.

    Attributes
    ----------
    alpha, beta : float
        Shape parameters; ``inf`` when the domains show no more variation than binomial
        sampling would (then every domain is shrunk to :attr:`mean`).
    mean : float
        Prior mean α/(α + β) (the pooled proportion Σx/Σn when α, β are infinite).
    method : str
        ``"marginal-likelihood"`` or ``"moments"``.
    log_likelihood : float
        Σ log B(x_i + α, n_i − x_i + β) − log B(α, β): the beta-binomial log-likelihood
        without its binomial coefficients (which do not depend on α, β); NaN at α = ∞.
    converged : bool
        Whether the optimiser reported success (always True for ``"moments"``).
    """

    alpha: float
    beta: float
    mean: float
    method: str
    log_likelihood: float
    converged: bool = True

    @property
    def strength(self) -> float:
        """α + β: the prior's weight, in effective respondents."""
        return self.alpha + self.beta


def _log_likelihood(alpha: float, beta: float, x: np.ndarray, n: np.ndarray) -> float:
    return float(np.sum(special.betaln(x + alpha, n - x + beta) - special.betaln(alpha, beta)))


def _moments(x: np.ndarray, n: np.ndarray) -> tuple[float, float, float]:
    """(mean, ρ̂, strength) of the method of moments (module docstring of :func:`fit_beta_prior`)."""
    total = n.sum()
    mean = x.sum() / total
    p = x / n
    spread = float(np.sum(n * (p - mean) ** 2))
    count = len(n)
    denominator = total - np.sum(n * n) / total - (count - 1)
    binomial = mean * (1 - mean)
    if binomial <= 0 or denominator <= 0:
        return mean, 0.0, math.inf
    rho = (spread / binomial - (count - 1)) / denominator
    if rho <= 0:
        return mean, 0.0, math.inf
    rho = min(rho, 1 - 1e-12)
    return mean, rho, 1 / rho - 1


def fit_beta_prior(
    successes: Sequence[float] | np.ndarray,
    trials: Sequence[float] | np.ndarray,
    *,
    method: str = "marginal-likelihood",
) -> BetaPrior:
    """Fit Beta(α, β) to domains' (effective) successes and trials.

    Parameters
    ----------
    successes, trials : array-like
        x_i = n_eff,i·p̂_i and n_i = n_eff,i (need not be integers); domains with n_i = 0 are
        left out.
    method : {"marginal-likelihood", "moments"}
        ``marginal-likelihood`` maximises the beta-binomial likelihood
        Σ log B(x_i + α, n_i − x_i + β) − log B(α, β) over log α, log β with
        ``scipy.optimize.minimize`` (``trust-exact``, analytic gradient and Hessian from
        digamma and trigamma), starting from the method of moments; where the likelihood's
        slope in 1/(α + β) at the binomial model is not positive, the maximum is the boundary
        α + β = ∞. ``moments`` solves E[S] = μ(1−μ)[(I−1) + ρ(N − Σn_i²/N − (I−1))] for the
        intra-domain correlation ρ = 1/(α+β+1), with μ̂ = Σx/Σn = N⁻¹Σx,
        S = Σ n_i (p_i − μ̂)² (Kleinman 1973, "Proportions with extraneous variance").

    Returns
    -------
    BetaPrior
        With α = β = ``inf`` (and :attr:`BetaPrior.mean` the pooled proportion) when the
        domains vary no more than binomial sampling explains.
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    used = n > 0
    x, n = np.clip(x[used], 0, n[used]), n[used]
    if len(n) < 2:
        raise AnalysisError("fitting a prior needs at least two domains with answers")
    if method not in ("marginal-likelihood", "moments"):
        raise ValueError(f"unknown method {method!r}")
    mean, rho, strength = _moments(x, n)
    if method == "moments":
        if math.isinf(strength):
            return BetaPrior(math.inf, math.inf, float(mean), method, math.nan, True)
        alpha, beta = float(mean * strength), float((1 - mean) * strength)
        return BetaPrior(alpha, beta, float(mean), method, _log_likelihood(alpha, beta, x, n), True)
    if not 0 < mean < 1:
        return BetaPrior(math.inf, math.inf, float(mean), method, math.nan, True)
    # Score of the likelihood in γ = 1/(α+β) at γ = 0 (the binomial model): if it does not
    # rise there, the maximum is at the boundary, α + β = ∞ (no overdispersion).
    score = np.sum(x * (x - 1) / (2 * mean) + (n - x) * (n - x - 1) / (2 * (1 - mean)) - n * (n - 1) / 2)
    if score <= 0:
        return BetaPrior(math.inf, math.inf, float(mean), method, math.nan, True)

    def parts(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        a, b = np.exp(theta)
        value = _log_likelihood(a, b, x, n)
        common = special.digamma(a + b) - special.digamma(n + a + b)
        grad = np.array(
            [
                np.sum(special.digamma(x + a) - special.digamma(a) + common),
                np.sum(special.digamma(n - x + b) - special.digamma(b) + common),
            ]
        )
        shared = np.sum(special.polygamma(1, a + b) - special.polygamma(1, n + a + b))
        hess = np.array(
            [
                [np.sum(special.polygamma(1, x + a)) - len(n) * special.polygamma(1, a) + shared, shared],
                [shared, np.sum(special.polygamma(1, n - x + b)) - len(n) * special.polygamma(1, b) + shared],
            ]
        )
        scale = np.array([a, b])
        # derivatives in θ = (log α, log β)
        return value, grad * scale, hess * np.outer(scale, scale) + np.diag(grad * scale)

    from scipy import optimize  # imported when needed: it is slow to import

    start_strength = strength if math.isfinite(strength) else 100.0 * max(1.0, float(n.mean()))
    fit = optimize.minimize(
        lambda theta: -parts(theta)[0],
        np.log([mean * start_strength, (1 - mean) * start_strength]),
        jac=lambda theta: -parts(theta)[1],
        hess=lambda theta: -parts(theta)[2],
        method="trust-exact",
        options={"gtol": 1e-8, "maxiter": 500},
    )
    # the trust region can stop a hair short of gtol where rounding dominates the gradient
    converged = bool(fit.success) or float(np.max(np.abs(fit.jac))) < 1e-6
    alpha, beta = (float(v) for v in np.exp(fit.x))
    if alpha + beta > 1e10 * max(1.0, float(n.max())):
        return BetaPrior(math.inf, math.inf, float(mean), method, math.nan, converged)
    return BetaPrior(alpha, beta, alpha / (alpha + beta), method, -float(fit.fun), converged)


@dataclass(frozen=True, eq=False)
class Ranking:
    """Domains ranked on empirical-Bayes (beta-binomial) shrunken estimates.

    Attributes
    ----------
    prior : BetaPrior
    level : float
        Level of the posterior intervals.
    table : pandas.DataFrame
        One row per domain (the input's domain columns first), sorted by ``rank``:
        ``estimate`` (p̂), ``n_eff``, ``shrunk`` (posterior mean), ``shrunk_low``,
        ``shrunk_high`` (equal-tailed posterior interval), ``weight`` (n_eff/(n_eff + α + β),
        the share of the domain's own data in ``shrunk``), ``rank`` (1 = most satisfied, on
        ``shrunk``), ``raw_rank`` (on p̂).
    """

    prior: BetaPrior
    level: float
    table: pd.DataFrame = field(repr=False)


def _domain_columns(frame: pd.DataFrame) -> list[str]:
    reserved = {"estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "flag", "df", "kind"}
    return [c for c in frame.columns if c not in reserved]


def _usable(frame: pd.DataFrame, needed: Sequence[str], size: str = "n_eff") -> pd.DataFrame:
    """The rows of one index that hold an estimate (``size`` > 0)."""
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise AnalysisError(f"the table lacks the columns {', '.join(missing)}")
    if "index" in frame.columns and frame["index"].nunique() > 1:
        raise AnalysisError("the table holds several indices: select one (e.g. index == 'SIPAS')")
    estimate = pd.to_numeric(frame["estimate"], errors="coerce")
    count = pd.to_numeric(frame[size], errors="coerce")
    return frame.loc[estimate.notna() & (count > 0)].reset_index(drop=True)


def shrink(
    domains: pd.DataFrame,
    *,
    level: float = 0.95,
    method: str = "marginal-likelihood",
) -> Ranking:
    """Rank domains on beta-binomial shrunken estimates computed on effective counts.

    Parameters
    ----------
    domains : pandas.DataFrame
        One row per domain of one index (e.g. the ``SIPAS`` rows by ``center_code``) with
        ``estimate`` and ``n_eff``; other columns identify the domain. Rows without a valid
        answer (``n_eff`` 0) are left out.
    level : float
        Level of the posterior intervals.
    method : {"marginal-likelihood", "moments"}
        How the prior is fitted (:func:`fit_beta_prior`).

    Returns
    -------
    Ranking

    Notes
    -----
    Domain i contributes x_i = n_eff,i·p̂_i successes out of n_eff,i; its posterior is
    Beta(α + x_i, β + n_eff,i − x_i), whose mean (x_i + α)/(n_eff,i + α + β) is the shrunken
    estimate (a precision-weighted average of p̂_i and the prior mean).
    """
    from scipy import stats

    _check_level(level)
    frame = _usable(domains, ["estimate", "n_eff"])
    p = frame["estimate"].to_numpy(dtype=float)
    n = frame["n_eff"].to_numpy(dtype=float)
    x = n * p
    prior = fit_beta_prior(x, n, method=method)
    out = frame[_domain_columns(frame)].copy()
    out["estimate"] = p
    out["n_eff"] = n
    if math.isinf(prior.alpha):
        shrunk = np.full(len(p), prior.mean)
        low = high = shrunk
        weight = np.zeros(len(p))
    else:
        a, b = prior.alpha + x, prior.beta + n - x
        shrunk = a / (a + b)
        low = special.betaincinv(a, b, (1 - level) / 2)
        high = special.betaincinv(a, b, (1 + level) / 2)
        weight = n / (n + prior.strength)
    out["shrunk"] = shrunk
    out["shrunk_low"] = low
    out["shrunk_high"] = high
    out["weight"] = weight
    out["rank"] = stats.rankdata(-shrunk, method="min").astype(np.int64)
    out["raw_rank"] = stats.rankdata(-p, method="min").astype(np.int64)
    out = out.sort_values(["rank", "raw_rank"], kind="stable").reset_index(drop=True)
    return Ranking(prior=prior, level=level, table=out)


# ---------------------------------------------------------------------- funnel plot


@dataclass(frozen=True, eq=False)
class Funnel:
    """A funnel plot of domains around the overall index (Spiegelhalter 2005).

    Attributes
    ----------
    target : float
        θ₀, the overall index the limits surround.
    phi : float
        φ̂ = Σ z_i²/I over Winsorised standardised residuals.
    phi_used : float
        The factor the limits use: φ̂ where φ̂ > 1 and overdispersion is allowed, else 1.
    overdispersion_p : float
        P(χ²_I > I·φ̂): small values mean more spread than binomial sampling.
    levels : tuple of float
        Two-sided coverage of each pair of limits (e.g. 0.95 and 0.998).
    table : pandas.DataFrame
        One row per domain: the domain columns, ``estimate``, ``n_eff``, ``z`` (standardised
        residual), ``z_adjusted`` (z/sqrt(phi_used)), for each level L (as ``95``, ``99.8``)
        ``low_L``, ``high_L`` and ``outside_L`` (``"below"``, ``"above"`` or ``""``).
    """

    target: float
    phi: float
    phi_used: float
    overdispersion_p: float
    levels: tuple[float, ...]
    table: pd.DataFrame = field(repr=False)

    def limits(self, n_eff: Sequence[float] | np.ndarray) -> pd.DataFrame:
        """The control limits at effective sample sizes ``n_eff`` (for drawing the funnel):
        ``n_eff`` and ``low_L``, ``high_L`` per level."""
        n = np.asarray(n_eff, dtype=float)
        out = pd.DataFrame({"n_eff": n})
        for level in self.levels:
            low, high = _limits(self.target, self.phi_used, n, level)
            name = _level_name(level)
            out[f"low_{name}"] = low
            out[f"high_{name}"] = high
        return out


def _level_name(level: float) -> str:
    return f"{100 * level:.10g}"


def _limits(target: float, phi: float, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(divide="ignore"):
        half = z * np.sqrt(phi * target * (1 - target) / n)
    return np.clip(target - half, 0.0, 1.0), np.clip(target + half, 0.0, 1.0)


def funnel(
    domains: pd.DataFrame,
    *,
    target: float | None = None,
    levels: Sequence[float] = (0.95, 0.998),
    overdispersion: bool = True,
    winsorize: float = 0.1,
) -> Funnel:
    """Funnel-plot control limits and each domain's position (Spiegelhalter 2005).

    Parameters
    ----------
    domains : pandas.DataFrame
        One row per domain of one index with ``estimate`` and ``n_eff``.
    target : float, optional
        θ₀: the overall index (the whole-sample row of the same results). Default: the
        n_eff-weighted mean of the domains' estimates.
    levels : sequence of float
        Two-sided coverage of the limits; 0.95 and 0.998 (≈ 2 and 3 standard errors) by
        default.
    overdispersion : bool
        Widen the limits by sqrt(φ̂) when φ̂ > 1 (multiplicative overdispersion).
    winsorize : float
        Share of z-scores Winsorised in each tail before estimating φ
        (``scipy.stats.mstats.winsorize``); 0.1 as Spiegelhalter recommends.

    Returns
    -------
    Funnel

    Notes
    -----
    z_i = (p̂_i − θ₀)/sqrt(θ₀(1−θ₀)/n_eff,i); φ̂ = I⁻¹ Σ z̃_i² with z̃ Winsorised; limits
    θ₀ ± z_{(1+L)/2}·sqrt(φ·θ₀(1−θ₀)/n_eff), clipped to [0, 1] (the normal approximation,
    which is what an overdispersion factor can widen).
    """
    from scipy import stats

    frame = _usable(domains, ["estimate", "n_eff"])
    p = frame["estimate"].to_numpy(dtype=float)
    n = frame["n_eff"].to_numpy(dtype=float)
    if len(p) < 2:
        raise AnalysisError("a funnel plot needs at least two domains with answers")
    theta = float(np.sum(n * p) / np.sum(n)) if target is None else float(target)
    if not 0 < theta < 1:
        raise AnalysisError(f"the target {theta!r} must be strictly between 0 and 1")
    for level in levels:
        _check_level(level)
    z = (p - theta) / np.sqrt(theta * (1 - theta) / n)
    trimmed = np.asarray(stats.mstats.winsorize(z, limits=(winsorize, winsorize)), dtype=float)
    phi = float(np.mean(trimmed**2))
    phi_used = phi if overdispersion and phi > 1 else 1.0
    out = frame[_domain_columns(frame)].copy()
    out["estimate"] = p
    out["n_eff"] = n
    out["z"] = z
    out["z_adjusted"] = z / math.sqrt(phi_used)
    for level in levels:
        low, high = _limits(theta, phi_used, n, level)
        name = _level_name(level)
        out[f"low_{name}"] = low
        out[f"high_{name}"] = high
        out[f"outside_{name}"] = np.where(p < low, "below", np.where(p > high, "above", ""))
    return Funnel(
        target=theta,
        phi=phi,
        phi_used=phi_used,
        overdispersion_p=float(stats.chi2.sf(len(p) * phi, len(p))),
        levels=tuple(float(level) for level in levels),
        table=out,
    )


# ---------------------------------------------------------------------- flags below a target


@dataclass(frozen=True, eq=False)
class BelowTarget:
    """Domains significantly below a target, with the false discovery rate controlled.

    Attributes
    ----------
    target : float
    fdr : float
        The false discovery rate q of Benjamini–Hochberg.
    table : pandas.DataFrame
        One row per domain: the domain columns, ``estimate``, ``se``, ``n``, ``test``
        (``"normal"``, ``"t"`` or ``"exact"``), ``statistic`` ((p̂ − target)/se; NaN for
        ``exact``), ``p_value`` (one-sided), ``p_adjusted`` (BH-adjusted) and ``flagged``.
    """

    target: float
    fdr: float
    table: pd.DataFrame = field(repr=False)

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows of the flagged domains."""
        return self.table[self.table["flagged"]].reset_index(drop=True)


def below_target(
    domains: pd.DataFrame,
    *,
    target: float = 0.95,
    fdr: float = 0.05,
    distribution: str = "normal",
) -> BelowTarget:
    """Flag domains whose index is significantly below ``target`` (Benjamini–Hochberg).

    Parameters
    ----------
    domains : pandas.DataFrame
        One row per domain of one index with ``estimate``, ``se`` and ``n`` (and ``df`` for
        ``distribution="t"``).
    target : float
        The level every domain should reach (e.g. 0.95).
    fdr : float
        False discovery rate q.
    distribution : {"normal", "t"}
        Reference distribution of (p̂ − target)/se where V̂ > 0.

    Returns
    -------
    BelowTarget

    Notes
    -----
    H₀: p ≥ target against p < target. With V̂ > 0: p-value Φ((p̂ − target)/se) (or the t
    distribution's with the domain's df). With V̂ = 0 (p̂ of 0 or 1, or identical answers) the
    design says nothing about the spread, so the exact binomial probability
    P(X ≤ n·p̂ | n, target) = I_{1−target}(n − n·p̂, n·p̂ + 1) is used with n the domain's valid
    answers (as the Korn–Graubard interval does at V̂ = 0); it is 1 at p̂ = 1. Adjusted
    p-values and decisions come from
    ``statsmodels.stats.multitest.multipletests(p, alpha=fdr, method="fdr_bh")``.
    """
    from statsmodels.stats.multitest import multipletests

    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target!r}")
    if not 0 < fdr < 1:
        raise ValueError(f"fdr must be in (0, 1), got {fdr!r}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}")
    needed = ["estimate", "se", "n", *(["df"] if distribution == "t" else [])]
    frame = _usable(domains, needed, size="n")
    p = frame["estimate"].to_numpy(dtype=float)
    se = frame["se"].to_numpy(dtype=float)
    n = frame["n"].to_numpy(dtype=float)
    exact = ~(se > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(exact, np.nan, (p - target) / se)
    if distribution == "t":
        df = frame["df"].to_numpy(dtype=float)
        tail = special.stdtr(np.maximum(df, 1), statistic)
    else:
        tail = special.ndtr(statistic)
    x = n * p
    with np.errstate(invalid="ignore"):
        binomial = np.where(x >= n, 1.0, special.betainc(np.maximum(n - x, 1e-300), x + 1, 1 - target))
    p_value = np.where(exact, binomial, tail)
    flagged, adjusted, _, _ = multipletests(p_value, alpha=fdr, method="fdr_bh")
    out = frame[_domain_columns(frame)].copy()
    out["estimate"] = p
    out["se"] = se
    out["n"] = n.astype(np.int64)
    out["test"] = np.where(exact, "exact", distribution)
    out["statistic"] = statistic
    out["p_value"] = p_value
    out["p_adjusted"] = adjusted
    out["flagged"] = flagged
    return BelowTarget(target=float(target), fdr=float(fdr), table=out)
