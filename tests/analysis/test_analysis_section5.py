"""statistics.md §5: change between periods, empirical-Bayes ranking, funnel plots, flags below a
target with the false discovery rate controlled, and key drivers.

Reference numbers come from R's survey 4.1.1 where R computes them
(tests/analysis/r/reference_section5.R: ``svycontrast`` on ``svyby(covmat = TRUE)``,
``p.adjust(method = "BH")``, ``svyglm(family = quasibinomial())``, ``svypredmeans``); the
empirical-Bayes prior, whose likelihood R's survey does not offer, is checked against scipy's
beta-binomial distribution, and the funnel plot against Spiegelhalter's formulas written out here.
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from analysis import (
    SurveyDesign,
    below_target,
    change,
    fit_beta_prior,
    funnel,
    key_drivers,
    period_changes,
    shrink,
    sufficient_statistics,
)
from analysis.sufficient import StatisticsDesign

from .conftest import read_reference

REL_SE = 1e-7
ABS = 1e-9


@pytest.fixture(scope="module")
def quarter_data(r_data):
    data = r_data.copy()
    month = data["submitted_at"].str[5:7].astype(int)
    data["quarter"] = data["submitted_at"].str[:4] + "-Q" + ((month - 1) // 3 + 1).astype(str)
    data["center_quarter"] = data["center_code"] + ":" + data["quarter"]
    return data


def _domain_table(design: StatisticsDesign, question: str, by: str) -> pd.DataFrame:
    labels, columns = design.estimate_columns(question, by=by)
    table = labels.copy()
    for name, values in columns.items():
        table[name] = values
    return table


# ---------------------------------------------------------------- change between periods


@pytest.mark.parametrize("design_name", ["cq", "cq_w"])
def test_change_equals_r_svycontrast(design_name, quarter_data):
    reference = read_reference("reference_change.csv")
    reference = reference[reference.design == design_name]
    assert len(reference) > 20
    statistics = sufficient_statistics(
        quarter_data,
        keys=["center_quarter", "quarter"],
        questions=["HL", "PA1"],
        weights="weight" if design_name == "cq_w" else None,
    )
    design = StatisticsDesign(statistics, strata="center_quarter")
    for (question, domain_var), group in reference.groupby(["question", "domain_var"]):
        table = _domain_table(design, question, domain_var).set_index(domain_var)
        for row in group.itertuples():
            mine = change(table.loc[row.later].to_dict(), table.loc[row.earlier].to_dict())
            where = (design_name, question, row.earlier, row.later)
            assert mine.estimate == pytest.approx(row.estimate, abs=ABS), where
            assert mine.se == pytest.approx(row.se, rel=REL_SE, abs=1e-15), where
            if math.isnan(row.p_value):
                assert math.isnan(mine.p_value) and "se=0" in mine.flag
                continue
            assert mine.ci_low == pytest.approx(row.ci_low, abs=ABS), where
            assert mine.ci_high == pytest.approx(row.ci_high, abs=ABS), where
            assert mine.p_value == pytest.approx(row.p_value, rel=1e-7), where


def test_period_changes_of_a_results_table(quarter_data):
    """The results table's own rows give the same changes, per centre and index."""
    from analysis.indices import indices_from_statistics

    from .conftest import StandInInstrument

    definitions = [d for d in StandInInstrument(with_mean_of_items=False).index_definitions][:2]
    data = quarter_data.assign(period=quarter_data["quarter"])
    statistics = sufficient_statistics(data, keys=["center_code", "period"], questions=["HL", "TC"])
    results = indices_from_statistics(
        statistics, definitions, strata=["center_code", "period"], by=["center_code", "period"]
    )
    changes = period_changes(results, earlier="2026-Q1", later="2026-Q2")
    assert list(changes.columns[:3]) == ["index", "kind", "center_code"]
    assert set(changes["index"]) == {"SIPAS", "TC"}
    row = changes[(changes["index"] == "SIPAS") & (changes["center_code"] == "C1")].iloc[0]
    picked = results.set_index(["index", "center_code", "period"])
    later, earlier = picked.loc[("SIPAS", "C1", "2026-Q2")], picked.loc[("SIPAS", "C1", "2026-Q1")]
    assert row.estimate == pytest.approx(later.estimate - earlier.estimate, abs=1e-15)
    assert row.se == pytest.approx(math.hypot(later.se, earlier.se), rel=1e-15)
    reference = read_reference("reference_change.csv")
    ref = reference[
        (reference.design == "cq") & (reference.question == "HL")
        & (reference.earlier == "C1:2026-Q1") & (reference.later == "C1:2026-Q2")
    ].iloc[0]
    assert row.estimate == pytest.approx(ref.estimate, abs=ABS)
    assert row.se == pytest.approx(ref.se, rel=REL_SE)


