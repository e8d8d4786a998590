"""Feature postings list each feature's items, most popular first."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.signals.feature_postings import feature_postings


def test_each_feature_lists_its_items_by_popularity_then_index() -> None:
    rng = np.random.default_rng(3)
    features = sp.csr_matrix((rng.random((40, 6)) < 0.3).astype(np.float64))
    popularity = np.round(rng.random(40), 1)  # ties
    postings = feature_postings(features, popularity)
    dense = features.toarray()
    for f in range(6):
        listed = postings.items[postings.indptr[f] : postings.indptr[f + 1]].tolist()
        carriers = np.flatnonzero(dense[:, f])
        expected = sorted(carriers.tolist(), key=lambda i: (-popularity[i], i))
        assert listed == expected


def test_popular_items_cuts_each_feature_to_its_head() -> None:
    features = sp.csr_matrix(np.asarray([[1, 0], [1, 1], [1, 0], [0, 1], [1, 1]], dtype=np.float64))
    popularity = np.asarray([5.0, 1.0, 4.0, 3.0, 2.0])
    postings = feature_postings(features, popularity)
    assert postings.popular_items(np.asarray([0, 1]), 2).tolist() == [0, 2, 3, 4]
    assert postings.popular_items(np.asarray([1]), 10).tolist() == [3, 4, 1]
    assert postings.popular_items(np.asarray([], dtype=np.int64), 3).tolist() == []
