"""The interaction log as columnar arrays, plus per-user histories (CSR by user, time-ordered)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class UserTable:
    """Users known to the namespace: from the users table and from events."""

    user_ids: tuple[str, ...]
    index: Mapping[str, int]
    traits: Mapping[str, Mapping[str, Any]]  # by user_id; users without traits are absent

    @property
    def size(self) -> int:
        return len(self.user_ids)


_NO_POSITIONS = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class InteractionLog:
    """Events on catalogue items, as parallel arrays. `order`/`offsets` index the first
    len(order) events (the base) per user, each user's events ascending by (ts, arrival);
    `tail_order`/`tail_offsets` index the events appended after them the same way, so that
    appending costs in proportion to the tail rather than the log (see `append_events`)."""

    user: np.ndarray  # int32 index into UserTable
    item: np.ndarray  # int32 index into Catalog
    type: np.ndarray  # int8 event type
    value: np.ndarray  # float32
    ts_us: np.ndarray  # int64
    order: np.ndarray  # int64 event positions grouped by user, time-ordered within a user
    offsets: np.ndarray  # int64, len = n_users + 1
    # int64 positions >= len(order), grouped likewise
    tail_order: np.ndarray = field(default_factory=lambda: _NO_POSITIONS)
    tail_offsets: np.ndarray | None = None  # int64, len = n_users + 1; None: no tail

    @property
    def size(self) -> int:
        return len(self.item)

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    def user_events(self, user: int) -> np.ndarray:
        """Event positions of one user, oldest first."""
        if user < 0 or user + 1 >= len(self.offsets):
            return _NO_POSITIONS
        base = self.order[self.offsets[user] : self.offsets[user + 1]]
        if self.tail_offsets is None:
            return base
        tail = self.tail_order[self.tail_offsets[user] : self.tail_offsets[user + 1]]
        if len(tail) == 0:
            return base
        if len(base) == 0:
            return tail
        both = np.concatenate((base, tail))
        if self.ts_us[tail[0]] < self.ts_us[base[-1]]:
            # A late event (older than the user's newest): restore (ts, arrival) order.
            both = both[np.lexsort((both, self.ts_us[both]))]
        return both

    def grouped_order(self) -> np.ndarray:
        """Every event position grouped by user, each user's ascending by (ts, arrival)."""
        if self.tail_offsets is None:
            return self.order
        return _grouped(self.user, self.ts_us)

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
    ts_us = np.ascontiguousarray(ts_us, dtype=np.int64)
    order = _grouped(user, ts_us)
    return InteractionLog(
        user=user,
        item=np.ascontiguousarray(item, dtype=np.int32),
        type=np.ascontiguousarray(type, dtype=np.int8),
        value=np.ascontiguousarray(value, dtype=np.float32),
        ts_us=ts_us,
        order=order,
        offsets=_offsets(user, n_users),
    )


def _grouped(user: np.ndarray, ts_us: np.ndarray, first: int = 0) -> np.ndarray:
    """Positions (from `first`) grouped by user, ascending by (ts, arrival) within a user."""
    arrival = np.arange(first, first + len(user), dtype=np.int64)
    return arrival[np.lexsort((arrival, ts_us, user))]


def _offsets(user: np.ndarray, n_users: int) -> np.ndarray:
    counts = np.bincount(user, minlength=n_users) if len(user) else np.zeros(n_users, np.int64)
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


# The tail is folded into the base once it holds this share of the log (and at least
# COMPACT_MIN events): one full sort per so much growth keeps appends amortised O(tail).
COMPACT_SHARE = 0.25
COMPACT_MIN = 4096


