"""The bandit repository on both stores: concurrent decisions and rewards never lose or
double-count an update."""

from __future__ import annotations

import threading
from collections.abc import Callable

from recsys.store import Store
from recsys.store import bandit as bandit_store

NS = "ns"


def decision_row(decision_id: str) -> dict:
    return {
        "decision_id": decision_id,
        "surface": "home",
        "bucket_key": "{}",
        "policy_id": "a",
        "algorithm": "thompson",
        "explore": False,
        "traffic_group": "treatment",
        "experiment_label": None,
        "candidates": ["a"],
        "user_hash": None,
        "created_at_us": 1,
        "reward": None,
        "rewarded_at_us": None,
    }


def in_threads(count: int, work: Callable[[int], None]) -> None:
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_concurrent_decisions_all_count(store: Store, org: str) -> None:
    def work(n: int) -> None:
        for i in range(10):
            with store.write() as conn:
                bandit_store.insert_decision(
                    conn, org_id=org, namespace=NS, row=decision_row(f"d{n}-{i}")
                )

    in_threads(6, work)
    with store.read() as conn:
        [row] = bandit_store.list_statistics(conn, org_id=org, namespace=NS)
    assert row["decisions"] == 60 and row["rewards"] == 0


def test_concurrent_rewards_of_one_decision_count_once(store: Store, org: str) -> None:
    with store.write() as conn:
        bandit_store.insert_decision(conn, org_id=org, namespace=NS, row=decision_row("d"))
    kept: list[float] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        value = 0.1 * (n + 1)
        with store.write() as conn:
            row = bandit_store.get_decision(conn, org_id=org, namespace=NS, decision_id="d")
            assert row is not None
            if row["reward"] is None and bandit_store.record_reward(
                conn, org_id=org, namespace=NS, decision=row, reward=value, now_us=2
            ):
                with lock:
                    kept.append(value)

    in_threads(8, work)
    assert len(kept) == 1
    with store.read() as conn:
        [row] = bandit_store.list_statistics(conn, org_id=org, namespace=NS)
        decision = bandit_store.get_decision(conn, org_id=org, namespace=NS, decision_id="d")
    assert row["rewards"] == 1 and row["reward_sum"] == kept[0]
    assert decision is not None and decision["reward"] == kept[0]


def test_a_second_reward_is_not_kept(store: Store, org: str) -> None:
    with store.write() as conn:
        bandit_store.insert_decision(conn, org_id=org, namespace=NS, row=decision_row("d"))
        row = bandit_store.get_decision(conn, org_id=org, namespace=NS, decision_id="d")
        assert row is not None
        assert bandit_store.record_reward(
            conn, org_id=org, namespace=NS, decision=row, reward=0.5, now_us=2
        )
        assert not bandit_store.record_reward(
            conn, org_id=org, namespace=NS, decision=row, reward=0.7, now_us=3
        )
    with store.read() as conn:
        [stats] = bandit_store.list_statistics(conn, org_id=org, namespace=NS)
    assert (stats["rewards"], stats["reward_sum"]) == (1, 0.5)
