"""Prometheus metrics, one registry per app so that several apps (tests, workers) never collide."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

# prometheus_client reads it when first imported: `recsys serve` sets it before that.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Label values that tenants choose (namespace names, surfaces, rule and policy ids) are capped
# per label and per process: past the cap new values are counted under OTHER, so one tenant
# cannot grow /metrics (and the scraper's storage) without bound for everyone.
MAX_LABEL_VALUES = 500
OTHER = "_other"


@dataclass
class LabelValues:
    limit: int = MAX_LABEL_VALUES
    _seen: dict[str, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, label: str, value: str) -> str:
        """`value` while the label has room (or already knows it), else OTHER."""
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if value in seen:
                return value
            if len(seen) < self.limit:
                seen.add(value)
                return value
            return OTHER


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ServiceMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    ingested: Counter
    rule_actions: Counter
    rule_blocked_items: Counter
    rule_exposure: Counter
    constraint_leaks: Counter
    response_items: Counter
    coverage: Counter
    bounded: LabelValues
    # Set under `recsys serve`: every worker writes its values there (prometheus_client's
    # multiprocess mode) and /metrics sums them, whichever worker answers the scrape.
    multiprocess_dir: str | None = None

    @classmethod
    def create(cls) -> ServiceMetrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            multiprocess_dir=os.environ.get(MULTIPROCESS_ENV) or None,
            registry=registry,
            requests=Counter(
                "recsys_http_requests_total",
                "HTTP requests by route template, method and status code.",
                ["method", "route", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "recsys_http_request_duration_seconds",
                "HTTP request latency by route template and method.",
                ["method", "route"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            ingested=Counter(
                "recsys_ingested_rows_total",
                "Rows written by ingestion endpoints, by kind (items, users, events).",
                ["kind"],
                registry=registry,
            ),
            # Policy metrics: labelled by namespace and surface, never by user.
            rule_actions=Counter(
                "policy_rule_actions_total",
                "Items affected by merchandising rules, by action (BLOCK, PIN, BOOST).",
                ["namespace", "surface", "action"],
                registry=registry,
            ),
            rule_blocked_items=Counter(
                "policy_rule_blocked_items_total",
                "Candidates removed by each BLOCK rule.",
                ["namespace", "surface", "rule_id"],
                registry=registry,
            ),
            rule_exposure=Counter(
                "policy_rule_exposure_total",
                "Items returned that a PIN or BOOST rule placed or lifted.",
                ["namespace", "surface", "action"],
                registry=registry,
            ),
            constraint_leaks=Counter(
                "policy_constraint_leak_total",
                "Returned items that break a constraint or exclusion (must stay 0).",
                ["namespace", "surface", "reason"],
                registry=registry,
            ),
            response_items=Counter(
                "policy_response_items_total",
                "Items returned by ranking endpoints.",
                ["namespace", "surface"],
                registry=registry,
            ),
            coverage=Counter(
                "policy_coverage_bucket_total",
                "Items returned, all of them and those from the long tail.",
                ["namespace", "surface", "bucket"],
                registry=registry,
            ),
            bounded=LabelValues(),
        )

    def exposition(self) -> bytes:
        """The text /metrics serves: this app's registry, or every worker's values summed."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)
        return generate_latest(merged)


# Never a user or a decision id: label values stay few (policies are capped per namespace).
BANDIT_LABELS = ["namespace", "surface", "policy", "algorithm"]


@dataclass(frozen=True)
class BanditMetrics:
    decisions: Counter
    rewards: Counter
    reward_sum: Counter
    canary_steps: Counter
    bounded: LabelValues

    def labels(self, namespace: str, surface: str, policy: str, algorithm: str) -> tuple[str, ...]:
        """The label values, tenant-chosen ones capped (see LabelValues)."""
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
                BANDIT_LABELS,
                registry=registry,
            ),
            rewards=Counter(
                "bandit_rewards_total",
                "Rewards recorded (the first per decision), by the decision's policy.",
                BANDIT_LABELS,
                registry=registry,
            ),
            reward_sum=Counter(
                "bandit_reward_sum_total",
                "Sum of the rewards recorded; divided by decisions it is the mean reward.",
                BANDIT_LABELS,
                registry=registry,
            ),
            canary_steps=Counter(
                "ship_canary_steps_total",
                "Canary steps: started, look, promoted, rolled_back, no_decision, stopped.",
                ["namespace", "surface", "kind"],
                registry=registry,
            ),
            bounded=LabelValues(),
        )


__all__ = ["MAX_LABEL_VALUES", "OTHER", "BanditMetrics", "LabelValues", "ServiceMetrics"]