class LogColumns:
    """Append-only storage behind a chain of logs, each the previous one plus new events.

    Each column keeps spare capacity: appending writes past the end of every array handed out
    so far (so no earlier log sees a change) and copies only when the capacity runs out, so a
    long run of small appends costs in proportion to what they add. Only the newest log of
    the chain may be appended to (`append_events` checks)."""

    def __init__(self) -> None:
        self._columns: dict[str, np.ndarray] = {}
        self.size = 0

    def reset(self) -> None:
        self._columns.clear()
        self.size = 0

    def extend(
        self, name: str, current: np.ndarray, added: np.ndarray | Sequence[np.ndarray]
    ) -> np.ndarray:
        """`current` (this column's first `size` values) + `added` (one array or several in
        order, copied straight into storage), as a view of storage."""
        parts = [added] if isinstance(added, np.ndarray) else list(added)
        n, k = len(current), sum(len(part) for part in parts)
        held = self._columns.get(name)
        if held is None or len(held) < n + k or not np.shares_memory(held[:1], current[:1]):
            # An eighth to spare: appends stay amortised (each value copied about eight times
            # over the log's growth) without holding half as much again of a big log unused.
            held = np.empty(n + k + max((n + k) // 8, 1024), dtype=current.dtype)
            held[:n] = current
            self._columns[name] = held
        end = n
        for part in parts:
            held[end : end + len(part)] = part
            end += len(part)
        return held[: n + k]


def append_events(
    log: InteractionLog,
    columns: LogColumns,
    *,
    user: np.ndarray,
    item: np.ndarray,
    type: np.ndarray,
    value: np.ndarray,
    ts_us: np.ndarray,
) -> InteractionLog:
    """The log with events appended (in arrival order, indices into the log's user table and
    catalogue). Work in proportion to the events added since the last compaction, not to the
    log, when `columns` is the storage the log was last appended with (else it starts anew)."""
    if columns.size != log.size:  # not the newest log of this storage: start a new chain
        columns.reset()
    first = log.size
    arrays = {
        "user": columns.extend("user", log.user, np.asarray(user, dtype=np.int32)),
        "item": columns.extend("item", log.item, np.asarray(item, dtype=np.int32)),
        "type": columns.extend("type", log.type, np.asarray(type, dtype=np.int8)),
        "value": columns.extend("value", log.value, np.asarray(value, dtype=np.float32)),
        "ts_us": columns.extend("ts_us", log.ts_us, np.asarray(ts_us, dtype=np.int64)),
    }
    columns.size = first + len(item)
    base, n_users = len(log.order), log.n_users
    tail = columns.size - base
    if tail >= max(COMPACT_MIN, COMPACT_SHARE * columns.size):
        return build_interaction_log(**arrays, n_users=n_users)
    tail_user = arrays["user"][base:]
    earlier = log.tail_order if log.tail_offsets is not None else _NO_POSITIONS
    return InteractionLog(
        **arrays,
        order=log.order,
        offsets=log.offsets,
        tail_order=_merged(
            earlier, np.arange(first, columns.size), arrays["user"], arrays["ts_us"]
        ),
        tail_offsets=_offsets(tail_user, n_users),
    )


# (user, ts) as one comparable value: the order the tail keeps, arrival aside.
_TAIL_KEY = np.dtype([("user", "<i8"), ("ts", "<i8")])


def _merged(
    order: np.ndarray, added: np.ndarray, user: np.ndarray, ts_us: np.ndarray
) -> np.ndarray:
    """`order` (positions grouped by user, ascending by (ts, arrival) within a user) with the
    positions `added` (all of them later arrivals) merged in, in the same order. The new
    events are sorted alone and each is placed by a binary search: a refresh costs a copy of
    the tail, not a sort of it (the tail grows to a quarter of the log between compactions)."""
    added = added[np.lexsort((added, ts_us[added], user[added]))]
    if len(order) == 0:
        return added.astype(np.int64)
    # After every earlier event of the same (user, ts): those arrived before.
    at = np.searchsorted(
        _tail_keys(order, user, ts_us), _tail_keys(added, user, ts_us), side="right"
    )
    return np.insert(order, at, added)


def _tail_keys(positions: np.ndarray, user: np.ndarray, ts_us: np.ndarray) -> np.ndarray:
    keys = np.empty(len(positions), dtype=_TAIL_KEY)
    keys["user"] = user[positions]
    keys["ts"] = ts_us[positions]
    return keys


def reindex(
    log: InteractionLog, *, users: np.ndarray | None, items: np.ndarray | None, n_users: int
) -> InteractionLog:
    """The log over a grown user table and/or a changed catalogue: `users[old index]` and
    `items[old index]` are the new indices (None: unchanged). Both must be increasing over the
    users and items the log refers to (tables sorted by id that only gained entries keep their
    order), so each user's events stay grouped in the same order: only indices move, nothing
    is sorted again."""
    user, offsets, tail_offsets = log.user, log.offsets, log.tail_offsets
    if users is not None:
        user = users[log.user].astype(np.int32)
        offsets = _moved(log.offsets, users, n_users)
        if log.tail_offsets is not None:
            tail_offsets = _moved(log.tail_offsets, users, n_users)
    item = log.item if items is None else items[log.item].astype(np.int32)
    return replace(log, user=user, item=item, offsets=offsets, tail_offsets=tail_offsets)


def _moved(offsets: np.ndarray, users: np.ndarray, n_users: int) -> np.ndarray:
    counts = np.diff(offsets)
    has = np.flatnonzero(counts)
    moved = np.zeros(n_users, dtype=np.int64)
    moved[users[has]] = counts[has]
    out = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(moved, out=out[1:])
    return out


__all__ = [
    "InteractionLog",
    "LogColumns",
    "UserTable",
    "append_events",
    "build_interaction_log",
    "reindex",
]
