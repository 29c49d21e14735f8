"""``python -m analysis indices`` (interfaces.md §3): outputs, numbers, and one-line errors."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main

from .conftest import R_DIR, read_reference, stand_in_loader

REFERENCE = read_reference("reference_estimates.csv")
RESULT_HEAD = ["index", "kind"]
RESULT_TAIL = ["estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "flag"]
REPO = Path(__file__).resolve().parents[2]


def run(argv, capsys) -> tuple[int, str]:
    status = main(["indices", *(str(a) for a in argv)], load_instrument=stand_in_loader)
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err


def responses_frame() -> pd.DataFrame:
    return pd.read_csv(R_DIR / "responses.csv", dtype=str, keep_default_na=False)


def write_frame(frame: pd.DataFrame, path: Path, *, bom: bool = False) -> Path:
    path.write_text(("\ufeff" if bom else "") + frame.to_csv(index=False), encoding="utf-8")
    return path


def read_results_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode("utf-8")), "CSV output starts with a UTF-8 BOM"
    frame = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for column in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
        frame[column] = pd.to_numeric(frame[column].replace("", np.nan))
    frame["n"] = frame["n"].astype(int)
    return frame


def reference_row(design, question, domain_var="", domain=""):
    hit = REFERENCE[
        (REFERENCE.design == design)
        & (REFERENCE.question == question)
        & (REFERENCE.domain_var == domain_var)
        & (REFERENCE.domain == domain)
    ]
    assert len(hit) == 1
    return hit.iloc[0]


def assert_matches_r(row, ref, method="kg"):
    assert row["n"] == ref.n
    assert row["estimate"] == pytest.approx(ref.estimate, abs=1e-9)
    assert row["se"] == pytest.approx(ref.se, rel=1e-7, abs=1e-15)
    for bound in ("low", "high"):
        theirs = ref[f"{method}_{bound}"]
        mine = row[f"ci_{bound}"]
        if math.isnan(theirs):
            assert math.isnan(mine)
        else:
            assert mine == pytest.approx(theirs, abs=1e-9)


# ---------------------------------------------------------------- outputs and numbers


def test_csv_output_equals_r_for_stratified_domains(tmp_path, capsys):
    out = tmp_path / "results.csv"
    status, err = run(
        [R_DIR / "responses.csv", "--out", out, "--strata", "center_code", "--by", "commune_code"],
        capsys,
    )
    assert (status, err) == (0, "")
    results = read_results_csv(out)
    assert list(results.columns) == RESULT_HEAD + ["commune_code"] + RESULT_TAIL
    whole = results[results.commune_code == ""]
    assert list(whole["index"]) == ["SIPAS", "TC", "TCM", "TC1", "TC2", "TC3", "PA1", "ZR", "AL", "VZ"]
    assert list(whole["kind"]) == ["overall", "element", "element"] + ["item"] * 7
    assert list(results["commune_code"].iloc[:10]) == [""] * 10  # whole sample first
    assert list(dict.fromkeys(results.commune_code[10:])) == ["X1", "X2", "X3", "X4", "X5", "X6"]
    questions = {"SIPAS": "HL", "TC": "TC"}
    for row in results.to_dict("records"):
        if row["index"] == "TCM":
            continue
        question = questions.get(row["index"], row["index"])
        var = "commune_code" if row["commune_code"] else ""
        assert_matches_r(row, reference_row("strat", question, var, row["commune_code"]))
    mean_of_items = read_reference("reference_mean_of_items.csv")
    ref = mean_of_items[(mean_of_items.design == "strat") & (mean_of_items.domain == "X4")].iloc[0]
    tcm = results[(results.commune_code == "X4") & (results["index"] == "TCM")].iloc[0]
    assert tcm.estimate == pytest.approx(ref.estimate, abs=1e-9)
    assert tcm.se == pytest.approx(ref.se, rel=1e-7)
    one = results[(results.commune_code == "X1") & (results["index"] == "SIPAS")].iloc[0]
    assert math.isnan(one.ci_low) and "df=0" in one.flag and "n_eff<30" in one.flag
    lonely = results[(results.commune_code == "") & (results["index"] == "SIPAS")].iloc[0]
    assert "n_h=1" in lonely.flag  # C5's single respondent answered HL


@pytest.mark.parametrize(
    ("weighting", "totals", "design", "ci", "method"),
    [
        ("none", [], "strat", "logit", "logit"),
        ("column", [], "strat_w", "wald", "wald"),
        ("poststrat", ["totals_field.csv"], "ps_strat", "korn-graubard", "kg"),
        ("rake", ["totals_field.csv", "totals_gender.csv"], "rake_strat", "korn-graubard", "kg"),
    ],
)
def test_weighting_options_equal_r(tmp_path, capsys, weighting, totals, design, ci, method):
    out = tmp_path / "results.csv"
    argv = [R_DIR / "responses.csv", "--out", out, "--weighting", weighting, "--ci", ci]
    argv += ["--strata", "center_code", "--by", "commune_code"]
    for name in totals:
        argv += ["--totals", R_DIR / name]
    status, err = run(argv, capsys)
    assert (status, err) == (0, "")
    results = read_results_csv(out)
    for row in results[results["index"].isin(["SIPAS", "PA1", "ZR"])].to_dict("records"):
        question = "HL" if row["index"] == "SIPAS" else row["index"]
        var = "commune_code" if row["commune_code"] else ""
        assert_matches_r(row, reference_row(design, question, var, row["commune_code"]), method)


def test_json_output_has_meta_and_the_same_rows(tmp_path, capsys):
    csv_out, json_out = tmp_path / "r.csv", tmp_path / "r.json"
    common = ["--strata", "center_code", "--by", "field_code", "--level", "0.9"]
    assert run([R_DIR / "responses.csv", "--out", csv_out, *common], capsys)[0] == 0
    assert run([R_DIR / "responses.csv", "--out", json_out, *common], capsys)[0] == 0
    document = json.loads(json_out.read_text(encoding="utf-8"))
    meta = document["meta"]
    expected_hash = hashlib.sha256((R_DIR / "responses.csv").read_bytes()).hexdigest()
    assert meta["input_sha256"] == expected_hash
    assert meta["instrument"] == "test-r@1"
    assert meta["weighting"] == "none"
    assert meta["strata"] == ["center_code"] and meta["by"] == ["field_code"]
    assert meta["ci"] == "korn-graubard" and meta["level"] == 0.9
    assert {"python", "numpy", "pandas", "scipy", "statsmodels", "analysis"} <= set(meta["software"])
    rows = document["results"]
    table = read_results_csv(csv_out)
    assert len(rows) == len(table)
    assert list(rows[0]) == list(table.columns)
    for row, (_, expected) in zip(rows, table.iterrows()):
        for column in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
            if math.isnan(expected[column]):
                assert row[column] is None
            else:
                assert row[column] == expected[column]  # unrounded, identical
        assert row["n"] == expected["n"] and row["flag"] == expected["flag"]


def test_xlsx_output(tmp_path, capsys):
    from openpyxl import load_workbook

    out = tmp_path / "results.xlsx"
    status, _ = run([R_DIR / "responses.csv", "--out", out, "--by", "center_code"], capsys)
    assert status == 0
    book = load_workbook(out, read_only=True)
    sheet = book["results"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == RESULT_HEAD + ["center_code"] + RESULT_TAIL
    assert len(rows) == 1 + 10 * 6
    first = dict(zip(rows[0], rows[1]))
    ref = reference_row("srs", "HL")
    assert first["index"] == "SIPAS" and first["estimate"] == pytest.approx(ref.estimate, abs=1e-12)
    meta = {key: value for key, value in book["meta"].iter_rows(min_row=2, values_only=True)}
    assert meta["instrument"] == "test-r@1"
    book.close()


def test_bom_input_period_and_exclude_flagged(tmp_path, capsys):
    frame = responses_frame()
    frame.loc[:9, "flags"] = "burst"
    source = write_frame(frame, tmp_path / "responses.csv", bom=True)
    out = tmp_path / "results.csv"
    status, err = run(
        [source, "--out", out, "--period", "quarter", "--by", "period", "--exclude-flagged"], capsys
    )
    assert (status, err) == (0, "")
    results = read_results_csv(out)
    periods = sorted(set(results.period) - {""})
    assert periods == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    whole = results[(results.period == "") & (results["index"] == "SIPAS")].iloc[0]
    assert whole.n == int(frame.loc[10:, "HL"].isin(list("12345")).sum())


def test_two_instruments_only_with_by_instrument(tmp_path, capsys):
    frame = responses_frame()
    frame.loc[frame.index % 3 == 0, "instrument"] = "test-r@2"
    source = write_frame(frame, tmp_path / "responses.csv")
    out = tmp_path / "results.csv"
    status, err = run([source, "--out", out], capsys)
    assert status == 2 and not out.exists()
    assert "test-r@1" in err and "test-r@2" in err and "--by instrument" in err
    status, err = run([source, "--out", out, "--by", "instrument,center_code"], capsys)
    assert (status, err) == (0, "")
    results = read_results_csv(out)
    assert set(results.instrument) == {"test-r@1", "test-r@2"}  # never a pooled row
    for key in ("test-r@1", "test-r@2"):
        whole = results[(results.instrument == key) & (results.center_code == "")]
        sipas = whole[whole["index"] == "SIPAS"].iloc[0]
        mine = frame[frame.instrument == key]
        assert sipas.n == int(mine["HL"].isin(list("12345")).sum())


def test_module_entry_point_with_the_real_instrument(tmp_path):
    surveys = pytest.importorskip("surveys")
    instrument = surveys.load_instrument("sipas-dvhcc-2023@1")
    rng = np.random.default_rng(7)
    rows = []
    codes = [c for c in instrument.question_codes]
    for i in range(60):
        row = {
            "response_id": f"r{i}",
            "submitted_at": f"2026-0{1 + i % 9}-1{i % 10}T10:00:00+07:00",
            "instrument": instrument.key,
            "center_code": f"c{i % 3}",
            "flags": "",
        }
        for code in codes:
            question = instrument.question(code)
            row[code] = str(rng.choice(question.values)) if question.type == "scale" else ""
        rows.append(row)
    source = write_frame(pd.DataFrame(rows), tmp_path / "export.csv", bom=True)
    out = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "analysis", "indices", str(source), "--out", str(out),
         "--strata", "center_code", "--by", "center_code", "--period", "month"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    indices = [row["index"] for row in document["results"] if row["center_code"] == ""]
    assert indices == [d.index for d in instrument.index_definitions]
    assert indices[0] == "SIPAS" and "HL" not in indices and "TC" in indices


# ---------------------------------------------------------------- errors


def _break(kind: str, tmp_path: Path):
    """A broken input: (argv beyond the file, file content, what stderr must name)."""
    frame = responses_frame()
    extra: list = []
    if kind == "missing column":
        frame = frame.drop(columns="HL")
        names = ["row 1", "column HL", "missing column"]
    elif kind == "bad answer":
        frame.loc[6, "PA1"] = "7"
        names = ["row 8", "column PA1", "'7'"]
    elif kind == "bad date":
        frame.loc[3, "submitted_at"] = "2026-13-01T10:00:00+07:00"
        names = ["row 5", "column submitted_at"]
    elif kind == "date without offset":
        frame.loc[3, "submitted_at"] = "2026-03-01 10:00:00"
        names = ["row 5", "column submitted_at"]
    elif kind == "bad weight":
        frame.loc[11, "weight"] = "-3"
        extra = ["--weighting", "column"]
        names = ["row 13", "column weight"]
    elif kind == "blank weight":
        frame.loc[0, "weight"] = ""
        extra = ["--weighting", "column"]
        names = ["row 2", "column weight"]
    elif kind == "unknown instrument":
        frame.loc[20, "instrument"] = "nope@9"
        names = ["row 22", "column instrument", "nope@9"]
    elif kind == "duplicate id":
        frame.loc[30, "response_id"] = frame.loc[2, "response_id"]
        names = ["row 32", "column response_id"]
    elif kind == "cell without total":
        (tmp_path / "totals.csv").write_text("field_code,population\nF1,10\nF2,20\n", encoding="utf-8")
        extra = ["--weighting", "poststrat", "--totals", tmp_path / "totals.csv"]
        names = ["row 9", "column field_code", "field_code=F3", "no total"]  # first F3 response
    elif kind == "total without responses":
        (tmp_path / "totals.csv").write_text(
            "field_code,population\nF1,10\nF2,20\nF3,5\nF9,7\n", encoding="utf-8"
        )
        extra = ["--weighting", "poststrat", "--totals", tmp_path / "totals.csv"]
        names = ["totals.csv", "row 5", "field_code=F9", "no responses"]
    elif kind == "bad population":
        (tmp_path / "totals.csv").write_text("field_code,population\nF1,10\nF2,many\nF3,5\n", encoding="utf-8")
        extra = ["--weighting", "poststrat", "--totals", tmp_path / "totals.csv"]
        names = ["totals.csv", "row 3", "column population"]
    elif kind == "margins disagree":
        (tmp_path / "g.csv").write_text("gender,population\nfemale,1\nmale,2\n", encoding="utf-8")
        extra = ["--weighting", "rake", "--totals", R_DIR / "totals_field.csv", "--totals", tmp_path / "g.csv"]
        names = ["g.csv", "column population", "disagree"]
    elif kind == "unknown by column":
        extra = ["--by", "district"]
        names = ["row 1", "column district"]
    else:
        raise AssertionError(kind)
    return extra, frame, names


ERRORS = [
    "missing column", "bad answer", "bad date", "date without offset", "bad weight",
    "blank weight", "unknown instrument", "duplicate id", "cell without total",
    "total without responses", "bad population", "margins disagree", "unknown by column",
]


@pytest.mark.parametrize("kind", ERRORS)
@pytest.mark.parametrize("suffix", [".csv", ".json", ".xlsx"])
def test_bad_file_one_line_exit_2_no_output(kind, suffix, tmp_path, capsys):
    extra, frame, names = _break(kind, tmp_path)
    source = write_frame(frame, tmp_path / "responses.csv")
    out = tmp_path / f"results{suffix}"
    before = set(tmp_path.iterdir())
    status, err = run([source, "--out", out, *extra], capsys)
    assert status == 2
    assert err.endswith("\n") and err.count("\n") == 1, err
    for name in names:
        assert name in err, (name, err)
    if "totals.csv" not in names and "g.csv" not in names:
        assert "responses.csv" in err
    assert set(tmp_path.iterdir()) == before  # no output, no temporary left behind


@pytest.mark.parametrize(
    "argv",
    [
        ["--out", "x.csv", "--bogus"],
        ["--out", "x.csv", "--level", "1.5"],
        ["--out", "x.csv", "--ci", "exact"],
        ["--out", "x.csv", "--weighting", "magic"],
        ["--out", "x.txt"],
        ["--out", "x.csv", "--weighting", "poststrat"],
        ["--out", "x.csv", "--weighting", "rake"],
        ["--out", "x.csv", "--totals", "t.csv"],
        [],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, err = run([R_DIR / "responses.csv", *argv], capsys)
    assert status == 2
    assert err.count("\n") == 1 and "usage error" in err
    assert list(tmp_path.iterdir()) == []


def test_unreadable_inputs(tmp_path, capsys):
    out = tmp_path / "out.csv"
    (tmp_path / "latin1.csv").write_bytes("response_id,instrument\nr1,Bà Rịa\n".encode("latin-1", errors="replace").replace(b"?", b"\xe0"))
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    for name, expected in [
        ("latin1.csv", "UTF-8"),
        ("ragged.csv", "malformed"),
        ("empty.csv", "empty"),
        ("absent.csv", "cannot be read"),
    ]:
        status, err = run([tmp_path / name, "--out", out], capsys)
        assert status == 2 and err.count("\n") == 1 and name in err and expected in err, err
    assert not out.exists()


def test_existing_output_untouched_on_error(tmp_path, capsys):
    out = tmp_path / "results.csv"
    out.write_text("previous\n", encoding="utf-8")
    frame = responses_frame()
    frame.loc[0, "HL"] = "x"
    source = write_frame(frame, tmp_path / "responses.csv")
    assert run([source, "--out", out], capsys)[0] == 2
    assert out.read_text(encoding="utf-8") == "previous\n"
