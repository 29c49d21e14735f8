"""Load and validate instrument files.

Every problem is reported as :class:`InstrumentError` with a message that names the file and,
where there is one, the question, so that whoever edits a questionnaire can find the mistake.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from surveys.model import (
    INDEX_RULES,
    QUESTION_ROLES,
    QUESTION_TYPES,
    IndexDefinition,
    Instrument,
    Option,
    Question,
    Section,
    Text,
)

INSTRUMENTS_DIR = Path(__file__).parent / "instruments"
LOCK_FILE = Path(__file__).parent / "lock.json"

CODE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
VALUE_PATTERN = re.compile(r"^[A-Za-z0-9_+\-]{1,32}$")
KEY_PATTERN = re.compile(r"^([a-z][a-z0-9-]{1,62})@([1-9][0-9]{0,5})$")


class InstrumentError(ValueError):
    """An instrument file or key that cannot be used."""


def canonical_bytes(definition: Mapping[str, Any]) -> bytes:
    """The bytes whose SHA-256 identifies a definition: sorted keys, no insignificant space."""
    return json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def definition_sha256(definition: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(definition)).hexdigest()


def parse_key(key: str) -> tuple[str, int]:
    """Split ``"sipas-dvhcc-2023@1"`` into its id and version."""
    match = KEY_PATTERN.match(key or "")
    if not match:
        raise InstrumentError(f"{key!r}: not an instrument key of the form id@version")
    return match.group(1), int(match.group(2))


def instrument_path(key: str) -> Path:
    instrument_id, version = parse_key(key)
    return INSTRUMENTS_DIR / instrument_id / f"{version}.json"


def available_instruments() -> tuple[str, ...]:
    """Keys of every instrument file shipped with the platform, sorted."""
    keys = []
    for path in sorted(INSTRUMENTS_DIR.glob("*/*.json")):
        keys.append(f"{path.parent.name}@{path.stem}")
    return tuple(sorted(keys, key=lambda k: (parse_key(k)[0], parse_key(k)[1])))


@lru_cache(maxsize=None)
def load_instrument(key: str) -> Instrument:
    """Load the instrument ``id@version`` shipped under ``surveys/instruments``."""
    path = instrument_path(key)
    if not path.is_file():
        raise InstrumentError(f"{key}: unknown instrument (no file {path.name} in {path.parent})")
    instrument = load_instrument_file(path)
    if instrument.key != key:
        raise InstrumentError(f"{path}: declares {instrument.key}, expected {key}")
    return instrument


def load_instrument_file(path: Path | str) -> Instrument:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InstrumentError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        definition = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InstrumentError(f"{path}: not valid UTF-8") from None
    except json.JSONDecodeError as error:
        raise InstrumentError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from None
    return parse_instrument(definition, source=str(path))


def parse_instrument(definition: Any, source: str = "<instrument>") -> Instrument:
    """Validate a decoded definition and build the typed :class:`Instrument`."""
    return _Parser(source).instrument(definition)


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.languages: tuple[str, ...] = ()

    def fail(self, where: str, message: str) -> InstrumentError:
        prefix = f"{self.source}: {where}: " if where else f"{self.source}: "
        return InstrumentError(prefix + message)

    def require(self, mapping: Any, key: str, kind: type | tuple, where: str) -> Any:
        if not isinstance(mapping, dict):
            raise self.fail(where, "must be an object")
        if key not in mapping:
            raise self.fail(where, f"missing '{key}'")
        value = mapping[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            raise self.fail(where, f"'{key}' has the wrong type")
        return value

    def text(self, value: Any, where: str) -> Text:
        if not isinstance(value, dict):
            raise self.fail(where, "wording must be an object keyed by language")
        for language in self.languages:
            wording = value.get(language)
            if not isinstance(wording, str) or not wording.strip():
                raise self.fail(where, f"wording missing in language '{language}'")
            if unicodedata.normalize("NFC", wording) != wording:
                raise self.fail(where, f"wording in '{language}' is not NFC-normalised")
        return Text({language: value[language] for language in self.languages})

    def instrument(self, definition: Any) -> Instrument:
        if not isinstance(definition, dict):
            raise self.fail("", "the file must hold a JSON object")
        instrument_id = self.require(definition, "id", str, "")
        if not ID_PATTERN.match(instrument_id):
            raise self.fail("", f"id {instrument_id!r} must be lowercase letters, digits and hyphens")
        version = self.require(definition, "version", int, "")
        if version < 1:
            raise self.fail("", "version must be a positive integer")
        languages = self.require(definition, "languages", list, "")
        if not languages or languages[0] != "vi" or not all(isinstance(x, str) for x in languages):
            raise self.fail("", "languages must be a list starting with 'vi'")
        self.languages = tuple(languages)
        title = self.text(definition.get("title"), "title")
        basis = definition.get("basis", "")
        if not isinstance(basis, str):
            raise self.fail("", "'basis' must be text")

        na = self.require(definition, "not_applicable", dict, "")
        na_value = self.require(na, "value", str, "not_applicable")
        if not VALUE_PATTERN.match(na_value):
            raise self.fail("not_applicable", f"bad answer code {na_value!r}")
        na_option = Option(na_value, self.text(na.get("label"), "not_applicable"), not_applicable=True)

        scales = {}
        for name, scale in self.require(definition, "scales", dict, "").items():
            options = self.options(self.require(scale, "options", list, f"scale {name}"), f"scale {name}")
            if na_value in (o.value for o in options):
                raise self.fail(f"scale {name}", f"uses the not-applicable code {na_value!r} as a value")
            scales[name] = options

        sections = []
        seen: set[str] = set()
        for section in self.require(definition, "sections", list, ""):
            sections.append(self.section(section, scales, na_option, seen))
        if not sections:
            raise self.fail("", "no sections")
        questions = {q.code: q for s in sections for q in s.questions}
        indices = self.indices(self.require(definition, "indices", dict, ""), questions)
        return Instrument(
            id=instrument_id,
            version=version,
            title=title,
            basis=basis,
            languages=self.languages,
            sections=tuple(sections),
            index_definitions=indices,
            not_applicable_value=na_value,
            sha256=definition_sha256(definition),
            definition=definition,
        )

    def options(self, raw: list, where: str) -> tuple[Option, ...]:
        options = []
        for entry in raw:
            value = self.require(entry, "value", str, where)
            if not VALUE_PATTERN.match(value):
                raise self.fail(where, f"bad answer code {value!r}")
            options.append(Option(value, self.text(entry.get("label"), f"{where}, option {value}")))
        values = [o.value for o in options]
        if len(set(values)) != len(values):
            raise self.fail(where, "answer codes repeat")
        if not options:
            raise self.fail(where, "has no options")
        return tuple(options)

    def section(self, raw: Any, scales: dict, na_option: Option, seen: set[str]) -> Section:
        code = self.require(raw, "code", str, "section")
        where = f"section {code}"
        questions = []
        for entry in self.require(raw, "questions", list, where):
            question = self.question(entry, code, scales, na_option)
            if question.code in seen:
                raise self.fail(f"question {question.code}", "code used twice")
            seen.add(question.code)
            questions.append(question)
        intro = self.text(raw["intro"], f"{where}, intro") if "intro" in raw else None
        return Section(code, self.text(raw.get("title"), f"{where}, title"), tuple(questions), intro)

    def question(self, raw: Any, section: str, scales: dict, na_option: Option) -> Question:
        code = self.require(raw, "code", str, f"section {section}")
        where = f"question {code}"
        if not CODE_PATTERN.match(code):
            raise self.fail(where, "code must be a letter followed by letters, digits or _")
        qtype = self.require(raw, "type", str, where)
        if qtype not in QUESTION_TYPES:
            raise self.fail(where, f"unknown type {qtype!r}")
        role = self.require(raw, "role", str, where)
        if role not in QUESTION_ROLES:
            raise self.fail(where, f"unknown role {role!r}")
        required = raw.get("required", False)
        if not isinstance(required, bool):
            raise self.fail(where, "'required' must be true or false")
        not_applicable = raw.get("not_applicable", False)
        if not isinstance(not_applicable, bool) or (not_applicable and qtype != "scale"):
            raise self.fail(where, "'not_applicable' is only for scale questions")
        options: tuple[Option, ...] = ()
        if qtype == "scale":
            scale = self.require(raw, "scale", str, where)
            if scale not in scales:
                raise self.fail(where, f"unknown scale {scale!r}")
            options = scales[scale] + ((na_option,) if not_applicable else ())
        elif qtype in ("choice", "multi"):
            options = self.options(self.require(raw, "options", list, where), where)
        max_length = raw.get("max_length")
        if qtype == "text":
            if not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= 10000:
                raise self.fail(where, "text questions need 'max_length' between 1 and 10000")
        elif max_length is not None:
            raise self.fail(where, "'max_length' is only for text questions")
        element = raw.get("element")
        if element is not None and not isinstance(element, str):
            raise self.fail(where, "'element' must be a code")
        hint = self.text(raw["hint"], f"{where}, hint") if "hint" in raw else None
        return Question(
            code=code,
            type=qtype,
            role=role,
            text=self.text(raw.get("text"), where),
            required=required,
            section=section,
            options=options,
            not_applicable=not_applicable,
            element=element,
            max_length=max_length,
            hint=hint,
        )

    def indices(self, raw: dict, questions: dict[str, Question]) -> tuple[IndexDefinition, ...]:
        valid = tuple(self.require(raw, "valid_values", list, "indices"))
        satisfied = tuple(self.require(raw, "satisfied_values", list, "indices"))
        if not satisfied or not set(satisfied) < set(valid):
            raise self.fail("indices", "satisfied_values must be a proper subset of valid_values")

        def scale_question(code: Any, where: str) -> str:
            question = questions.get(code) if isinstance(code, str) else None
            if question is None:
                raise self.fail(where, f"names unknown question {code!r}")
            if question.type != "scale" or not set(valid) <= set(question.scale_values):
                raise self.fail(where, f"question {code} is not on the index's answer scale")
            return code

        def definition(entry: Any, kind: str, where: str) -> IndexDefinition:
            rule = self.require(entry, "rule", str, where)
            if rule not in INDEX_RULES:
                raise self.fail(where, f"unknown rule {rule!r}")
            items = tuple(scale_question(c, where) for c in entry.get("items", []))
            question = None
            if rule == "question":
                question = scale_question(entry.get("question"), where)
            elif not items:
                raise self.fail(where, "rule mean_of_items needs items")
            index = entry.get("index") or entry.get("code")
            return IndexDefinition(index, kind, rule, question, items, valid, satisfied)

        overall = definition(self.require(raw, "overall", dict, "indices"), "overall", "indices, overall")
        result = [overall]
        item_codes: list[str] = []
        for entry in self.require(raw, "elements", list, "indices"):
            code = self.require(entry, "code", str, "indices, element")
            element = definition(entry, "element", f"indices, element {code}")
            result.append(element)
            item_codes.extend(element.items)
        # A general question appears once, as what it measures (interfaces.md §4).
        general = {d.question for d in result}
        for code in item_codes:
            if code in general:
                raise self.fail(f"question {code}", "is both an item and a general question")
            result.append(IndexDefinition(code, "item", "question", code, (), valid, satisfied))
        names = [d.index for d in result]
        if len(set(names)) != len(names):
            raise self.fail("indices", "index names repeat")
        return tuple(result)


def read_lock() -> dict[str, str]:
    try:
        return json.loads(LOCK_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def check_lock() -> list[str]:
    """Problems with the lock of published versions; empty when every file matches its hash."""
    lock = read_lock()
    problems = []
    for key in available_instruments():
        sha = load_instrument(key).sha256
        if key not in lock:
            problems.append(f"{key}: not in surveys/lock.json (run `python -m surveys lock`)")
        elif lock[key] != sha:
            problems.append(
                f"{key}: the file differs from its published version (hash {sha[:12]}… ≠ "
                f"{lock[key][:12]}…); a fielded version is immutable, publish a new version instead"
            )
    for key in lock:
        if key not in available_instruments():
            problems.append(f"{key}: locked but its file is gone")
    return problems


def add_missing_to_lock() -> list[str]:
    """Lock every instrument not locked yet; never changes an existing entry."""
    lock = read_lock()
    added = []
    for key in available_instruments():
        if key not in lock:
            lock[key] = load_instrument(key).sha256
            added.append(key)
    if added:
        LOCK_FILE.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return added
