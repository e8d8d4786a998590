"""Canaries over the API, on both stores, against the tiny shop: starting one (and refusing a
second on the surface or a bad candidate), serving its arms from /v1/recommendations, rewards
from events, and the rule's verdicts — promotion writes a config version, rollback and no
decision leave the incumbent — each with its trail."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.bandit.conftest import sequential_ids
from tests.bandit.helpers import error, ok
from tests.conftest import FakeClock
from tests.service.conftest import SHOP_NS, load_shop

USERS = [f"u{n:02d}" for n in range(72)]
INCUMBENT = {"mmr_lambda": 0.8, "profile_boost": 0.1}
CANDIDATE = {"mmr_lambda": 0.5}
# Popularity alone: every user is shown the same few items.
NARROW = {"blend_alpha": 1, "blend_beta": 0, "blend_gamma": 0, "blend_delta": 0, "mmr_lambda": 1}


@pytest.fixture
def shop(
    make_bandit_client: Callable[..., TestClient], headers: dict, clock: FakeClock, org: str
) -> TestClient:
    client = make_bandit_client(ids=sequential_ids(org))
    load_shop(client, headers, clock)
    ok(
        client.post(
            "/v1/admin/recommendation/config",
            json={"namespace": SHOP_NS, "config": INCUMBENT},
            headers=headers,
        )
    )
    return client


def start(client: TestClient, headers: dict, **body: Any) -> Any:
    payload = {
        "namespace": SHOP_NS,
        "surface": "home",
        "overrides": CANDIDATE,
        "traffic_share": 0.5,
        "min_decisions": 5,
        "look_every": 5,
        "budget_decisions": 60,
        "source": {"run_dir": "analysis/results/tuning_shop", "run": 2},
        **body,
    }
    return client.post("/v1/ship/canaries", json=payload, headers=headers)


def started(client: TestClient, headers: dict, **body: Any) -> dict[str, Any]:
    response = start(client, headers, **body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def canary(client: TestClient, headers: dict, canary_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = ok(client.get(f"/v1/ship/canaries/{canary_id}", headers=headers))
    return answer


def recommend(client: TestClient, headers: dict, user_id: str, **body: Any) -> dict[str, Any]:
    payload = {"namespace": SHOP_NS, "user_id": user_id, "surface": "home", "k": 5, **body}
    answer: dict[str, Any] = ok(client.post("/v1/recommendations", json=payload, headers=headers))
    return answer


def reward_event(client: TestClient, headers: dict, response: dict, user_id: str) -> None:
    event = {
        "event_id": f"r-{response['decision_id']}",
        "user_id": user_id,
        "item_id": response["items"][0]["item_id"],
        "type": "purchase",
        "meta": {"decision_id": response["decision_id"]},
    }
    body = {"namespace": SHOP_NS, "events": [event]}
    assert ok(client.post("/v1/events:batch", json=body, headers=headers))["rewarded"] == 1


def config(client: TestClient, headers: dict) -> dict[str, Any]:
    answer: dict[str, Any] = ok(
        client.get(
            "/v1/admin/recommendation/config", params={"namespace": SHOP_NS}, headers=headers
        )
    )
    return answer


def serve_all(
    client: TestClient, headers: dict, rewarded: str | None, users: list[str] = USERS
) -> list[dict[str, Any]]:
    """Every user asks once; the `rewarded` arm's lists are bought from."""
    answers = []
    for user in users:
        answer = recommend(client, headers, user)
        if answer.get("canary") and answer["canary"]["arm"] == rewarded:
            reward_event(client, headers, answer, user)
        answers.append(answer)
    return answers


