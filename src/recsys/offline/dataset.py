"""A namespace's data for offline work, in the order the server holds it, plus the temporal
split that keeps the test period out of everything the ranker sees."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from recsys.clock import to_micros
from recsys.signals.assemble import EventLog, Vocabulary


@dataclass(frozen=True, eq=False)
class NamespaceData:
    items: Sequence[Mapping[str, Any]]  # item rows with created_at_us
    users: Sequence[Mapping[str, Any]]  # {user_id, traits}
    events: EventLog  # in ingestion order (the server's event id order)

    def segments(self) -> dict[str, str]:
        return {
            str(u["user_id"]): str((u.get("traits") or {}).get("segment", "unknown"))
            for u in self.users
        }


class MissingTime(ValueError):
    """An event without `ts`: offline there is no server clock to stamp it."""


# Events are coded a block at a time, so memory holds arrays, not millions of Python rows.
_BLOCK = 65_536
# An item field a record leaves out takes the value the API gives it (tests/offline checks that
# these match the API's item model), so every item row has every field, whatever its source.
ITEM_DEFAULTS: dict[str, Any] = {
    "available": True,
    "price": None,
    "brand": None,
    "category": None,
    "category_path": [],
    "tags": [],
    "props": {},
    "embedding": None,
    "title": None,
    "description": None,
}


class DatasetBuilder:
    """The one set of rules that turns records into a NamespaceData, whatever they come from
    (API-shaped records in memory, import files): what the server would hold after the same
    writes.

    - Items and users: upserts. A repeated id keeps its first position and takes the last
      row's fields (the server's insert order, the latest write).
    - Events: in the order given (the server's arrival order). A repeated `event_id` is
      skipped (ingestion is idempotent by event id); events without an id are all kept.
    - An event must carry its time: `MissingTime` (the server would use its clock, which an
      offline dataset does not have; a silent 0 would put the event in 1970).
    - An item without `created_at` is dated by its first event, 0 when it has none (the server
      would use the time of the write).
    - An item field a row leaves out takes the API's default (`ITEM_DEFAULTS`).
    - Without any item rows, every item an event names becomes an available item with
      default fields.
    """

    def __init__(self) -> None:
        self._users = Vocabulary()
        self._items = Vocabulary()
        self._parts: dict[str, list[np.ndarray]] = {
            name: [] for name in ("user", "item", "type", "value", "ts_us")
        }
        self._block: list[tuple[str, str, int, float, int]] = []
        self._seen: set[str] = set()
        self._item_rows: dict[str, dict[str, Any]] = {}
        self._user_rows: dict[str, dict[str, Any]] = {}

    def event(
        self,
        *,
        user_id: str,
        item_id: str,
        type: int,
        value: float,
        ts_us: int | None,
        event_id: str | None = None,
    ) -> None:
        if ts_us is None:
            raise MissingTime("ts is required offline (a server would use its clock)")
        if event_id is not None:
            if event_id in self._seen:
                return
            self._seen.add(event_id)
        self._block.append((user_id, item_id, type, value, ts_us))
        if len(self._block) >= _BLOCK:
            self._flush()

    def item(self, row: Mapping[str, Any], *, created_at_us: int | None) -> None:
        """`row`: the item's fields (without `created_at`); missing ones take ITEM_DEFAULTS."""
        self._item_rows[str(row["item_id"])] = {
            **ITEM_DEFAULTS,
            **row,
            "created_at_us": created_at_us,
        }

    def user(self, user_id: str, traits: Mapping[str, Any] | None) -> None:
        self._user_rows[user_id] = {"user_id": user_id, "traits": dict(traits or {})}

    def _flush(self) -> None:
        if not self._block:
            return
        users, items, types, values, ts = zip(*self._block, strict=True)
        self._parts["user"].append(self._users.encode(users))
        self._parts["item"].append(self._items.encode(items))
        self._parts["type"].append(np.asarray(types, dtype=np.int8))
        self._parts["value"].append(np.asarray(values, dtype=np.float32))
        self._parts["ts_us"].append(np.asarray(ts, dtype=np.int64))
        self._block = []

    def build(self) -> NamespaceData:
        self._flush()
        dtypes = {"user": np.int64, "item": np.int64, "type": np.int8, "value": np.float32}
        arrays = {
            name: np.concatenate(parts) if parts else np.empty(0, dtypes.get(name, np.int64))
            for name, parts in self._parts.items()
        }
        log = EventLog(users=self._users, items=self._items, **arrays)
        first = np.full(len(log.items.ids), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, log.item, log.ts_us)
        first_us = dict(zip(log.items.ids, first.tolist(), strict=True))
        rows = self._item_rows or {
            item_id: {**ITEM_DEFAULTS, "item_id": item_id, "created_at_us": None}
            for item_id in log.items.ids
        }
        items = [
            row
            if row["created_at_us"] is not None
            else {**row, "created_at_us": first_us.get(i, 0)}
            for i, row in rows.items()
        ]
        return NamespaceData(items=items, users=list(self._user_rows.values()), events=log)


def micros_of(text: str | None) -> int | None:
    """An RFC 3339 time (a trailing Z allowed) in microseconds; None for a missing one."""
    if not text:
        return None
    return to_micros(datetime.fromisoformat(text.replace("Z", "+00:00")))


def namespace_data_from_records(
    *,
    items: Iterable[Mapping[str, Any]],
    users: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
) -> NamespaceData:
    """API-shaped records (RFC 3339 `ts` / `created_at`, type as a code) in, offline data out,
    by the rules of `DatasetBuilder`."""
    builder = DatasetBuilder()
    for event in events:
        builder.event(
            user_id=str(event["user_id"]),
            item_id=str(event["item_id"]),
            type=int(event["type"]),
            value=float(event.get("value", 1.0)),
            ts_us=micros_of(event.get("ts")),
            event_id=event.get("event_id"),
        )
    for item in items:
        fields = {k: v for k, v in item.items() if k != "created_at"}
        builder.item(fields, created_at_us=micros_of(item.get("created_at")))
    for user in users:
        builder.user(str(user["user_id"]), user.get("traits"))
    return builder.build()


@dataclass(frozen=True)
class TemporalSplit:
    """Train = events with ts <= cut_us; test = after. Only users with events on both sides are
    evaluated; their relevant items are those they interacted with after the cut."""

    cut_us: int
    users: tuple[str, ...]
    relevant: Mapping[str, frozenset[str]]


def temporal_split(
    data: NamespaceData, *, train_share: float = 0.8, max_users: int | None = None, seed: int = 0
) -> TemporalSplit:
    events = data.events
    if len(events) == 0:
        return TemporalSplit(0, (), {})
    ts = np.sort(events.ts_us)
    cut = int(ts[min(len(ts) - 1, int(np.floor(train_share * len(ts))) - 1)])
    train = events.ts_us <= cut
    user_ids = np.asarray(events.users.ids, dtype=object)
    item_ids = np.asarray(events.items.ids, dtype=object)
    trained = set(user_ids[np.unique(events.user[train])])
    relevant: dict[str, set[str]] = {}
    for u, i in zip(events.user[~train], events.item[~train], strict=True):
        user = user_ids[u]
        if user in trained:
            relevant.setdefault(user, set()).add(item_ids[i])
    users = sorted(relevant)
    if max_users is not None and len(users) > max_users:
        rng = np.random.default_rng(seed)
        users = sorted(rng.choice(users, size=max_users, replace=False).tolist())
    return TemporalSplit(cut, tuple(users), {u: frozenset(relevant[u]) for u in users})


__all__ = [
    "ITEM_DEFAULTS",
    "DatasetBuilder",
    "MissingTime",
    "NamespaceData",
    "TemporalSplit",
    "micros_of",
    "namespace_data_from_records",
    "temporal_split",
]
