"""The survey's rate limits on Redis, their production storage (``.ci/run`` starts Redis).

The other limit tests use the memory storage; these check that the same semantics hold on Redis
with the pinned redis-py: counted on accepted submissions only, refused past the limit with
``Retry-After``, the counters really kept in Redis and read and counted in one round trip each,
and the fallback to memory when Redis goes away.
"""

from __future__ import annotations

import logging

import pytest
import redis

from app import survey_limits
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
    app.config.update(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True)
    survey_limits.init_app(app)
    try:
        yield store
    finally:
        app.config.update(saved)
        survey_limits.init_app(app)
        store.flushdb()
        store.close()


@pytest.fixture()
def commands(app, on_redis, monkeypatch):
    """The names of the commands the survey's limits send to Redis; ``fail`` (a set of names)
    makes those fail as if Redis had gone away."""
    connection = app.extensions["survey_limits"].storage.get_connection()
    sent, fail = [], set()
    original = connection.execute_command

    def execute(*args, **options):
        sent.append(args[0])
        if args[0] in fail or "*" in fail:
            raise redis.ConnectionError("Redis went away (test)")
        return original(*args, **options)

    monkeypatch.setattr(connection, "execute_command", execute)
    return sent, fail


def test_limits_count_accepted_submissions_in_redis(app, survey_center, on_redis, db):
    app.config["SURVEY_LIMIT_CENTER"] = "2 per 10 minutes"
    phone = app.test_client()
    tokens = hidden_inputs(phone.get("/s/qn-test").get_data(as_text=True))
    invalid = {**complete_answers(), "TC1": "9"}
    assert phone.post("/s/qn-test", data={**tokens, **invalid}).status_code == 422  # not counted
    statuses = [submit(app.test_client()).status_code for _ in range(3)]
    assert statuses == [303, 303, 429]
    assert responses(db) == 2
    centre_keys = [key for key in on_redis.keys("*") if b"center" in key]
    assert len(centre_keys) == 1 and on_redis.get(centre_keys[0]) == b"2"
    assert 590 <= on_redis.ttl(centre_keys[0]) <= 600  # the window started with the first count


def test_a_submission_reads_its_four_limits_in_one_round_trip_and_counts_them_in_one(app, survey_center, client, commands, db):
    sent, _ = commands
    tokens = hidden_inputs(client.get("/s/qn-test").get_data(as_text=True))
    assert sent == []
    assert client.post("/s/qn-test", data={**tokens, **complete_answers()}).status_code == 303
    assert sent in (["MGET", "EVALSHA"], ["MGET", "EVALSHA", "EVAL"])  # EVAL when the script was not loaded yet
    assert len(app.extensions["survey_limits"].storage.get_connection().keys("*")) == 4


def test_a_refusal_on_redis_says_when_to_retry(app, survey_center, on_redis, client, db):
    app.config["SURVEY_LIMIT_DEVICE"] = "1 per hour"
    assert submit(client).status_code == 303
    refused = submit(client)
    assert refused.status_code == 429
    assert 3590 <= int(refused.headers["Retry-After"]) <= 3600
    assert "Có quá nhiều lượt gửi" in refused.get_data(as_text=True)


def test_without_redis_the_limits_fall_back_to_memory_say_so_and_come_back(app, survey_center, client, on_redis, commands, db, caplog, monkeypatch):
    app.config["SURVEY_LIMIT_DEVICE"] = "1 per hour"
    _, fail = commands
    fail.add("*")
    with caplog.at_level(logging.INFO, logger="app.survey_limits"):
        assert submit(client).status_code == 303
        assert "Rate limit storage unreachable - falling back to in-memory storage" in caplog.text
        assert submit(client).status_code == 429  # still limited, in this worker's memory
        assert submit(app.test_client()).status_code == 303
        assert "recovered" not in caplog.text
        fail.clear()
        limits = app.extensions["survey_limits"]
        monkeypatch.setattr(limits, "_next_check", 0.0)  # the next check is due
        assert submit(app.test_client()).status_code == 303
    assert "Rate limit storage recovered" in caplog.text
    assert responses(db) == 3
    assert [key for key in on_redis.keys("*") if b"center" in key]  # counted on Redis again


def test_redis_lost_while_counting_keeps_the_submission_and_counts_it_in_memory(app, survey_center, client, commands, db, caplog):
    app.config["SURVEY_LIMIT_DEVICE"] = "1 per hour"
    _, fail = commands
    fail.update({"EVALSHA", "EVAL"})
    with caplog.at_level(logging.WARNING, logger="app.survey_limits"):
        assert submit(client).status_code == 303
    assert "falling back to in-memory storage" in caplog.text
    assert responses(db) == 1
    assert submit(client).status_code == 429


def test_without_a_fallback_an_unreachable_redis_lets_submissions_through(app, survey_center, client, on_redis, db, caplog):
    # Nothing listens on port 1.
    app.config.update(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=False, SURVEY_LIMIT_DEVICE="1 per hour")
    survey_limits.init_app(app)
    with caplog.at_level(logging.ERROR, logger="app.survey_limits"):
        assert [submit(client).status_code for _ in range(2)] == [303, 409]  # 409: one per device per day
    assert "no fallback" in caplog.text
    assert responses(db) == 1
