"""A small shop whose right answers are known: six categories of ten items, users who each love
one category, a bestseller, a pair of items always bought together, and some special users."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from recsys.policy.rules import Rule
from recsys.signals.assemble import snapshot_from_records
from recsys.signals.snapshot import Snapshot

DAY = 86_400_000_000
NOW = 1_795_000_000 * 1_000_000  # 2026-11-18, fixed: tests never read the wall clock
CATEGORIES = [f"c{n}" for n in range(6)]


def shop_items() -> list[dict[str, Any]]:
    items = []
    for n in range(60):
        category = CATEGORIES[n // 10]
        items.append(
            {
                "item_id": f"i{n:02d}",
                "category": category,
                "brand": f"b{n % 4}",
                "tags": [f"{category}-t{n % 3}", "all", *(["sale"] if n % 5 == 0 else [])],
                "price": float(n),
                "available": n != 59,
                "created_at_us": NOW - (60 - n) * DAY,
            }
        )
    return items


def shop_events() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(7)
    users, events = [], []
    for u in range(72):
        category = u % 6
        users.append({"user_id": f"u{u:02d}", "traits": {"segment": f"fans_{category}"}})
        for _ in range(12):
            if rng.random() < 0.85:
                item = category * 10 + int(rng.integers(0, 9))
            else:
                item = int(rng.integers(0, 59))
            events.append(
                {
                    "user_id": f"u{u:02d}",
                    "item_id": f"i{item:02d}",
                    "type": int(rng.choice([0, 0, 0, 1, 1, 2, 3])),
                    "ts_us": NOW - int(rng.integers(1, 50 * DAY)),
                }
            )
    # i07 is bought two hours after i05 by many users: a co-visitation pair.
    for u in range(30):
        t = NOW - (u + 2) * DAY
        events.append({"user_id": f"p{u:02d}", "item_id": "i05", "type": 1, "ts_us": t})
        events.append(
            {"user_id": f"p{u:02d}", "item_id": "i07", "type": 3, "ts_us": t + 7_200_000_000}
        )
    # i31 was the bestseller long ago; i42 is popular right now.
    for u in range(40):
        events.append(
            {"user_id": f"old{u:02d}", "item_id": "i31", "type": 3, "ts_us": NOW - 80 * DAY}
        )
    for u in range(25):
        events.append({"user_id": f"hot{u:02d}", "item_id": "i42", "type": 3, "ts_us": NOW - DAY})
    # A user who just viewed i05 (after i01 and i02); one who bought i12 yesterday and loves c1.
    for n, item in enumerate(["i01", "i02", "i05"]):
        events.append(
            {
                "user_id": "anchor",
                "item_id": item,
                "type": 0,
                "ts_us": NOW - (3 - n) * 3_600_000_000,
            }
        )
    for n, item in enumerate(["i10", "i11", "i13", "i14", "i12"]):
        events.append(
            {
                "user_id": "buyer",
                "item_id": item,
                "type": 3 if item == "i12" else 0,
                "ts_us": NOW - (5 - n) * DAY,
            }
        )
    # A sparse user with two events, and one whose tastes are old (60 days) in c5.
    events.append({"user_id": "sparse", "item_id": "i20", "type": 0, "ts_us": NOW - DAY})
    events.append({"user_id": "sparse", "item_id": "i21", "type": 0, "ts_us": NOW - DAY})
    for n in range(6):
        events.append(
            {"user_id": "nostalgic", "item_id": f"i5{n}", "type": 2, "ts_us": NOW - 58 * DAY}
        )
    for n in range(3):
        events.append(
            {"user_id": "nostalgic", "item_id": f"i0{n}", "type": 0, "ts_us": NOW - 2 * DAY}
        )
    users.append({"user_id": "newbie", "traits": {"segment": "fans_3"}})
    return users, events


def shop_rule(rule_id: str, action: str, target_type: str, **fields: Any) -> Rule:
    """A merchandising rule of the shop's namespace, on every surface unless `fields` say."""
    return Rule(
        **{
            "rule_id": rule_id,
            "namespace": "shop",
            "surface": "*",
            "name": rule_id,
            "action": action,
            "target_type": target_type,
            **fields,
        }
    )


@lru_cache(maxsize=1)
def shop_snapshot() -> Snapshot:
    users, events = shop_events()
    return snapshot_from_records(items=shop_items(), users=users, events=events, reference_us=NOW)
