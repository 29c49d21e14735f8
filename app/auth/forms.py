from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[InputRequired(message=_l("Please enter your e-mail.")), Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[InputRequired(message=_l("Please enter your password.")), Length(max=200)]
    )
