"""Co-visitation kept fresh between full builds: the pairs the events since the last build add.

A full co-visitation build (`covisitation.covisitation_matrix`) reads the whole log; it runs in
the background now and then. In between, each refresh adds the pairs its new events make with
the same users' earlier events (same lag and window rules, same weights) to a running sum, and
the served matrix is the last full build plus these recent pairs, normalised by the items'
current occurrence. The cost of a refresh is the new events' users' histories, never the log.

Approximate in two ways until the next full build: the full build's entries keep the
occurrence they were normalised with, and an event that arrives late (older than its user's
newest) adds its pairs without taking away the ones it comes between."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.data.interactions import InteractionLog
from recsys.signals.covisitation import lag_pairs
from recsys.signals.popularity import DAY_US


@dataclass(frozen=True, eq=False)
class RecentPairs:
    """Raw (unnormalised, symmetric) pair weights of the events at log positions `since` up
    to `covered`, summed per item pair: its size follows the distinct pairs, not the events."""

    since: int
    covered: int
    raw: sp.csr_matrix  # float64, items x items

    def added_to(self, full: sp.csr_matrix, occurrence: np.ndarray) -> sp.csr_matrix:
        """`full` plus these pairs normalised by sqrt(occurrence_i x occurrence_j)."""
        if self.raw.nnz == 0:
            return full
        norm = np.sqrt(np.maximum(occurrence, 1e-12))
        raw = self.raw  # canonical (built from coordinates, or a sum of such): no duplicates
        rows = np.repeat(np.arange(raw.shape[0]), np.diff(raw.indptr))
        values = (raw.data / (norm[rows] * norm[raw.indices])).astype(np.float32)
        # The same structure with normalised values: no conversion to coordinates and back
        # on every refresh.
        recent = sp.csr_matrix((values, raw.indices, raw.indptr), shape=raw.shape)
        return (full + recent).tocsr()


def recent_pairs(
    log: InteractionLog,
    strength: np.ndarray,
    *,
    previous: RecentPairs | None,
    since: int,
    window_days: float,
    max_lag: int,
    n_items: int,
) -> RecentPairs:
    """`previous` (covering positions since..previous.covered) extended with the pairs of the
    events after it, or, without one, the pairs of every event from `since` on."""
    first_new = since if previous is None else previous.covered
    new_users = np.unique(log.user[first_new:])
    rows, cols, weights = _pairs(
        log, strength, new_users, first_new=first_new, window_us=window_days * DAY_US, lags=max_lag
    )
    added = sp.csr_matrix((weights, (rows, cols)), shape=(n_items, n_items))
    raw = added if previous is None else (previous.raw + added).tocsr()
    return RecentPairs(since=since, covered=log.size, raw=raw)


def _pairs(
    log: InteractionLog,
    strength: np.ndarray,
    users: np.ndarray,
    *,
    first_new: int,
    window_us: float,
    lags: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs within `users`' histories (same rules as the full build) in which the later-
    arriving event is at or after `first_new`, both directions."""
    empty = np.empty(0, np.int64)
    positions = _histories(log, users)
    if len(positions) < 2:
        return empty, empty, np.empty(0, np.float64)
    u = log.user[positions]
    it = log.item[positions].astype(np.int64)
    t = log.ts_us[positions]
    s = strength[positions].astype(np.float64)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for lag in range(1, min(lags, len(positions) - 1) + 1):
        a, b = slice(0, len(positions) - lag), slice(lag, len(positions))
        pair = lag_pairs(u, it, t, s, lag, window_us)
        pair &= np.maximum(positions[a], positions[b]) >= first_new
        if not pair.any():
            continue
        weight = np.sqrt(s[a][pair] * s[b][pair]) / lag
        rows += [it[a][pair], it[b][pair]]
        cols += [it[b][pair], it[a][pair]]
        vals += [weight, weight]
    if not rows:
        return empty, empty, np.empty(0, np.float64)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _histories(log: InteractionLog, users: np.ndarray) -> np.ndarray:
    """The event positions of `users`, grouped by user, each ascending by (ts, arrival)."""
    parts = [_gather(log.order, log.offsets, users)]
    if log.tail_offsets is not None:
        parts.append(_gather(log.tail_order, log.tail_offsets, users))
    positions = np.concatenate(parts)
    return positions[np.lexsort((positions, log.ts_us[positions], log.user[positions]))]


def _gather(order: np.ndarray, offsets: np.ndarray, users: np.ndarray) -> np.ndarray:
    """order[offsets[u]:offsets[u+1]] for every u in `users`, concatenated (no Python loop)."""
    starts, ends = offsets[users], offsets[users + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return order[np.arange(total, dtype=np.int64) + shift]


__all__ = ["RecentPairs", "recent_pairs"]