def test_the_arms_serve_the_candidate_and_the_incumbent(shop: TestClient, headers: dict) -> None:
    before = {user: recommend(shop, headers, user) for user in USERS[:30]}
    assert all("canary" not in answer for answer in before.values())
    body = started(shop, headers, budget_decisions=10_000)
    assert body["status"] == "running" and body["incumbent_version"] == 1
    assert [a["decisions"] for a in body["arms"]] == [0, 0]
    assert [s["kind"] for s in body["steps"]] == ["started"]
    arms = {}
    for user in USERS[:30]:
        answer = recommend(shop, headers, user)
        arms[user] = answer["canary"]["arm"]
        assert answer["canary"] == {
            "canary_id": body["canary_id"],
            "arm": arms[user],
            "group": "treatment",
        }
        ids = [i["item_id"] for i in answer["items"]]
        audit = ok(shop.get(f"/v1/audit/decisions/{answer['decision_id']}", headers=headers))
        assert audit["record"]["canary"] == answer["canary"]
        if arms[user] == "control":
            assert ids == [i["item_id"] for i in before[user]["items"]]
        else:
            explicit = recommend(shop, headers, user, surface="other", overrides=CANDIDATE)
            assert ids == [i["item_id"] for i in explicit["items"]]
    assert set(arms.values()) == {"candidate", "control"}
    # a user keeps their arm; anonymous requests and other surfaces are not in the canary
    assert all(recommend(shop, headers, u)["canary"]["arm"] == arms[u] for u in USERS[:10])
    assert "canary" not in recommend(shop, headers, USERS[0], surface="other")
    anonymous = {"namespace": SHOP_NS, "surface": "home", "k": 5}
    assert "canary" not in ok(shop.post("/v1/recommendations", json=anonymous, headers=headers))
    view = canary(shop, headers, body["canary_id"])
    served = {a["arm"]: a["decisions"] for a in view["arms"]}
    expected = list(arms.values()) + [arms[u] for u in USERS[:10]]
    assert served == {a: expected.count(a) for a in ("candidate", "control")}
    assert view["decisions_left"] == 10_000 - len(expected)


def test_a_better_candidate_is_promoted(shop: TestClient, headers: dict, clock: FakeClock) -> None:
    body = started(shop, headers)
    serve_all(shop, headers, rewarded="candidate")
    view = canary(shop, headers, body["canary_id"])
    assert view["status"] == "promoted" and view["verdict"] == "promote"
    assert view["promoted_version"] == 2
    current = config(shop, headers)
    assert current["version"] == 2
    assert current["explicit"] == {"mmr_lambda": 0.5, "profile_boost": 0.1}
    history = ok(
        shop.get(
            "/v1/admin/recommendation/config/history",
            params={"namespace": SHOP_NS},
            headers=headers,
        )
    )
    notes = json.loads(history["versions"][0]["metadata"]["notes"])
    assert notes["canary_id"] == body["canary_id"] and notes["run"]["run"] == 2
    assert notes["p_candidate_better"] >= 0.95
    assert notes["statistics"]["candidate"]["decisions"] >= 5
    kinds = [s["kind"] for s in view["steps"]]
    assert kinds[0] == "started" and kinds[-1] == "promoted" and set(kinds[1:-1]) == {"look"}
    assert view["steps"][-2]["verdict"] == "promote"
    # The canary no longer covers the surface: users get the promoted config (once the
    # signals' policy has refreshed, as for any config write), unlabelled.
    deadline = time.monotonic() + 30
    while (answer := recommend(shop, headers, USERS[0]))["config_version"] != 2:
        assert time.monotonic() < deadline, answer
        time.sleep(0.05)
    assert "canary" not in answer


def test_a_worse_candidate_is_rolled_back(shop: TestClient, headers: dict) -> None:
    body = started(shop, headers)
    serve_all(shop, headers, rewarded="control")
    view = canary(shop, headers, body["canary_id"])
    assert (view["status"], view["verdict"], view.get("promoted_version")) == (
        "rolled_back",
        "rollback",
        None,
    )
    assert "config v1 stays" in view["reason"]
    assert config(shop, headers)["version"] == 1
    assert view["steps"][-1]["kind"] == "rolled_back"


def test_no_difference_ends_with_no_decision_at_the_budget(shop: TestClient, headers: dict) -> None:
    body = started(shop, headers, budget_decisions=40)
    serve_all(shop, headers, rewarded=None)
    view = canary(shop, headers, body["canary_id"])
    assert (view["status"], view["verdict"]) == ("no_decision", "no_decision")
    assert sum(a["decisions"] for a in view["arms"]) == 40
    assert view["decisions_left"] == 0 and config(shop, headers)["version"] == 1


def test_a_config_change_during_the_canary_rolls_it_back(shop: TestClient, headers: dict) -> None:
    body = started(shop, headers)
    ok(
        shop.post(
            "/v1/admin/recommendation/config",
            json={"namespace": SHOP_NS, "config": {"mmr_lambda": 0.5}},
            headers=headers,
        )
    )
    serve_all(shop, headers, rewarded="candidate", users=USERS[:12])
    view = canary(shop, headers, body["canary_id"])
    assert view["status"] == "rolled_back"
    assert "namespace config changed during the canary" in view["reason"]
    assert config(shop, headers)["version"] == 2


def test_a_candidate_showing_far_fewer_items_is_rolled_back(
    shop: TestClient, headers: dict
) -> None:
    body = started(shop, headers, overrides=NARROW)
    serve_all(shop, headers, rewarded="candidate", users=USERS[:30])
    view = canary(shop, headers, body["canary_id"])
    assert view["status"] == "rolled_back" and config(shop, headers)["version"] == 1
    assert view["reason"].startswith("live guardrail broken: coverage: the candidate showed")


