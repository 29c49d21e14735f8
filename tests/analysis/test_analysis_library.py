"""Unit tests of the library: intervals and flags, weighting, the sufficient-statistics path on
random data, index rows, periods, and the package's purity."""

from __future__ import annotations

import ast
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis import (
    AnalysisError,
    DataError,
    PostStratification,
    Raking,
    StatisticsDesign,
    SurveyDesign,
    Totals,
    WeightingError,
    item_index,
    mean_of_item_indices,
    proportion,
    sufficient_statistics,
)
from analysis.indices import compute_indices, indices_from_statistics, result_columns
from analysis.intervals import clopper_pearson, korn_graubard, logit_interval, make_estimate, wald_interval
from analysis.periods import period_labels

from .conftest import Definition, StandInInstrument

PACKAGE = Path(analysis.__file__).resolve().parent


# ---------------------------------------------------------------- intervals and flags


def test_clopper_pearson_known_values():
    # binom.test(3, 10)$conf.int in R
    low, high = clopper_pearson(3, 10)
    assert low == pytest.approx(0.06673951117773447, abs=1e-12)
    assert high == pytest.approx(0.6524528500599972, abs=1e-12)
    assert clopper_pearson(0, 5) == (0.0, pytest.approx(0.5218237501049774, abs=1e-12))
    assert clopper_pearson(5, 5) == (pytest.approx(0.4781762498950226, abs=1e-12), 1.0)


def test_zero_variance_uses_exact_clopper_pearson():
    n = 40
    for p in (0.0, 1.0, 0.25):
        for variance in (0.0, 1e-35, -1e-20, 1e-9 * 0.25 * 0.75 / (n - 1) * 0.5):
            estimate = make_estimate(p=p, variance=variance, n=n, n_eff=n, df=35)
            assert (estimate.ci_low, estimate.ci_high) == pytest.approx(clopper_pearson(n * p, n))
            assert estimate.se == 0.0
    assert math.isnan(make_estimate(p=1.0, variance=0.0, n=n, n_eff=n, df=3).deff)
    assert make_estimate(p=0.25, variance=0.0, n=n, n_eff=n, df=3).deff == 0.0


def test_df_zero_blanks_every_interval_and_flags():
    for ci in ("korn-graubard", "logit", "wald"):
        estimate = make_estimate(p=0.5, variance=0.01, n=2, n_eff=2.0, df=0, ci=ci)
        assert math.isnan(estimate.ci_low) and math.isnan(estimate.ci_high)
        assert "df=0" in estimate.flags


def test_logit_blank_at_the_edges_and_wald_clipped():
    assert all(math.isnan(x) for x in logit_interval(1.0, 0.0, 10, 9))
    assert all(math.isnan(x) for x in logit_interval(0.0, 0.0, 10, 9))
    low, high = wald_interval(0.97, 0.03**2, 30, 29)
    assert high == 1.0 and low == pytest.approx(0.97 - 1.959963984540054 * 0.03)
    low, high = korn_graubard(0.97, 0.03**2, 30, 29)
    assert 0 < low < 0.97 < high < 1


def test_flags():
    reliable = make_estimate(p=0.8, variance=0.0004, n=400, n_eff=380.0, df=390)
    assert reliable.flag == "" and reliable.reliable
    small = make_estimate(p=0.8, variance=0.02, n=12, n_eff=11.0, df=10, lonely=True)
    assert small.flags == ("n_eff<30", "ci_width>0.30", "n_h=1")
    wide = make_estimate(p=0.5, variance=0.01, n=40, n_eff=35.0, df=38, ci="wald")
    assert wide.flags == ("ci_width>0.30",)  # judged on Korn-Graubard whatever the method
    empty = make_estimate(p=math.nan, variance=math.nan, n=0, n_eff=0.0, df=0)
    assert empty.flag == "n=0" and math.isnan(empty.estimate)
    with pytest.raises(ValueError):
        make_estimate(p=0.5, variance=0.01, n=10, n_eff=10.0, df=9, ci="exact")
    with pytest.raises(ValueError):
        make_estimate(p=0.5, variance=0.01, n=10, n_eff=10.0, df=9, level=95)


def test_estimate_is_frozen():
    estimate = make_estimate(p=0.8, variance=0.0004, n=400, n_eff=380.0, df=390)
    with pytest.raises(AttributeError):
        estimate.estimate = 0.5  # type: ignore[misc]
    assert estimate.variance == pytest.approx(0.0004)
    assert set(estimate.as_dict()) == {
        "estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "df", "flag"
    }


