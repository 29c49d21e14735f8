"""Forms of the administration pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from app.services.administration import CENTER_CODE, SHORT_CODE
from surveys import available_instruments



def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


LEVELS = [("province", _l("Province")), ("district", _l("District (before 1 July 2025)")), ("commune", _l("Commune, ward or special zone"))]
ROLES = [("admin", _l("Administrator")), ("analyst", _l("Analyst")), ("staff", _l("Centre staff"))]
REQUIRED = _l("This field is required.")


def _after(start_field: str):
    def check(form, field):
        start = form[start_field].data
        if field.data and start and field.data < start:
            raise ValidationError(_l("Must not be before the start date."))

    return check


class UnitForm(FlaskForm):
    code = StringField(_l("Code"), validators=[InputRequired(REQUIRED), Regexp(SHORT_CODE, message=_l("Letters, digits, dots, hyphens; at most 32."))])
    name = StringField(_l("Name"), validators=[InputRequired(REQUIRED), Length(max=200)])
    level = SelectField(_l("Level"), choices=choices(LEVELS))
    parent_id = SelectField(_l("Part of"), coerce=int, validate_choice=True)
    valid_from = DateField(_l("Valid from"), validators=[InputRequired(REQUIRED)])
    valid_to = DateField(_l("Valid until"), validators=[Optional(), _after("valid_from")])

    def validate_parent_id(self, field):
        if (self.level.data == "province") != (field.data == 0):
            raise ValidationError(_l("A province has no parent; districts and communes need one."))


class CenterForm(FlaskForm):
    code = StringField(
        _l("Code"),
        description=_l("Used in the survey address /s/<code>; lowercase letters, digits and hyphens."),
        validators=[InputRequired(REQUIRED), Regexp(CENTER_CODE, message=_l("2 to 32 lowercase letters, digits and hyphens."))],
    )
    name_vi = StringField(_l("Name in Vietnamese"), validators=[InputRequired(REQUIRED), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[InputRequired(REQUIRED), Length(max=200)])
    unit_id = SelectField(_l("Administrative unit"), coerce=int)
    level = SelectField(_l("Level"), choices=choices(LEVELS))
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    instrument_key = SelectField(_l("Questionnaire"))
    valid_from = DateField(_l("Valid from"), validators=[InputRequired(REQUIRED)])
    valid_to = DateField(_l("Valid until"), validators=[Optional(), _after("valid_from")])
    active = BooleanField(_l("Active (accepts responses)"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instrument_key.choices = choices([("", _l("Platform default"))] + [(k, k) for k in available_instruments()])


class CounterForm(FlaskForm):
    code = StringField(_l("Code"), validators=[InputRequired(REQUIRED), Regexp(SHORT_CODE, message=_l("Letters, digits, dots, hyphens; at most 32."))])
    name = StringField(_l("Name"), description=_l("As printed on the poster, e.g. “Quầy số 3”."), validators=[InputRequired(REQUIRED), Length(max=200)])
    active = BooleanField(_l("Active"), default=True)


class FieldForm(FlaskForm):
    code = StringField(_l("Code"), validators=[InputRequired(REQUIRED), Regexp(SHORT_CODE, message=_l("Letters, digits, dots, hyphens; at most 32."))])
    name_vi = StringField(_l("Name in Vietnamese"), validators=[InputRequired(REQUIRED), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[InputRequired(REQUIRED), Length(max=200)])
    active = BooleanField(_l("Active"), default=True)


class UserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[InputRequired(REQUIRED), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Not a valid e-mail address.")), Length(max=254)])
    name = StringField(_l("Name"), validators=[InputRequired(REQUIRED), Length(max=200)])
    role = SelectField(_l("Role"), choices=choices(ROLES))
    center_ids = SelectMultipleField(_l("Centres (staff only)"), coerce=int)
    password = PasswordField(
        _l("New password"),
        description=_l("At least 12 characters. Leave empty to keep the current password."),
        validators=[Optional(), Length(min=12, max=200, message=_l("At least 12 characters."))],
    )
    active = BooleanField(_l("Active"), default=True)


class ImportForm(FlaskForm):
    file = FileField(
        _l("CSV file (UTF-8)"),
        validators=[FileRequired(REQUIRED), FileAllowed(["csv", "txt"], _l("Choose a .csv file."))],
    )