def test_change_with_t_uses_welch_satterthwaite():
    later = {"estimate": 0.9, "se": 0.03, "df": 12}
    earlier = {"estimate": 0.8, "se": 0.05, "df": 30}
    mine = change(later, earlier, distribution="t", level=0.9)
    v1, v2 = 0.03**2, 0.05**2
    df = (v1 + v2) ** 2 / (v1**2 / 12 + v2**2 / 30)
    se = math.sqrt(v1 + v2)
    assert mine.df == pytest.approx(df, rel=1e-12)
    assert mine.ci_high - mine.estimate == pytest.approx(stats.t.ppf(0.95, df) * se, rel=1e-12)
    assert mine.p_value == pytest.approx(2 * stats.t.sf(0.1 / se, df), rel=1e-10)
    with pytest.raises(Exception, match="df"):
        change({"estimate": 0.9, "se": 0.03}, earlier, distribution="t")


def test_change_flags_and_is_frozen():
    from analysis import Estimate

    full = Estimate(1.0, 0.0, 0.9, 1.0, 20, 20.0, math.nan, 19, "n_eff<30")
    also_full = Estimate(1.0, 0.0, 0.9, 1.0, 25, 25.0, math.nan, 24, "n_eff<30")
    mine = change(full, also_full)
    assert mine.estimate == 0 and math.isnan(mine.p_value)
    assert mine.flag == "se=0;earlier:n_eff<30;later:n_eff<30"
    with pytest.raises(FrozenInstanceError):
        mine.estimate = 1.0  # type: ignore[misc]


# ---------------------------------------------------------------- below a target (BH)


def test_below_target_equals_r_pnorm_pbinom_and_p_adjust(r_data):
    reference = read_reference("reference_below.csv")
    statistics = sufficient_statistics(
        r_data, keys=["center_code", "commune_code"], questions=["HL", "TC1"], weights="weight"
    )
    design = StatisticsDesign(statistics, strata="center_code")
    for question, group in reference.groupby("question"):
        table = _domain_table(design, question, "commune_code")
        result = below_target(table, target=0.75, fdr=0.05)
        mine = result.table.set_index("commune_code")
        assert set(mine.index) == set(group.commune_code)
        for row in group.itertuples():
            got = mine.loc[row.commune_code]
            assert (got.test == "exact") == bool(row.exact), row
            assert got.p_value == pytest.approx(row.p_value, rel=1e-9, abs=1e-15), row
            assert got.p_adjusted == pytest.approx(row.p_adjusted, rel=1e-9, abs=1e-15), row
            assert got.flagged == (row.p_adjusted <= 0.05)
    assert (reference.exact).any() and (~reference.exact.astype(bool)).any()


def test_below_target_exact_where_no_variance_and_t_option():
    table = pd.DataFrame(
        {
            "center_code": ["a", "b", "c", "d"],
            "estimate": [1.0, 0.0, 0.80, 0.94],
            "se": [0.0, 0.0, 0.04, 0.01],
            "n": [12, 3, 100, 400],
            "df": [11, 2, 99, 399],
        }
    )
    result = below_target(table, target=0.95, fdr=0.1, distribution="t")
    out = result.table.set_index("center_code")
    assert out.loc["a", "p_value"] == 1.0  # 100 % satisfied is never below target
    assert out.loc["b", "p_value"] == pytest.approx(stats.binom.cdf(0, 3, 0.95), rel=1e-12)
    assert out.loc["c", "p_value"] == pytest.approx(stats.t.cdf(-0.15 / 0.04, 99), rel=1e-10)
    assert list(out["test"]) == ["exact", "exact", "t", "t"]
    assert list(result.flagged["center_code"]) == ["b", "c"]


