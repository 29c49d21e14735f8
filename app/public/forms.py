"""The survey form, generated at run time from an instrument definition.

Field names are the instrument's question codes and submitted values are its answer codes, so a
form and an export line up (interfaces.md §5).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Iterable

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field as FormField
from wtforms import HiddenField, RadioField, StringField, SelectField, SelectMultipleField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import UnboundField
from wtforms.validators import InputRequired, Length, Optional, StopValidation, ValidationError

from app.models import Field
from surveys import Instrument, Question, load_instrument

ALLOWED_CONTROL_CHARACTERS = {"\n", "\r", "\t"}


def text_problem(value: str) -> str | None:
    """Why a submitted string cannot be stored, or None when it can."""
    if "\ufffd" in value:
        return str(_l("The text contains characters that could not be read. Please type it again."))
    for character in value:
        category = unicodedata.category(character)
        if character not in ALLOWED_CONTROL_CHARACTERS and category in ("Cc", "Cs", "Co", "Cn"):
            return str(_l("The text contains characters that are not allowed."))
    return None


class AnswerCodes:
    """Every submitted value is one of the offered answer codes."""

    def __init__(self, values: Iterable[str], message):
        self.values = frozenset(values)
        self.message = message

    def __call__(self, form, field):
        submitted = field.data if isinstance(field.data, list) else [field.data]
        if any(value not in self.values for value in submitted):
            raise StopValidation(str(self.message))


class SingleValue:
    """A question with one answer must not arrive with several."""

    def __call__(self, form, field):
        if field.raw_data and len(field.raw_data) > 1:
            raise StopValidation(str(_l("Please choose only one answer.")))


class ReadableText:
    def __call__(self, form, field):
        problem = text_problem(field.data or "")
        if problem:
            raise ValidationError(problem)


def _no_default() -> None:
    return None


class _BuiltOnce(UnboundField):
    """An unbound field whose bound fields are copies of one built in advance.

    WTForms builds every field of a form again for each instance (its ``__init__`` checks the
    validators, builds the label and copies the choices), which was most of the cost of binding
    a posted survey. A field that has not yet seen data holds nothing that belongs to one request
    but its form, the form's meta and its translations: those are set on the copy, the rest
    (label, choices, validators, flags) is shared and only read.
    """

    def __init__(self, field_class, *args, **kwargs):
        # WTForms calls a field's default and falls back on the value itself when that raises
        # TypeError: a default of None costs an exception per field per request, this one not.
        kwargs.setdefault("default", _no_default)
        super().__init__(field_class, *args, **kwargs)
        self._prototypes: dict[tuple[str, str], FormField] = {}
        # Without a label the field translates a default one when it is built: build it each time.
        self._built_once = (args[0] if args else kwargs.get("label")) is not None

    def bind(self, form, name, prefix="", translations=None, **kwargs):
        if kwargs or not self._built_once:
            return super().bind(form, name, prefix, translations, **kwargs)
        prototype = self._prototypes.get((name, prefix))
        if prototype is None:
            prototype = super().bind(form, name, prefix, translations)
            prototype._form = prototype.meta = None  # not kept alive with the first form
            self._prototypes[name, prefix] = prototype
        field = object.__new__(self.field_class)
        field.__dict__.update(prototype.__dict__)
        field._form = form
        field.meta = form.meta
        if translations is not None:
            field._translations = translations
        else:
            field.__dict__.pop("_translations", None)
        return field


class SurveyForm(FlaskForm):
    """Base class; ``build_survey_form`` adds one field per question."""

    class Meta:
        # CSRFProtect checks the token of every survey POST before the view runs (a bad one is a
        # 400): the form's own CSRF field would only make and check a token again.
        csrf = False

    started = HiddenField()
    # The honeypot: hidden from people by CSS and from screen readers; programs fill it in.
    website = StringField(validators=[Optional(), Length(max=200)])

    def unknown_fields(self, submitted: Iterable[str]) -> list[str]:
        known = {*self._fields, self.meta.csrf_field_name}
        return sorted(name for name in set(submitted) if name not in known)

    def answers(self, instrument: Instrument) -> dict[str, str | list[str]]:
        """Answer codes (or NFC text) by question code, leaving out questions not answered."""
        result: dict[str, str | list[str]] = {}
        for question in instrument.questions:
            if question.code not in self:
                continue
            data = self[question.code].data
            if question.type == "multi":
                if data:
                    result[question.code] = list(dict.fromkeys(data))
            elif question.type == "text":
                text = unicodedata.normalize("NFC", (data or "").strip())
                if text:
                    result[question.code] = text
            elif data:
                result[question.code] = data
        return result


def _required(question: Question):
    if question.required:
        if question.type == "field":
            return InputRequired(message=_l("Please choose the field of your procedure."))
        return InputRequired(message=_l("Please answer this question."))
    return Optional()


def _field_for(question: Question, fields: tuple[tuple[str, str], ...], language: str) -> FormField:
    label = question.text.get(language)
    invalid = _l("Please choose one of the answers offered.")
    if question.type in ("scale", "choice"):
        choices = [SelectChoice(o.value, o.label.get(language)) for o in question.options]
        return _BuiltOnce(
            RadioField,
            label,
            choices=choices,
            validate_choice=False,
            validators=[SingleValue(), _required(question), AnswerCodes(question.values, invalid)],
        )
    if question.type == "multi":
        choices = [SelectChoice(o.value, o.label.get(language)) for o in question.options]
        return _BuiltOnce(
            SelectMultipleField,
            label,
            choices=choices,
            validate_choice=False,
            validators=[Optional(), AnswerCodes(question.values, invalid)],
        )
    if question.type == "field":
        choices = [SelectChoice("", str(_l("— Choose a field —")))] + [SelectChoice(code, name) for code, name in fields]
        return _BuiltOnce(
            SelectField,
            label,
            choices=choices,
            validate_choice=False,
            validators=[
                SingleValue(),
                _required(question),
                AnswerCodes([code for code, _ in fields], _l("Please choose a field from the list.")),
            ],
        )
    return _BuiltOnce(
        TextAreaField,
        label,
        validators=[
            SingleValue(),
            Optional(),
            Length(max=question.max_length, message=_l("Please keep this under %(max)d characters.")),
            ReadableText(),
        ],
    )


def build_survey_form(
    instrument: Instrument, fields: list[Field], language: str, fixed: dict[str, str] | None = None, **kwargs
) -> SurveyForm:
    """A form instance for ``instrument``; binds to the request's form data when posted.

    Questions in ``fixed`` (e.g. the field of a dossier link) are known already and not asked.
    """
    choices = tuple((f.code, f.name(language)) for f in fields)
    return _form_class(instrument.key, language, choices, frozenset(fixed or ()))(**kwargs)


@lru_cache(maxsize=256)
def _form_class(
    instrument_key: str, language: str, fields: tuple[tuple[str, str], ...], fixed: frozenset[str]
) -> type[SurveyForm]:
    """One form class per instrument, language, list of fields and set of fixed questions:
    building the 36 fields costs more than validating them, so it is done once."""
    instrument = load_instrument(instrument_key)
    attributes = {q.code: _field_for(q, fields, language) for q in instrument.questions if q.code not in fixed}
    return type("InstrumentSurveyForm", (SurveyForm,), attributes)
