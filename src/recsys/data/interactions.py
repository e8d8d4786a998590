"""The interaction log as columnar arrays, plus per-user histories (CSR by user, time-ordered)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class UserTable:
    """Users known to the namespace: from the users table and from events."""

    user_ids: tuple[str, ...]
    index: Mapping[str, int]
    traits: tuple[Mapping[str, Any], ...]

    @property
    def size(self) -> int:
        return len(self.user_ids)


@dataclass(frozen=True, eq=False)
class InteractionLog:
    """Events on catalogue items, as parallel arrays. `order`/`offsets` index them per user,
    each user's events ascending by (ts, arrival)."""

    user: np.ndarray  # int32 index into UserTable
    item: np.ndarray  # int32 index into Catalog
    type: np.ndarray  # int8 event type
    value: np.ndarray  # float32
    ts_us: np.ndarray  # int64
    order: np.ndarray  # int64 event positions grouped by user, time-ordered within a user
    offsets: np.ndarray  # int64, len = n_users + 1

    @property
    def size(self) -> int:
        return len(self.item)

    def user_events(self, user: int) -> np.ndarray:
        """Event positions of one user, oldest first."""
        if user < 0 or user + 1 >= len(self.offsets):
            return np.empty(0, dtype=np.int64)
        return self.order[self.offsets[user] : self.offsets[user + 1]]

    def until(self, as_of_us: int) -> InteractionLog:
        """The log as it was at `as_of_us` (events with ts <= as_of)."""
        keep = self.ts_us <= as_of_us
        if keep.all():
            return self
        return build_interaction_log(
            user=self.user[keep],
            item=self.item[keep],
            type=self.type[keep],
            value=self.value[keep],
            ts_us=self.ts_us[keep],
            n_users=len(self.offsets) - 1,
        )


def build_interaction_log(
    *,
    user: np.ndarray,
    item: np.ndarray,
    type: np.ndarray,
    value: np.ndarray,
    ts_us: np.ndarray,
    n_users: int,
) -> InteractionLog:
    """Arrays in arrival order -> log with a per-user time-ordered index (stable on ties)."""
    user = np.ascontiguousarray(user, dtype=np.int32)
    arrival = np.arange(len(user), dtype=np.int64)
    ts_us = np.ascontiguousarray(ts_us, dtype=np.int64)
    order = np.lexsort((arrival, ts_us, user)).astype(np.int64)
    counts = np.bincount(user, minlength=n_users) if len(user) else np.zeros(n_users, np.int64)
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return InteractionLog(
        user=user,
        item=np.ascontiguousarray(item, dtype=np.int32),
        type=np.ascontiguousarray(type, dtype=np.int8),
        value=np.ascontiguousarray(value, dtype=np.float32),
        ts_us=ts_us,
        order=order,
        offsets=offsets,
    )


__all__ = ["InteractionLog", "UserTable", "build_interaction_log"]
