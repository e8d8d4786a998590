"""The benchmark's protocols keep the test side out of training, split the way they say, and
are deterministic."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from recsys.offline.dataset import NamespaceData
from recsys.offline.protocols import split_by, stratified_split, temporal_protocol_split
from recsys.signals.assemble import EventLog

DAY = 86_400_000_000


def dataset(seed: int = 0, users: int = 30, items: int = 40, events: int = 900) -> NamespaceData:
    rng = np.random.default_rng(seed)
    log = EventLog()
    user = rng.integers(0, users, events)
    item = rng.integers(0, items, events)
    ts = np.sort(rng.integers(0, 100 * DAY, events))
    log.append(
        user_id=[f"u{u:02d}" for u in user],
        item_id=[f"i{i:02d}" for i in item],
        type=np.zeros(events, np.int8),
        value=np.ones(events, np.float32),
        ts_us=ts,
    )
    return NamespaceData(
        items=[{"item_id": f"i{i:02d}", "created_at_us": 0} for i in range(items)],
        users=[{"user_id": f"u{u:02d}", "traits": {}} for u in range(users)],
        events=log,
    )


def pairs(data: NamespaceData) -> Counter[tuple[str, str]]:
    events = data.events
    return Counter(
        (events.users.ids[u], events.items.ids[i])
        for u, i in zip(events.user, events.item, strict=True)
    )


def test_stratified_puts_a_quarter_of_each_users_distinct_items_in_test() -> None:
    data = dataset()
    split = stratified_split(data, seed=42)
    train_pairs = set(pairs(split.train))
    all_pairs = set(pairs(data))
    for user in split.holdout.users:
        seen = {i for u, i in train_pairs if u == user}
        held = set(split.holdout.relevant[user])
        assert not seen & held  # a (user, item) pair is never on both sides
        assert seen | held == {i for u, i in all_pairs if u == user}
        assert len(held) == len(seen | held) - round(0.75 * len(seen | held))
        assert set(split.seen[user]) == seen


def test_stratified_moves_repeated_events_of_a_pair_together() -> None:
    data = dataset(events=2000)  # many repeats of the same (user, item)
    split = stratified_split(data, seed=1)
    train_counts, all_counts = pairs(split.train), pairs(data)
    for pair, count in train_counts.items():
        assert count == all_counts[pair]


def test_stratified_is_seeded() -> None:
    data = dataset()
    first = stratified_split(data, seed=42).holdout.relevant
    assert stratified_split(data, seed=42).holdout.relevant == first
    assert stratified_split(data, seed=43).holdout.relevant != first


def test_temporal_trains_on_the_past_and_scores_users_with_both_sides() -> None:
    data = dataset()
    split = temporal_protocol_split(data)
    assert split.train.events.ts_us.max() == split.rank_at_us
    later = data.events.ts_us > split.rank_at_us
    assert len(split.train.events) == int((~later).sum())
    assert 0.78 <= len(split.train.events) / len(data.events) <= 0.82
    trained = {split.train.events.users.ids[u] for u in split.train.events.user}
    for user in split.holdout.users:
        assert user in trained
        assert split.holdout.relevant[user]


@pytest.mark.parametrize("protocol", ["stratified", "temporal"])
def test_empty_data_gives_an_empty_split(protocol: str) -> None:
    empty = NamespaceData(items=[], users=[], events=EventLog())
    split = split_by(protocol, empty)  # type: ignore[arg-type]
    assert split.holdout.users == () and len(split.train.events) == 0
