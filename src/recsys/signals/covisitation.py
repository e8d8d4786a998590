"""Item-item co-visitation: items touched by the same user close in time."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.signals.popularity import DAY_US

# Entries normalised and cut per block of rows (see covisitation_matrix).
BLOCK_ENTRIES = 1 << 20


def covisitation_matrix(
    *,
    user: np.ndarray,
    item: np.ndarray,
    strength: np.ndarray,
    ts_us: np.ndarray,
    order: np.ndarray,
    n_items: int,
    window_days: float,
    max_lag: int = 5,
    max_neighbors: int = 50,
) -> sp.csr_matrix:
    """Symmetric item x item weights, top `max_neighbors` per row.

    Two events pair when one user made them within `max_lag` steps and `window_days` of each
    other; the pair weighs sqrt(strength_a x strength_b) / lag. Each entry is divided by
    sqrt(occurrence_i x occurrence_j) (cosine-style), so a bestseller that co-occurs with
    everything does not drown the specific neighbours.
    """
    if len(order) < 2 or n_items == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    window_us = window_days * DAY_US
    u = user[order]
    it = item[order]
    t = ts_us[order]
    s = strength[order].astype(np.float64)
    # Summed lag by lag (the pairs of all lags at once would be the build's largest allocation
    # on a big log), each pair once, in the upper triangle: the matrix is symmetric, so half
    # the entries to sort and sum, mirrored once at the end.
    upper = sp.csr_matrix((n_items, n_items), dtype=np.float64)
    for lag in range(1, max_lag + 1):
        if lag >= len(order):
            break
        a, b = slice(0, len(order) - lag), slice(lag, len(order))
        pair = lag_pairs(u, it, t, s, lag, window_us)
        if not pair.any():
            continue
        first, second = it[a][pair], it[b][pair]
        weight = np.sqrt(s[a][pair] * s[b][pair]) / lag
        del pair
        lagged = sp.csr_matrix(
            (weight, (np.minimum(first, second), np.maximum(first, second))),
            shape=(n_items, n_items),
        )
        del first, second, weight
        upper = upper + lagged
    if upper.nnz == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    # The pairs never join an item with itself: each entry is in one triangle only, so the
    # sum adds nothing to anything (no rounding).
    matrix = (upper + upper.T).tocsr()
    del upper
    occurrence = np.bincount(item, weights=strength, minlength=n_items)
    norm = np.sqrt(np.maximum(occurrence, 1e-12))
    matrix.sum_duplicates()  # canonical: columns ascending within each row
    # Normalised and cut row block by row block: the selection's temporaries (sort keys and
    # positions, ~50 bytes an entry) were the build's peak on a big log when made for every
    # entry at once. Rows are independent, so the blocks give exactly the same matrix.
    indptr, kept = matrix.indptr, []
    start = 0
    while start < n_items:
        stop = int(np.searchsorted(indptr, indptr[start] + BLOCK_ENTRIES, side="right")) - 1
        stop = min(max(stop, start + 1), n_items)
        rows = np.repeat(np.arange(stop - start, dtype=np.int32), np.diff(indptr[start : stop + 1]))
        cols = matrix.indices[indptr[start] : indptr[stop]]
        data = matrix.data[indptr[start] : indptr[stop]] / (norm[rows + start] * norm[cols])
        mask = _kept_per_row(rows, data, stop - start, max_neighbors)
        kept.append((rows[mask] + start, cols[mask], data[mask].astype(np.float32)))
        start = stop
    del matrix
    return sp.csr_matrix(
        (
            np.concatenate([d for _, _, d in kept]),
            (np.concatenate([r for r, _, _ in kept]), np.concatenate([c for _, c, _ in kept])),
        ),
        shape=(n_items, n_items),
    )


def lag_pairs(
    user: np.ndarray,
    item: np.ndarray,
    ts_us: np.ndarray,
    strength: np.ndarray,
    lag: int,
    window_us: float,
) -> np.ndarray:
    """Over events grouped by user in time order: True at i when events i and i + lag pair
    (same user, different items, within the window, both with positive strength). The one
    rule of the full build and of the recent pairs; each pair weighs
    sqrt(strength_i x strength_i+lag) / lag."""
    a, b = slice(0, len(user) - lag), slice(lag, len(user))
    pair = (user[a] == user[b]) & (item[a] != item[b]) & ((ts_us[b] - ts_us[a]) <= window_us)
    pair &= (strength[a] > 0) & (strength[b] > 0)
    return pair


def _top_per_row(
    rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n: int, keep: int
) -> sp.csr_matrix:
    """Keep the `keep` largest entries of each row (ties: lower column index first). Entries
    come row by row, columns ascending within a row; weights are positive."""
    mask = _kept_per_row(rows, data, n, keep)
    return sp.csr_matrix((data[mask].astype(np.float32), (rows[mask], cols[mask])), shape=(n, n))


def _kept_per_row(rows: np.ndarray, data: np.ndarray, n: int, keep: int) -> np.ndarray:
    """True at the entries `_top_per_row` keeps (rows in 0..n-1)."""
    counts = np.bincount(rows, minlength=n)
    # Only rows longer than `keep` lose entries.
    long = np.flatnonzero(counts[rows] > keep)
    if len(long):
        # A coarse pass first: each long row's keep-th largest weight rounded to float32 (the
        # rounding keeps order, it can only make weights tie), from one sort of packed
        # (row, rounded weight) integers. Only entries at or above it can be kept; the exact
        # sort below is then over about `keep` entries per row instead of all of them.
        rounded = data[long].astype(np.float32).view(np.int32).astype(np.int64)
        key = (rows[long].astype(np.int64) << 32) | (np.int64(0x7FFFFFFF) - rounded)
        long_rows = np.flatnonzero(counts > keep)
        starts = np.concatenate(([0], np.cumsum(counts[long_rows])[:-1]))
        threshold = np.zeros(n, dtype=np.int64)
        threshold[long_rows] = np.sort(key)[starts + keep - 1]
        candidates = key <= threshold[rows[long]]
        dropped_coarse = long[~candidates]
        long = long[candidates]
        del rounded, key, candidates
    else:
        dropped_coarse = long
    # A stable sort by weight keeps the ascending column order among equal weights.
    order = long[np.lexsort((-data[long], rows[long]))]
    sorted_rows = rows[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_rows, sorted_rows, side="left")
    mask = np.ones(len(rows), dtype=bool)
    mask[order[rank >= keep]] = False
    mask[dropped_coarse] = False
    return mask


__all__ = ["covisitation_matrix", "lag_pairs"]
