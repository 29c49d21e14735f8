"""The block reader (analysis.reader) and the streaming scan (analysis.stream): the same values as
pandas and the same tables as the in-memory path, whatever the block size or the number of worker
processes, and the same errors on the same rows."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from analysis import DataError, scan_responses, sufficient_statistics
from analysis.periods import period_labels
from analysis.reader import CsvBlocks
from analysis.stream import _period_codes

from .conftest import stand_in_loader

TRICKY = (
    "\ufeffid , name,comment,code\r\n"
    "1,An,plain,4\r\n"
    '2,"Bình, Định","a ""quoted"" word",5\n'
    "\n"
    '3,  Cường  ,"two\nlines, and a comma", 3 \n'
    '4,Dung,"",\n'
    "   \n"
    '5,"Em","say ""hi""",9\n'
    "6,Phú,ends without newline,1"
)


def _read_all(path, block_bytes: int) -> pd.DataFrame:
    reader = CsvBlocks(path, block_bytes=block_bytes)
    parts = []
    for block in reader:
        frame = {}
        for column in reader.header:
            strings = block.strings(column)
            codes, labels = block.categorical(column)
            assert list(labels[codes]) == list(strings), column
            hashes, blank = block.hashes(column)
            assert list(blank) == [s == "" for s in strings]
            for value in set(strings):
                same = hashes[strings == value]
                assert (same == same[0]).all()
            frame[column] = strings
        frame["_row"] = block.rows
        parts.append(pd.DataFrame(frame))
    assert reader.error is None
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("block_bytes", [16, 50, 1 << 20])
def test_block_reader_equals_pandas(tmp_path, block_bytes):
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY.encode("utf-8"))
    mine = _read_all(path, block_bytes)
    theirs = pd.read_csv(
        io.BytesIO(TRICKY.encode("utf-8")), dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    theirs.columns = [c.strip() for c in theirs.columns]
    theirs = theirs.apply(lambda c: c.str.strip())
    theirs = theirs[(theirs != "").any(axis=1)].reset_index(drop=True)  # the whitespace line
    assert list(mine.columns[:-1]) == ["id", "name", "comment", "code"]
    for column in theirs.columns:
        assert list(mine[column]) == list(theirs[column]), column
    assert list(mine["_row"]) == list(range(2, 2 + len(mine)))
    assert mine.loc[2, "comment"] == "two\nlines, and a comma"
    assert mine.loc[1, "comment"] == 'a "quoted" word'


def test_reader_problems_name_the_line(tmp_path):
    good = "a,b\n" + "".join(f"{i},x\n" for i in range(200))
    cases = {
        "late_latin1.csv": (good + "7,Bà\n").encode("utf-8")[:-5] + b"\xe0\n",
        "short.csv": (good + "7\n").encode(),
        "open_quote.csv": (good + '7,"never closed\n8,y\n').encode(),
    }
    expected = {"late_latin1.csv": "UTF-8", "short.csv": "expected 2 fields", "open_quote.csv": "quote"}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        for block_bytes in (64, 1 << 20):
            reader = CsvBlocks(path, block_bytes=block_bytes)
            for _ in reader:
                pass
            assert reader.error is not None and expected[name] in str(reader.error), name
            assert reader.error.row == 202, (name, reader.error.row)


def test_utf8_error_beats_an_earlier_malformed_record(tmp_path):
    path = tmp_path / "both.csv"
    path.write_bytes(b"a,b\n1,2\n3\n" + b"4,5\n" * 50 + b"6,\xff\n")
    reader = CsvBlocks(path, block_bytes=32)
    for _ in reader:
        pass
    assert "UTF-8" in str(reader.error) and reader.error.row == 54


def test_period_codes_fast_path_equals_period_labels(tmp_path):
    rng = np.random.default_rng(1)
    stamps = [
        f"2026-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{off}"
        for m, d, h, mi, s, off in zip(
            rng.integers(1, 13, 400), rng.integers(1, 29, 400), rng.integers(0, 24, 400),
            rng.integers(0, 60, 400), rng.integers(0, 60, 400),
            rng.choice(["+07:00", "+00:00", "-05:30", "+14:00", "Z", ".250+07:00", "+0700"], 400),
        )
    ]
    stamps += ["2025-12-31T17:00:00+00:00", "2025-12-31T16:59:59Z", "2024-02-29 23:30:00-01:00"]
    path = tmp_path / "times.csv"
    path.write_text("submitted_at\n" + "\n".join(stamps) + "\n", encoding="utf-8")
    for period in ("month", "quarter", "year"):
        expected = list(period_labels(pd.Series(stamps), period))
        got = []
        for block in CsvBlocks(path, block_bytes=500):
            codes, labels, error = _period_codes(block, period, "times.csv")
            assert error is None
            got += list(labels[codes])
        assert got == expected, period
    bad = tmp_path / "bad.csv"
    bad.write_text("submitted_at\n2026-01-01T10:00:00+07:00\n2026-02-30T10:00:00+07:00\n", encoding="utf-8")
    block = next(iter(CsvBlocks(bad)))
    _, _, error = _period_codes(block, "month", "bad.csv")
    assert error is not None and error.row == 3 and error.column == "submitted_at"


# ---------------------------------------------------------------- the scan


def _responses(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "response_id": [f"r{i:05d}" for i in range(n)],
            "submitted_at": [
                f"2026-{m:02d}-{d:02d}T{h:02d}:15:00+07:00"
                for m, d, h in zip(rng.integers(1, 13, n), rng.integers(1, 28, n), rng.integers(0, 24, n))
            ],
            "instrument": "test-r@1",
            "center_code": rng.choice(["C1", "C2", "C3", "C10"], n),
            "field_code": rng.choice(["F1", "F2", "land-and-housing"], n),
            "commune_code": "X1",
            "gender": rng.choice(["male", "female", ""], n),
            "weight": np.round(rng.gamma(2.0, 1.0, n) + 0.1, 3).astype(str),
            "flags": rng.choice(["", "", "", "burst"], n),
        }
    )
    for code in ("HL", "TC", "TC1", "TC2", "TC3", "ZR", "AL", "VZ"):
        frame[code] = rng.choice(["1", "2", "3", "4", "5", ""], n)
    frame["PA1"] = rng.choice(["4", "5", "9", ""], n)
    frame.loc[::7, "HL"] = " 5 "  # padded values are stripped
    return frame