def test_one_canary_per_surface_and_bad_candidates_change_nothing(
    shop: TestClient, headers: dict
) -> None:
    first = started(shop, headers)
    busy = error(start(shop, headers), 409, "canary_running")
    assert busy["details"] == {"canary_id": first["canary_id"]}
    error(start(shop, headers, surface="other", overrides={}), 422, "validation_error")
    bad = error(start(shop, headers, surface="other", overrides={"nope": 1}), 422, "invalid_config")
    assert bad["details"]["errors"][0]["loc"] == "overrides.nope"
    namespace_knob = error(
        start(shop, headers, surface="other", overrides={"popularity_halflife_days": 7}),
        422,
        "invalid_config",
    )
    assert "namespace" in namespace_knob["details"]["errors"][0]["message"]
    error(
        start(shop, headers, surface="other", min_decisions=50, budget_decisions=60),
        422,
        "validation_error",
    )
    error(start(shop, headers, surface="other", traffic_share=1.0), 422, "validation_error")
    listed = ok(shop.get("/v1/ship/canaries", params={"namespace": SHOP_NS}, headers=headers))
    assert [c["canary_id"] for c in listed["canaries"]] == [first["canary_id"]]
    # another surface is free
    assert started(shop, headers, surface="other")["surface"] == "other"


def test_stop_keeps_the_incumbent_and_ends_the_canary(shop: TestClient, headers: dict) -> None:
    body = started(shop, headers)
    serve_all(shop, headers, rewarded=None, users=USERS[:6])
    stopped = ok(
        shop.post(
            f"/v1/ship/canaries/{body['canary_id']}/stop",
            json={"reason": "holiday traffic", "author": "ops"},
            headers=headers,
        )
    )
    assert stopped["status"] == "stopped"
    assert stopped["reason"].startswith("stopped by ops: holiday traffic")
    assert stopped["steps"][-1]["kind"] == "stopped"
    assert "canary" not in recommend(shop, headers, USERS[0])
    error(
        shop.post(f"/v1/ship/canaries/{body['canary_id']}/stop", json={}, headers=headers),
        409,
        "canary_ended",
    )
    error(
        shop.post("/v1/ship/canaries/nope/stop", json={}, headers=headers), 404, "canary_not_found"
    )
    error(shop.get("/v1/ship/canaries/nope", headers=headers), 404, "canary_not_found")
    assert config(shop, headers)["version"] == 1
    # the surface is free again
    assert started(shop, headers)["status"] == "running"


def test_another_org_sees_no_canary(shop: TestClient, headers: dict) -> None:
    body = started(shop, headers)
    other = {"X-Org-ID": "00000000-0000-0000-0000-0000000000ff"}
    error(
        shop.get(f"/v1/ship/canaries/{body['canary_id']}", headers=other), 404, "canary_not_found"
    )
    error(
        shop.post(f"/v1/ship/canaries/{body['canary_id']}/stop", json={}, headers=other),
        404,
        "canary_not_found",
    )
    listed = ok(shop.get("/v1/ship/canaries", params={"namespace": SHOP_NS}, headers=other))
    assert listed["canaries"] == []
    assert canary(shop, headers, body["canary_id"])["status"] == "running"


def test_the_experiment_holdout_is_served_the_incumbent_and_counted_apart(
    make_bandit_client: Callable[..., TestClient], headers: dict, clock: FakeClock, org: str
) -> None:
    client = make_bandit_client(
        ids=sequential_ids(org),
        bandit_experiment_enabled=True,
        bandit_experiment_holdout_percent=30.0,
        bandit_experiment_surfaces=["home"],
        bandit_experiment_label="q4-holdout",
    )
    load_shop(client, headers, clock)
    body = started(client, headers, budget_decisions=10_000)
    groups = {user: recommend(client, headers, user)["canary"] for user in USERS}
    held = [u for u, c in groups.items() if c["group"] == "holdout"]
    assert 0 < len(held) < len(USERS)
    assert all(groups[u]["arm"] == "control" for u in held)
    served = [u for u in USERS if u not in held]
    assert {groups[u]["arm"] for u in served} == {"candidate", "control"}
    view = canary(client, headers, body["canary_id"])
    assert view["holdout"]["decisions"] == len(held)
    assert sum(a["decisions"] for a in view["arms"]) == len(served)
    assert view["decisions_left"] == 10_000 - len(served)
