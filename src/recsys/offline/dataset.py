"""A namespace's data for offline work, in the order the server holds it, plus the temporal
split that keeps the test period out of everything the ranker sees."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from recsys.signals.assemble import EventLog


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


def namespace_data_from_records(
    *,
    items: Iterable[Mapping[str, Any]],
    users: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
) -> NamespaceData:
    """API-shaped records (RFC 3339 `ts` / `created_at`, type as a code) in, offline data out.
    Events keep their given order, which stands in for the server's arrival order."""
    from recsys.clock import to_micros

    def micros(text: str | None) -> int:
        if not text:
            return 0
        return to_micros(datetime.fromisoformat(text.replace("Z", "+00:00")))

    item_rows = [{**item, "created_at_us": micros(item.get("created_at"))} for item in items]
    user_rows = [{"user_id": u["user_id"], "traits": dict(u.get("traits") or {})} for u in users]
    user_ids: list[str] = []
    item_ids: list[str] = []
    types: list[int] = []
    values: list[float] = []
    ts: list[int] = []
    for event in events:
        user_ids.append(str(event["user_id"]))
        item_ids.append(str(event["item_id"]))
        types.append(int(event["type"]))
        values.append(float(event.get("value", 1.0)))
        ts.append(micros(event["ts"]))
    log = EventLog()
    log.append(
        user_id=user_ids,
        item_id=item_ids,
        type=np.asarray(types, dtype=np.int8),
        value=np.asarray(values, dtype=np.float32),
        ts_us=np.asarray(ts, dtype=np.int64),
    )
    return NamespaceData(items=item_rows, users=user_rows, events=log)


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


__all__ = ["NamespaceData", "TemporalSplit", "namespace_data_from_records", "temporal_split"]
