"""Survey instruments as versioned data files, with a pure loader and validator.

Never imports Flask, SQLAlchemy or ``app``.
"""

from surveys.loader import (
    InstrumentError,
    available_instruments,
    canonical_bytes,
    check_lock,
    definition_sha256,
    load_instrument,
    load_instrument_file,
    parse_instrument,
    parse_key,
)
from surveys.model import IndexDefinition, Instrument, Option, Question, Section, Text

__all__ = [
    "IndexDefinition",
    "Instrument",
    "InstrumentError",
    "Option",
    "Question",
    "Section",
    "Text",
    "available_instruments",
    "canonical_bytes",
    "check_lock",
    "definition_sha256",
    "load_instrument",
    "load_instrument_file",
    "parse_instrument",
    "parse_key",
]
