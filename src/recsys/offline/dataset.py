"""A namespace's data for offline work, in the order the server holds it, plus the temporal
split that keeps the test period out of everything the ranker sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


__all__ = ["NamespaceData", "TemporalSplit", "temporal_split"]
