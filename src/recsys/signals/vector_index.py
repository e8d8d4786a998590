"""An approximate nearest-item index over item vectors, so the vector source of a request reads
a bounded number of items instead of scoring the whole catalogue.

Spherical k-means groups the unit-norm vectors into clusters of about `cluster_size` items; a
query scores the cluster centres, then only the members of the nearest clusters, until it has
read `at_least` items. The items it returns are the exact best among those read. Small
catalogues get no index: scoring every item exactly is as cheap there.

Promises: deterministic for a given seed; every item belongs to exactly one cluster; a query
always reads whole clusters and never fewer than `min(at_least, n_items)` items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# Catalogues smaller than this are scored exactly, item by item.
INDEX_MIN_ITEMS = 4096
CLUSTER_SIZE = 64
ITERATIONS = 8
# Rows scored against the centres at once while clustering (bounds the temporary matrix).
BLOCK_ROWS = 8192


@dataclass(frozen=True, eq=False)
class VectorIndex:
    centres: np.ndarray  # float32 (clusters x d), unit norm (zero for an empty cluster)
    members: np.ndarray  # int64 item indices, grouped by cluster
    offsets: np.ndarray  # int64 (clusters + 1): cluster c is members[offsets[c]:offsets[c+1]]

    @property
    def n_clusters(self) -> int:
        return len(self.centres)

    def nearby(self, query: np.ndarray, at_least: int) -> np.ndarray:
        """Items of the clusters whose centres are most similar to `query`, nearest cluster
        first, whole clusters until at least `at_least` items are read; ascending item order."""
        closeness = self.centres @ query.astype(self.centres.dtype)
        order = np.lexsort((np.arange(self.n_clusters), -closeness))
        sizes = np.diff(self.offsets)[order]
        enough = int(np.searchsorted(np.cumsum(sizes), at_least)) + 1
        chosen = order[:enough]
        parts = [self.members[self.offsets[c] : self.offsets[c + 1]] for c in chosen]
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)


def build_vector_index(
    vectors: np.ndarray,
    *,
    seed: int,
    cluster_size: int = CLUSTER_SIZE,
    iterations: int = ITERATIONS,
    min_items: int = INDEX_MIN_ITEMS,
) -> VectorIndex | None:
    """Cluster `vectors` (n x d, unit norm or zero); None below `min_items` items."""
    n = len(vectors)
    if n < max(min_items, 2 * cluster_size):
        return None
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n_clusters = n // cluster_size
    rng = np.random.default_rng(seed)
    centres = x[np.sort(rng.choice(n, size=n_clusters, replace=False))].copy()
    assignment = _nearest_centre(x, centres)
    for _ in range(iterations):
        # Each centre moves to the normalised sum of its members (spherical k-means).
        membership = sp.csr_matrix(
            (np.ones(n, dtype=np.float32), (assignment, np.arange(n))), shape=(n_clusters, n)
        )
        sums = np.asarray(membership @ x)
        norms = np.linalg.norm(sums, axis=1)
        moved = norms > 0
        centres[moved] = sums[moved] / norms[moved, None]
        assignment = _nearest_centre(x, centres)
    members = np.argsort(assignment, kind="stable").astype(np.int64)
    counts = np.bincount(assignment, minlength=n_clusters)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    empty = counts == 0
    centres[empty] = 0.0
    return VectorIndex(centres=centres, members=members, offsets=offsets)


def _nearest_centre(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), BLOCK_ROWS):
        block = x[start : start + BLOCK_ROWS] @ centres.T
        out[start : start + BLOCK_ROWS] = np.argmax(block, axis=1)
    return out


__all__ = ["INDEX_MIN_ITEMS", "VectorIndex", "build_vector_index"]
