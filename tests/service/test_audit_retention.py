"""Audit records can be erased (a namespace's, one user's, those before an instant), expire
after the retention period, and one unwritable record never costs the rest of its batch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from recsys.clock import to_micros
from recsys.service.audit import DecisionRecorder, user_hash
from recsys.store import Store
from recsys.store.control import search_decisions
from tests.conftest import FakeClock

NS = "shop"


def recommend(client: TestClient, headers: dict, user: str, namespace: str = NS) -> str:
    body = {"namespace": namespace, "user_id": user, "k": 3}
    r = client.post("/v1/recommendations", json=body, headers=headers)
    assert r.status_code == 200, r.text
    decision: str = r.json()["decision_id"]
    return decision


def decisions(client: TestClient, headers: dict, **query: Any) -> set[str]:
    r = client.get("/v1/audit/decisions", params={"limit": 1000, **query}, headers=headers)
    assert r.status_code == 200, r.text
    return {d["decision_id"] for d in r.json()["decisions"]}


def erase(client: TestClient, headers: dict, **body: Any) -> int:
    r = client.post("/v1/audit/decisions:delete", json={"namespace": NS, **body}, headers=headers)
    assert r.status_code == 200, r.text
    deleted: int = r.json()["deleted_count"]
    return deleted


def test_one_users_records_are_erased_and_nobody_elses(
    shop: TestClient, headers: dict, clock: FakeClock
) -> None:
    mine = {recommend(shop, headers, "u01") for _ in range(3)}
    theirs = {recommend(shop, headers, "u02") for _ in range(2)}
    other_namespace = recommend(shop, headers, "u01", namespace="elsewhere")
    assert erase(shop, headers, user_id="u01") == 3
    assert decisions(shop, headers, namespace=NS) == theirs
    assert decisions(shop, headers, namespace="elsewhere") == {other_namespace}
    assert not mine & decisions(shop, headers)


def test_erasing_before_an_instant_and_everything(
    shop: TestClient, headers: dict, clock: FakeClock
) -> None:
    old = recommend(shop, headers, "u01")
    clock.advance(hours=2)
    new = recommend(shop, headers, "u01")
    until = (clock.now - timedelta(hours=1)).isoformat()
    assert erase(shop, headers, until=until) == 1
    assert decisions(shop, headers, namespace=NS) == {new}
    assert old not in decisions(shop, headers)
    assert erase(shop, headers) == 1
    assert decisions(shop, headers, namespace=NS) == set()


def test_bad_erase_requests_are_422_and_erase_nothing(shop: TestClient, headers: dict) -> None:
    kept = recommend(shop, headers, "u01")
    for body in ({}, {"namespace": NS, "until": "yesterday"}, {"namespace": NS, "x": 1}):
        r = shop.post("/v1/audit/decisions:delete", json=body, headers=headers)
        assert r.status_code == 422, r.text
    assert kept in decisions(shop, headers)


def row(org: str, decision_id: str, created_at_us: int, **extra: Any) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "org_id": org,
        "namespace": NS,
        "created_at_us": created_at_us,
        "user_hash": user_hash(org, "u1"),
        "surface": None,
        "segment_id": None,
        "config_version": 0,
        "rule_ids": [],
        "record": {},
        **extra,
    }


def stored(store: Store, org: str) -> set[str]:
    with store.read() as conn:
        return {r["decision_id"] for r in search_decisions(conn, org_id=org, limit=1000)}


def test_retention_purges_old_records_only(store: Store, org: str, clock: FakeClock) -> None:
    now = to_micros(clock())
    day = 86_400_000_000
    recorder = DecisionRecorder(store, sample=1.0, retention_days=30, now_us=lambda: now)
    for decision_id, age_days in (("d-old", 31), ("d-edge", 29), ("d-new", 0)):
        recorder.record(row(org, decision_id, now - age_days * day))
    recorder.flush()
    assert recorder.purge() >= 1
    assert stored(store, org) == {"d-edge", "d-new"}
    forever = DecisionRecorder(store, sample=1.0, retention_days=0, now_us=lambda: now + 99 * day)
    assert forever.purge() == 0
    assert stored(store, org) == {"d-edge", "d-new"}


def test_an_unwritable_record_does_not_drop_its_batch(
    store: Store, org: str, clock: FakeClock
) -> None:
    now = to_micros(clock())
    recorder = DecisionRecorder(store, sample=1.0)
    recorder.record(row(org, "d-1", now))
    recorder.record(row(org, "d-bad", now, config_version=None))  # NOT NULL: refused
    recorder.record(row(org, "d-2", now))
    recorder.flush()
    assert stored(store, org) == {"d-1", "d-2"}


def test_the_retention_setting_reaches_the_recorder(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(audit_retention_days=7.0)
    assert client.app.state.recsys.audit.retention_days == 7.0  # type: ignore[attr-defined]
