"""What one app instance holds: built in the factory, reached by routes through dependencies.
The bandit routes share a runtime of their own: settings, the random stream, decision ids,
metrics."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike
from prometheus_client import CollectorRegistry

from recsys.bandit import ALGORITHMS, Algorithm
from recsys.bandit.algorithms import Choice, choose
from recsys.bandit.holdout import Experiment
from recsys.config.knobs import KnobValues
from recsys.config.settings import Settings
from recsys.ranking import Pipeline
from recsys.service.audit import DecisionRecorder
from recsys.service.auth import KeyRing, RateLimiter
from recsys.service.canaries import CanaryBoard
from recsys.service.metrics import BanditMetrics, ServiceMetrics
from recsys.service.pagination import PageTokens
from recsys.service.snapshots import SnapshotRegistry
from recsys.service.writes import Writes
from recsys.store import Store

Clock = Callable[[], datetime]


@dataclass
class ServiceState:
    settings: Settings
    store: Store
    clock: Clock
    metrics: ServiceMetrics
    keyring: KeyRing
    limiter: RateLimiter
    git_commit: str | None
    knobs: KnobValues
    snapshots: SnapshotRegistry
    writes: Writes
    audit: DecisionRecorder
    pipeline: Pipeline
    new_id: Callable[[], str]
    page_tokens: PageTokens


def _seeded_ids(rng: np.random.Generator) -> Callable[[], str]:
    lock = threading.Lock()

    def new_id() -> str:
        with lock:
            bits = int.from_bytes(rng.bytes(16), "big")
        return uuid.UUID(int=bits, version=4).hex

    return new_id


def _random_id() -> str:
    return uuid.uuid4().hex


@dataclass
class BanditRuntime:
    default_algorithm: Algorithm
    experiment: Experiment
    metrics: BanditMetrics
    new_decision_id: Callable[[], str]
    rng: np.random.Generator
    canaries: CanaryBoard = field(default_factory=CanaryBoard)
    # numpy generators are not thread-safe; requests run in a threadpool.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        settings: Settings,
        registry: CollectorRegistry,
        *,
        seed: int | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> BanditRuntime:
        """`seed` makes every choice, and (unless `new_id` is given) every decision id,
        reproducible for a given sequence of requests; without it both come from OS entropy."""
        if settings.bandit_algo not in ALGORITHMS:
            raise ValueError(
                f"bandit_algo must be one of {ALGORITHMS}, got {settings.bandit_algo!r}"
            )
        choices, ids = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        if new_id is None:
            new_id = _random_id if seed is None else _seeded_ids(ids)
        return cls(
            default_algorithm=settings.bandit_algo,
            experiment=Experiment.of(
                enabled=settings.bandit_experiment_enabled,
                holdout_percent=settings.bandit_experiment_holdout_percent,
                surfaces=settings.bandit_experiment_surfaces,
                label=settings.bandit_experiment_label,
            ),
            metrics=BanditMetrics.create(registry),
            new_decision_id=new_id,
            rng=choices,
        )

    def choose(self, algorithm: Algorithm, pulls: ArrayLike, reward_sums: ArrayLike) -> Choice:
        with self._lock:
            return choose(algorithm, pulls, reward_sums, self.rng)


__all__ = ["BanditRuntime", "Clock", "ServiceState"]
