"""Events reward the bandit decisions they name (`meta.decision_id`): by the event's type, once
per decision, in the transaction that stores the events — a resent batch, a later event or an
explicit reward never counts twice, and events naming an unknown decision are stored as usual."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

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


def events(
    client: TestClient, headers: dict, *batch: tuple[str, str, str | None], namespace: str = NS
) -> dict[str, Any]:
    """(event_id, type, decision_id) triples, posted as one batch."""
    body = {
        "namespace": namespace,
        "events": [
            {
                "event_id": event_id,
                "user_id": "u1",
                "item_id": "i1",
                "type": kind,
                "meta": {"decision_id": decision} if decision else {},
            }
            for event_id, kind, decision in batch
        ],
    }
    answer: dict[str, Any] = ok(client.post("/v1/events:batch", json=body, headers=headers))
    return answer


def arm(client: TestClient, headers: dict) -> dict:
    return arms_by_policy(stats(client, headers))["only"]


def test_an_event_naming_a_decision_rewards_it_once(
    bandit_client: TestClient, headers: dict
) -> None:
    ok(upsert(bandit_client, headers, [policy("only")]))
    first, second, third = (ok(decide(bandit_client, headers))["decision_id"] for _ in range(3))
    answer = events(
        bandit_client,
        headers,
        ("e1", "view", first),  # a view is worth nothing: no reward
        ("e2", "click", second),
        ("e3", "purchase", second),  # the best event of the batch counts
        ("e4", "add", third),
        ("e5", "click", "no-such-decision"),
        ("e6", "purchase", None),
    )
    assert answer["inserted"] == 6 and answer["rewarded"] == 2
    assert arm(bandit_client, headers) == {"decisions": 3, "rewards": 2, "reward_sum": 1.6}
    # the same batch again, a later purchase, an explicit reward: the first reward stays
    again = events(bandit_client, headers, ("e2", "click", second), ("e4", "add", third))
    assert (again["duplicates"], again["rewarded"]) == (2, 0)
    assert events(bandit_client, headers, ("e7", "purchase", third))["rewarded"] == 0
    error(reward(bandit_client, headers, third, 1.0), 409, "reward_already_recorded")
    assert arm(bandit_client, headers) == {"decisions": 3, "rewards": 2, "reward_sum": 1.6}
    # the view did not use up the first decision's reward
    assert events(bandit_client, headers, ("e8", "click", first))["rewarded"] == 1
    assert arm(bandit_client, headers)["rewards"] == 3


def test_rewards_by_type_are_a_setting(
    make_bandit_client: Callable[..., TestClient], headers: dict
) -> None:
    client = make_bandit_client(bandit_event_rewards=(0.0, 1.0, 0.0, 0.0, 0.0))  # clicks only
    ok(upsert(client, headers, [policy("only")]))
    clicked, bought = (ok(decide(client, headers))["decision_id"] for _ in range(2))
    answer = events(client, headers, ("e1", "click", clicked), ("e2", "purchase", bought))
    assert answer["rewarded"] == 1
    assert arm(client, headers) == {"decisions": 2, "rewards": 1, "reward_sum": 1.0}


def test_a_decision_of_another_namespace_is_not_rewarded(
    bandit_client: TestClient, headers: dict
) -> None:
    ok(upsert(bandit_client, headers, [policy("only")]))
    decision_id = ok(decide(bandit_client, headers))["decision_id"]
    answer = events(bandit_client, headers, ("e1", "purchase", decision_id), namespace="elsewhere")
    assert (answer["inserted"], answer["rewarded"]) == (1, 0)
    assert arm(bandit_client, headers)["rewards"] == 0
