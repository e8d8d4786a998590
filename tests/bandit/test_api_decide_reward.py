"""POST /v1/bandit/decide and /v1/bandit/reward, on both stores: choices, statistics, every
error, idempotent rewards, metrics."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.bandit.conftest import sequential_ids
from tests.bandit.helpers import (
    NS,
    arms_by_policy,
    decide,
    error,
    ok,
    policy,
    reward,
    stats,
    upsert,
)

THREE = [policy("a"), policy("b"), policy("c")]


def test_decide_answers_and_counts_the_decision(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, [policy("a", config={"mmr_lambda": 0.3}), policy("b")]))
    body = ok(decide(bandit_client, headers, context={"device": "mobile", "price": 3.5}))
    assert set(body) == {
        "decision_id",
        "policy_id",
        "algorithm",
        "explore",
        "bucket_key",
        "surface",
        "group",
        "config",
    }  # no experiment: it is disabled by default
    assert body["policy_id"] in {"a", "b"}
    assert body["algorithm"] == "thompson"
    assert body["explore"] is False  # untried arms have equal posterior means
    assert body["bucket_key"] == '{"device":"mobile"}'
    assert body["surface"] == "home" and body["group"] == "treatment"
    assert body["config"] == ({"mmr_lambda": 0.3} if body["policy_id"] == "a" else {})
    got = stats(bandit_client, headers)
    assert got["totals"]["treatment"] == {
        "decisions": 1,
        "rewards": 0,
        "reward_sum": 0.0,
        "mean": 0.0,
    }
    assert got["totals"]["holdout"]["decisions"] == 0
    [bucket] = got["buckets"]
    assert bucket["surface"] == "home" and bucket["bucket_key"] == '{"device":"mobile"}'
    assert [a["policy_id"] for a in bucket["arms"]] == [body["policy_id"]]


def test_decision_ids_can_be_injected(
    make_bandit_client: Callable[..., TestClient], headers: dict, org: str
) -> None:
    client = make_bandit_client(ids=sequential_ids(org))
    ok(upsert(client, headers, THREE))
    ids = [ok(decide(client, headers))["decision_id"] for _ in range(3)]
    prefix = org.replace("-", "")[:16]
    assert ids == [f"{prefix}{n:016x}" for n in range(3)]


def test_seeded_choices_are_reproducible(
    make_bandit_client: Callable[..., TestClient],
) -> None:
    import uuid

    def run(seed: int) -> list[str]:
        headers = {"X-Org-ID": str(uuid.uuid4())}
        client = make_bandit_client(seed=seed)
        ok(upsert(client, headers, THREE))
        chosen = []
        for _ in range(20):
            body = ok(decide(client, headers))
            chosen.append(body["policy_id"])
            ok(reward(client, headers, body["decision_id"], 1.0 if body["policy_id"] == "c" else 0))
        return chosen

    first = run(5)
    assert run(5) == first
    assert len(set(first)) > 1


def test_ucb1_tries_every_arm_first_in_policy_id_order(
    bandit_client: TestClient, headers: dict
) -> None:
    ok(upsert(bandit_client, headers, [policy("c"), policy("a"), policy("b")]))
    first = [ok(decide(bandit_client, headers, algorithm="ucb1")) for _ in range(3)]
    assert [d["policy_id"] for d in first] == ["a", "b", "c"]
    assert all(d["explore"] and d["algorithm"] == "ucb1" for d in first)
    for d in first:
        ok(reward(bandit_client, headers, d["decision_id"], 1.0 if d["policy_id"] == "b" else 0))
    nxt = ok(decide(bandit_client, headers, algorithm="ucb1"))
    assert nxt["policy_id"] == "b" and not nxt["explore"]


def test_default_algorithm_comes_from_settings(
    make_bandit_client: Callable[..., TestClient], headers: dict
) -> None:
    client = make_bandit_client(bandit_algo="ucb1")
    ok(upsert(client, headers, THREE))
    assert ok(decide(client, headers))["algorithm"] == "ucb1"
    assert ok(decide(client, headers, algorithm="thompson"))["algorithm"] == "thompson"


def test_candidates_restrict_the_choice_and_inactive_policies_never_play(
    bandit_client: TestClient, headers: dict
) -> None:
    ok(upsert(bandit_client, headers, [*THREE, policy("d", active=False)]))
    chosen = {
        ok(decide(bandit_client, headers, candidate_policy_ids=["c", "a", "c"]))["policy_id"]
        for _ in range(30)
    }
    assert chosen == {"a", "c"}
    everything = {ok(decide(bandit_client, headers))["policy_id"] for _ in range(40)}
    assert "d" not in everything
    only_d = decide(bandit_client, headers, candidate_policy_ids=["d"])
    body = error(only_d, 409, "no_active_policies")
    assert "none of the candidate policies" in body["message"]


def test_decide_errors_change_nothing(bandit_client: TestClient, headers: dict) -> None:
    body = error(decide(bandit_client, headers), 409, "no_active_policies")
    assert "POST /v1/bandit/policies:upsert" in body["message"]
    ok(upsert(bandit_client, headers, THREE))
    r = decide(bandit_client, headers, algorithm="epsilon_greedy")
    assert error(r, 422, "validation_error")["details"]["errors"][0]["loc"] == "algorithm"
    body = error(
        decide(bandit_client, headers, candidate_policy_ids=["a", "zz", "yy"]),
        422,
        "unknown_policy",
    )
    assert body["details"]["unknown_policy_ids"] == ["zz", "yy"]
    assert "'zz'" in body["message"] and "'yy'" in body["message"]
    too_wide = {f"k{n}": "v" for n in range(9)}
    body = error(decide(bandit_client, headers, context=too_wide), 422, "invalid_context")
    assert "at most 8" in body["message"]
    for bad in (
        {"surface": ""},
        {"surface": "x" * 65},
        {"surface": "tab\there"},
        {"candidate_policy_ids": []},
        {"context": "not an object"},
        {"user_id": ""},
        {"unexpected": 1},
    ):
        error(decide(bandit_client, headers, **bad), 422, "validation_error")
    r = bandit_client.post("/v1/bandit/decide", json={"namespace": NS}, headers=headers)
    error(r, 422, "validation_error")
    for raw in (
        '"surface": "home", "context": {"device": "\\ud800"}',
        '"surface": "home", "context": {"\\ud800": "x"}',
        '"surface": "home", "context": {"device": "mob\\u0000ile"}',
        '"surface": "h\\ud800"',
    ):
        r = bandit_client.post(
            "/v1/bandit/decide",
            content=f'{{"namespace": "{NS}", {raw}}}',
            headers={**headers, "Content-Type": "application/json"},
        )
        error(r, 422, "validation_error")
    assert stats(bandit_client, headers)["buckets"] == []


def test_rewards_update_the_statistics(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, [policy("only")]))
    decisions = [ok(decide(bandit_client, headers))["decision_id"] for _ in range(4)]
    for decision_id, value in zip(decisions, [1, 0.25, 0, 0.5], strict=True):
        body = ok(reward(bandit_client, headers, decision_id, value))
        assert body == {
            "decision_id": decision_id,
            "policy_id": "only",
            "reward": float(value),
            "duplicate": False,
        }
    [arm] = stats(bandit_client, headers)["buckets"][0]["arms"]
    assert arm["decisions"] == 4 and arm["rewards"] == 4
    assert arm["reward_sum"] == 1.75 and arm["mean"] == 1.75 / 4
    assert arm["posterior"] == {"alpha": 2.75, "beta": 3.25, "mean": 2.75 / 6}


def test_a_reward_counts_once(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, [policy("only")]))
    decision_id = ok(decide(bandit_client, headers))["decision_id"]
    assert not ok(reward(bandit_client, headers, decision_id, 0.5))["duplicate"]
    before = stats(bandit_client, headers)
    again = ok(reward(bandit_client, headers, decision_id, 0.5))
    assert again["duplicate"] and again["reward"] == 0.5
    body = error(reward(bandit_client, headers, decision_id, 1.0), 409, "reward_already_recorded")
    assert body["details"]["recorded_reward"] == 0.5
    assert stats(bandit_client, headers) == before


def test_reward_errors(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, [policy("only")]))
    decision_id = ok(decide(bandit_client, headers))["decision_id"]
    for bad in (1.5, -0.1, True, False, "0.5", None, [1], {"v": 1}):
        r = reward(bandit_client, headers, decision_id, bad)
        assert error(r, 422, "validation_error")["details"]["errors"][0]["loc"] == "reward"
    for literal in ("NaN", "Infinity", "-Infinity", "1e400"):
        r = bandit_client.post(
            "/v1/bandit/reward",
            content=f'{{"namespace": "{NS}", "decision_id": "{decision_id}", "reward": {literal}}}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert error(r, 422, "validation_error")["details"]["errors"][0]["loc"] == "reward"
    error(reward(bandit_client, headers, "no-such-decision", 1), 404, "decision_not_found")
    error(
        reward(bandit_client, headers, decision_id, 1, namespace="elsewhere"),
        404,
        "decision_not_found",
    )
    error(reward(bandit_client, headers, "bad id!", 1), 422, "validation_error")
    [arm] = stats(bandit_client, headers)["buckets"][0]["arms"]
    assert arm["rewards"] == 0 and arm["reward_sum"] == 0.0
    assert ok(reward(bandit_client, headers, decision_id, 0))["duplicate"] is False


def test_buckets_learn_separately(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, THREE))
    for device in ("mobile", "desktop", "mobile"):
        ok(decide(bandit_client, headers, context={"device": device}))
    ok(decide(bandit_client, headers, surface="pdp", context={"device": "mobile"}))
    got = stats(bandit_client, headers)
    assert [(b["surface"], b["bucket_key"]) for b in got["buckets"]] == [
        ("home", '{"device":"desktop"}'),
        ("home", '{"device":"mobile"}'),
        ("pdp", '{"device":"mobile"}'),
    ]
    assert got["totals"]["treatment"]["decisions"] == 4
    home = stats(bandit_client, headers, surface="home")
    assert home["surface"] == "home" and len(home["buckets"]) == 2
    assert sum(a["decisions"] for a in arms_by_policy(home).values()) == 3


def test_metrics_count_decisions_and_rewards(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, [policy("only")]))
    decision_id = ok(decide(bandit_client, headers, algorithm="ucb1"))["decision_id"]
    ok(decide(bandit_client, headers, algorithm="ucb1"))
    ok(reward(bandit_client, headers, decision_id, 0.75))
    ok(reward(bandit_client, headers, decision_id, 0.75))  # a duplicate is not counted again
    labels = {"namespace": NS, "surface": "home", "policy": "only", "algorithm": "ucb1"}
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(bandit_client.get("/metrics").text)
        for s in family.samples
        if s.labels == labels
    }
    assert samples["bandit_decisions_total"] == 2
    assert samples["bandit_rewards_total"] == 1
    assert samples["bandit_reward_sum_total"] == 0.75