# ---------------------------------------------------------------- empirical Bayes


def _centres(rng: np.random.Generator, count: int = 80, strength: float = 30.0) -> pd.DataFrame:
    n = rng.integers(5, 300, count)
    truth = rng.beta(0.85 * strength, 0.15 * strength, count)
    x = rng.binomial(n, truth)
    return pd.DataFrame(
        {"center_code": [f"c{i:03d}" for i in range(count)], "estimate": x / n, "n_eff": n.astype(float), "x": x}
    )


def test_marginal_likelihood_prior_equals_scipy_beta_binomial_fit():
    rng = np.random.default_rng(5)
    table = _centres(rng)
    x, n = table["x"].to_numpy(), table["n_eff"].to_numpy().astype(int)
    prior = fit_beta_prior(x, n)
    assert prior.converged and prior.method == "marginal-likelihood"

    def negative(theta):
        a, b = np.exp(theta)
        return -stats.betabinom.logpmf(x, n, a, b).sum()

    reference = optimize.minimize(negative, np.log([10.0, 2.0]), method="Nelder-Mead",
                                  options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    a, b = np.exp(reference.x)
    assert prior.alpha == pytest.approx(a, rel=1e-5)
    assert prior.beta == pytest.approx(b, rel=1e-5)
    # the same likelihood up to the binomial coefficients, which do not depend on α, β
    constant = np.sum(stats.binom.logpmf(x, n, 0.5) - (x * np.log(0.5) + (n - x) * np.log(0.5)))
    assert prior.log_likelihood + constant == pytest.approx(-negative(np.log([prior.alpha, prior.beta])), rel=1e-10)
    assert prior.mean == pytest.approx(prior.alpha / (prior.alpha + prior.beta))


def test_moments_prior_by_hand():
    x = np.array([8.0, 45.0, 19.5, 3.0])
    n = np.array([10.0, 50.0, 25.0, 5.0])
    prior = fit_beta_prior(x, n, method="moments")
    total = n.sum()
    mean = x.sum() / total
    spread = np.sum(n * (x / n - mean) ** 2)
    rho = (spread / (mean * (1 - mean)) - 3) / (total - np.sum(n**2) / total - 3)
    assert prior.alpha + prior.beta == pytest.approx(1 / rho - 1, rel=1e-12)
    assert prior.mean == pytest.approx(mean, rel=1e-12)


def test_no_overdispersion_shrinks_everyone_to_the_pooled_level():
    table = pd.DataFrame({"center_code": list("abcd"), "estimate": [0.8, 0.8, 0.8, 0.8], "n_eff": [10.0, 40, 80, 5]})
    for method in ("marginal-likelihood", "moments"):
        ranking = shrink(table, method=method)
        assert math.isinf(ranking.prior.alpha)
        assert np.allclose(ranking.table["shrunk"], 0.8)
        assert (ranking.table["rank"] == 1).all()


def test_shrunken_ranking_posterior_and_order():
    rng = np.random.default_rng(11)
    table = _centres(rng)
    table.loc[0, ["estimate", "n_eff"]] = [1.0, 6.0]  # lucky small centre
    ranking = shrink(table.drop(columns="x"), level=0.9)
    prior = ranking.prior
    out = ranking.table.set_index("center_code")
    n, p = out["n_eff"], out["estimate"]
    a, b = prior.alpha + n * p, prior.beta + n * (1 - p)
    np.testing.assert_allclose(out["shrunk"], a / (a + b), rtol=1e-12)
    np.testing.assert_allclose(out["shrunk_low"], stats.beta.ppf(0.05, a, b), rtol=1e-9)
    np.testing.assert_allclose(out["shrunk_high"], stats.beta.ppf(0.95, a, b), rtol=1e-9)
    np.testing.assert_allclose(out["weight"], n / (n + prior.strength), rtol=1e-12)
    assert out.loc["c000", "raw_rank"] == 1 and out.loc["c000", "rank"] > 1
    assert list(ranking.table["rank"]) == sorted(ranking.table["rank"])
    assert ranking.table["shrunk"].is_monotonic_decreasing
    with pytest.raises(Exception, match="several indices"):
        shrink(pd.DataFrame({"index": ["SIPAS", "TC"], "estimate": [0.9, 0.8], "n_eff": [10.0, 10.0]}))


# ---------------------------------------------------------------- funnel plot


def test_funnel_limits_and_overdispersion_by_hand():
    rng = np.random.default_rng(3)
    table = _centres(rng, count=50, strength=20.0).drop(columns="x")
    target = 0.84
    plot = funnel(table, target=target)
    p, n = table["estimate"].to_numpy(), table["n_eff"].to_numpy()
    z = (p - target) / np.sqrt(target * (1 - target) / n)
    # Winsorise by hand: the 5 lowest (10 % of 50) take the 6th lowest value, likewise on top
    ordered = np.sort(z)
    clipped = np.clip(z, ordered[5], ordered[-6])
    phi = np.mean(clipped**2)
    assert plot.phi == pytest.approx(phi, rel=1e-12)
    assert plot.phi > 1 and plot.phi_used == plot.phi
    assert plot.overdispersion_p == pytest.approx(stats.chi2.sf(50 * phi, 50), rel=1e-9)
    out = plot.table
    np.testing.assert_allclose(out["z"], z, rtol=1e-12)
    half = stats.norm.ppf(0.999) * np.sqrt(phi * target * (1 - target) / n)
    np.testing.assert_allclose(out["low_99.8"], np.clip(target - half, 0, 1), rtol=1e-12)
    np.testing.assert_allclose(out["high_99.8"], np.clip(target + half, 0, 1), rtol=1e-12)
    below = p < np.clip(target - stats.norm.ppf(0.975) * np.sqrt(phi * target * (1 - target) / n), 0, 1)
    assert list(out["outside_95"] == "below") == list(below)
    curve = plot.limits([10, 100, 1000])
    assert list(curve.columns) == ["n_eff", "low_95", "high_95", "low_99.8", "high_99.8"]
    assert curve["low_95"].is_monotonic_increasing and curve["high_95"].is_monotonic_decreasing


def test_funnel_without_overdispersion_keeps_binomial_limits():
    n = np.array([50.0, 80, 120, 200, 400, 60, 90])
    table = pd.DataFrame({"center_code": list("abcdefg"), "estimate": 0.9 + 0.2 / n, "n_eff": n})
    plot = funnel(table, target=0.9)
    assert plot.phi < 1 and plot.phi_used == 1.0
    plain = funnel(table, target=0.9, overdispersion=False)
    assert plain.phi_used == 1.0
    default_target = funnel(table)
    assert default_target.target == pytest.approx(np.sum(n * table["estimate"]) / n.sum())


# ---------------------------------------------------------------- key drivers


@pytest.mark.parametrize("design_name", ["srs", "strat_w", "ps_strat", "rake_strat"])
def test_key_drivers_equal_r_svyglm_and_svypredmeans(design_name, r_designs):
    reference = read_reference("reference_drivers.csv")
    reference = reference[(reference.design == design_name) & (reference.missing == "drop")]
    drivers = key_drivers(r_designs[design_name], ["TC1", "TC2", "TC3"])
    table = drivers.table.set_index("item")
    for row in reference.itertuples():
        assert drivers.coefficients[row.term] == pytest.approx(row.coefficient, rel=1e-7, abs=1e-10)
        se = math.sqrt(drivers.covariance.loc[row.term, row.term])
        assert se == pytest.approx(row.se, rel=REL_SE), (design_name, row.term)
        if row.term != "Intercept":
            assert table.loc[row.term, "coefficient_se"] == pytest.approx(row.se, rel=REL_SE)
            assert table.loc[row.term, "ame"] == pytest.approx(row.ame, abs=ABS)
            assert table.loc[row.term, "ame_se"] == pytest.approx(row.ame_se, rel=REL_SE)
    assert drivers.n == 117  # valid HL, TC1, TC2 and TC3


def test_key_drivers_with_missing_indicators_equal_r(r_designs):
    reference = read_reference("reference_drivers.csv")
    reference = reference[reference.missing == "indicator"]
    drivers = key_drivers(r_designs["strat_w"], ["TC1", "PA1"], missing="indicator")
    assert list(drivers.coefficients.index) == ["Intercept", "TC1", "PA1", "TC1:missing", "PA1:missing"]
    for row in reference.itertuples():
        assert drivers.coefficients[row.term] == pytest.approx(row.coefficient, rel=1e-7, abs=1e-10)
        assert math.sqrt(drivers.covariance.loc[row.term, row.term]) == pytest.approx(row.se, rel=REL_SE)


def test_items_blank_for_the_same_respondents_share_one_missing_indicator(r_data):
    """E.g. every result item is "không áp dụng" when the result is not yet received: identical
    indicator columns would make the model singular, so the later ones are left out."""
    import statsmodels.api as sm

    from analysis.estimators import answer_indicators

    data = r_data.copy()
    pa1_valid = answer_indicators(data["PA1"])[1]
    data["PX"] = np.where(pa1_valid, np.where(answer_indicators(data["TC2"])[1], data["TC2"], "5"), data["PA1"])
    design = SurveyDesign(data, strata="center_code", weights="weight")
    drivers = key_drivers(design, ["TC1", "PA1", "PX"], missing="indicator")
    assert list(drivers.coefficients.index) == ["Intercept", "TC1", "PA1", "PX", "TC1:missing", "PA1:missing"]
    y, used = answer_indicators(data["HL"])
    columns = [np.ones(len(data))]
    columns += [answer_indicators(data[c])[0].astype(float) for c in ("TC1", "PA1", "PX")]
    columns += [(~answer_indicators(data[c])[1]).astype(float) for c in ("TC1", "PA1")]
    x = np.column_stack(columns)[used]
    fit = sm.GLM(y[used].astype(float), x, family=sm.families.Binomial(), var_weights=design.weights[used]).fit(tol=1e-14)
    np.testing.assert_allclose(drivers.coefficients.to_numpy(), fit.params, rtol=1e-7)


def test_key_drivers_single_stratum_is_statsmodels_hc0_times_n_over_n_minus_1(r_data):
    """Without strata or calibration, and with the model's respondents as the whole design, the
    design-based covariance is the HC0 sandwich times n/(n − 1)."""
    import statsmodels.api as sm

    from analysis.estimators import answer_indicators

    complete = np.ones(len(r_data), dtype=bool)
    for code in ("HL", "TC1", "TC2", "TC3"):
        complete &= answer_indicators(r_data[code])[1]
    data = r_data[complete].reset_index(drop=True)
    design = SurveyDesign(data, weights="weight")
    drivers = key_drivers(design, ["TC1", "TC2", "TC3"])
    y = answer_indicators(data["HL"])[0].astype(float)
    x = sm.add_constant(np.column_stack([answer_indicators(data[c])[0] for c in ("TC1", "TC2", "TC3")]).astype(float))
    fit = sm.GLM(y, x, family=sm.families.Binomial(), var_weights=design.weights).fit(cov_type="HC0")
    n = len(data)
    np.testing.assert_allclose(drivers.coefficients.to_numpy(), fit.params, rtol=1e-9)
    np.testing.assert_allclose(drivers.covariance.to_numpy(), fit.cov_params() * n / (n - 1), rtol=1e-7)


def test_key_drivers_table_orders_by_potential_gain(r_designs):
    drivers = key_drivers(r_designs["strat"], ["TC1", "TC2", "TC3", "PA1"], missing="indicator")
    table = drivers.table
    assert list(table["priority"]) == [1, 2, 3, 4]
    assert table["potential_gain"].is_monotonic_decreasing
    np.testing.assert_allclose(table["potential_gain"], table["ame"] * (1 - table["performance"]))
    assert set(table["quadrant"]) <= {"concentrate", "keep_up", "low_priority", "possible_overkill"}
    from analysis import item_index

    tc1 = table.set_index("item").loc["TC1"]
    assert tc1.performance == item_index(r_designs["strat"], "TC1").estimate
    with pytest.raises(FrozenInstanceError):
        drivers.n = 0  # type: ignore[misc]
