"""Time-decayed, type-weighted popularity: sum of weight x value x 0.5^(age / half-life)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY_US = 86_400_000_000


def popularity_scores(
    *,
    item: np.ndarray,
    strength: np.ndarray,
    ts_us: np.ndarray,
    halflife_days: np.ndarray | float,
    reference_us: int,
    n_items: int,
) -> np.ndarray:
    """Popularity per item as seen at `reference_us`.

    `halflife_days` is a scalar or one value per event. Decay is exponential, so scores
    measured at any later instant differ by one common factor: rankings and per-request [0,1]
    normalisation do not depend on which reference instant is used (for events before it).
    """
    if len(item) == 0:
        return np.zeros(n_items, dtype=np.float64)
    # An event dated after the reference instant (a client clock ahead, a typo in a year)
    # counts as brand new rather than growing without bound: 0.5^(negative age) overflows.
    age_days = np.maximum(reference_us - ts_us, 0).astype(np.float64) / DAY_US
    decay = np.exp2(-age_days / halflife_days)
    return np.bincount(item, weights=strength * decay, minlength=n_items)


@dataclass(frozen=True, eq=False)
class DecayedSums:
    """Popularity in a form that can be brought forward in time and appended to.

    Events are grouped by half-life (one per event type, usually all the same); `sums[g]` holds
    group g's events dated at or before `reference_us`, decayed to it. Events dated after it
    count in full until the reference passes them, so they are kept apart (`future`, their
    positions in the log). Decay is exponential, so moving the reference multiplies each group
    by one factor: a refresh costs the catalogue size times the groups plus the new events."""

    reference_us: int
    halflives: np.ndarray  # float64 days, one per group
    group_of_type: np.ndarray  # int64 group per event type code
    sums: np.ndarray  # float64 (groups x items)
    future: np.ndarray  # int64 log positions of events dated after reference_us

    def scores(self, item: np.ndarray, strength: np.ndarray) -> np.ndarray:
        """Popularity per item at `reference_us` (the log's item and strength arrays)."""
        total = self.sums.sum(axis=0)
        if len(self.future):
            total += np.bincount(
                item[self.future], weights=strength[self.future], minlength=total.shape[0]
            )
        return total


def decayed_sums(
    *,
    item: np.ndarray,
    type: np.ndarray,
    strength: np.ndarray,
    ts_us: np.ndarray,
    halflife_by_type: np.ndarray,
    reference_us: int,
    n_items: int,
) -> DecayedSums:
    """DecayedSums of a whole log (`halflife_by_type`: days per event type code)."""
    halflives, group_of_type = np.unique(halflife_by_type, return_inverse=True)
    empty = DecayedSums(
        reference_us=reference_us,
        halflives=halflives.astype(np.float64),
        group_of_type=group_of_type.astype(np.int64),
        sums=np.zeros((len(halflives), n_items), dtype=np.float64),
        future=np.empty(0, dtype=np.int64),
    )
    return advance_sums(
        empty,
        item=item,
        type=type,
        strength=strength,
        ts_us=ts_us,
        first_new=0,
        reference_us=reference_us,
    )


def advance_sums(
    sums: DecayedSums,
    *,
    item: np.ndarray,
    type: np.ndarray,
    strength: np.ndarray,
    ts_us: np.ndarray,
    first_new: int,
    reference_us: int,
) -> DecayedSums:
    """`sums` moved to `reference_us` (not earlier than theirs) with the log's events from
    position `first_new` on added; the arrays are the whole log's."""
    if reference_us < sums.reference_us:
        raise ValueError("popularity sums only move forward in time")
    step_days = (reference_us - sums.reference_us) / DAY_US
    decayed = sums.sums * np.exp2(-step_days / sums.halflives)[:, None]
    pending = np.concatenate((sums.future, np.arange(first_new, len(item), dtype=np.int64)))
    due = ts_us[pending] <= reference_us
    fold = pending[due]
    if len(fold):
        group = sums.group_of_type[type[fold].astype(np.int64)]
        age_days = (reference_us - ts_us[fold]).astype(np.float64) / DAY_US
        weight = strength[fold] * np.exp2(-age_days / sums.halflives[group])
        n_items = decayed.shape[1]
        flat = np.bincount(group * n_items + item[fold], weights=weight, minlength=decayed.size)
        decayed += flat.reshape(decayed.shape)
    return DecayedSums(
        reference_us=reference_us,
        halflives=sums.halflives,
        group_of_type=sums.group_of_type,
        sums=decayed,
        future=pending[~due],
    )


def descending_order(scores: np.ndarray) -> np.ndarray:
    """Item indices by score, highest first; equal scores keep index (= item_id) order."""
    return np.lexsort((np.arange(len(scores)), -scores))


def long_tail_mask(scores: np.ndarray, head_share: float) -> np.ndarray:
    """True for items outside the `head_share` most popular (the head; ties by index)."""
    mask = np.ones(len(scores), dtype=bool)
    mask[descending_order(scores)[: int(np.ceil(head_share * len(scores)))]] = False
    return mask


__all__ = [
    "DAY_US",
    "DecayedSums",
    "advance_sums",
    "decayed_sums",
    "descending_order",
    "long_tail_mask",
    "popularity_scores",
]
