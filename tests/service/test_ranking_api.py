"""The ranking endpoints over HTTP, on both stores, against the tiny shop."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.clock import from_micros
from tests.ranking.shop import NOW

NS = "shop"


def iso(us: int) -> str:
    return from_micros(us).isoformat().replace("+00:00", "Z")


def recommend(client: TestClient, headers: dict, **body: Any) -> dict:
    """With `explain_level` numeric unless the test says otherwise: the trace these tests read
    comes only with an explanation."""
    body = {"namespace": NS, "explain_level": "numeric", **body}
    r = client.post("/v1/recommendations", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def ids(response: dict) -> list[str]:
    return [i["item_id"] for i in response["items"]]


def test_recommendations_shape(shop: TestClient, headers: dict) -> None:
    body = recommend(shop, headers, user_id="u01", k=5, explain_level="none")
    assert len(body["items"]) == 5
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    assert len(body["decision_id"]) == 32
    assert body["model_version"] == "blend-v1" and body["config_version"] == 0
    assert body["segment_id"] == "fans_1"
    assert "reasons" not in body["items"][0] and "explain" not in body["items"][0]
    # The trace comes only with an explanation: a default answer is items, scores and ids.
    assert set(body) == {
        "items",
        "decision_id",
        "model_version",
        "config_version",
        "segment_id",
        "warnings",
    }
    for level in ("tags", "numeric", "full"):
        explained = recommend(shop, headers, user_id="u01", k=5, explain_level=level)
        assert [i["item_id"] for i in explained["items"]] == ids(body)
        extras = explained["trace"]["extras"]
        assert extras["policy"]["candidates"] > 5 and extras["policy"]["leaks"] == 0
        assert extras["candidate_sources"]["popularity"] > 0


def test_lists_lean_to_each_users_taste(shop: TestClient, headers: dict) -> None:
    for u in range(6):
        top = ids(recommend(shop, headers, user_id=f"u{u:02d}", k=10))
        assert sum(1 for i in top if i[1] == str(u)) >= 6


def test_reasons_and_explain_levels(shop: TestClient, headers: dict) -> None:
    # Co-visitation weighted up, so that it is a reason (a signal's share of the score counts).
    body = recommend(
        shop,
        headers,
        user_id="anchor",
        k=3,
        include_reasons=True,
        explain_level="numeric",
        overrides={"blend_beta": 0.5},
    )
    first = body["items"][0]
    assert first["item_id"] == "i07"
    assert "co_visitation" in first["reasons"]
    assert set(first["explain"]) >= {"blend", "personalisation_multiplier", "mmr_penalty"}
    full = recommend(shop, headers, user_id="anchor", k=3, explain_level="full")["items"][0][
        "explain"
    ]
    assert "raw_signals" in full and "sources" in full
    tags = recommend(shop, headers, user_id="u02", k=3, explain_level="tags")["items"][0]["explain"]
    assert set(tags) == {"matched_features"}


def test_unknown_user_gets_a_cold_start_list(shop: TestClient, headers: dict) -> None:
    body = recommend(shop, headers, user_id="never-seen", k=10)
    assert len(body["items"]) == 10
    assert body["trace"]["extras"]["user"]["new_user"] is True
    assert body["trace"]["extras"]["starter_profile"]["source"] == "popular_categories"


def test_empty_namespace_gives_an_empty_list_and_a_warning(
    client: TestClient, headers: dict
) -> None:
    body = client.post(
        "/v1/recommendations", json={"namespace": "void", "user_id": "x"}, headers=headers
    ).json()
    assert body["items"] == [] and body["warnings"]


@pytest.mark.parametrize("k", [0, 201, -1])
def test_k_out_of_range_is_422(shop: TestClient, headers: dict, k: int) -> None:
    r = shop.post("/v1/recommendations", json={"namespace": NS, "k": k}, headers=headers)
    assert r.status_code == 422 and r.json()["details"]["errors"][0]["loc"] == "k"


@pytest.mark.parametrize(
    ("overrides", "knob"),
    [
        ({"mmr_lambda": 1.5}, "mmr_lambda"),
        ({"brand_cap": -1}, "brand_cap"),
        ({"popularity_fanout": "x"}, "popularity_fanout"),
        ({"no_such_knob": 1}, "no_such_knob"),
        ({"exclude_event_types": [9]}, "exclude_event_types"),
    ],
)
def test_bad_overrides_are_422_naming_the_knob(
    shop: TestClient, headers: dict, overrides, knob
) -> None:
    r = shop.post(
        "/v1/recommendations", json={"namespace": NS, "overrides": overrides}, headers=headers
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_override"
    assert r.json()["details"]["errors"][0]["field"] == knob


def test_overrides_and_surface_presets_apply(shop: TestClient, headers: dict) -> None:
    base = recommend(shop, headers, user_id="u04", k=10)
    capped = recommend(shop, headers, user_id="u04", k=10, overrides={"category_cap": 2})
    assert ids(base) != ids(capped)
    assert max(sum(1 for i in ids(capped) if i[1] == c) for c in "012345") <= 2
    preset = {"mmr_presets": {"pdp": 1.0}, "mmr_lambda": 0.1}
    on_pdp = recommend(
        shop,
        headers,
        user_id="u04",
        k=10,
        context={"surface": "pdp"},
        overrides={"mmr_presets": {"pdp": 1.0}},
    )
    assert on_pdp["trace"]["extras"]["effective_knobs"]["mmr_lambda_from"] == "mmr_presets.pdp"
    explicit = recommend(shop, headers, user_id="u04", k=10, surface="pdp", overrides=preset)
    assert explicit["trace"]["extras"]["effective_knobs"]["mmr_lambda"] == 0.1


def test_constraints_and_exclusions(shop: TestClient, headers: dict) -> None:
    body = recommend(
        shop,
        headers,
        user_id="u01",
        k=20,
        constraints={"categories": ["c2"], "price_between": [21, 25], "exclude_item_ids": ["i22"]},
    )
    assert ids(body) and set(ids(body)) <= {"i21", "i23", "i24", "i25"}
    assert body["trace"]["extras"]["policy"]["constraint_drops"]["categories"] > 0
    r = shop.post(
        "/v1/recommendations",
        json={"namespace": NS, "constraints": {"price_between": [5, 1]}},
        headers=headers,
    )
    assert r.status_code == 422
    assert "i12" not in ids(recommend(shop, headers, user_id="buyer", k=60))


def test_replay_is_identical(shop: TestClient, headers: dict) -> None:
    a = recommend(shop, headers, user_id="u03", k=20, include_reasons=True, explain_level="full")
    b = recommend(shop, headers, user_id="u03", k=20, include_reasons=True, explain_level="full")
    assert a["items"] == b["items"] and a["trace"] == b["trace"]
    assert a["decision_id"] != b["decision_id"]


def test_new_events_show_within_two_seconds(shop: TestClient, headers: dict) -> None:
    before = ids(recommend(shop, headers, user_id="u02", k=5))
    bought = before[0]
    shop.post(
        "/v1/events:batch",
        json={
            "namespace": NS,
            "events": [
                {"user_id": "u02", "item_id": bought, "type": "purchase", "ts": iso(NOW - 1000)}
            ],
        },
        headers=headers,
    )
    deadline = time.monotonic() + 2.0
    while bought in ids(recommend(shop, headers, user_id="u02", k=5)):
        assert time.monotonic() < deadline, "a purchase did not exclude the item within 2 s"
        time.sleep(0.05)


def test_as_of_ignores_later_events(shop: TestClient, headers: dict) -> None:
    past = NOW - 10 * 86_400_000_000
    before = recommend(shop, headers, user_id="u02", k=10, context={"as_of": iso(past)})
    # Events after the as_of instant (even many) change nothing in the point-in-time view.
    flood = [
        {"user_id": f"late{n}", "item_id": "i58", "type": "purchase", "ts": iso(NOW - 1000)}
        for n in range(200)
    ]
    shop.post("/v1/events:batch", json={"namespace": NS, "events": flood}, headers=headers)

    def live_top3() -> list[str]:
        body = recommend(
            shop,
            headers,
            user_id="someone",
            k=3,
            overrides={"new_user_mmr_lambda": 1.0, "profile_starter_blend_weight": 0},
        )
        return ids(body)

    # Wait until the flood is served now (the bestseller tops a newcomer's list)...
    deadline = time.monotonic() + 5.0
    while "i58" not in live_top3():
        assert time.monotonic() < deadline, "the new events were not served within 5 s"
        time.sleep(0.05)
    # ...then the point-in-time view must still not know it.
    after = recommend(shop, headers, user_id="u02", k=10, context={"as_of": iso(past)})
    assert ids(after) == ids(before)
    r = shop.post(
        "/v1/recommendations",
        json={"namespace": NS, "context": {"as_of": "last week"}},
        headers=headers,
    )
    assert r.status_code == 422


def test_rerank_only_reorders(shop: TestClient, headers: dict) -> None:
    given = [{"item_id": i} for i in ["i50", "i07", "i31", "ghost", "i22"]]
    r = shop.post(
        "/v1/rerank", json={"namespace": NS, "user_id": "anchor", "items": given}, headers=headers
    )
    assert r.status_code == 200
    out = ids(r.json())
    assert sorted(out) == sorted(i["item_id"] for i in given)
    assert out[0] == "i07" and out[-1] == "ghost"
    scored = [{"item_id": "i50", "score": 10.0}, {"item_id": "i07", "score": 0.0}]
    out = ids(
        shop.post(
            "/v1/rerank",
            json={"namespace": NS, "items": scored, "overrides": {"blend_alpha": 5}},
            headers=headers,
        ).json()
    )
    assert out == ["i50", "i07"]
    too_many = [{"item_id": f"x{n}"} for n in range(201)]
    assert (
        shop.post(
            "/v1/rerank", json={"namespace": NS, "items": too_many}, headers=headers
        ).status_code
        == 422
    )


def test_similar_items(shop: TestClient, headers: dict) -> None:
    r = shop.get("/v1/items/i05/similar", params={"namespace": NS, "k": 5}, headers=headers)
    assert r.status_code == 200
    similar = [i["item_id"] for i in r.json()["items"]]
    assert "i05" not in similar and len(similar) == 5
    assert "i07" in similar
    r = shop.get("/v1/items/nope/similar", params={"namespace": NS}, headers=headers)
    assert r.status_code == 404 and r.json()["code"] == "item_not_found"
    assert (
        shop.get(
            "/v1/items/i05/similar", params={"namespace": NS, "k": 0}, headers=headers
        ).status_code
        == 422
    )


def test_other_orgs_rankings_are_untouched(shop: TestClient, headers: dict) -> None:
    import uuid

    other = {"X-Org-ID": str(uuid.uuid4())}
    assert (
        shop.post(
            "/v1/recommendations", json={"namespace": NS, "user_id": "u01"}, headers=other
        ).json()["items"]
        == []
    )
