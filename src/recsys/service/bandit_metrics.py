"""Prometheus counters of the bandit, on the app's own registry (see service/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from recsys.service.metrics import LabelValues

# Never a user or a decision id: label values stay few (policies are capped per namespace).
LABELS = ["namespace", "surface", "policy", "algorithm"]


@dataclass(frozen=True)
class BanditMetrics:
    decisions: Counter
    rewards: Counter
    reward_sum: Counter
    bounded: LabelValues

    def labels(self, namespace: str, surface: str, policy: str, algorithm: str) -> tuple[str, ...]:
        """The label values, tenant-chosen ones capped (see service/metrics.py)."""
        return (
            self.bounded("namespace", namespace),
            self.bounded("surface", surface),
            self.bounded("policy", policy),
            algorithm,
        )

    @classmethod
    def create(cls, registry: CollectorRegistry) -> BanditMetrics:
        return cls(
            decisions=Counter(
                "bandit_decisions_total",
                "Bandit decisions, by chosen policy and algorithm (control = holdout traffic).",
                LABELS,
                registry=registry,
            ),
            rewards=Counter(
                "bandit_rewards_total",
                "Rewards recorded (the first per decision), by the decision's policy.",
                LABELS,
                registry=registry,
            ),
            reward_sum=Counter(
                "bandit_reward_sum_total",
                "Sum of the rewards recorded; divided by decisions it is the mean reward.",
                LABELS,
                registry=registry,
            ),
            bounded=LabelValues(),
        )


__all__ = ["BanditMetrics"]
