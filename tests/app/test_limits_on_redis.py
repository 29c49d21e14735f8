"""The survey's rate limits on Redis, their production storage (``.ci/run`` starts Redis).

The other limit tests use Flask-Limiter's memory storage; these check that the same semantics
hold on Redis with the pinned redis-py: counted on accepted submissions only, refused past the
limit with ``Retry-After``, and the counters really kept in Redis.
"""

from __future__ import annotations

import pytest
import redis

from app.extensions import limiter
from tests.app.conftest import complete_answers, hidden_inputs
from tests.app.test_integrity import responses, submit

# A database of its own, emptied before and after (the benchmarks use 0 and 3).
REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture()
def on_redis(app):
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    store.ping()  # no Redis is a failure, not a skip: CI starts it
    store.flushdb()
    saved = {
        key: app.config.get(key)
        for key in ("RATELIMIT_STORAGE_URI", "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", "SURVEY_LIMIT_CENTER", "SURVEY_LIMIT_DEVICE")
    }
    app.config.update(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=False)
    limiter.init_app(app)
    try:
        yield store
    finally:
        app.config.update(saved)
        limiter.init_app(app)
        store.flushdb()
        store.close()


def test_limits_count_accepted_submissions_in_redis(app, survey_center, on_redis, db):
    app.config["SURVEY_LIMIT_CENTER"] = "2 per 10 minutes"
    phone = app.test_client()
    tokens = hidden_inputs(phone.get("/s/qn-test").get_data(as_text=True))
    invalid = {**complete_answers(), "TC1": "9"}
    assert phone.post("/s/qn-test", data={**tokens, **invalid}).status_code == 422  # not counted
    statuses = [submit(app.test_client()).status_code for _ in range(3)]
    assert statuses == [303, 303, 429]
    assert responses(db) == 2
    assert any(b"center" in key for key in on_redis.keys("*"))


def test_a_refusal_on_redis_says_when_to_retry(app, survey_center, on_redis, client, db):
    app.config["SURVEY_LIMIT_DEVICE"] = "1 per hour"
    assert submit(client).status_code == 303
    refused = submit(client)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert "Có quá nhiều lượt gửi" in refused.get_data(as_text=True)