def _sorted(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = table.copy()
    for k in keys:
        out[k] = out[k].astype(str)
    order = [*keys, *[c for c in ("question", "answer") if c in out.columns]]
    return out.sort_values(order).reset_index(drop=True)[[*order, "count", "sum_w", "sum_w2"]]


@pytest.mark.parametrize(
    ("block_bytes", "workers", "weights", "exclude"),
    [(1 << 20, 1, False, False), (700, 1, True, False), (700, 2, False, True), (2000, 2, True, True)],
)
def test_scan_tables_equal_the_in_memory_tables(tmp_path, block_bytes, workers, weights, exclude):
    frame = _responses(np.random.default_rng(block_bytes + workers), 600)
    path = tmp_path / "responses.csv"
    path.write_text(frame.to_csv(index=False), encoding="utf-8")
    keys = ["center_code", "period", "gender"]
    scanned = scan_responses(
        path,
        load_instrument=stand_in_loader,
        keys=keys,
        period="quarter",
        weight_column="weight" if weights else None,
        exclude_flagged=exclude,
        block_bytes=block_bytes,
        workers=workers,
    )
    data = frame.apply(lambda c: c.str.strip())
    if exclude:
        data = data[data["flags"] == ""]
    data = data.assign(period=period_labels(data["submitted_at"], "quarter").to_numpy())
    questions = sorted(set(scanned.statistics.answers["question"].astype(str)))
    assert questions == sorted(["HL", "TC", "TC1", "TC2", "TC3", "PA1", "ZR", "AL", "VZ"])
    reference = sufficient_statistics(
        data, keys=keys, questions=questions, weights=data["weight"].astype(float).to_numpy() if weights else None
    )
    mine_r, ref_r = _sorted(scanned.statistics.respondents, keys), _sorted(reference.respondents, keys)
    pd.testing.assert_frame_equal(mine_r, ref_r, check_dtype=False, rtol=1e-12)
    mine_a, ref_a = _sorted(scanned.statistics.answers, keys), _sorted(reference.answers, keys)
    mine_a["question"] = mine_a["question"].astype(str)
    pd.testing.assert_frame_equal(mine_a, ref_a, check_dtype=False, rtol=1e-12)
    assert scanned.responses == len(data) and scanned.excluded == len(frame) - len(data)
    import hashlib

    assert scanned.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    first = data.iloc[0]
    file_row = int(data.index[0]) + 2
    cell = {"center_code": first.center_code, "period": first.period, "gender": first.gender}
    assert scanned.locate(cell) == (str(path), file_row)


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_reports_the_first_problem_in_the_old_order(tmp_path, workers):
    frame = _responses(np.random.default_rng(9), 400)
    frame.loc[350, "response_id"] = frame.loc[20, "response_id"]  # duplicate far apart
    frame.loc[300, "HL"] = "7"  # a bad answer comes after ids and dates...
    path = tmp_path / "responses.csv"
    path.write_text(frame.to_csv(index=False), encoding="utf-8")
    common = dict(load_instrument=stand_in_loader, block_bytes=900, workers=workers)
    with pytest.raises(DataError) as caught:
        scan_responses(path, **common)
    assert caught.value.row == 352 and caught.value.column == "response_id"
    frame.loc[350, "response_id"] = "unique"
    frame.loc[390, "submitted_at"] = "2026-13-01T10:00:00+07:00"
    path.write_text(frame.to_csv(index=False), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        scan_responses(path, **common)
    assert caught.value.row == 392 and caught.value.column == "submitted_at"  # ...and dates
    frame.loc[390, "submitted_at"] = "2026-12-01T10:00:00+07:00"
    path.write_text(frame.to_csv(index=False), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        scan_responses(path, **common)
    assert caught.value.row == 302 and caught.value.column == "HL" and "'7'" in str(caught.value)


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_names_the_line_of_a_bad_record_in_a_later_block(tmp_path, workers):
    frame = _responses(np.random.default_rng(4), 300)
    frame.loc[5, "TC1"] = "a comma, and\na line break"  # quoted: lines and rows part ways
    text = frame.to_csv(index=False)
    lines = text.split("\n")
    short = "\n".join([*lines[:250], "r-short,2026-01-01T10:00:00+07:00", *lines[250:]])
    path = tmp_path / "short.csv"
    path.write_text(short, encoding="utf-8")
    common = dict(load_instrument=stand_in_loader, block_bytes=700, workers=workers)
    with pytest.raises(DataError, match="malformed CSV") as caught:
        scan_responses(path, **common)
    assert caught.value.row == 251  # a physical line: the quoted line break counts
    latin = "\n".join([*lines[:280], lines[280].replace("test-r@1", "t\u00e9st"), *lines[281:]])
    path.write_bytes(latin.encode("utf-8").replace("t\u00e9st".encode("utf-8"), b"t\xe9st"))
    with pytest.raises(DataError, match="UTF-8") as caught:
        scan_responses(path, **common)
    assert caught.value.row == 281
