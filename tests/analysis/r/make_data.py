"""Generate the small, deterministic data sets that tests/analysis/r/reference.R runs on.

Run from the repository root (the outputs are committed; rerun only to change the cases):

    .venv/bin/python tests/analysis/r/make_data.py

Cases built in (statistics.md §7):
- strata ``center_code`` C1–C5, C5 holding a single respondent (lonely stratum);
- domains ``commune_code`` with 1 (X1), 2 in one stratum (X2), 2 in two strata (X3, df = 0) and
  many respondents (X4–X6);
- ``ZR``: p̂ = 0 in X4 and p̂ = 1 in X5; ``AL``: p̂ = 1 in the whole sample; ``VZ``: constant
  within each centre, so V̂ = 0 with p̂ strictly inside (0, 1) in the stratified design;
- blanks and ``9`` (not applicable) answers (``PA1`` mostly);
- column weights ``weight``, and totals for post-stratification (field; centre × field) and
  raking (field + gender) that are lopsided against the sample.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20260314


def main() -> None:
    rng = np.random.default_rng(SEED)
    layout = [
        ("C1", "X1", 1), ("C1", "X4", 59),
        ("C2", "X2", 2), ("C2", "X5", 48),
        ("C3", "X3", 1), ("C3", "X6", 29),
        ("C4", "X3", 1), ("C4", "X6", 16),
        ("C5", "X6", 1),
    ]
    rows = []
    for center, commune, count in layout:
        for _ in range(count):
            rows.append({"center_code": center, "commune_code": commune})
    n = len(rows)

    def scale(p_satisfied: float, blank: float = 0.0, not_applicable: float = 0.0) -> str:
        r = rng.random()
        if r < blank:
            return ""
        if r < blank + not_applicable:
            return "9"
        if rng.random() < p_satisfied:
            return str(rng.choice([4, 5]))
        return str(rng.choice([1, 2, 3]))

    vz = {"C1": "5", "C2": "2", "C3": "4", "C4": "1", "C5": ""}
    for i, row in enumerate(rows):
        day = 1 + (i * 7) % 28
        month = 1 + (i * 5) % 12
        hour = (i * 3) % 24
        row["response_id"] = f"R{i + 1:04d}"
        row["submitted_at"] = f"2026-{month:02d}-{day:02d}T{hour:02d}:{(i * 11) % 60:02d}:05+07:00"
        row["instrument"] = "test-r@1"
        row["field_code"] = str(rng.choice(["F1", "F2", "F3"], p=[0.5, 0.3, 0.2]))
        row["gender"] = str(rng.choice(["male", "female"], p=[0.4, 0.6]))
        row["weight"] = f"{rng.gamma(2.0, 50.0) + 1:.3f}"
        row["flags"] = ""
        p_center = {"C1": 0.85, "C2": 0.7, "C3": 0.6, "C4": 0.5, "C5": 0.9}[row["center_code"]]
        row["HL"] = scale(p_center, blank=0.03)
        row["TC"] = scale(p_center - 0.05, blank=0.05)
        row["TC1"] = scale(0.8, blank=0.05)
        row["TC2"] = scale(0.6, blank=0.1)
        row["TC3"] = scale(0.7, blank=0.05, not_applicable=0.05)
        row["PA1"] = scale(0.65, blank=0.1, not_applicable=0.4)
        if row["commune_code"] == "X4":
            row["ZR"] = scale(0.0, blank=0.1)
        elif row["commune_code"] == "X5":
            row["ZR"] = scale(1.0, blank=0.1)
        else:
            row["ZR"] = scale(0.5, blank=0.1)
        row["AL"] = scale(1.0, blank=0.1, not_applicable=0.1)
        row["VZ"] = vz[row["center_code"]]
    columns = [
        "response_id", "submitted_at", "instrument", "center_code", "commune_code", "field_code",
        "gender", "weight", "flags", "HL", "TC", "TC1", "TC2", "TC3", "PA1", "ZR", "AL", "VZ",
    ]
    with open(HERE / "responses.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with open(HERE / "totals_field.csv", "w", newline="", encoding="utf-8") as handle:
        handle.write("field_code,population\nF1,2000\nF2,5000\nF3,3000\n")
    with open(HERE / "totals_gender.csv", "w", newline="", encoding="utf-8") as handle:
        handle.write("gender,population\nfemale,4000\nmale,6000\n")
    cells = sorted({(row["center_code"], row["field_code"]) for row in rows})
    with open(HERE / "totals_center_field.csv", "w", newline="", encoding="utf-8") as handle:
        handle.write("center_code,field_code,population\n")
        for k, (center, field) in enumerate(cells):
            handle.write(f"{center},{field},{150 + 97 * ((k * 7) % 11)}\n")
    print(f"{n} responses written to {HERE / 'responses.csv'}")


if __name__ == "__main__":
    main()
