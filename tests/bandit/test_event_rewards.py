"""Events reward the bandit decisions they name (`meta.decision_id`): by the event's type, once
per decision, in the transaction that stores the events — a resent batch, a later event or an
explicit reward never counts twice, and events naming an unknown decision are stored as usual."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from recsys.store import Store
from recsys.store import bandit as bandit_store
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


def shop(client: TestClient, headers: dict) -> None:
    items = [{"item_id": f"i{n}"} for n in range(6)]
    ok(client.post("/v1/items:upsert", json={"namespace": NS, "items": items}, headers=headers))
    ok(upsert(client, headers, [policy("only")]))


def served(client: TestClient, headers: dict, user: str) -> tuple[str, list[str]]:
    body = {"namespace": NS, "surface": "home", "user_id": user, "k": 3}
    answer = ok(client.post("/v1/bandit/recommendations", json=body, headers=headers))
    return answer["decision_id"], [item["item_id"] for item in answer["items"]]


def act(client: TestClient, headers: dict, event_id: str, user: str, item: str, kind: str) -> int:
    body = {
        "namespace": NS,
        "events": [{"event_id": event_id, "user_id": user, "item_id": item, "type": kind}],
    }
    rewarded: int = ok(client.post("/v1/events:batch", json=body, headers=headers))["rewarded"]
    return rewarded


def test_acting_on_a_served_item_soon_after_rewards_the_latest_decision(
    bandit_client: TestClient, headers: dict, clock: Any, store: Store
) -> None:
    shop(bandit_client, headers)
    older, _ = served(bandit_client, headers, "ann")
    clock.advance(seconds=60)
    latest, items = served(bandit_client, headers, "ann")
    unserved = next(f"i{n}" for n in range(6) if f"i{n}" not in items)
    assert act(bandit_client, headers, "x1", "bob", items[0], "click") == 0  # another user
    assert act(bandit_client, headers, "x2", "ann", unserved, "click") == 0  # not served
    assert act(bandit_client, headers, "x3", "ann", items[0], "view") == 0  # worth nothing
    assert act(bandit_client, headers, "x4", "ann", items[1], "add") == 1
    with store.read() as conn:
        kept = {
            d: bandit_store.get_decision(
                conn, org_id=headers["X-Org-ID"], namespace=NS, decision_id=d
            )
            for d in (older, latest)
        }
    assert {d: row["reward"] for d, row in kept.items() if row} == {older: None, latest: 0.6}
    assert kept[latest] is not None and kept[latest]["items"] == items


def test_too_late_or_with_the_window_off_is_no_reward(
    make_bandit_client: Callable[..., TestClient], headers: dict, clock: Any
) -> None:
    client = make_bandit_client(bandit_reward_window_s=600.0)
    shop(client, headers)
    _, items = served(client, headers, "ann")
    clock.advance(seconds=601)
    assert act(client, headers, "late", "ann", items[0], "purchase") == 0
    off = make_bandit_client(seed=8, bandit_reward_window_s=0.0)  # seed 7's ids are taken
    _, items = served(off, headers, "cy")
    assert act(off, headers, "off", "cy", items[0], "purchase") == 0
