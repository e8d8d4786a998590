"""A refresh appends the new events to the last log instead of sorting the whole log again: the
result must be exactly the log a full build gives, through new users, new and edited items,
late events, events on items the catalogue does not have yet, compactions and type-table
changes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recsys.data import interactions
from recsys.data.catalog import build_catalog
from recsys.signals.assemble import AssemblyCache, EventLog, assemble_snapshot
from recsys.signals.event_types import EventTypeTable
from recsys.signals.snapshot import SignalParams, Snapshot

NOW = 1_800_000_000_000_000
DAY = 86_400_000_000


def items(n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    return [
        {"item_id": f"i{k:03d}", "tags": [f"t{rng.integers(5)}"], "brand": f"b{k % 3}"}
        for k in range(n)
    ]


def same(incremental: Snapshot, full: Snapshot) -> None:
    assert incremental.users.user_ids == full.users.user_ids
    a, b = incremental.log, full.log
    for column in ("user", "item", "type", "value", "ts_us"):
        assert np.array_equal(getattr(a, column), getattr(b, column)), column
    assert np.array_equal(incremental.strength, full.strength)
    assert np.array_equal(a.grouped_order(), b.grouped_order())
    for user in range(full.users.size):
        assert np.array_equal(a.user_events(user), b.user_events(user)), user
    halflife = full.params.popularity_halflife_days
    assert np.allclose(
        incremental.popularity(halflife).scores, full.popularity(halflife).scores, rtol=1e-9
    )


@pytest.mark.parametrize("seed", range(6))
def test_appending_gives_the_log_a_full_build_gives(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(interactions, "COMPACT_MIN", 40)  # compactions happen in this test
    rng = np.random.default_rng(seed)
    catalog_rows = items(30, rng)
    users = [{"user_id": f"u{k:03d}", "traits": {}} for k in range(0, 40, 2)]
    events = EventLog()
    cache = AssemblyCache()
    params = SignalParams()
    clock = NOW
    catalog = build_catalog(catalog_rows)
    appended = 0
    for step in range(40):
        action = rng.random()
        if action < 0.1:  # an item edit, a new item, or an item leaving the catalogue
            kind = rng.integers(3)
            if kind == 0:
                catalog_rows[int(rng.integers(len(catalog_rows)))]["brand"] = f"b{step}"
            elif kind == 1:
                catalog_rows.append({"item_id": f"i{rng.integers(100):03d}x", "tags": ["t0"]})
            else:
                catalog_rows.pop(int(rng.integers(len(catalog_rows))))
            catalog = build_catalog(catalog_rows)
        elif action < 0.15:  # a user pushed through the users endpoint (no events yet)
            users = [*users, {"user_id": f"u{rng.integers(200):03d}y", "traits": {}}]
        elif action < 0.18:  # the event type weights or half-lives change
            weights = tuple(float(w) for w in rng.random(5))
            halflives = (None, 3.0, None, 30.0, None) if rng.random() < 0.5 else (None,) * 5
            params = SignalParams(
                event_types=EventTypeTable(weights=weights, halflife_days=halflives)
            )
        elif action < 0.2:  # the namespace's popularity half-life changes
            params = SignalParams(
                event_types=params.event_types, popularity_halflife_days=float(rng.integers(1, 30))
            )
        n = int(rng.integers(0, 25))
        clock += int(rng.integers(0, DAY))
        late = rng.random(n) < 0.2
        ts = clock - np.where(late, rng.integers(0, 5 * DAY, n), 0)
        # Now and then an event dated ahead of the clock (it counts in full until reached).
        ts = ts + np.where(rng.random(n) < 0.05, rng.integers(0, 3 * DAY, n), 0)
        user_ids = [f"u{k:03d}" for k in rng.integers(0, 60, n)]
        # A few events name items the catalogue does not have (yet).
        item_ids = [
            f"i{k:03d}" if rng.random() > 0.1 else f"i{rng.integers(100):03d}x"
            for k in rng.integers(0, 40, n)
        ]
        events.append(
            user_id=user_ids,
            item_id=item_ids,
            type=rng.integers(0, 5, n).astype(np.int8),
            value=rng.random(n).astype(np.float32),
            ts_us=ts,
        )
        appended += n
        kwargs: dict[str, Any] = {
            "catalog": catalog,
            "users": users,
            "events": events,
            "params": params,
            "reference_us": clock,
        }
        same(assemble_snapshot(cache=cache, **kwargs), assemble_snapshot(**kwargs))
    assert appended > 200


def test_appends_reuse_storage_and_leave_earlier_logs_alone() -> None:
    rng = np.random.default_rng(7)
    catalog = build_catalog(items(10, rng))
    events, cache = EventLog(), AssemblyCache()

    def add(n: int) -> Snapshot:
        events.append(
            user_id=[f"u{k}" for k in rng.integers(0, 3, n)],
            item_id=[f"i{k:03d}" for k in rng.integers(0, 10, n)],
            type=np.zeros(n, np.int8),
            value=np.ones(n, np.float32),
            ts_us=NOW + np.arange(n) + len(events),
        )
        return assemble_snapshot(
            catalog=catalog,
            users=[],
            events=events,
            params=SignalParams(),
            reference_us=NOW,
            cache=cache,
        )

    first = add(50)
    second = add(5)
    third = add(5)
    kept = second.log.item.copy()
    fourth = add(5)
    assert np.array_equal(second.log.item, kept)  # later appends did not write into it
    # Appends after the first write into the same storage (no copy of the log).
    assert np.shares_memory(third.log.item, fourth.log.item)
    assert third.log.order is second.log.order  # the base index is not sorted again
    assert len(first.log.item) == 50 and len(fourth.log.item) == 65


def test_the_event_log_extends_in_place_and_frozen_copies_stay_as_they_were() -> None:
    rng = np.random.default_rng(3)
    log, records = EventLog(), []
    frozen = []
    for _ in range(30):
        n = int(rng.integers(1, 40))
        batch = [
            {"user_id": f"u{u}", "item_id": f"i{i}", "type": int(t), "value": 1.0, "ts_us": NOW + k}
            for k, (u, i, t) in enumerate(rng.integers(0, 9, (n, 3)))
        ]
        records += batch
        log.append(
            user_id=[r["user_id"] for r in batch],
            item_id=[r["item_id"] for r in batch],
            type=np.asarray([r["type"] for r in batch], dtype=np.int8),
            value=np.ones(n, np.float32),
            ts_us=np.asarray([r["ts_us"] for r in batch]),
        )
        frozen.append((log.frozen(), len(records)))
    whole = EventLog.from_records(records)
    for column in ("user", "item", "type", "value", "ts_us"):
        assert np.array_equal(getattr(log, column), getattr(whole, column))
    for copy, size in frozen:  # later appends wrote past their end only
        expected = EventLog.from_records(records[:size])
        assert np.array_equal(copy.item, expected.item) and np.array_equal(
            copy.ts_us, expected.ts_us
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_tail_merged_batch_by_batch_is_the_tail_sorted_whole(seed: int) -> None:
    """Each refresh places its new events into the tail's order instead of sorting the tail
    again; equal times, late events and users new to the tail included."""
    rng = np.random.default_rng(seed)
    n = 3000
    user = rng.integers(0, 40, n).astype(np.int32)
    ts_us = rng.integers(0, 30, n).astype(np.int64)  # many equal times
    order = np.empty(0, dtype=np.int64)
    start = 0
    while start < n:
        stop = min(n, start + int(rng.integers(1, 200)))
        order = interactions._merged(order, np.arange(start, stop), user, ts_us)
        expected = interactions._grouped(user[:stop], ts_us[:stop])
        assert np.array_equal(order, expected)
        start = stop
