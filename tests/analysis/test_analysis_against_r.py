"""Our estimates equal R survey 4.1.1's (tests/analysis/r/reference.R) for every case of
statistics.md §7: no weights, column weights, strata, post-stratification, raking, domains of
1, 2 and many respondents, p̂ of 0 and 1, a single-respondent stratum, blank and "9" answers,
and domain estimation (svyby).

Tolerances: estimates and interval bounds 1e-9 absolute, standard errors 1e-7 relative (or
1e-15 absolute where R's variance is a floating-point zero).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import SurveyDesign, mean_of_item_indices, proportion
from analysis.estimators import answer_indicators
from analysis.sufficient import StatisticsDesign, sufficient_statistics

from .conftest import QUESTIONS, design_specs, domain_mask, read_reference

REFERENCE = read_reference("reference_estimates.csv")
ABS = 1e-9
REL_SE = 1e-7
DESIGNS = sorted(REFERENCE["design"].unique())
METHODS = {"kg": "korn-graubard", "logit": "logit", "wald": "wald"}


def close_se(mine: float, theirs: float) -> bool:
    if theirs < 1e-15:
        return abs(mine - theirs) < 1e-15
    return abs(mine - theirs) <= REL_SE * theirs


def close_abs(mine: float, theirs: float) -> bool:
    if math.isnan(theirs) or math.isnan(mine):
        return math.isnan(theirs) and math.isnan(mine)
    return abs(mine - theirs) <= ABS


def test_reference_covers_statistics_md_section_7():
    ref = REFERENCE
    assert set(DESIGNS) == set(design_specs())
    single = ref[(ref.domain_var == "commune_code") & (ref.domain == "X1")]
    assert (single.n == 1).any()
    assert ((ref.n == 2) & (ref.df == 1)).any()  # two respondents, one stratum
    assert ((ref.n == 2) & (ref.df == 0)).any()  # two respondents, two strata
    assert (ref.n > 100).any()
    assert (ref.estimate == 0).any() and (ref.estimate == 1).any()
    assert ((ref.estimate > 0) & (ref.estimate < 1) & (ref.se < 1e-12)).any()  # V = 0 inside
    assert (ref.kg_source == "svyciprop").any() and (ref.kg_source == "clopper-pearson").any()
    assert (ref.question == "PA1").any()


@pytest.mark.parametrize("design_name", DESIGNS)
def test_per_respondent_estimates_equal_r(design_name, r_data, r_designs):
    design = r_designs[design_name]
    indicators = {q: answer_indicators(r_data[q]) for q in QUESTIONS}
    problems = []
    for row in REFERENCE[REFERENCE.design == design_name].itertuples():
        satisfied, valid = indicators[row.question]
        domain = domain_mask(r_data, row.domain_var, row.domain)
        results = {
            key: proportion(design, satisfied, valid, domain, ci=method)
            for key, method in METHODS.items()
        }
        kg = results["kg"]
        where = f"{row.question} {row.domain_var}={row.domain}"
        if (kg.n, kg.df) != (row.n, row.df):
            problems.append(f"{where}: n, df {kg.n, kg.df} != {row.n, row.df}")
        if not close_abs(kg.estimate, row.estimate):
            problems.append(f"{where}: estimate {kg.estimate!r} != {row.estimate!r}")
        if not close_se(kg.se, row.se):
            problems.append(f"{where}: se {kg.se!r} != {row.se!r}")
        if not math.isclose(kg.n_eff, row.n_eff, rel_tol=1e-12):
            problems.append(f"{where}: n_eff {kg.n_eff!r} != {row.n_eff!r}")
        if row.se > 1e-12 and not (
            (math.isnan(row.deff) and math.isnan(kg.deff))
            or math.isclose(kg.deff, row.deff, rel_tol=REL_SE)
        ):
            problems.append(f"{where}: deff {kg.deff!r} != {row.deff!r}")
        for key, result in results.items():
            for bound in ("low", "high"):
                theirs = getattr(row, f"{key}_{bound}")
                mine = getattr(result, f"ci_{bound}")
                if not close_abs(mine, theirs):
                    problems.append(f"{where}: {key}_{bound} {mine!r} != {theirs!r}")
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("design_name", DESIGNS)
def test_sufficient_statistics_estimates_equal_r(design_name, r_data):
    spec = design_specs()[design_name]
    statistics = sufficient_statistics(
        r_data,
        keys=["center_code", "field_code", "gender", "commune_code", "center_field"],
        questions=QUESTIONS,
        weights=spec.get("weights"),
    )
    design = StatisticsDesign(statistics, strata=spec.get("strata"), weighting=spec.get("weighting"))
    reference = REFERENCE[REFERENCE.design == design_name]
    problems = []
    for (question, domain_var), group in reference.groupby(["question", "domain_var"]):
        labels, estimates = design.estimate(question, by=domain_var or None)
        by_domain = (
            {"": estimates[0]}
            if domain_var == ""
            else dict(zip(labels[domain_var], estimates))
        )
        for row in group.itertuples():
            mine = by_domain[row.domain]
            where = f"{question} {domain_var}={row.domain}"
            if (mine.n, mine.df) != (row.n, row.df):
                problems.append(f"{where}: n, df")
            if not close_abs(mine.estimate, row.estimate):
                problems.append(f"{where}: estimate {mine.estimate!r} != {row.estimate!r}")
            if not close_se(mine.se, row.se):
                problems.append(f"{where}: se {mine.se!r} != {row.se!r}")
            if not (close_abs(mine.ci_low, row.kg_low) and close_abs(mine.ci_high, row.kg_high)):
                problems.append(f"{where}: kg interval")
    assert not problems, "\n".join(problems[:20])


def test_calibrated_weights_equal_r(r_designs):
    weights = read_reference("reference_weights.csv")
    for name, group in weights.groupby("design"):
        mine = r_designs[name].weights
        theirs = group["weight"].to_numpy()
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=0, err_msg=name)


def test_mean_of_items_equals_r_svycontrast(r_data, r_designs):
    reference = read_reference("reference_mean_of_items.csv")
    assert len(reference) > 20
    for row in reference.itertuples():
        domain = domain_mask(r_data, row.domain_var, row.domain)
        mine = mean_of_item_indices(r_designs[row.design], row.items.split(";"), domain=domain)
        assert mine.estimate == pytest.approx(row.estimate, abs=ABS), (row.design, row.domain)
        assert close_se(mine.se, row.se), (row.design, row.domain, mine.se, row.se)


def test_domain_estimates_equal_r_svyby(r_data, r_designs):
    reference = read_reference("reference_svyby.csv")
    subsets = REFERENCE.set_index(["design", "question", "domain_var", "domain"])
    for row in reference.itertuples():
        satisfied, valid = answer_indicators(r_data[row.question])
        domain = domain_mask(r_data, row.domain_var, row.domain)
        mine = proportion(r_designs[row.design], satisfied, valid, domain)
        assert mine.estimate == pytest.approx(row.estimate, abs=ABS)
        assert close_se(mine.se, row.se), (row, mine)
        # svyby and one subset per domain are the same estimator in R too
        same = subsets.loc[(row.design, row.question, row.domain_var, row.domain)]
        assert same.estimate == pytest.approx(row.estimate, abs=1e-12)


def test_single_stratum_variance_equals_statsmodels_hc1(r_data):
    """statistics.md §2: with one stratum, V̂ = n/(n−1)·Σδw²(y−p̂)²/B², which is statsmodels'
    WLS of y on a constant with weights w·δ over all rows and an HC1 covariance."""
    import statsmodels.api as sm

    design = SurveyDesign(r_data, weights="weight")
    satisfied, valid = answer_indicators(r_data["PA1"])
    domain = (r_data["commune_code"] == "X4").to_numpy()
    mine = proportion(design, satisfied, valid, domain)
    delta = valid & domain
    fit = sm.WLS(
        satisfied.astype(float), np.ones(len(r_data)), weights=design.weights * delta
    ).fit(cov_type="HC1")
    assert mine.estimate == pytest.approx(fit.params[0], abs=1e-12)
    assert mine.se == pytest.approx(fit.bse[0], rel=1e-10)
