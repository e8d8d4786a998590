"""API keys (off by default) and the per-key / per-org rate limit."""

from __future__ import annotations

import logging
import tracemalloc
import uuid

import pytest
from fastapi.testclient import TestClient

from recsys.config.settings import Settings, SettingsError, parse_api_keys
from recsys.service.auth import RateLimiter

ORG_A = "11111111-1111-1111-1111-111111111111"
ORG_B = "22222222-2222-2222-2222-222222222222"
LIST = ("/v1/items", {"namespace": "demo"})


def auth_client(make_client) -> TestClient:
    keys = parse_api_keys(f"alpha-secret:{ORG_A}|{ORG_B},omega-secret:*, beta-secret:{ORG_B}")
    return make_client(auth_enabled=True, api_keys=keys)


def get(client: TestClient, org: str, **headers: str):
    return client.get(LIST[0], params=LIST[1], headers={"X-Org-ID": org, **headers})


def test_auth_is_off_by_default(client: TestClient) -> None:
    assert get(client, ORG_A).status_code == 200


def test_missing_and_unknown_keys_are_401(make_client) -> None:
    client = auth_client(make_client)
    r = get(client, ORG_A)
    assert r.status_code == 401 and r.json()["code"] == "missing_api_key"
    r = get(client, ORG_A, **{"X-API-Key": "nope"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
    r = get(client, ORG_A, Authorization="Basic alpha-secret")
    assert r.status_code == 401


def test_keys_work_in_either_header_and_are_scoped_to_orgs(make_client) -> None:
    client = auth_client(make_client)
    assert get(client, ORG_A, **{"X-API-Key": "alpha-secret"}).status_code == 200
    assert get(client, ORG_B, Authorization="Bearer alpha-secret").status_code == 200
    assert get(client, str(uuid.uuid4()), **{"X-API-Key": "omega-secret"}).status_code == 200
    r = get(client, ORG_A, **{"X-API-Key": "beta-secret"})
    assert r.status_code == 403 and r.json()["code"] == "org_not_allowed"
    # Ops endpoints stay open for probes.
    assert client.get("/health").status_code == 200


def test_keys_are_never_printed(caplog: pytest.LogCaptureFixture, make_client) -> None:
    keys = parse_api_keys(f"alpha-secret:{ORG_A}")
    settings = Settings(auth_enabled=True, api_keys=keys)
    assert "alpha-secret" not in repr(settings)
    with caplog.at_level(logging.DEBUG):
        client = auth_client(make_client)
        get(client, ORG_A, **{"X-API-Key": "alpha-secret"})
        get(client, ORG_A, **{"X-API-Key": "wrong-secret"})
    assert "alpha-secret" not in caplog.text and "wrong-secret" not in caplog.text
    with pytest.raises(SettingsError) as info:
        parse_api_keys("hunter2-key")
    assert "hunter2" not in str(info.value)


def test_settings_from_env() -> None:
    env = {
        "API_AUTH_ENABLED": "true",
        "API_AUTH_KEYS": f"k1:{ORG_A},k2:*",
        "API_RATE_LIMIT_RPM": "120",
        "API_RATE_LIMIT_BURST": "5",
        "RECSYS_DATABASE_URL": "sqlite:///x.db",
    }
    settings = Settings.from_env(env)
    assert settings.auth_enabled and len(settings.api_keys) == 2
    assert settings.rate_limit_rpm == 120 and settings.rate_limit_burst == 5
    assert settings.database_url == "sqlite:///x.db"
    assert Settings.from_env({}).database_url == "sqlite:///./var/recsys.db"
    with pytest.raises(SettingsError):
        Settings.from_env({"API_AUTH_ENABLED": "true"})
    with pytest.raises(SettingsError):
        Settings.from_env({"API_AUTH_ENABLED": "maybe"})
    with pytest.raises(SettingsError):
        Settings.from_env({"API_AUTH_KEYS": "k:not-a-uuid"})
    with pytest.raises(SettingsError):
        Settings.from_env({"API_RATE_LIMIT_RPM": "-1"})


def test_rate_limit_returns_429_with_retry_after(make_client) -> None:
    client = make_client(rate_limit_rpm=60, rate_limit_burst=3)
    statuses = [get(client, ORG_A).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = get(client, ORG_A)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    # Buckets are per org when auth is off: another org is unaffected.
    assert get(client, ORG_B).status_code == 200


def test_rate_limit_is_per_key_when_auth_is_on(make_client) -> None:
    keys = parse_api_keys("k1:*,k2:*")
    client = make_client(auth_enabled=True, api_keys=keys, rate_limit_rpm=60, rate_limit_burst=1)
    assert get(client, ORG_A, **{"X-API-Key": "k1"}).status_code == 200
    assert get(client, ORG_B, **{"X-API-Key": "k1"}).status_code == 429
    assert get(client, ORG_A, **{"X-API-Key": "k2"}).status_code == 200


def test_token_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_minute=60, burst=2, monotonic=lambda: now[0])
    assert limiter.acquire("k") == 0 and limiter.acquire("k") == 0
    wait = limiter.acquire("k")
    assert wait == pytest.approx(1.0)
    now[0] += 0.5
    assert limiter.acquire("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.acquire("k") == 0
    # Default burst is one minute's worth.
    assert RateLimiter(rate_per_minute=30, burst=0, monotonic=lambda: 0.0).capacity == 30


def test_refilled_buckets_are_dropped_without_changing_what_anyone_gets() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_minute=60, burst=2, monotonic=lambda: now[0])
    for key in ("a", "b", "c"):
        limiter.acquire(key)
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") > 0  # "a" is empty, "b" and "c" half full
    now[0] += 1.0  # "b" and "c" are full again, "a" holds one token
    limiter.acquire("d")
    assert len(limiter) == 2  # "b" and "c" were the oldest and full: gone
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") > 0  # "a" kept its state


def test_a_hundred_thousand_org_ids_leave_memory_bounded() -> None:
    limiter = RateLimiter(rate_per_minute=600, burst=5, monotonic=lambda: 0.0, max_buckets=1_000)
    tracemalloc.start()
    try:
        for i in range(1_000):
            limiter.acquire(f"org-{i}")
        at_cap, _ = tracemalloc.get_traced_memory()
        for i in range(1_000, 100_000):
            limiter.acquire(f"org-{i}")
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(limiter) == 1_000
    assert after < at_cap * 1.5  # 99,000 more ids, no more memory


def test_the_service_caps_its_buckets(make_client) -> None:
    # one token a minute: no bucket refills (and is dropped as refilled) during the test
    client = make_client(rate_limit_rpm=1, rate_limit_burst=5, rate_limit_max_keys=20)
    for _ in range(100):
        assert get(client, str(uuid.uuid4())).status_code == 200
    assert len(client.app.state.recsys.limiter) == 20
