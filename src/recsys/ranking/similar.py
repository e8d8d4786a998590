"""Similar items: nearest item vectors first, then co-visitation neighbours; never the item."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.ranking.candidates import top_indices
from recsys.signals.snapshot import Snapshot


@dataclass(frozen=True)
class Neighbour:
    item_id: str
    score: float
    source: str


def similar_items(snapshot: Snapshot, item_id: str, k: int) -> list[Neighbour]:
    """Up to k available items like `item_id`. Raises KeyError for an unknown item."""
    catalog = snapshot.catalog
    anchor = catalog.index[item_id]
    chosen: list[Neighbour] = []
    taken = {anchor}
    allowed = catalog.available.copy()
    allowed[anchor] = False
    vectors = snapshot.item_vectors
    if vectors is not None and np.any(vectors[anchor]):
        similarity = np.where(allowed, vectors @ vectors[anchor], 0.0)
        for i in _ranked(similarity, k):
            chosen.append(
                Neighbour(str(catalog.item_ids[i]), round(float(similarity[i]), 6), "item_vectors")
            )
            taken.add(int(i))
    if len(chosen) < k:
        covis = snapshot.covisitation(snapshot.params.covis_window_days)
        row = np.zeros(catalog.size)
        start, end = covis.indptr[anchor], covis.indptr[anchor + 1]
        row[covis.indices[start:end]] = covis.data[start:end]
        row[~allowed] = 0.0
        row[list(taken)] = 0.0
        for i in _ranked(row, k - len(chosen)):
            chosen.append(
                Neighbour(str(catalog.item_ids[i]), round(float(row[i]), 6), "co_visitation")
            )
    return chosen


def _ranked(scores: np.ndarray, k: int) -> np.ndarray:
    top = top_indices(scores, k)
    return top[np.lexsort((top, -scores[top]))]


__all__ = ["Neighbour", "similar_items"]
