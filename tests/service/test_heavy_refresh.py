"""Catalogue edits are served at once (heavy signals carried over by item_id); heavy-parameter
changes are served at once and the heavy signals rebuilt in the background."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.signals import snapshot as snapshot_module

NS = "shop"


def recommend(client: TestClient, headers: dict, **body: Any) -> dict:
    r = client.post("/v1/recommendations", json={"namespace": NS, **body}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Counts item-model fits (the costliest heavy signal) made by the server."""
    calls: list[float] = []
    original = snapshot_module.fit_item_model

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs["l2"])
        return original(**kwargs)

    monkeypatch.setattr(snapshot_module, "fit_item_model", counting)
    return calls


def eventually(done: Any, what: str, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_catalogue_edit_is_served_without_refitting(
    shop: TestClient, headers: dict, fits: list[float]
) -> None:
    first = [i["item_id"] for i in recommend(shop, headers, user_id="u02", k=5)["items"]]
    before = len(fits)
    top = first[0]
    r = shop.post(
        "/v1/items:upsert",
        json={"namespace": NS, "items": [{"item_id": top, "available": False}]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    eventually(
        lambda: (
            top not in [i["item_id"] for i in recommend(shop, headers, user_id="u02", k=5)["items"]]
        ),
        "an unavailable item left the list within 2 s",
    )
    assert len(fits) == before  # carried over by item_id, not refitted


def test_item_model_settings_apply_after_a_background_rebuild(
    shop: TestClient, headers: dict, fits: list[float]
) -> None:
    recommend(shop, headers, user_id="u02", k=5)
    r = shop.post(
        "/v1/admin/recommendation/config",
        json={"namespace": NS, "config": {"item_model_l2": 7.0}},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    eventually(
        lambda: recommend(shop, headers, user_id="u02", k=5)["config_version"] == 1,
        "the new config is served within 2 s",
    )
    eventually(lambda: 7.0 in fits, "the item model is refitted with the new l2", seconds=10.0)
