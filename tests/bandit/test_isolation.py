"""Org B never sees org A's policies, decisions or statistics, nor rewards A's decisions."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.bandit.helpers import decide, error, list_policies, ok, policy, reward, stats, upsert


def test_orgs_are_isolated(bandit_client: TestClient) -> None:
    a = {"X-Org-ID": str(uuid.uuid4())}
    b = {"X-Org-ID": str(uuid.uuid4())}
    ok(upsert(bandit_client, a, [policy("shared", config={"mmr_lambda": 0.1}), policy("a-only")]))
    decision_id = ok(decide(bandit_client, a))["decision_id"]

    assert list_policies(bandit_client, b) == []
    assert stats(bandit_client, b)["buckets"] == []
    error(decide(bandit_client, b), 409, "no_active_policies")
    error(decide(bandit_client, b, candidate_policy_ids=["a-only"]), 422, "unknown_policy")
    body = error(reward(bandit_client, b, decision_id, 1), 404, "decision_not_found")
    assert body["details"] == {}

    # The same policy id in B is B's own.
    ok(upsert(bandit_client, b, [policy("shared", config={"mmr_lambda": 0.9})]))
    b_decision = ok(decide(bandit_client, b))
    assert b_decision["config"] == {"mmr_lambda": 0.9}
    error(reward(bandit_client, a, b_decision["decision_id"], 1), 404, "decision_not_found")

    # A's statistics and policies are untouched by all of that.
    a_stats = stats(bandit_client, a)
    assert a_stats["totals"]["treatment"]["decisions"] == 1
    assert a_stats["totals"]["treatment"]["rewards"] == 0
    assert {p["policy_id"]: p["config"] for p in list_policies(bandit_client, a)}["shared"] == {
        "mmr_lambda": 0.1
    }
    assert not ok(reward(bandit_client, a, decision_id, 1))["duplicate"]
    assert stats(bandit_client, b)["totals"]["treatment"]["rewards"] == 0


def test_org_header_is_required(bandit_client: TestClient) -> None:
    for method, path, body in (
        ("post", "/v1/bandit/policies:upsert", {"namespace": "n", "policies": [policy("a")]}),
        ("get", "/v1/bandit/policies", None),
        ("post", "/v1/bandit/decide", {"namespace": "n", "surface": "home"}),
        ("post", "/v1/bandit/reward", {"namespace": "n", "decision_id": "d", "reward": 1}),
        ("post", "/v1/bandit/recommendations", {"namespace": "n", "surface": "home"}),
        ("get", "/v1/bandit/stats", None),
    ):
        if method == "get":
            r = bandit_client.get(path, params={"namespace": "n"})
        else:
            r = bandit_client.post(path, json=body)
        error(r, 400, "missing_org_id")
