"""Instrument files: content, validation messages, the lock of published versions."""

from __future__ import annotations

import copy
import json
import unicodedata

import pytest

import surveys.loader as loader
from surveys import InstrumentError, available_instruments, check_lock, load_instrument, parse_instrument

FULL = "sipas-dvhcc-2023@1"
KIOSK = "sipas-kiosk-2023@1"


def definition(key: str = FULL) -> dict:
    return copy.deepcopy(json.loads(loader.instrument_path(key).read_text(encoding="utf-8")))


def test_shipped_instruments():
    assert available_instruments() == (FULL, KIOSK)


def test_full_instrument_has_every_question_of_the_method():
    instrument = load_instrument(FULL)
    codes = set(instrument.question_codes)
    items = {
        "TC": ["TC1", "TC2", "TC3"],
        "TT": ["TT1", "TT2", "TT3", "TT4"],
        "CC": ["CC1", "CC2", "CC3"],
        "KQ": ["KQ1", "KQ2", "KQ3"],
        "PA": ["PA1", "PA2", "PA3"],
    }
    for element, element_items in items.items():
        assert element in codes and set(element_items) <= codes
        assert instrument.question(element).role == "general"
    assert {"HL", "PH", "TN", "SL", "UT", "YK", "field_code", "channel", "result_received", "respondent_type"} <= codes
    assert instrument.demographic_codes == ("gender", "age_group", "ethnicity", "education", "occupation")
    assert instrument.question("UT").type == "multi"
    assert instrument.question("YK").max_length == 2000
    assert instrument.question("channel").values == ("direct", "online", "postal")
    for code in ("PA1", "PA2", "PA3", "PA"):
        assert instrument.question(code).not_applicable
        assert instrument.question(code).values == ("1", "2", "3", "4", "5", "9")
    assert not instrument.question("HL").not_applicable
    required = {q.code for q in instrument.questions if q.required}
    assert required == {"field_code", "channel", "TC", "TT", "CC", "KQ", "PA", "HL"}


def test_scale_wording_and_full_diacritics():
    instrument = load_instrument(FULL)
    labels = [o.label.get("vi") for o in instrument.question("HL").options]
    assert labels == ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
    assert instrument.question("PA").options[-1].label.get("vi") == "Không áp dụng"
    assert "Thủ tục hành chính" in instrument.sections[2].title.get("vi")
    for question in instrument.questions:
        for language in ("vi", "en"):
            text = question.text.get(language)
            assert text and unicodedata.is_normalized("NFC", text)


def test_index_rules():
    rules = {d.index: d for d in load_instrument(FULL).index_definitions}
    assert rules["SIPAS"].kind == "overall" and rules["SIPAS"].question == "HL"
    for element in ("TC", "TT", "CC", "KQ", "PA"):
        assert rules[element].kind == "element" and rules[element].question == element
    assert rules["TT"].items == ("TT1", "TT2", "TT3", "TT4")
    assert rules["TC1"].kind == "item" and rules["TC1"].satisfied_values == ("4", "5")
    assert "HL" not in rules  # the general question appears once, as SIPAS
    assert len(rules) == 6 + 16


def test_kiosk_version_is_the_general_questions_and_hl():
    kiosk = load_instrument(KIOSK)
    assert kiosk.question_codes == ("TC", "TT", "CC", "KQ", "PA", "HL")
    assert [d.index for d in kiosk.index_definitions] == ["SIPAS", "TC", "TT", "CC", "KQ", "PA"]


def test_lock_matches_every_shipped_version():
    assert check_lock() == []


def test_an_edited_published_version_is_detected(tmp_path, monkeypatch):
    target = tmp_path / "sipas-dvhcc-2023"
    target.mkdir()
    edited = definition()
    edited["sections"][5]["questions"][0]["text"]["vi"] = "Câu hỏi đã bị sửa"
    (target / "1.json").write_text(json.dumps(edited, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(loader, "INSTRUMENTS_DIR", tmp_path)
    monkeypatch.setattr(loader, "LOCK_FILE", loader.LOCK_FILE)
    loader.load_instrument.cache_clear()
    try:
        problems = check_lock()
    finally:
        loader.load_instrument.cache_clear()
    assert any("differs from its published version" in p and FULL in p for p in problems)


def test_whitespace_does_not_change_the_hash():
    original = load_instrument(FULL)
    assert parse_instrument(json.loads(json.dumps(definition(), indent=8))).sha256 == original.sha256


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["sections"][0]["questions"][1].update(type="slider"), "question channel: unknown type 'slider'"),
        (lambda d: d["sections"][1]["questions"][0]["text"].pop("en"), "question TC1: wording missing in language 'en'"),
        (lambda d: d["sections"][1]["questions"][0].update(scale="stars"), "question TC1: unknown scale 'stars'"),
        (lambda d: d["sections"][1]["questions"].append(dict(d["sections"][1]["questions"][0])), "question TC1: code used twice"),
        (lambda d: d["sections"][1]["questions"][0].update(code="1TC"), "question 1TC: code must be"),
        (lambda d: d["sections"][0]["questions"][1]["options"].append({"value": "direct", "label": {"vi": "A", "en": "A"}}), "question channel: answer codes repeat"),
        (lambda d: d["indices"]["overall"].update(question="XX"), "indices, overall: names unknown question 'XX'"),
        (lambda d: d["indices"]["overall"].update(question="channel"), "question channel is not on the index's answer scale"),
        (lambda d: d["sections"][1]["questions"][0]["text"].update(vi="Ca\u0301n bo\u0323\u0302"), "question TC1: wording in 'vi' is not NFC-normalised"),
        (lambda d: d["sections"][0]["questions"][1].update(not_applicable=True), "question channel: 'not_applicable' is only for scale questions"),
        (lambda d: d.update(version=0), "version must be a positive integer"),
        (lambda d: d["scales"]["satisfaction"]["options"].append({"value": "9", "label": {"vi": "A", "en": "A"}}), "scale satisfaction: uses the not-applicable code"),
    ],
)
def test_broken_definitions_are_refused_naming_file_and_question(mutate, expected):
    broken = definition()
    mutate(broken)
    with pytest.raises(InstrumentError) as error:
        parse_instrument(broken, source="surveys/instruments/x/1.json")
    message = str(error.value)
    assert message.startswith("surveys/instruments/x/1.json: ")
    assert expected in message


def test_broken_files_name_the_file(tmp_path):
    bad = tmp_path / "1.json"
    bad.write_text("{ not json", encoding="utf-8")
    with pytest.raises(InstrumentError, match=r"1\.json: invalid JSON at line 1"):
        loader.load_instrument_file(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(InstrumentError, match="not valid UTF-8"):
        loader.load_instrument_file(bad)


def test_unknown_and_malformed_keys():
    with pytest.raises(InstrumentError, match="unknown instrument"):
        load_instrument("sipas-dvhcc-2023@9")
    with pytest.raises(InstrumentError, match="not an instrument key"):
        load_instrument("../../etc/passwd")
