"""Configuration classes. Importing this module has no side effects; the environment is read
when an application is created (``settings_from_environment``)."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"
DEVELOPMENT_SECRET = "dev-only-secret-not-for-production"


def normalise_database_url(url: str) -> str:
    """Spell out the psycopg 3 driver, which SQLAlchemy 2 does not pick by default."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    SECRET_KEY = DEVELOPMENT_SECRET
    SQLALCHEMY_DATABASE_URI = f"sqlite:///{INSTANCE_DIR / 'sipas.db'}"
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # PostgreSQL server settings for the app's connections (``app.database``). No JIT: the
    # planner compiles a statement whose estimated cost passes ``jit_above_cost``, at every
    # execution that is planned afresh. A submission's insert (with its fraud look-up) passes
    # it whenever the statistics of ``answers`` are missing or stale: 30-40 ms of PostgreSQL's
    # CPU instead of about 1.5 ms, 440 ms once the estimate passes ``jit_optimize_above_cost``
    # (measured 28 November 2026, bench/load/RESULTS.md). The app's statements are short
    # look-ups and inserts, which JIT does not speed up.
    POSTGRES_OPTIONS = "-c jit=off"
    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
    SUPPORTED_LOCALES = ("vi", "en")
    # A citizen may take a while on the form; the CSRF token must outlive a slow visit.
    WTF_CSRF_TIME_LIMIT = 4 * 3600
    MAX_CONTENT_LENGTH = 64 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 365 * 24 * 3600
    DEFAULT_INSTRUMENT = "sipas-dvhcc-2023@1"
    # The form's signed start time is accepted for this long.
    FORM_MAX_AGE_SECONDS = 24 * 3600
    DEMO_PASSWORD: str | None = None
    # Keys that sign poster links, oldest first; the last one signs. Empty: SECRET_KEY.
    LINK_SIGNING_KEYS: tuple[str, ...] = ()
    # Key for the hashes of dossier codes and link tokens. Empty: SECRET_KEY.
    LINK_HASH_KEY: str | None = None
    DOSSIER_LINK_DAYS = 30
    # Public address printed on posters and links (e.g. https://hailong.quangninh.gov.vn).
    PUBLIC_BASE_URL: str | None = None
    # The RATELIMIT_* settings are Flask-Limiter's (the login's limit); the survey's limits
    # (``app.survey_limits``) share its storage, options and in-memory fallback.
    RATELIMIT_STORAGE_URI = "memory://"
    # The X-RateLimit-* headers would cost two Redis round trips on every limited request; a
    # refusal (429) still says when to retry (``app.errors``).
    RATELIMIT_HEADERS_ENABLED = False
    # Fixed windows, as the survey's own limits: a limit costs one read to test it and one INCR
    # (with its expiry, one script) to count; the moving window keeps a sorted set per key.
    RATELIMIT_STRATEGY = "fixed-window"
    # When Redis is unreachable, keep limiting in each worker's memory (and log it) rather than fail.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # A storage error after a response is committed must not turn it into a 500 (issue 7's
    # Redis fault), and a hung Redis must not hang requests.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_timeout": 0.2, "socket_connect_timeout": 0.2}
    # Survey submissions (counted when accepted). A centre's shared Wi-Fi is one network, so the
    # device (first-party cookie) and the centre carry the tight limits, the network a loose one.
    SURVEY_LIMIT_DEVICE = "5 per hour;10 per day"
    SURVEY_LIMIT_CENTER = "40 per 10 minutes"
    SURVEY_LIMIT_NETWORK = "300 per hour"
    # Seconds each worker remembers the centres, fields and posters the survey reads
    # (``app.services.survey_lookups``; 0: read them every time). A submission's insert checks
    # them again, so what changed meanwhile is refused or corrected all the same.
    SURVEY_LOOKUP_SECONDS = 30.0
    # A submission faster than this is refused (a person can resubmit a moment later);
    # slower but still implausible ones are only flagged (analysis.integrity.Rules).
    SUBMIT_HARD_MIN_BASE = 3.0
    SUBMIT_HARD_MIN_PER_ANSWER = 0.3
    # Hash key of device and network identifiers (daily keys are derived from it). Empty: SECRET_KEY.
    LINKAGE_KEY: str | None = None
    # Behind a reverse proxy: how many proxies set X-Forwarded-For (0: none).
    PROXY_COUNT = 0
    # Staff views and public output hide figures from fewer responses than this; analysts see them, flagged.
    SMALL_CELL_MINIMUM = 10
    TESTING = False
    DEBUG = False

    @classmethod
    def settings_from_environment(cls, environ: dict) -> dict:
        settings = {}
        if environ.get("DATABASE_URL", "").strip():
            settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(environ["DATABASE_URL"].strip())
        if environ.get("SECRET_KEY"):
            settings["SECRET_KEY"] = environ["SECRET_KEY"]
        if environ.get("SIPAS_DEMO_PASSWORD"):
            settings["DEMO_PASSWORD"] = environ["SIPAS_DEMO_PASSWORD"]
        if environ.get("SIPAS_DEFAULT_INSTRUMENT"):
            settings["DEFAULT_INSTRUMENT"] = environ["SIPAS_DEFAULT_INSTRUMENT"]
        if environ.get("SIPAS_LINK_SIGNING_KEYS"):
            settings["LINK_SIGNING_KEYS"] = tuple(k.strip() for k in environ["SIPAS_LINK_SIGNING_KEYS"].split(",") if k.strip())
        if environ.get("SIPAS_LINK_HASH_KEY"):
            settings["LINK_HASH_KEY"] = environ["SIPAS_LINK_HASH_KEY"]
        if environ.get("SIPAS_DOSSIER_LINK_DAYS", "").isdigit():
            settings["DOSSIER_LINK_DAYS"] = int(environ["SIPAS_DOSSIER_LINK_DAYS"])
        if environ.get("SIPAS_BASE_URL"):
            settings["PUBLIC_BASE_URL"] = environ["SIPAS_BASE_URL"].rstrip("/")
        if environ.get("RATELIMIT_STORAGE_URI"):
            settings["RATELIMIT_STORAGE_URI"] = environ["RATELIMIT_STORAGE_URI"]
        for name in ("DEVICE", "CENTER", "NETWORK"):
            if environ.get(f"SIPAS_LIMIT_{name}"):
                settings[f"SURVEY_LIMIT_{name}"] = environ[f"SIPAS_LIMIT_{name}"]
        if environ.get("SIPAS_LINKAGE_KEY"):
            settings["LINKAGE_KEY"] = environ["SIPAS_LINKAGE_KEY"]
        if "SIPAS_POSTGRES_OPTIONS" in environ:
            settings["POSTGRES_OPTIONS"] = environ["SIPAS_POSTGRES_OPTIONS"]
        if environ.get("SIPAS_PROXY_COUNT", "").isdigit():
            settings["PROXY_COUNT"] = int(environ["SIPAS_PROXY_COUNT"])
        return settings


class DevelopmentConfig(Config):
    pass


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    # Tests submit forms in milliseconds; the tests of these rules switch them back on.
    SUBMIT_HARD_MIN_BASE = 0.0
    SUBMIT_HARD_MIN_PER_ANSWER = 0.0
    # Tests change centres and fields between requests; the tests of the survey's memory set it.
    SURVEY_LOOKUP_SECONDS = 0.0

    @classmethod
    def settings_from_environment(cls, environ: dict) -> dict:
        # Tests choose their database explicitly (tests/conftest.py) and never use a real secret.
        return {}


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def settings_from_environment(cls, environ: dict) -> dict:
        secret = environ.get("SECRET_KEY", "")
        if not secret or secret == DEVELOPMENT_SECRET or len(secret) < 32:
            raise RuntimeError("SECRET_KEY must be set to a random value of at least 32 characters in production")
        if not environ.get("DATABASE_URL", "").strip():
            raise RuntimeError("DATABASE_URL must be set in production")
        return super().settings_from_environment(environ)


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
