"""Security headers and cookie flags, in development and in production."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "p" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/unused")
    return create_app("production").test_client()


@pytest.mark.parametrize("path", ["/s/qn-test", "/auth/login", "/static/site.css", "/healthz", "/nope"])
def test_headers_on_every_kind_of_page(survey_center, client, path):
    response = client.get(path)
    response.close()
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy and "form-action 'self'" in policy
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # development serves plain http


def test_production_sends_hsts_and_secure_cookies(production):
    response = production.get("/auth/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_database_outage_is_a_vietnamese_503(production):
    response = production.get("/s/qn-ha-long")
    assert response.status_code == 503
    assert "Hệ thống đang tạm gián đoạn" in response.get_data(as_text=True)
    assert production.get("/healthz").status_code == 503


def test_bandit_finds_no_high_severity_issue():
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-r", "app", "analysis", "surveys", "--severity-level", "high"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
