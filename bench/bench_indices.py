"""Time the sufficient-statistics path on a large synthetic export.

Run from the repository root::

    .venv/bin/python bench/bench_indices.py [--rows 1000000] [--centers 500] [--seed 1]

It builds a synthetic responses frame (rows × 22 index questions), then times, separately:
tabulating the sufficient statistics (what the web app does with one GROUP BY), and estimating
every index of the SIPAS 2023 instrument for the whole sample and for every centre × quarter,
under four designs (unweighted; column weights; post-stratified to centre × field; raked to
centre × field and gender), with strata centre × quarter. Results go to stdout; nothing is
written. Randomness comes only from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from analysis import PostStratification, Raking, StatisticsDesign, Totals, sufficient_statistics
from analysis.indices import index_questions, indices_from_statistics

QUESTIONS_BY_ELEMENT = {
    "TC": ("TC1", "TC2", "TC3"),
    "TT": ("TT1", "TT2", "TT3", "TT4"),
    "CC": ("CC1", "CC2", "CC3"),
    "KQ": ("KQ1", "KQ2", "KQ3"),
    "PA": ("PA1", "PA2", "PA3"),
}


class Definition:
    def __init__(self, index, kind, question):
        self.index, self.kind, self.rule, self.question = index, kind, "question", question
        self.items = ()
        self.valid_values = ("1", "2", "3", "4", "5")
        self.satisfied_values = ("4", "5")


def definitions():
    out = [Definition("SIPAS", "overall", "HL")]
    out += [Definition(element, "element", element) for element in QUESTIONS_BY_ELEMENT]
    out += [Definition(q, "item", q) for items in QUESTIONS_BY_ELEMENT.values() for q in items]
    return out


def synthetic(rows: int, centers: int, rng: np.random.Generator) -> pd.DataFrame:
    center_size = rng.pareto(1.5, centers) + 1
    center = rng.choice(centers, rows, p=center_size / center_size.sum())
    frame = pd.DataFrame(
        {
            "center_code": np.char.add("c", center.astype(str)),
            "period": np.char.add("2026-Q", rng.integers(1, 5, rows).astype(str)),
            "field_code": np.char.add("f", rng.integers(0, 10, rows).astype(str)),
            "gender": rng.choice(["male", "female"], rows),
            "weight": rng.gamma(3.0, 1.0, rows),
        }
    )
    quality = rng.beta(8, 2, centers)[center]
    for code in index_questions(definitions()):
        satisfied = rng.random(rows) < quality
        answer = np.where(satisfied, rng.choice(["4", "5"], rows), rng.choice(["1", "2", "3"], rows))
        answer = np.where(rng.random(rows) < 0.04, "", answer)
        if code.startswith("PA"):
            answer = np.where(rng.random(rows) < 0.6, "9", answer)
        frame[code] = answer
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--centers", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    frame = synthetic(args.rows, args.centers, rng)
    print(f"synthetic data: {args.rows} rows, {args.centers} centres, "
          f"{time.perf_counter() - started:.1f} s")

    cells = frame[["center_code", "field_code"]].drop_duplicates().reset_index(drop=True)
    cells["population"] = rng.integers(100, 10_000, len(cells))
    cell_totals = Totals.from_frame(cells)
    gender = pd.DataFrame({"gender": ["female", "male"], "population": [0.45, 0.55]})
    gender["population"] *= cell_totals.total
    gender_totals = Totals.from_frame(gender)
    keys = ["center_code", "period", "field_code", "gender"]
    designs = {
        "none": (None, None),
        "column weights": ("weight", None),
        "poststrat centre x field": (None, PostStratification(cell_totals)),
        "rake centre x field + gender": (None, Raking((cell_totals, gender_totals))),
    }
    for name, (weights, weighting) in designs.items():
        started = time.perf_counter()
        statistics = sufficient_statistics(
            frame, keys=keys, questions=index_questions(definitions()), weights=weights
        )
        tabulated = time.perf_counter()
        design = StatisticsDesign(statistics, strata=["center_code", "period"], weighting=weighting)
        designed = time.perf_counter()
        table = indices_from_statistics(
            statistics, definitions(), by=["center_code", "period"], design=design
        )
        finished = time.perf_counter()
        print(
            f"{name:32s} tabulate {tabulated - started:6.2f} s  design {designed - tabulated:6.2f} s"
            f"  estimate {finished - designed:6.2f} s  ({len(table)} rows, "
            f"{len(statistics.respondents)} groups)"
        )


if __name__ == "__main__":
    main()
