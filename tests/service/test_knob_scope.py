"""Knobs that change how a signal is built are namespace settings: a request, a segment profile
or a bandit policy that sets one is refused with 422 naming it (and changes nothing), so no
request ever builds a signal on the request path; the namespace config sets them."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.config.knobs import KNOBS, KNOBS_BY_KEY
from recsys.signals.snapshot import SignalParams
from tests.bandit.helpers import list_policies, policy, upsert
from tests.service.conftest import SHOP_NS

NAMESPACE_KNOBS = sorted(k.key for k in KNOBS if k.scope == "namespace")


def test_every_knob_a_signal_is_built_from_is_a_namespace_setting() -> None:
    built_from = {f.name for f in fields(SignalParams)} & set(KNOBS_BY_KEY)
    assert built_from == set(NAMESPACE_KNOBS)
    assert built_from == {
        "popularity_halflife_days",
        "covis_window_days",
        "item_model_l2",
        "item_model_max_items",
        "user_factors_dim",
        "user_factors_l2",
        "user_factors_alpha",
    }


def refused(response: Any, knob: str, where: str) -> None:
    assert response.status_code == 422, response.text
    errors = response.json()["details"]["errors"]
    assert [e["loc"] for e in errors] == [f"{where}.{knob}"]
    assert "namespace setting" in errors[0]["message"]


@pytest.mark.parametrize("knob", NAMESPACE_KNOBS)
@pytest.mark.parametrize("path", ["/v1/recommendations", "/v1/rerank"])
def test_a_request_cannot_override_a_build_level_knob(
    shop: TestClient, headers: dict, knob: str, path: str
) -> None:
    value = KNOBS_BY_KEY[knob].default
    body: dict[str, Any] = {"namespace": SHOP_NS, "user_id": "u01", "overrides": {knob: value}}
    if path == "/v1/rerank":
        body["items"] = [{"item_id": "i01"}, {"item_id": "i02"}]
    refused(shop.post(path, json=body, headers=headers), knob, "overrides")
    assert shop.post(path, json={**body, "overrides": {}}, headers=headers).status_code == 200


@pytest.mark.parametrize("knob", NAMESPACE_KNOBS)
def test_segment_profiles_and_bandit_policies_cannot_carry_one(
    shop: TestClient, headers: dict, knob: str
) -> None:
    value = KNOBS_BY_KEY[knob].default
    profiles = {"namespace": SHOP_NS, "profiles": [{"profile_id": "p", knob: value}]}
    response = shop.post("/v1/segment-profiles:upsert", json=profiles, headers=headers)
    assert response.status_code == 422 and knob in response.text
    stored = shop.get("/v1/segment-profiles", params={"namespace": SHOP_NS}, headers=headers)
    assert stored.json()["profiles"] == []
    response = upsert(shop, headers, [policy("x", config={knob: value})], namespace=SHOP_NS)
    assert response.status_code == 422 and knob in response.text
    assert list_policies(shop, headers, namespace=SHOP_NS) == []


def test_the_namespace_config_sets_them(shop: TestClient, headers: dict) -> None:
    config = {"namespace": SHOP_NS, "config": {"item_model_l2": 50.0, "covis_window_days": 7.0}}
    response = shop.post("/v1/admin/recommendation/config", json=config, headers=headers)
    assert response.status_code == 200, response.text
    got = shop.get(
        "/v1/admin/recommendation/config", params={"namespace": SHOP_NS}, headers=headers
    ).json()
    assert got["config"]["item_model_l2"] == 50.0 and got["config"]["covis_window_days"] == 7.0
