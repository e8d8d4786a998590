"""A larger shop than the oracle's 60 items, for the knobs whose effect only shows when the
personal candidate sources cannot cover the whole catalogue (the popularity fan-out)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from recsys.clock import from_micros, to_micros
from recsys.offline.synthetic import generate
from recsys.signals.assemble import snapshot_from_records
from recsys.signals.snapshot import Snapshot
from tests.ranking.shop import NOW

# A user with 15 events: the personal sources propose a few hundred of the 1,500 items.
SYNTHETIC_USER = "user-00143"


@lru_cache(maxsize=1)
def synthetic_snapshot() -> Snapshot:
    data = generate(n_items=1500, n_users=300, n_events=9000, now=from_micros(NOW), seed=5)
    items = [
        {**item, "created_at_us": to_micros(datetime.fromisoformat(item["created_at"]))}
        for item in data.items
    ]
    users = [user["user_id"] for user in data.users]
    item_ids = [item["item_id"] for item in data.items]
    ev = data.events
    events = [
        {"user_id": users[u], "item_id": item_ids[i], "type": t, "value": v, "ts_us": ts}
        for u, i, t, v, ts in zip(
            ev.user_index.tolist(),
            ev.item_index.tolist(),
            ev.type.tolist(),
            ev.value.tolist(),
            ev.ts_us.tolist(),
            strict=True,
        )
    ]
    return snapshot_from_records(items=items, users=data.users, events=events, reference_us=NOW)
