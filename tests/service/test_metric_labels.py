"""Tenant-chosen metric label values are capped per process: past the cap they are counted
under `_other`, so /metrics cannot be grown without bound by one tenant."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from recsys.service.metrics import OTHER, LabelValues


def test_values_past_the_cap_become_other() -> None:
    bounded = LabelValues(limit=2)
    assert [bounded("surface", s) for s in ("a", "b", "c", "a", "d")] == [
        "a",
        "b",
        OTHER,
        "a",
        OTHER,
    ]
    assert bounded("namespace", "c") == "c"  # each label has its own room


def surfaces_in_metrics(client: TestClient) -> set[str]:
    text = client.get("/metrics").text
    return {
        sample.labels["surface"]
        for family in text_string_to_metric_families(text)
        if family.name == "policy_response_items"
        for sample in family.samples
    }


def test_surfaces_beyond_the_cap_are_counted_as_other(shop: TestClient, headers: dict) -> None:
    shop.app.state.recsys.metrics.bounded.limit = 3  # type: ignore[attr-defined]
    for n in range(6):
        body = {"namespace": "shop", "user_id": "u01", "k": 3, "surface": f"s{n}"}
        r = shop.post("/v1/recommendations", json=body, headers=headers)
        assert r.status_code == 200, r.text
    assert surfaces_in_metrics(shop) == {"s0", "s1", "s2", OTHER}
