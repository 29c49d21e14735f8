"""The survey form's fields are copies of fields built once (``app.public.forms._BuiltOnce``)."""

from __future__ import annotations

from types import SimpleNamespace

from werkzeug.datastructures import MultiDict
from wtforms.fields.core import UnboundField

from app.public.forms import build_survey_form
from surveys import load_instrument

FIELDS = [SimpleNamespace(code="ho-tich", name=lambda language: "Hộ tịch")]


def _state(field) -> dict:
    """What a bound field holds, with its label and flags as their contents."""
    state = dict(vars(field))
    state["label"] = vars(field.label)
    state["flags"] = vars(field.flags)
    return state


def test_each_form_has_its_own_fields_holding_what_wtforms_would_build(app):
    instrument = load_instrument("sipas-dvhcc-2023@1")
    posted = MultiDict([("TC1", "4"), ("UT", "time"), ("UT", "online"), ("YK", "Tốt"), ("field_code", "ho-tich")])
    with app.test_request_context():
        first = build_survey_form(instrument, FIELDS, "vi", formdata=posted)
        second = build_survey_form(instrument, FIELDS, "vi", formdata=MultiDict([("TC1", "9"), ("TC1", "2")]))
        assert not first.validate() and not second.validate()
        for form in (first, second):
            for field in form:
                assert field._form is form and field.meta is form.meta
        assert (first.TC1.data, first.UT.data, first.YK.data) == ("4", ["time", "online"], "Tốt")
        assert (second.TC1.data, second.UT.data, second.YK.data) == ("9", [], None)
        assert first.TC1.errors == [] and second.TC1.errors == ["Xin vui lòng chỉ chọn một câu trả lời."]
        assert first.HL.errors == second.HL.errors == ["Xin Ông/Bà vui lòng trả lời câu hỏi này."]

        translations = first.meta.get_translations(first)
        for name in ("TC1", "UT", "YK", "field_code"):
            built = UnboundField.bind(getattr(type(first), name), form=first, name=name, translations=translations)
            built.process(posted)
            built.validate(first)
            assert _state(built) == _state(first[name]), name
