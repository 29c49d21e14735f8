"""Forms of the analyst's workspace (the filters are a plain GET form, not here)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp

PERIOD = r"^(19|20)\d\d(-Q[1-4]|-(0[1-9]|1[0-2]))?$"


class TotalsForm(FlaskForm):
    period = StringField(
        _l("Period"),
        description=_l("Year (2026), quarter (2026-Q3) or month (2026-07)."),
        validators=[InputRequired(_l("This field is required.")), Regexp(PERIOD, message=_l("Write a year, a quarter or a month: 2026, 2026-Q3 or 2026-07."))],
    )
    kind = SelectField(
        _l("Use"),
        choices=[
            SelectChoice("poststrat", _l("Post-stratification table (one per period)")),
            SelectChoice("margin", _l("Raking margin (one per set of key columns)")),
        ],
    )
    file = FileField(
        _l("Totals file (CSV)"),
        description=_l("Key columns such as center_code and field_code, and a population column (e.g. dossiers received). UTF-8, comma or semicolon."),
        validators=[FileRequired(_l("Choose a CSV file."))],
    )


class ReviewForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=[SelectChoice("include", _l("Count it in the indices")), SelectChoice("exclude", _l("Leave it out of the indices"))],
        validators=[InputRequired(_l("Choose a decision."))],
    )
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=500)])
