"""Convergence through the HTTP API: arms paying 0.2 / 0.5 / 0.8, 600 decide -> reward rounds
on each store, seeded; the best arm ends up with most of the traffic, for both algorithms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.bandit.helpers import arms_by_policy, decide, ok, policy, reward, stats, upsert

PAYOFFS = {"p20": 0.2, "p50": 0.5, "p80": 0.8}
ROUNDS = 600


@pytest.mark.parametrize(("algorithm", "min_share"), [("thompson", 0.75), ("ucb1", 0.6)])
def test_the_best_arm_wins_most_traffic(
    make_bandit_client: Callable[..., TestClient],
    headers: dict,
    algorithm: str,
    min_share: float,
) -> None:
    client = make_bandit_client(seed=2026)
    ok(upsert(client, headers, [policy(p) for p in PAYOFFS]))
    clicks = np.random.default_rng(99)  # the simulated users, seeded too
    chosen: Counter[str] = Counter()
    for _ in range(ROUNDS):
        decision = ok(decide(client, headers, algorithm=algorithm, context={"device": "web"}))
        arm = decision["policy_id"]
        chosen[arm] += 1
        value = 1.0 if clicks.random() < PAYOFFS[arm] else 0.0
        ok(reward(client, headers, decision["decision_id"], value))
    assert chosen.most_common(1)[0][0] == "p80"
    assert chosen["p80"] >= min_share * ROUNDS, chosen
    # The server's statistics say the same.
    arms = arms_by_policy(stats(client, headers))
    assert {p: a["decisions"] for p, a in arms.items()} == dict(chosen)
    assert all(a["rewards"] == a["decisions"] for a in arms.values())
    means = {p: a["reward_sum"] / a["decisions"] for p, a in arms.items()}
    assert abs(means["p80"] - 0.8) < 0.06
