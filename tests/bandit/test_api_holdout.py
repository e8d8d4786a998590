"""The holdout experiment over HTTP, on both stores: stable groups, the control policy,
labels on decisions and recommendations, holdout vs treatment statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from fastapi.testclient import TestClient

from recsys.bandit.holdout import Experiment, assignment_unit
from tests.bandit.helpers import NS, arms_by_policy, decide, ok, policy, reward, stats, upsert
from tests.conftest import FakeClock
from tests.service.conftest import SHOP_NS, load_shop

ARMS = [policy("a"), policy("b", config={"mmr_lambda": 0.2})]


def experiment_client(make: Callable[..., TestClient], **settings: object) -> TestClient:
    return make(
        bandit_experiment_enabled=True,
        bandit_experiment_holdout_percent=settings.pop("percent", 30.0),
        bandit_experiment_label="q4-holdout",
        **settings,
    )


def test_users_keep_their_group_and_holdout_gets_the_control(
    make_bandit_client: Callable[..., TestClient], headers: dict, org: str
) -> None:
    client = experiment_client(make_bandit_client)
    ok(upsert(client, headers, [*ARMS, policy("base", control=True, config={"brand_cap": 2})]))
    expected = Experiment.of(enabled=True, holdout_percent=30.0, surfaces=(), label="x")
    groups: Counter[str] = Counter()
    for n in range(60):
        user = f"user-{n}"
        first = ok(decide(client, headers, user_id=user))
        again = ok(decide(client, headers, user_id=user, surface="pdp"))
        assert first["group"] == again["group"] == first["experiment"]["group"]
        assert first["group"] == expected.group(
            org_id=org, namespace=NS, unit=assignment_unit(user_id=user, decision_id="")
        )
        assert first["experiment"] == {
            "label": "q4-holdout",
            "group": first["group"],
            "holdout_percent": 30.0,
        }
        if first["group"] == "holdout":
            assert (first["policy_id"], first["algorithm"], first["explore"]) == (
                "base",
                "control",
                False,
            )
            assert first["config"] == {"brand_cap": 2}
        else:
            assert first["algorithm"] == "thompson"
        groups[first["group"]] += 1
    assert 8 <= groups["holdout"] <= 30  # 30% of 60, give or take
    got = stats(client, headers)
    assert got["totals"]["holdout"]["decisions"] == 2 * groups["holdout"]
    assert got["totals"]["treatment"]["decisions"] == 2 * groups["treatment"]
    assert set(arms_by_policy(got, "holdout")) == {"base"}
    # "base" is active and may also be an arm for the treatment group.
    assert set(arms_by_policy(got, "treatment")) <= {"a", "b", "base"}


def test_an_inactive_control_serves_only_the_holdout(
    make_bandit_client: Callable[..., TestClient], headers: dict
) -> None:
    client = experiment_client(make_bandit_client, percent=50.0)
    ok(upsert(client, headers, [*ARMS, policy("base", control=True, active=False)]))
    seen = Counter(
        (d["group"], d["policy_id"])
        for d in (ok(decide(client, headers, user_id=f"u{n}")) for n in range(60))
    )
    assert {p for g, p in seen if g == "holdout"} == {"base"}
    assert {p for g, p in seen if g == "treatment"} <= {"a", "b"}
    assert seen[("holdout", "base")] > 0


def test_without_a_control_policy_holdout_gets_the_namespace_defaults(
    make_bandit_client: Callable[..., TestClient], headers: dict
) -> None:
    client = experiment_client(make_bandit_client, percent=100.0)
    ok(upsert(client, headers, ARMS))
    body = ok(decide(client, headers))  # no user: assigned per decision
    assert (body["group"], body["policy_id"], body["config"]) == ("holdout", "_default", {})
    ok(reward(client, headers, body["decision_id"], 1))
    got = stats(client, headers)
    assert got["totals"]["holdout"] == {
        "decisions": 1,
        "rewards": 1,
        "reward_sum": 1.0,
        "mean": 1.0,
    }
    assert got["totals"]["treatment"]["decisions"] == 0


def test_holdout_rewards_never_feed_the_bandit(
    make_bandit_client: Callable[..., TestClient], headers: dict
) -> None:
    client = experiment_client(make_bandit_client, percent=50.0)
    ok(upsert(client, headers, [policy("a", control=True), policy("b")]))
    for n in range(40):
        body = ok(decide(client, headers, user_id=f"u{n}"))
        ok(reward(client, headers, body["decision_id"], 1 if body["group"] == "holdout" else 0))
    got = stats(client, headers)
    assert got["totals"]["treatment"]["reward_sum"] == 0.0
    assert got["totals"]["holdout"]["reward_sum"] == got["totals"]["holdout"]["decisions"] > 0
    assert got["totals"]["holdout"]["mean"] == 1.0 and got["totals"]["treatment"]["mean"] == 0.0


def test_only_listed_surfaces_run_the_experiment(
    make_bandit_client: Callable[..., TestClient], headers: dict
) -> None:
    client = experiment_client(
        make_bandit_client, percent=100.0, bandit_experiment_surfaces=("home",)
    )
    ok(upsert(client, headers, ARMS))
    assert ok(decide(client, headers, surface="home"))["group"] == "holdout"
    other = ok(decide(client, headers, surface="pdp"))
    assert other["group"] == "treatment" and "experiment" not in other


def test_bandit_recommendations_are_labelled_and_rank_with_the_control(
    make_bandit_client: Callable[..., TestClient], headers: dict, clock: FakeClock
) -> None:
    client = experiment_client(make_bandit_client, percent=100.0)
    load_shop(client, headers, clock)
    control = {"blend_alpha": 1, "blend_beta": 0, "blend_gamma": 0, "blend_delta": 0}
    ok(
        upsert(
            client,
            headers,
            [
                policy("arm", config={"blend_alpha": 0, "blend_beta": 1}),
                policy("base", control=True, config=control),
            ],
            namespace=SHOP_NS,
        )
    )
    body = ok(
        client.post(
            "/v1/bandit/recommendations",
            json={"namespace": SHOP_NS, "surface": "home", "user_id": "u04", "k": 5},
            headers=headers,
        )
    )
    assert body["bandit"]["policy_id"] == "base" and body["bandit"]["algorithm"] == "control"
    assert body["bandit"]["experiment"] == {
        "label": "q4-holdout",
        "group": "holdout",
        "holdout_percent": 100.0,
    }
    plain = ok(
        client.post(
            "/v1/recommendations",
            json={
                "namespace": SHOP_NS,
                "surface": "home",
                "user_id": "u04",
                "k": 5,
                "overrides": control,
            },
            headers=headers,
        )
    )
    assert [i["item_id"] for i in body["items"]] == [i["item_id"] for i in plain["items"]]
