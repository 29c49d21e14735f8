"""Configuration classes. Reading this module has no side effects beyond reading the environment."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"
DEVELOPMENT_SECRET = "dev-only-secret-not-for-production"


def _database_url(default: str) -> str:
    url = os.environ.get("DATABASE_URL", "").strip() or default
    # Heroku-style URLs name the old dialect; SQLAlchemy 2 wants the driver spelled out.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY") or DEVELOPMENT_SECRET
    SQLALCHEMY_DATABASE_URI = _database_url(f"sqlite:///{INSTANCE_DIR / 'sipas.db'}")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
    SUPPORTED_LOCALES = ("vi", "en")
    # A citizen may take a while on the form; the CSRF token must outlive a slow visit.
    WTF_CSRF_TIME_LIMIT = 4 * 3600
    MAX_CONTENT_LENGTH = 64 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 365 * 24 * 3600
    DEFAULT_INSTRUMENT = os.environ.get("SIPAS_DEFAULT_INSTRUMENT", "sipas-dvhcc-2023@1")
    # Submissions faster than this are flagged as implausibly fast (not refused).
    MIN_PLAUSIBLE_SECONDS = 20
    # The form's signed start time is accepted for this long.
    FORM_MAX_AGE_SECONDS = 24 * 3600
    DEMO_PASSWORD = os.environ.get("SIPAS_DEMO_PASSWORD")
    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret"
    SQLALCHEMY_DATABASE_URI = _database_url("sqlite://")


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def check(cls) -> None:
        secret = os.environ.get("SECRET_KEY", "")
        if not secret or secret == DEVELOPMENT_SECRET or len(secret) < 32:
            raise RuntimeError(
                "SECRET_KEY must be set to a random value of at least 32 characters in production"
            )
        if not os.environ.get("DATABASE_URL"):
            raise RuntimeError("DATABASE_URL must be set in production")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
