"""Typed, immutable view of an instrument definition.

An instrument is a questionnaire version (``sipas-dvhcc-2023@1``). Its wording in every supported
language, its answer codes and its index rules live in a JSON file under ``surveys/instruments``;
these classes are what the rest of the platform reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

QUESTION_TYPES = ("scale", "choice", "multi", "text", "field")
QUESTION_ROLES = (
    "screening",
    "item",
    "general",
    "overall",
    "perception",
    "priority",
    "comment",
    "respondent",
)
INDEX_KINDS = ("overall", "element", "item")
INDEX_RULES = ("question", "mean_of_items")


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Text:
    """A piece of questionnaire wording in every language of the instrument."""

    by_language: Mapping[str, str]

    def get(self, language: str, fallback: str = "vi") -> str:
        return self.by_language.get(language) or self.by_language[fallback]


@dataclass(frozen=True)
class Option:
    value: str
    label: Text
    not_applicable: bool = False


@dataclass(frozen=True)
class Question:
    """One question. ``options`` are the answer codes offered, in order.

    For a ``scale`` question with ``not_applicable`` the last option is the instrument's
    "không áp dụng" code, which is an answer but never a value on the scale.
    ``field`` questions take their options from the platform's list of fields of procedures.
    """

    code: str
    type: str
    role: str
    text: Text
    required: bool
    section: str
    options: tuple[Option, ...] = ()
    not_applicable: bool = False
    element: str | None = None
    max_length: int | None = None
    hint: Text | None = None

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self.options)

    @property
    def scale_values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self.options if not option.not_applicable)


@dataclass(frozen=True)
class Section:
    code: str
    title: Text
    questions: tuple[Question, ...]
    intro: Text | None = None


@dataclass(frozen=True)
class IndexDefinition:
    """How one published index is computed (sipas-method.md §3).

    ``rule == "question"``: the item index of ``question`` (share of ``satisfied_values`` among
    answers in ``valid_values``). ``rule == "mean_of_items"``: the mean of the item indices of
    ``items``.
    """

    index: str
    kind: str
    rule: str
    question: str | None
    items: tuple[str, ...] = ()
    valid_values: tuple[str, ...] = ("1", "2", "3", "4", "5")
    satisfied_values: tuple[str, ...] = ("4", "5")


@dataclass(frozen=True)
class Instrument:
    id: str
    version: int
    title: Text
    basis: str
    languages: tuple[str, ...]
    sections: tuple[Section, ...]
    index_definitions: tuple[IndexDefinition, ...]
    not_applicable_value: str
    sha256: str
    definition: Mapping = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(q for section in self.sections for q in section.questions)

    @property
    def question_codes(self) -> tuple[str, ...]:
        return tuple(q.code for q in self.questions)

    @property
    def demographic_codes(self) -> tuple[str, ...]:
        return tuple(q.code for q in self.questions if q.role == "respondent")

    def question(self, code: str) -> Question:
        for candidate in self.questions:
            if candidate.code == code:
                return candidate
        raise KeyError(code)
