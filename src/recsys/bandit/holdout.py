"""The holdout experiment: a fixed share of traffic bypasses the bandit and gets the control
policy, so the bandit's lift can be measured against it.

Assignment is a hash of (org, namespace, unit), where the unit is the user id when the request
names one, else the decision id: a user stays in one group on every surface and in every process,
and no state is kept. The surface list only says where the experiment runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

TrafficGroup = Literal["treatment", "holdout"]
TRAFFIC_GROUPS: tuple[TrafficGroup, ...] = ("treatment", "holdout")


def holdout_position(*, org_id: str, namespace: str, unit: str) -> float:
    """Where a unit falls on [0, 100): uniform over units, stable forever."""
    digest = hashlib.sha256(f"bandit-holdout\0{org_id}\0{namespace}\0{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 * 100.0


def assignment_unit(*, user_id: str | None, decision_id: str) -> str:
    # Prefixed so that a user called like a decision id never shares its slot.
    return f"user:{user_id}" if user_id else f"decision:{decision_id}"


@dataclass(frozen=True)
class Experiment:
    """`BANDIT_EXPERIMENT_*` settings: whether the holdout runs, how big it is, and where."""

    enabled: bool = False
    holdout_percent: float = 10.0
    surfaces: frozenset[str] = field(default_factory=frozenset)  # empty = every surface
    label: str = "holdout"

    @classmethod
    def of(
        cls, *, enabled: bool, holdout_percent: float, surfaces: Iterable[str], label: str
    ) -> Experiment:
        if not 0.0 <= holdout_percent <= 100.0:
            raise ValueError(f"holdout_percent must be between 0 and 100, got {holdout_percent}")
        return cls(
            enabled=enabled,
            holdout_percent=holdout_percent,
            surfaces=frozenset(surfaces),
            label=label,
        )

    def covers(self, surface: str) -> bool:
        return self.enabled and (not self.surfaces or surface in self.surfaces)

    def group(self, *, org_id: str, namespace: str, unit: str) -> TrafficGroup:
        """The unit's group on a covered surface."""
        position = holdout_position(org_id=org_id, namespace=namespace, unit=unit)
        return "holdout" if position < self.holdout_percent else "treatment"


__all__ = [
    "TRAFFIC_GROUPS",
    "Experiment",
    "TrafficGroup",
    "assignment_unit",
    "holdout_position",
]
