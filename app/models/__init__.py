"""SQLAlchemy models, grouped by topic. Importing this package registers every table."""

from app.models.accounts import ROLES, User, user_centers
from app.models.base import Base, UTCDateTime, utcnow
from app.models.integrity import VIAS, AuditEvent, CenterBaseline, ResponseLinkage, ResponseReview
from app.models.links import ApiToken, Counter, DossierLink, Poster
from app.models.places import UNIT_LEVELS, AdministrativeUnit, Field, ServiceCenter
from app.models.surveys import CHANNELS, LOCALES, Answer, InstrumentVersion, Response, ResponseFlag
from app.models.tallies import MonthTally, TalliedMonth
from app.models.weighting import TOTALS_KINDS, WeightingTotals

__all__ = [
    "CHANNELS",
    "ROLES",
    "LOCALES",
    "UNIT_LEVELS",
    "AdministrativeUnit",
    "ApiToken",
    "AuditEvent",
    "CenterBaseline",
    "ResponseLinkage",
    "ResponseReview",
    "VIAS",
    "Counter",
    "DossierLink",
    "Poster",
    "Answer",
    "Base",
    "Field",
    "InstrumentVersion",
    "MonthTally",
    "Response",
    "ResponseFlag",
    "ServiceCenter",
    "TalliedMonth",
    "UTCDateTime",
    "User",
    "user_centers",
    "utcnow",
    "TOTALS_KINDS",
    "WeightingTotals",
]
