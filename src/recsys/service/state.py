"""What one app instance holds: built in the factory, reached by routes through dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from recsys.config.knobs import KnobValues
from recsys.config.settings import Settings
from recsys.ranking import Pipeline
from recsys.service.audit import DecisionRecorder
from recsys.service.auth import KeyRing, RateLimiter
from recsys.service.metrics import ServiceMetrics
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


__all__ = ["Clock", "ServiceState"]
