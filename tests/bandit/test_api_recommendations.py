"""POST /v1/bandit/recommendations on both stores, against the tiny shop: the chosen policy's
knobs rank the list through the same path as /v1/recommendations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.bandit.conftest import sequential_ids
from tests.bandit.helpers import error, ok, policy, reward, stats, upsert
from tests.conftest import FakeClock
from tests.service.conftest import SHOP_NS, load_shop

# Only popularity / only co-visitation, no diversification, no personal boost.
POPULARITY = {
    "blend_alpha": 1,
    "blend_beta": 0,
    "blend_gamma": 0,
    "blend_delta": 0,
    "mmr_lambda": 1,
    "profile_boost": 0,
}
CO_VISITATION = {**POPULARITY, "blend_alpha": 0, "blend_beta": 1}


@pytest.fixture
def shop(
    make_bandit_client: Callable[..., TestClient], headers: dict, clock: FakeClock, org: str
) -> TestClient:
    # Ids unique to the org: a ranked decision is also an audit record, whose id is global.
    client = make_bandit_client(ids=sequential_ids(org))
    load_shop(client, headers, clock)
    ok(
        upsert(
            client,
            headers,
            [policy("pop", config=POPULARITY), policy("covis", config=CO_VISITATION)],
            namespace=SHOP_NS,
        )
    )
    return client


def bandit_recs(client: TestClient, headers: dict, **body: Any) -> Any:
    return client.post(
        "/v1/bandit/recommendations",
        json={"namespace": SHOP_NS, "surface": "home", "k": 10, "explain_level": "numeric", **body},
        headers=headers,
    )


def plain_recs(client: TestClient, headers: dict, **body: Any) -> dict:
    return ok(
        client.post(
            "/v1/recommendations",
            json={
                "namespace": SHOP_NS,
                "surface": "home",
                "k": 10,
                "explain_level": "numeric",
                **body,
            },
            headers=headers,
        )
    )


def ids(response: dict) -> list[str]:
    return [i["item_id"] for i in response["items"]]


def test_the_chosen_policy_ranks_the_list(shop: TestClient, headers: dict) -> None:
    pop = ok(bandit_recs(shop, headers, user_id="anchor", candidate_policy_ids=["pop"]))
    covis = ok(bandit_recs(shop, headers, user_id="anchor", candidate_policy_ids=["covis"]))
    assert pop["bandit"]["policy_id"] == "pop" and covis["bandit"]["policy_id"] == "covis"
    # Exactly what /v1/recommendations gives with those knobs as overrides...
    assert ids(pop) == ids(plain_recs(shop, headers, user_id="anchor", overrides=POPULARITY))
    assert ids(covis) == ids(plain_recs(shop, headers, user_id="anchor", overrides=CO_VISITATION))
    # ... popularity alone: the hot item first, scores in popularity order ...
    assert ids(pop)[0] == "i42"
    scores = [i["score"] for i in pop["items"]]
    assert scores == sorted(scores, reverse=True)
    # ... and the two policies really give different lists.
    assert ids(pop) != ids(covis)
    assert pop["trace"]["extras"]["effective_knobs"]["blend_alpha"] == 1


def test_the_response_carries_the_decision(shop: TestClient, headers: dict) -> None:
    body = ok(bandit_recs(shop, headers, user_id="u04", context={"device": "mobile"}))
    bandit = body["bandit"]
    assert set(bandit) == {"decision_id", "policy_id", "algorithm", "explore", "bucket_key"}
    assert bandit["decision_id"] == body["decision_id"]  # one id: reward it, audit it
    assert bandit["policy_id"] in {"pop", "covis"}
    assert bandit["algorithm"] == "thompson" and bandit["bucket_key"] == '{"device":"mobile"}'
    assert len(body["items"]) == 10 and body["config_version"] == 0
    assert (
        ok(reward(shop, headers, body["decision_id"], 1, namespace=SHOP_NS))["policy_id"]
        == (bandit["policy_id"])
    )
    got = stats(shop, headers, namespace=SHOP_NS)
    [arm] = got["buckets"][0]["arms"]
    assert (arm["policy_id"], arm["decisions"], arm["rewards"]) == (bandit["policy_id"], 1, 1)
    record = ok(shop.get(f"/v1/audit/decisions/{body['decision_id']}", headers=headers))
    assert record["decision_id"] == body["decision_id"]


def test_request_overrides_win_over_the_policy(shop: TestClient, headers: dict) -> None:
    body = ok(
        bandit_recs(
            shop,
            headers,
            user_id="anchor",
            candidate_policy_ids=["pop"],
            overrides={"blend_alpha": 0, "blend_beta": 1},
        )
    )
    assert body["bandit"]["policy_id"] == "pop"
    merged = {**POPULARITY, "blend_alpha": 0, "blend_beta": 1}
    assert ids(body) == ids(plain_recs(shop, headers, user_id="anchor", overrides=merged))
    assert body["trace"]["extras"]["effective_knobs"]["blend_beta"] == 1


def test_surface_may_come_from_the_context(shop: TestClient, headers: dict) -> None:
    r = shop.post(
        "/v1/bandit/recommendations",
        json={"namespace": SHOP_NS, "k": 3, "context": {"surface": "pdp", "device": "tv"}},
        headers=headers,
    )
    assert ok(r)["bandit"]["bucket_key"] == '{"device":"tv"}'
    assert (
        stats(shop, headers, namespace=SHOP_NS, surface="pdp")["totals"]["treatment"]["decisions"]
        == 1
    )


def test_errors_are_4xx_and_record_nothing(shop: TestClient, headers: dict) -> None:
    r = shop.post(
        "/v1/bandit/recommendations", json={"namespace": SHOP_NS, "k": 3}, headers=headers
    )
    assert "surface" in error(r, 422, "validation_error")["message"]
    body = error(bandit_recs(shop, headers, overrides={"mmr_lambda": 9}), 422, "invalid_override")
    assert body["details"]["errors"][0]["field"] == "mmr_lambda"
    error(bandit_recs(shop, headers, algorithm="greedy"), 422, "validation_error")
    error(bandit_recs(shop, headers, candidate_policy_ids=["nope"]), 422, "unknown_policy")
    error(bandit_recs(shop, headers, k=0), 422, "validation_error")
    error(bandit_recs(shop, headers, context={"as_of": "yesterday"}), 422, "validation_error")
    error(bandit_recs(shop, headers, namespace="empty"), 409, "no_active_policies")
    for context in ('{"surface": "h\\ud800"}', '{"device": "\\ud800"}'):
        r = shop.post(
            "/v1/bandit/recommendations",
            content=f'{{"namespace": "{SHOP_NS}", "context": {context}, "surface": "home"}}'
            if "device" in context
            else f'{{"namespace": "{SHOP_NS}", "context": {context}}}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, r.text
    assert stats(shop, headers, namespace=SHOP_NS)["buckets"] == []
