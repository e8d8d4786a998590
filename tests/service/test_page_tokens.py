"""Page tokens are sealed: unreadable, bound to the org, namespace and listing that issued them,
and valid on every worker (the key lives in the store)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from fastapi.testclient import TestClient

NS = "demo"


def push_events(client: TestClient, headers: dict, n: int) -> None:
    events = [
        {"event_id": f"e{i}", "user_id": "u1", "item_id": f"i{i}", "type": "view"} for i in range(n)
    ]
    r = client.post("/v1/events:batch", json={"namespace": NS, "events": events}, headers=headers)
    assert r.status_code == 200, r.text


def first_page_token(client: TestClient, headers: dict, namespace: str = NS) -> str:
    r = client.get("/v1/events", params={"namespace": namespace, "limit": 2}, headers=headers)
    assert r.status_code == 200, r.text
    token: str = r.json()["next_page_token"]
    return token


def test_a_token_does_not_reveal_the_row_number(client: TestClient, headers: dict) -> None:
    push_events(client, headers, 5)
    token = first_page_token(client, headers)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b'"after"' not in raw  # not the readable JSON it used to be
    assert first_page_token(client, headers) == token  # the same page, the same token


def test_a_token_works_only_for_its_org_namespace_and_listing(
    client: TestClient, headers: dict
) -> None:
    push_events(client, headers, 5)
    token = first_page_token(client, headers)
    params = {"namespace": NS, "limit": 2, "page_token": token}
    assert client.get("/v1/events", params=params, headers=headers).status_code == 200
    elsewhere = [
        ("/v1/events", {**params, "namespace": "other"}, headers),
        ("/v1/events", params, {"X-Org-ID": "6b1d1c2e-0000-4000-8000-000000000001"}),
        ("/v1/items", params, headers),
        (
            "/v1/events",
            {**params, "page_token": token[:-2] + ("AA" if token[-2:] != "AA" else "BB")},
            headers,
        ),
    ]
    for path, query, who in elsewhere:
        r = client.get(path, params=query, headers=who)
        assert r.status_code == 400, (path, query, r.text)
        assert r.json()["code"] == "invalid_page_token"


def test_a_token_from_one_worker_is_valid_on_another(
    make_client: Callable[..., TestClient], headers: dict
) -> None:
    first, second = make_client(), make_client()  # two app instances over one store
    push_events(first, headers, 5)
    token = first_page_token(first, headers)
    params = {"namespace": NS, "limit": 2, "page_token": token}
    r = second.get("/v1/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    assert [e["event_id"] for e in r.json()["events"]] == ["e2", "e3"]
