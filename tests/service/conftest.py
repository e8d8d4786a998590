"""Fixtures shared by the service tests: the tiny shop loaded over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.clock import from_micros
from tests.ranking.shop import NOW, shop_events, shop_items

SHOP_NS = "shop"


def _iso(us: int) -> str:
    return from_micros(us).isoformat().replace("+00:00", "Z")


def load_shop(
    client: TestClient, headers: dict, clock: Any, namespace: str = SHOP_NS
) -> TestClient:
    """Push the shop's items, users and events into a namespace of the headers' org."""
    clock.now = from_micros(NOW)
    items = [
        {k: v for k, v in item.items() if k != "created_at_us"}
        | {"created_at": _iso(item["created_at_us"])}
        for item in shop_items()
    ]
    users, events = shop_events()
    for path, body in (
        ("/v1/items:upsert", {"namespace": namespace, "items": items}),
        ("/v1/users:upsert", {"namespace": namespace, "users": users}),
        (
            "/v1/events:batch",
            {
                "namespace": namespace,
                "events": [
                    {
                        "event_id": f"e{n}",
                        "user_id": e["user_id"],
                        "item_id": e["item_id"],
                        "type": e["type"],
                        "ts": _iso(e["ts_us"]),
                    }
                    for n, e in enumerate(events)
                ],
            },
        ),
    ):
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 200, r.text
    return client


@pytest.fixture
def shop(client: TestClient, headers: dict, clock: Any) -> TestClient:
    return load_shop(client, headers, clock)