# ---------------------------------------------------------------- random data


def random_responses(rng: np.random.Generator, n: int = 3000) -> pd.DataFrame:
    centers = np.array([f"c{i:02d}" for i in range(25)])
    center = centers[np.minimum(rng.geometric(0.12, n) - 1, 24)]
    frame = pd.DataFrame(
        {
            "center_code": center,
            "field_code": rng.choice(["land", "civil", "business", "justice"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "gender": rng.choice(["male", "female"], n),
            "period": rng.choice(["2026-Q1", "2026-Q2", "2026-Q3"], n),
            "weight": rng.gamma(3.0, 1.0, n),
        }
    )
    frame.loc[0, "center_code"] = "solo"  # a stratum with one respondent
    for question, p in (("HL", 0.85), ("TC", 0.7), ("PA", 0.6)):
        answers = np.where(rng.random(n) < p, rng.choice(["4", "5"], n), rng.choice(["1", "2", "3"], n))
        answers = np.where(rng.random(n) < 0.05, "", answers)
        if question == "PA":
            answers = np.where(rng.random(n) < 0.5, "9", answers)
        frame[question] = answers
    return frame


def totals_for(frame: pd.DataFrame, keys: list[str], rng: np.random.Generator) -> Totals:
    cells = frame[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    cells["population"] = rng.integers(50, 5000, len(cells)).astype(str)
    return Totals.from_frame(cells)


@pytest.fixture(scope="module")
def random_data():
    rng = np.random.default_rng(20260701)
    frame = random_responses(rng)
    specs = {
        "none": {},
        "strata": {"strata": ["center_code", "period"]},
        "weights": {"strata": "center_code", "weights": "weight"},
        "poststrat": {
            "strata": "center_code",
            "weighting": PostStratification(totals_for(frame, ["center_code", "field_code"], rng)),
        },
        "poststrat_weights": {
            "strata": "period",
            "weights": "weight",
            "weighting": PostStratification(totals_for(frame, ["field_code"], rng)),
        },
    }
    field = totals_for(frame, ["field_code"], rng)
    gender = frame[["gender"]].drop_duplicates().sort_values("gender").reset_index(drop=True)
    share = rng.uniform(0.3, 0.7)
    total = field.total
    gender["population"] = [share * total, (1 - share) * total]
    period = frame[["period"]].drop_duplicates().sort_values("period").reset_index(drop=True)
    period["population"] = [total / 2, total / 3, total / 6]
    specs["rake"] = {
        "strata": "center_code",
        "weighting": Raking((field, Totals.from_frame(gender), Totals.from_frame(period))),
    }
    specs["rake_weights"] = {
        "strata": "period",
        "weights": "weight",
        "weighting": Raking((field, Totals.from_frame(gender))),
    }
    return frame, specs


@pytest.mark.parametrize(
    "name", ["none", "strata", "weights", "poststrat", "poststrat_weights", "rake", "rake_weights"]
)
def test_sufficient_statistics_equal_per_respondent(name, random_data):
    frame, specs = random_data
    spec = specs[name]
    design = SurveyDesign(frame, **spec)
    statistics = sufficient_statistics(
        frame,
        keys=["center_code", "field_code", "gender", "period"],
        questions=["HL", "TC", "PA"],
        weights=spec.get("weights"),
    )
    fast = StatisticsDesign(statistics, strata=spec.get("strata"), weighting=spec.get("weighting"))
    keys = ["center_code", "field_code", "gender", "period"]
    per_group = pd.Series(design.weights).groupby([frame[k].to_numpy() for k in keys]).sum()
    np.testing.assert_allclose(fast.weights, per_group.to_numpy(), rtol=1e-12)  # same sort order
    for question in ("HL", "PA"):
        for by in ((), ("center_code",), ("field_code", "period")):
            labels, estimates = fast.estimate(question, by=by)
            for i, estimate in enumerate(estimates):
                domain = np.ones(len(frame), dtype=bool)
                for column in by:
                    domain &= (frame[column] == labels[column].iloc[i]).to_numpy()
                expected = item_index(design, question, domain=domain)
                assert (estimate.n, estimate.df, estimate.flag) == (expected.n, expected.df, expected.flag)
                for field in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
                    mine, reference = getattr(estimate, field), getattr(expected, field)
                    if math.isnan(reference):
                        assert math.isnan(mine)
                    else:
                        assert mine == pytest.approx(reference, rel=1e-10, abs=1e-14), (field, by, i)


def test_sufficient_statistics_tables(random_data):
    frame, _ = random_data
    statistics = sufficient_statistics(
        frame, keys="center_code", questions=["HL", "PA"], weights="weight"
    )
    assert list(statistics.respondents.columns) == ["center_code", "count", "sum_w", "sum_w2"]
    assert list(statistics.answers.columns) == [
        "center_code", "question", "answer", "count", "sum_w", "sum_w2"
    ]
    assert statistics.respondents["count"].sum() == len(frame)
    assert statistics.respondents["sum_w2"].sum() == pytest.approx((frame.weight**2).sum())
    assert "" not in set(statistics.answers["answer"])  # blanks are not tabulated
    pa9 = statistics.answers.query("question == 'PA' and answer == '9'")["count"].sum()
    assert pa9 == (frame.PA == "9").sum()
    whole = sufficient_statistics(frame, keys=None, questions=["HL"])
    assert len(whole.respondents) == 1 and whole.respondents["count"].iloc[0] == len(frame)
    labels, (estimate,) = StatisticsDesign(whole).estimate("HL")
    assert estimate.estimate == pytest.approx(
        (frame.HL.isin(["4", "5"])).sum() / frame.HL.isin(list("12345")).sum()
    )


def test_statistics_tables_from_sql_shaped_frames():
    """The web app passes tables it built itself; only the documented columns matter."""
    respondents = pd.DataFrame(
        {"center_code": ["a", "b"], "count": [3, 2], "sum_w": [3.0, 2.0], "sum_w2": [3.0, 2.0]}
    )
    answers = pd.DataFrame(
        {
            "center_code": ["a", "a", "b", "b"],
            "question": ["HL"] * 4,
            "answer": ["5", "2", "4", "9"],
            "count": [2, 1, 1, 1],
            "sum_w": [2.0, 1.0, 1.0, 1.0],
            "sum_w2": [2.0, 1.0, 1.0, 1.0],
        }
    )
    statistics = analysis.SufficientStatistics(("center_code",), respondents, answers)
    table = indices_from_statistics(
        statistics, [Definition("SIPAS", "overall", "question", "HL")], strata="center_code", by="center_code"
    )
    assert list(table.columns) == result_columns(["center_code"])
    assert list(table.center_code) == ["", "a", "b"]
    assert list(table.n) == [4, 3, 1]
    assert table.estimate.iloc[0] == pytest.approx(0.75)
    data = pd.DataFrame({"center_code": list("aaabb"), "HL": ["5", "5", "2", "4", "9"]})
    direct = compute_indices(
        data, [Definition("SIPAS", "overall", "question", "HL")], strata="center_code", by="center_code"
    )
    pd.testing.assert_frame_equal(direct, table)
    with pytest.raises(AnalysisError):
        analysis.SufficientStatistics(("center_code",), respondents.drop(columns="sum_w2"), answers)
    stray = answers.assign(center_code=["a", "a", "b", "z"])
    with pytest.raises(AnalysisError, match="absent from the respondents"):
        StatisticsDesign(analysis.SufficientStatistics(("center_code",), respondents, stray))
    broken = respondents.assign(sum_w=[3.0, np.nan])
    with pytest.raises(AnalysisError, match="finite"):
        StatisticsDesign(analysis.SufficientStatistics(("center_code",), broken, answers))
    with pytest.raises(DataError, match="weight"):
        sufficient_statistics(data, keys="center_code", questions=["HL"], weights=[1, 1, 0, 1, 1])


# ---------------------------------------------------------------- weighting


def test_weighting_errors_name_the_cell():
    data = pd.DataFrame({"field_code": ["a", "a", "b"], "HL": ["5", "4", "1"]})
    rows = [10, 11, 12]
    missing = Totals.from_frame(pd.DataFrame({"field_code": ["a"], "population": ["5"]}), source="t.csv")
    with pytest.raises(WeightingError, match=r"x.csv: row 12, column field_code: cell field_code=b has responses but no total"):
        SurveyDesign(data, weighting=PostStratification(missing), source="x.csv", rows=rows)
    extra = Totals.from_frame(
        pd.DataFrame({"field_code": ["a", "b", "c"], "population": ["5", "6", "7"]}), source="t.csv"
    )
    with pytest.raises(WeightingError, match=r"t.csv: row 4, column field_code: cell field_code=c has a total but no responses"):
        SurveyDesign(data, weighting=PostStratification(extra))
    zero_ok = Totals.from_frame(pd.DataFrame({"field_code": ["a", "b", "c"], "population": ["5", "6", "0"]}))
    design = SurveyDesign(data, weighting=PostStratification(zero_ok))
    np.testing.assert_allclose(design.weights, [2.5, 2.5, 6.0])
    zero_bad = Totals.from_frame(pd.DataFrame({"field_code": ["a", "b"], "population": ["5", "0"]}))
    with pytest.raises(WeightingError, match="total of 0"):
        SurveyDesign(data, weighting=PostStratification(zero_bad))
    with pytest.raises(DataError, match="appears twice"):
        Totals.from_frame(pd.DataFrame({"field_code": ["a", "a"], "population": ["1", "2"]}))
    with pytest.raises(DataError, match="population"):
        Totals.from_frame(pd.DataFrame({"field_code": ["a"]}))
    with pytest.raises(DataError, match="key column"):
        Totals.from_frame(pd.DataFrame({"population": ["1"]}))


def test_raking_meets_margins_and_is_start_invariant(random_data):
    frame, specs = random_data
    raking = specs["rake"]["weighting"]
    design = SurveyDesign(frame, weighting=raking)
    for margin in raking.margins:
        (key,) = margin.keys
        achieved = pd.Series(design.weights).groupby(frame[key].to_numpy()).sum()
        expected = margin.table.set_index(key)["population"]
        np.testing.assert_allclose(achieved[expected.index], expected, rtol=1e-12)
    scaled = SurveyDesign(frame, weights=np.full(len(frame), 7.5), weighting=raking)
    np.testing.assert_allclose(scaled.weights, design.weights, rtol=1e-10)
    a = item_index(design, "HL", domain=(frame.center_code == "c01").to_numpy())
    b = item_index(scaled, "HL", domain=(frame.center_code == "c01").to_numpy())
    assert a.se == pytest.approx(b.se, rel=1e-9)


def test_raking_failures():
    data = pd.DataFrame({"a": ["x", "x", "y"], "b": ["u", "v", "v"]})
    ta = Totals.from_frame(pd.DataFrame({"a": ["x", "y"], "population": [10, 20]}))
    tb = Totals.from_frame(pd.DataFrame({"b": ["u", "v"], "population": [10, 21]}), source="b.csv")
    with pytest.raises(WeightingError, match="b.csv.*disagree"):
        SurveyDesign(data, weighting=Raking((ta, tb)))
    # y only with v, and v's total below y's: no positive weights meet both margins
    tb = Totals.from_frame(pd.DataFrame({"b": ["u", "v"], "population": [25, 5]}))
    with pytest.raises(WeightingError, match="did not converge"):
        SurveyDesign(data, weighting=Raking((ta, tb), max_iterations=200))
    with pytest.raises(ValueError):
        Raking(())
    with pytest.raises(ValueError):
        Raking((ta,), trim=(2.0, 3.0))


def test_trimming_caps_weights_and_re_rakes(random_data):
    frame, specs = random_data
    raking = specs["rake"]["weighting"]
    free = SurveyDesign(frame, weighting=raking)
    start = raking.margins[0].total / len(frame)
    assert free.weights.max() / start > 5 and free.weights.min() / start < 0.15
    trimmed = SurveyDesign(frame, weighting=Raking(raking.margins, trim=(0.15, 5.0)))
    assert trimmed.weights.max() / start <= 5.0 * (1 + 1e-12)
    assert trimmed.weights.min() / start >= 0.15 * (1 - 1e-12)
    (key,) = raking.margins[0].keys
    achieved = pd.Series(trimmed.weights).groupby(frame[key].to_numpy()).sum()
    expected = raking.margins[0].table.set_index(key)["population"]
    np.testing.assert_allclose(achieved[expected.index], expected, rtol=1e-10)
    with pytest.raises(WeightingError, match="within the trimming bounds"):
        SurveyDesign(frame, weighting=Raking(raking.margins, trim=(0.99, 1.01), max_iterations=500))


# ---------------------------------------------------------------- designs and estimators


def test_design_validation():
    data = pd.DataFrame({"s": ["a", "b"], "w": ["1.5", "x"], "HL": ["5", "4"]})
    with pytest.raises(DataError, match="row 3, column w"):
        SurveyDesign(data, weights="w", source="f.csv")
    with pytest.raises(DataError, match="column nope"):
        SurveyDesign(data, strata="nope")
    design = SurveyDesign(data, strata="s")
    assert list(design.stratum_sizes) == [1, 1] and design.lonely_strata.all()
    with pytest.raises(ValueError):
        proportion(design, [True])


def test_lonely_stratum_contributes_uncentred_square():
    data = pd.DataFrame({"s": ["a", "a", "a", "b"], "HL": ["5", "1", "4", "5"]})
    estimate = item_index(SurveyDesign(data, strata="s"), "HL")
    p = 3 / 4
    z = np.array([1 - p, -p, 1 - p, 1 - p]) / 4
    expected = 3 / 2 * np.sum((z[:3] - z[:3].mean()) ** 2) + z[3] ** 2
    assert estimate.se**2 == pytest.approx(expected)
    assert "n_h=1" in estimate.flags


def test_mean_of_items_skips_items_nobody_answered():
    data = pd.DataFrame({"A": ["5", "1", "4", "5"], "B": ["", "9", "", ""], "C": ["4", "4", "2", ""]})
    design = SurveyDesign(data)
    both = mean_of_item_indices(design, ["A", "B", "C"])
    assert both.estimate == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert both.n == 4
    nobody = mean_of_item_indices(design, ["B"])
    assert nobody.n == 0 and nobody.flag == "n=0"


# ---------------------------------------------------------------- index rows


def test_index_rows_order_domains_and_rules(r_data):
    instrument = StandInInstrument()
    table = compute_indices(r_data, instrument.index_definitions, strata="center_code", by=["gender"])
    assert list(table.columns) == result_columns(["gender"])
    n_definitions = len(instrument.index_definitions)
    assert len(table) == 3 * n_definitions
    assert list(table["index"][:n_definitions]) == [d.index for d in instrument.index_definitions]
    assert list(table.gender) == [""] * n_definitions + ["female"] * n_definitions + ["male"] * n_definitions
    assert table.n.dtype == np.int64
    statistics = sufficient_statistics(r_data, keys=["center_code", "gender"], questions=["HL"])
    with pytest.raises(AnalysisError, match="mean_of_items"):
        indices_from_statistics(statistics, instrument.index_definitions, by="gender")
    with pytest.raises(AnalysisError, match="unknown rule"):
        compute_indices(r_data, [Definition("X", "item", "median", "HL")])


def test_blank_domain_values_only_in_whole_sample_rows(r_data):
    data = r_data.copy()
    data.loc[:9, "gender"] = ""
    table = compute_indices(data, StandInInstrument().index_definitions, by="gender")
    assert set(table.gender) == {"", "female", "male"}
    whole = table[(table.gender == "") & (table["index"] == "SIPAS")].iloc[0]
    assert whole.n == data.HL.isin(list("12345")).sum()
    assert len(table) == 3 * len(StandInInstrument().index_definitions)


def test_period_labels_in_vietnam_time():
    stamps = pd.Series(
        ["2026-03-31T17:30:00Z", "2026-06-30T23:59:59+07:00", "2025-12-31T18:00:00+01:00"]
    )
    assert list(period_labels(stamps, "month")) == ["2026-04", "2026-06", "2026-01"]
    assert list(period_labels(stamps, "quarter")) == ["2026-Q2", "2026-Q2", "2026-Q1"]
    assert list(period_labels(stamps, "year")) == ["2026", "2026", "2026"]
    with pytest.raises(DataError, match="row 3, column submitted_at"):
        period_labels(pd.Series(["2026-01-01T00:00:00+07:00", "2026-01-01T00:00:00"]), "year")
    with pytest.raises(ValueError):
        period_labels(stamps, "week")


# ---------------------------------------------------------------- purity


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_analysis_never_imports_the_web_stack():
    forbidden = {"flask", "sqlalchemy", "app", "flask_sqlalchemy", "flask_migrate", "alembic"}
    allowed_roots = {"numpy", "pandas", "scipy", "statsmodels", "openpyxl", "analysis", "surveys"}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                assert root not in forbidden, f"{path.name} imports {name}"
                if root not in allowed_roots:
                    assert root in __import__("sys").stdlib_module_names, f"{path.name} imports {name}"


def test_library_never_prints_logs_or_draws_global_randomness():
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "print":
                    # only the command line writes (its one-line error to stderr)
                    assert path.name == "cli.py", f"{path.name} prints"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert "logging" not in names and "random" not in names, path.name
            if isinstance(node, ast.Attribute) and node.attr in {"seed", "default_rng", "rand", "randn"}:
                raise AssertionError(f"{path.name} uses global or fresh randomness: {node.attr}")


def test_public_api_is_documented():
    for name in analysis.__all__:
        obj = getattr(analysis, name)
        assert obj.__doc__ and obj.__doc__.strip(), name
