"""Evaluation protocols for the quality benchmark: how a dataset is split into what the ranker may
see (train) and what it is scored on (held-out relevance).

- `stratified`: each user's distinct (user, item) pairs are shuffled with a fixed seed and the
  first 75% go to training, the rest to test — the protocol of the Microsoft Recommenders
  MovieLens table. Whole pairs move together, so an item a user touched twice can never be both
  seen and predicted.
- `temporal`: one global time cut at the 80th percentile of event times; users with events on
  both sides are scored on what they touched after the cut.

Both return a `ProtocolSplit` whose `train` holds only the training events: nothing downstream
can read a test event, whatever it does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from recsys.offline.dataset import NamespaceData, TemporalSplit, temporal_split
from recsys.signals.assemble import EventLog

Protocol = Literal["stratified", "temporal"]
PROTOCOLS: tuple[Protocol, ...] = ("stratified", "temporal")


@dataclass(frozen=True, eq=False)
class ProtocolSplit:
    protocol: Protocol
    train: NamespaceData  # training events only
    holdout: TemporalSplit  # users scored and their held-out relevant items
    rank_at_us: int  # the instant rankers rank at: after every training event
    seen: Mapping[str, tuple[str, ...]]  # each scored user's training items (excluded from lists)


def subset_events(events: EventLog, keep: np.ndarray) -> EventLog:
    """The events where `keep` is true, in their original order (vocabularies shared)."""
    return EventLog(
        users=events.users,
        items=events.items,
        user=events.user[keep],
        item=events.item[keep],
        type=events.type[keep],
        value=events.value[keep],
        ts_us=events.ts_us[keep],
    )


def _finish(
    protocol: Protocol, data: NamespaceData, train: np.ndarray, test: np.ndarray
) -> ProtocolSplit:
    events = data.events
    user_ids = np.asarray(events.users.ids, dtype=object)
    item_ids = np.asarray(events.items.ids, dtype=object)
    scored = np.intersect1d(np.unique(events.user[train]), np.unique(events.user[test]))
    relevant = _items_by_user(events, test, scored, user_ids, item_ids)
    seen = _items_by_user(events, train, scored, user_ids, item_ids)
    rank_at = int(events.ts_us[train].max()) if train.any() else 0
    users = tuple(sorted(relevant))
    return ProtocolSplit(
        protocol=protocol,
        train=NamespaceData(
            items=data.items, users=data.users, events=subset_events(events, train)
        ),
        holdout=TemporalSplit(
            cut_us=rank_at, users=users, relevant={u: frozenset(relevant[u]) for u in users}
        ),
        rank_at_us=rank_at,
        seen=seen,
    )


def _items_by_user(
    events: EventLog,
    mask: np.ndarray,
    users: np.ndarray,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
) -> dict[str, tuple[str, ...]]:
    """Distinct items (ascending code) of each user in `users`, over the events in `mask`."""
    chosen = mask & np.isin(events.user, users)
    pairs = np.unique(np.stack([events.user[chosen], events.item[chosen]]), axis=1)
    bounds = (
        np.searchsorted(pairs[0], users, side="left"),
        np.searchsorted(pairs[0], users, side="right"),
    )
    return {
        str(user_ids[code]): tuple(str(i) for i in item_ids[pairs[1][start:end]])
        for code, start, end in zip(users, *bounds, strict=True)
    }


def stratified_split(
    data: NamespaceData, *, test_share: float = 0.25, seed: int = 42
) -> ProtocolSplit:
    events = data.events
    n = len(events)
    if n == 0:
        return _finish("stratified", data, np.zeros(0, bool), np.zeros(0, bool))
    n_items = max(len(events.items.ids), 1)
    pair = events.user.astype(np.int64) * n_items + events.item
    pairs, inverse = np.unique(pair, return_inverse=True)
    pair_user = pairs // n_items
    rng = np.random.default_rng(seed)
    shuffle = rng.random(len(pairs))
    order = np.lexsort((shuffle, pair_user))  # by user, then random within the user
    sorted_users = pair_user[order]
    first = np.searchsorted(sorted_users, sorted_users, side="left")
    rank = np.arange(len(pairs)) - first
    per_user = np.bincount(pair_user, minlength=int(pair_user.max()) + 1)
    keep_count = np.round((1.0 - test_share) * per_user[sorted_users])
    pair_train = np.empty(len(pairs), dtype=bool)
    pair_train[order] = rank < keep_count
    train = pair_train[inverse]
    return _finish("stratified", data, train, ~train)


def temporal_protocol_split(data: NamespaceData, *, train_share: float = 0.8) -> ProtocolSplit:
    cut = temporal_split(data, train_share=train_share).cut_us
    train = data.events.ts_us <= cut
    return _finish("temporal", data, train, ~train)


def split_by(protocol: Protocol, data: NamespaceData, *, seed: int = 42) -> ProtocolSplit:
    if protocol == "stratified":
        return stratified_split(data, seed=seed)
    return temporal_protocol_split(data)


__all__ = [
    "PROTOCOLS",
    "Protocol",
    "ProtocolSplit",
    "split_by",
    "stratified_split",
    "subset_events",
    "temporal_protocol_split",
]
