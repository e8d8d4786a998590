"""Time-decayed, type-weighted popularity: sum of weight x value x 0.5^(age / half-life)."""

from __future__ import annotations

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


def descending_order(scores: np.ndarray) -> np.ndarray:
    """Item indices by score, highest first; equal scores keep index (= item_id) order."""
    return np.lexsort((np.arange(len(scores)), -scores))


def long_tail_mask(scores: np.ndarray, head_share: float) -> np.ndarray:
    """True for items outside the `head_share` most popular (the head; ties by index)."""
    mask = np.ones(len(scores), dtype=bool)
    mask[descending_order(scores)[: int(np.ceil(head_share * len(scores)))]] = False
    return mask


__all__ = ["DAY_US", "descending_order", "long_tail_mask", "popularity_scores"]
