"""Feature postings: for every catalogue feature (tag or category), the items that carry it,
most popular first.

The profile and starter sources look for items that share the user's features. Scanning the
whole item x feature matrix per request costs as much as the catalogue is big; the postings let
a request read only the head of each of its few features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class FeaturePostings:
    indptr: np.ndarray  # int64 (n_features + 1): feature f's items are items[indptr[f]:indptr[f+1]]
    items: np.ndarray  # int64 catalogue indices, per feature by descending popularity, then index

    def popular_items(self, features: np.ndarray, count: int) -> np.ndarray:
        """Up to `count` of the most popular items of each of `features`, concatenated in the
        order of `features` (an item carrying several of them appears once per feature)."""
        starts = self.indptr[features]
        lengths = np.minimum(self.indptr[features + 1] - starts, count)
        within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return self.items[np.repeat(starts, lengths) + within]


def feature_postings(features: sp.csr_matrix, popularity: np.ndarray) -> FeaturePostings:
    """Postings of a binary item x feature matrix, ordered by `popularity` (one score per item;
    ties by lower item index)."""
    by_feature = sp.csc_matrix(features)
    by_feature.sort_indices()
    n_features = features.shape[1]
    # Items ranked once (most popular first, then by index), then one integer sort of the
    # entries by (feature, rank): a refresh recomputes this after every batch of events, and
    # this is a quarter of the cost of sorting the entries by three keys.
    n_items = len(popularity)
    rank = np.empty(n_items, dtype=np.int64)
    rank[np.lexsort((np.arange(n_items), -popularity))] = np.arange(n_items)
    items = by_feature.indices.astype(np.int64)
    feature_base = np.arange(n_features, dtype=np.int64) * n_items
    key = np.repeat(feature_base, np.diff(by_feature.indptr)) + rank[items]
    return FeaturePostings(by_feature.indptr.astype(np.int64), items[np.argsort(key)])


__all__ = ["FeaturePostings", "feature_postings"]
