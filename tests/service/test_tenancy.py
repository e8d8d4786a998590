"""Tenancy: X-Org-ID and namespace are required and isolate every read, write and delete."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

NS = "demo"
V1_CALLS = [
    ("post", "/v1/items:upsert", {"namespace": NS, "items": [{"item_id": "a"}]}),
    ("post", "/v1/users:upsert", {"namespace": NS, "users": [{"user_id": "u"}]}),
    (
        "post",
        "/v1/events:batch",
        {"namespace": NS, "events": [{"user_id": "u", "item_id": "a", "type": 0}]},
    ),
    ("post", "/v1/items:delete", {"namespace": NS}),
    ("post", "/v1/users:delete", {"namespace": NS}),
    ("post", "/v1/events:delete", {"namespace": NS}),
    ("get", "/v1/items", None),
    ("get", "/v1/users", None),
    ("get", "/v1/events", None),
]


def call(client: TestClient, method: str, path: str, body: dict | None, headers: dict):
    if method == "get":
        return client.get(path, params={"namespace": NS}, headers=headers)
    return client.post(path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), V1_CALLS)
def test_org_header_is_required_and_must_be_a_uuid(client: TestClient, method, path, body) -> None:
    r = call(client, method, path, body, {})
    assert r.status_code == 400
    assert r.json()["code"] == "missing_org_id"
    r = call(client, method, path, body, {"X-Org-ID": "acme"})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_org_id"
    assert set(r.json()) == {"code", "message", "details", "request_id"}


@pytest.mark.parametrize("namespace", ["", "has space", "x" * 65, "semi;colon", "ünï"])
def test_namespace_is_validated(client: TestClient, headers: dict, namespace: str) -> None:
    body = {"namespace": namespace, "items": [{"item_id": "a"}]}
    assert client.post("/v1/items:upsert", json=body, headers=headers).status_code == 422
    r = client.get("/v1/items", params={"namespace": namespace}, headers=headers)
    assert r.status_code == 422
    r = client.post("/v1/items:upsert", json={"items": [{"item_id": "a"}]}, headers=headers)
    assert r.status_code == 422 and r.json()["details"]["errors"][0]["loc"] == "namespace"


def test_org_uuid_is_canonicalised(client: TestClient, org: str) -> None:
    upper = {"X-Org-ID": org.upper()}
    client.post(
        "/v1/items:upsert", json={"namespace": NS, "items": [{"item_id": "a"}]}, headers=upper
    )
    r = client.get("/v1/items", params={"namespace": NS}, headers={"X-Org-ID": org})
    assert [i["item_id"] for i in r.json()["items"]] == ["a"]


def seed(client: TestClient, org: str, namespace: str, marker: str) -> None:
    h = {"X-Org-ID": org}
    client.post(
        "/v1/items:upsert",
        json={
            "namespace": namespace,
            "items": [{"item_id": "shared", "title": marker, "embedding": [1.0]}],
        },
        headers=h,
    )
    client.post(
        "/v1/users:upsert",
        json={"namespace": namespace, "users": [{"user_id": "u", "traits": {"who": marker}}]},
        headers=h,
    )
    client.post(
        "/v1/events:batch",
        json={
            "namespace": namespace,
            "events": [
                {
                    "event_id": "e1",
                    "user_id": "u",
                    "item_id": "shared",
                    "type": 0,
                    "meta": {"who": marker},
                }
            ],
        },
        headers=h,
    )


def snapshot(client: TestClient, org: str, namespace: str) -> tuple:
    h = {"X-Org-ID": org}
    q = {"namespace": namespace}
    return (
        client.get("/v1/items", params=q, headers=h).json()["items"],
        client.get("/v1/users", params=q, headers=h).json()["users"],
        client.get("/v1/events", params=q, headers=h).json()["events"],
    )


def test_orgs_and_namespaces_never_see_or_touch_each_other(client: TestClient, org: str) -> None:
    other_org = str(uuid.uuid4())
    seed(client, org, NS, "A")
    before = snapshot(client, org, NS)
    assert before[0][0]["title"] == "A"

    # Same ids in another org and in another namespace of the same org.
    seed(client, other_org, NS, "B")
    seed(client, org, "other-ns", "C")
    assert snapshot(client, org, NS) == before
    assert snapshot(client, other_org, NS)[0][0]["title"] == "B"
    # The re-sent event_id "e1" in another tenant is not a duplicate of ours.
    assert len(snapshot(client, other_org, NS)[2]) == 1

    # Another org's embedding dimension does not constrain ours.
    h_other = {"X-Org-ID": other_org}
    r = client.post(
        "/v1/items:upsert",
        json={"namespace": "dims", "items": [{"item_id": "x", "embedding": [1.0, 2.0]}]},
        headers=h_other,
    )
    assert r.status_code == 200
    r = client.post(
        "/v1/items:upsert",
        json={"namespace": "dims", "items": [{"item_id": "x", "embedding": [1.0]}]},
        headers={"X-Org-ID": org},
    )
    assert r.status_code == 200

    # Whole-namespace deletes by org B remove only org B's rows.
    for kind in ("items", "users", "events"):
        r = client.post(f"/v1/{kind}:delete", json={"namespace": NS}, headers=h_other)
        assert r.json()["deleted_count"] == 1
        r = client.post(
            f"/v1/{kind}:delete",
            json={"namespace": NS, **({"item_ids": ["shared"]} if kind == "items" else {})},
            headers=h_other,
        )
        assert r.json()["deleted_count"] == 0
    assert snapshot(client, org, NS) == before
    assert snapshot(client, org, "other-ns")[0][0]["title"] == "C"
