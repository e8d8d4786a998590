"""Ingestion over HTTP: atomic batches, idempotency, validation that writes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

NS = "demo"


def items(*ids: str, **fields: Any) -> list[dict[str, Any]]:
    return [{"item_id": i, **fields} for i in ids]


def list_all(client: TestClient, headers: dict[str, str], kind: str, **params: Any) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        query = {"namespace": NS, "limit": 2, **params}
        if token:
            query["page_token"] = token
        response = client.get(f"/v1/{kind}", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        out.extend(body[kind])
        token = body.get("next_page_token")
        if token is None:
            assert "next_page_token" not in body
            return out


def test_items_upsert_then_list_round_trips_every_field(client: TestClient, headers: dict) -> None:
    item = {
        "item_id": "sku-1",
        "available": False,
        "price": 19.5,
        "brand": "acme",
        "category": "shoes",
        "category_path": ["apparel", "shoes"],
        "tags": ["red", "running"],
        "props": {"margin": 0.3, "sizes": [40, 41]},
        "embedding": [0.1, 0.2, 0.3],
        "title": "Runner",
        "description": "Light shoe",
        "created_at": "2026-01-02T03:04:05.123456Z",
    }
    r = client.post("/v1/items:upsert", json={"namespace": NS, "items": [item]}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"namespace": NS, "upserted": 1}
    (stored,) = list_all(client, headers, "items")
    for key, value in item.items():
        if key == "created_at":
            assert stored[key] == "2026-01-02T03:04:05.123456Z"
        else:
            assert stored[key] == value, key


def test_upsert_replaces_and_keeps_created_at(client: TestClient, headers: dict, clock) -> None:
    body = {"namespace": NS, "items": items("a", title="first", tags=["x"])}
    assert client.post("/v1/items:upsert", json=body, headers=headers).status_code == 200
    created = list_all(client, headers, "items")[0]["created_at"]
    clock.advance(hours=1)
    body = {"namespace": NS, "items": items("a", title="second")}
    assert client.post("/v1/items:upsert", json=body, headers=headers).status_code == 200
    (stored,) = list_all(client, headers, "items")
    assert stored["title"] == "second"
    assert stored["tags"] == []  # replace, not merge
    assert stored["created_at"] == created
    assert stored["updated_at"] > created


def test_events_defaults_and_type_names(client: TestClient, headers: dict, clock) -> None:
    events = [
        {"user_id": "u1", "item_id": "a", "type": "view"},
        {
            "user_id": "u1",
            "item_id": "a",
            "type": "purchase",
            "value": 2.5,
            "ts": "2026-11-01T00:00:00+01:00",
        },
        {"user_id": "u1", "item_id": "a", "type": 2, "meta": {"surface": "pdp"}},
        {"user_id": "u1", "item_id": "a", "type": "add_to_cart"},
    ]
    r = client.post("/v1/events:batch", json={"namespace": NS, "events": events}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "namespace": NS,
        "accepted": 4,
        "inserted": 4,
        "duplicates": 0,
        "rewarded": 0,
    }
    stored = list_all(client, headers, "events")
    assert [e["type"] for e in stored] == [0, 3, 2, 2]
    assert [e["type_name"] for e in stored] == ["view", "purchase", "add", "add"]
    assert stored[0]["value"] == 1.0  # value defaults to 1, never 0
    assert stored[0]["ts"] == "2026-11-26T12:00:00Z"  # ts defaults to the injected clock
    assert stored[1]["ts"] == "2026-10-31T23:00:00Z"  # offsets normalised to UTC
    assert stored[2]["meta"] == {"surface": "pdp"}


def test_resent_event_batch_does_not_duplicate(client: TestClient, headers: dict) -> None:
    events = [{"event_id": f"e{i}", "user_id": "u", "item_id": "a", "type": 1} for i in range(5)]
    body = {"namespace": NS, "events": events}
    first = client.post("/v1/events:batch", json=body, headers=headers).json()
    again = client.post("/v1/events:batch", json=body, headers=headers).json()
    assert first["inserted"] == 5
    assert again == {"namespace": NS, "accepted": 5, "inserted": 0, "duplicates": 5, "rewarded": 0}
    # A repeat inside one batch counts as a duplicate too.
    body = {
        "namespace": NS,
        "events": [events[0], {**events[0], "event_id": "new"}, {**events[0], "event_id": "new"}],
    }
    assert client.post("/v1/events:batch", json=body, headers=headers).json()["inserted"] == 1
    assert len(list_all(client, headers, "events")) == 6


def test_one_bad_event_rejects_the_whole_batch(client: TestClient, headers: dict) -> None:
    events = [{"user_id": "u", "item_id": f"i{i}", "type": "click"} for i in range(10)]
    events[7]["type"] = "teleport"
    r = client.post("/v1/events:batch", json={"namespace": NS, "events": events}, headers=headers)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error"
    (error,) = body["details"]["errors"]
    assert error["index"] == 7 and error["field"] == "type"
    assert "events[7].type" in body["message"]
    assert list_all(client, headers, "events") == []


def test_validation_names_index_and_field_for_each_kind(client: TestClient, headers: dict) -> None:
    cases = [
        (
            "/v1/items:upsert",
            {"namespace": NS, "items": [{"item_id": "a"}, {"item_id": "b", "price": -1}]},
            1,
            "price",
        ),
        (
            "/v1/items:upsert",
            {"namespace": NS, "items": [{"item_id": "a", "colour": "red"}]},
            0,
            "colour",
        ),
        ("/v1/users:upsert", {"namespace": NS, "users": [{"user_id": ""}]}, 0, "user_id"),
        (
            "/v1/events:batch",
            {
                "namespace": NS,
                "events": [{"user_id": "u", "item_id": "a", "type": 1, "ts": "yesterday"}],
            },
            0,
            "ts",
        ),
        (
            "/v1/events:batch",
            {
                "namespace": NS,
                "events": [
                    {"user_id": "u", "item_id": "a", "type": 1, "ts": "2026-01-01T00:00:00"}
                ],
            },
            0,
            "ts",
        ),
        (
            "/v1/events:batch",
            {"namespace": NS, "events": [{"user_id": "u", "item_id": "a", "type": 1, "value": -2}]},
            0,
            "value",
        ),
    ]
    for path, body, index, field in cases:
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 422, (path, body, r.text)
        errors = r.json()["details"]["errors"]
        assert any(e.get("index") == index and e.get("field") == field for e in errors), errors
    assert list_all(client, headers, "items") == []
    assert list_all(client, headers, "users") == []
    assert list_all(client, headers, "events") == []


def test_nan_and_infinity_are_refused(client: TestClient, headers: dict) -> None:
    raw = b'{"namespace": "demo", "items": [{"item_id": "a", "price": NaN}]}'
    r = client.post(
        "/v1/items:upsert", content=raw, headers={**headers, "content-type": "application/json"}
    )
    assert r.status_code == 422
    raw = b'{"namespace": "demo", "items": [{"item_id": "a", "embedding": [1.0, Infinity]}]}'
    r = client.post(
        "/v1/items:upsert", content=raw, headers={**headers, "content-type": "application/json"}
    )
    assert r.status_code == 422
    assert list_all(client, headers, "items") == []


def test_batch_limits(client: TestClient, headers: dict) -> None:
    too_many_events = [{"user_id": "u", "item_id": "a", "type": 0}] * 5001
    r = client.post(
        "/v1/events:batch", json={"namespace": NS, "events": too_many_events}, headers=headers
    )
    assert r.status_code == 422
    assert (
        client.post(
            "/v1/events:batch",
            json={"namespace": NS, "events": too_many_events[:5000]},
            headers=headers,
        ).status_code
        == 200
    )
    r = client.post(
        "/v1/items:upsert",
        json={"namespace": NS, "items": items(*[str(i) for i in range(1001)])},
        headers=headers,
    )
    assert r.status_code == 422
    r = client.post(
        "/v1/users:upsert",
        json={"namespace": NS, "users": [{"user_id": str(i)} for i in range(1001)]},
        headers=headers,
    )
    assert r.status_code == 422
    r = client.post("/v1/events:batch", json={"namespace": NS, "events": []}, headers=headers)
    assert r.status_code == 422


def test_body_over_16_mb_is_413(client: TestClient, headers: dict) -> None:
    blob = "x" * (16 * 1024 * 1024)
    r = client.post(
        "/v1/items:upsert",
        content=b'{"namespace": "demo", "items": [{"item_id": "a", "title": "'
        + blob.encode()
        + b'"}]}',
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert list_all(client, headers, "items") == []


def test_body_limit_is_a_setting(make_client, headers: dict) -> None:
    small = make_client(max_body_bytes=200)
    body = {"namespace": NS, "items": items("a", description="y" * 300)}
    assert small.post("/v1/items:upsert", json=body, headers=headers).status_code == 413
    body = {"namespace": NS, "items": items("a")}
    assert small.post("/v1/items:upsert", json=body, headers=headers).status_code == 200


def test_embedding_dimension_is_fixed_per_namespace(client: TestClient, headers: dict) -> None:
    ok = {"namespace": NS, "items": [{"item_id": "a", "embedding": [1.0, 0.0]}]}
    assert client.post("/v1/items:upsert", json=ok, headers=headers).status_code == 200
    bad = {
        "namespace": NS,
        "items": [{"item_id": "b"}, {"item_id": "c", "embedding": [1.0, 0.0, 0.0]}],
    }
    r = client.post("/v1/items:upsert", json=bad, headers=headers)
    assert r.status_code == 422
    assert r.json()["code"] == "embedding_dimension_mismatch"
    assert r.json()["details"]["errors"][0]["index"] == 1
    assert [i["item_id"] for i in list_all(client, headers, "items")] == ["a"]
    # Another namespace has its own dimension.
    other = {"namespace": "other", "items": [{"item_id": "b", "embedding": [1.0, 0.0, 0.0]}]}
    assert client.post("/v1/items:upsert", json=other, headers=headers).status_code == 200
    # Mixed dimensions inside the first batch of a namespace are refused too.
    mixed = {
        "namespace": "fresh",
        "items": [{"item_id": "a", "embedding": [1.0]}, {"item_id": "b", "embedding": [1.0, 2.0]}],
    }
    r = client.post("/v1/items:upsert", json=mixed, headers=headers)
    assert r.status_code == 422 and r.json()["details"]["errors"][0]["index"] == 1


def test_deletes_with_filters_and_whole_namespace(client: TestClient, headers: dict) -> None:
    client.post(
        "/v1/items:upsert", json={"namespace": NS, "items": items("a", "b", "c")}, headers=headers
    )
    client.post(
        "/v1/users:upsert",
        json={"namespace": NS, "users": [{"user_id": "u1"}, {"user_id": "u2"}]},
        headers=headers,
    )
    events = [
        {
            "event_id": "1",
            "user_id": "u1",
            "item_id": "a",
            "type": "view",
            "ts": "2026-11-01T00:00:00Z",
        },
        {
            "event_id": "2",
            "user_id": "u1",
            "item_id": "b",
            "type": "purchase",
            "ts": "2026-11-02T00:00:00Z",
        },
        {
            "event_id": "3",
            "user_id": "u2",
            "item_id": "a",
            "type": "view",
            "ts": "2026-11-03T00:00:00Z",
        },
        {
            "event_id": "4",
            "user_id": "u2",
            "item_id": "c",
            "type": "click",
            "ts": "2026-11-04T00:00:00Z",
        },
    ]
    client.post("/v1/events:batch", json={"namespace": NS, "events": events}, headers=headers)

    def delete(kind: str, **body: Any) -> int:
        r = client.post(f"/v1/{kind}:delete", json={"namespace": NS, **body}, headers=headers)
        assert r.status_code == 200, r.text
        return int(r.json()["deleted_count"])

    assert delete("events", types=["purchase"]) == 1
    assert delete("events", user_id="u2", since="2026-11-04T00:00:00Z") == 1
    assert delete("events", until="2026-11-02T00:00:00Z") == 1
    assert [e["event_id"] for e in list_all(client, headers, "events")] == ["3"]
    assert delete("events") == 1
    assert delete("items", item_ids=["a", "zz"]) == 1
    assert delete("items") == 2
    assert delete("users", user_ids=["u2"]) == 1
    assert [u["user_id"] for u in list_all(client, headers, "users")] == ["u1"]


def test_listing_filters_and_pagination(client: TestClient, headers: dict) -> None:
    catalogue = [
        {
            "item_id": f"i{n}",
            "brand": "acme" if n % 2 else "zeta",
            "category": "c",
            "available": n != 3,
        }
        for n in range(7)
    ]
    client.post("/v1/items:upsert", json={"namespace": NS, "items": catalogue}, headers=headers)
    assert [i["item_id"] for i in list_all(client, headers, "items")] == [f"i{n}" for n in range(7)]
    assert [i["item_id"] for i in list_all(client, headers, "items", brand="acme")] == [
        "i1",
        "i3",
        "i5",
    ]
    assert [i["item_id"] for i in list_all(client, headers, "items", available="false")] == ["i3"]
    got = list_all(client, headers, "items", item_id=["i2", "i6"])
    assert [i["item_id"] for i in got] == ["i2", "i6"]
    users = [
        {"user_id": f"u{n}", "traits": {"segment": "power_users" if n < 3 else "new_users"}}
        for n in range(5)
    ]
    client.post("/v1/users:upsert", json={"namespace": NS, "users": users}, headers=headers)
    assert [u["user_id"] for u in list_all(client, headers, "users", segment="power_users")] == [
        "u0",
        "u1",
        "u2",
    ]
    events = [{"user_id": f"u{n % 2}", "item_id": f"i{n}", "type": n % 5} for n in range(9)]
    client.post("/v1/events:batch", json={"namespace": NS, "events": events}, headers=headers)
    assert [e["item_id"] for e in list_all(client, headers, "events")] == [
        f"i{n}" for n in range(9)
    ]
    assert len(list_all(client, headers, "events", user_id="u1")) == 4
    assert len(list_all(client, headers, "events", type=["view", "3"])) == 4


def test_page_size_limits_and_bad_tokens(client: TestClient, headers: dict) -> None:
    params = {"namespace": NS}
    assert (
        client.get("/v1/items", params={**params, "limit": 1001}, headers=headers).status_code
        == 422
    )
    assert (
        client.get("/v1/items", params={**params, "limit": 0}, headers=headers).status_code == 422
    )
    r = client.get("/v1/items", params={**params, "page_token": "garbage!"}, headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "invalid_page_token"
    # A token from one listing is refused by another.
    client.post(
        "/v1/users:upsert",
        json={"namespace": NS, "users": [{"user_id": "a"}, {"user_id": "b"}]},
        headers=headers,
    )
    token = client.get("/v1/users", params={**params, "limit": 1}, headers=headers).json()[
        "next_page_token"
    ]
    r = client.get("/v1/events", params={**params, "page_token": token}, headers=headers)
    assert r.status_code == 400


def test_default_page_size_is_100(client: TestClient, headers: dict) -> None:
    events = [{"user_id": "u", "item_id": "a", "type": 0} for _ in range(150)]
    client.post("/v1/events:batch", json={"namespace": NS, "events": events}, headers=headers)
    body = client.get("/v1/events", params={"namespace": NS}, headers=headers).json()
    assert len(body["events"]) == 100 and "next_page_token" in body
