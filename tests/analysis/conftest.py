"""Fixtures for the analysis tests: the R reference data and a stand-in instrument.

The stand-in mirrors the attributes of ``surveys.Instrument`` that :mod:`analysis` reads
(``key``, ``index_definitions``, ``question_codes``, ``demographic_codes``, ``question(code)``),
with index rules over the questions of ``tests/analysis/r/responses.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis import PostStratification, Raking, SurveyDesign, Totals

R_DIR = Path(__file__).resolve().parent / "r"
QUESTIONS = ("HL", "TC", "TC1", "TC2", "TC3", "PA1", "ZR", "AL", "VZ")


@dataclass(frozen=True)
class Definition:
    index: str
    kind: str
    rule: str
    question: str | None
    items: tuple[str, ...] = ()
    valid_values: tuple[str, ...] = ("1", "2", "3", "4", "5")
    satisfied_values: tuple[str, ...] = ("4", "5")


class StandInInstrument:
    """What analysis reads of an instrument, for the R reference questions."""

    def __init__(self, key: str = "test-r@1", *, with_mean_of_items: bool = True) -> None:
        self.key = key
        definitions = [
            Definition("SIPAS", "overall", "question", "HL"),
            Definition("TC", "element", "question", "TC", ("TC1", "TC2", "TC3")),
        ]
        if with_mean_of_items:
            definitions.append(
                Definition("TCM", "element", "mean_of_items", None, ("TC1", "TC2", "TC3"))
            )
        definitions += [
            Definition(code, "item", "question", code) for code in ("TC1", "TC2", "TC3", "PA1", "ZR", "AL", "VZ")
        ]
        self.index_definitions = tuple(definitions)
        self.question_codes = QUESTIONS + ("gender",)
        self.demographic_codes = ("gender",)

    def question(self, code: str) -> SimpleNamespace:
        if code not in QUESTIONS:
            raise KeyError(code)
        values = ("1", "2", "3", "4", "5") + (("9",) if code in ("PA1", "TC3", "AL") else ())
        return SimpleNamespace(code=code, values=values)


def stand_in_loader(key: str) -> StandInInstrument:
    if key not in ("test-r@1", "test-r@2"):
        raise LookupError(f"{key}: unknown instrument")
    return StandInInstrument(key)


@pytest.fixture(scope="session")
def r_data() -> pd.DataFrame:
    data = pd.read_csv(R_DIR / "responses.csv", dtype=str, keep_default_na=False)
    data["center_field"] = data["center_code"] + ":" + data["field_code"]
    return data


def read_totals_file(name: str) -> Totals:
    frame = pd.read_csv(R_DIR / name, dtype=str, keep_default_na=False)
    return Totals.from_frame(frame, source=name)


#: The designs of reference.R, as keyword arguments of SurveyDesign / StatisticsDesign.
def design_specs() -> dict[str, dict]:
    field = read_totals_file("totals_field.csv")
    gender = read_totals_file("totals_gender.csv")
    center_field = read_totals_file("totals_center_field.csv")
    return {
        "srs": {},
        "colw": {"weights": "weight"},
        "strat": {"strata": "center_code"},
        "strat_w": {"strata": "center_code", "weights": "weight"},
        "ps": {"weighting": PostStratification(field)},
        "ps_strat": {"strata": "center_code", "weighting": PostStratification(field)},
        "ps_colw_strat": {
            "strata": "center_code", "weights": "weight", "weighting": PostStratification(field)
        },
        "ps_cf_strat": {"strata": "center_code", "weighting": PostStratification(center_field)},
        "rake": {"weighting": Raking((field, gender))},
        "rake_strat": {"strata": "center_code", "weighting": Raking((field, gender))},
    }


@pytest.fixture(scope="session")
def r_designs(r_data) -> dict[str, SurveyDesign]:
    return {name: SurveyDesign(r_data, **spec) for name, spec in design_specs().items()}


TEXT_COLUMNS = (
    "design", "question", "domain_var", "domain", "kg_source", "items", "response_id",
    "earlier", "later", "commune_code", "term", "missing",
)


def read_reference(name: str) -> pd.DataFrame:
    frame = pd.read_csv(R_DIR / name, dtype=str, keep_default_na=False)
    for column in frame.columns:
        if column in TEXT_COLUMNS:
            continue
        if set(frame[column]) <= {"TRUE", "FALSE"}:
            frame[column] = frame[column] == "TRUE"
            continue
        frame[column] = pd.to_numeric(frame[column].replace("", np.nan))
    return frame


def domain_mask(data: pd.DataFrame, domain_var: str, domain: str) -> np.ndarray | None:
    if domain_var == "":
        return None
    return (data[domain_var] == domain).to_numpy()
