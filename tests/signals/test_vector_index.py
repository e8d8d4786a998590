"""The vector index: every item in one cluster, deterministic, whole clusters per query, and
close to the exact search it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.catalog import build_catalog
from recsys.ranking.candidates import top_indices
from recsys.signals import vector_index
from recsys.signals.snapshot import build_snapshot, heavy_signals_of, remap_heavy
from recsys.signals.vector_index import build_vector_index
from tests.ranking.synthetic_shop import synthetic_snapshot


def clustered_vectors(n: int, d: int = 32, topics: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few topic directions, as learned item vectors tend to be."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, d))
    x = centres[rng.integers(0, topics, n)] + 0.6 * rng.standard_normal((n, d))
    x[:50] = 0.0  # items without evidence have zero vectors
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32)


def test_small_catalogues_get_no_index() -> None:
    assert build_vector_index(clustered_vectors(1000), seed=0) is None


def test_every_item_belongs_to_exactly_one_cluster_and_builds_repeat() -> None:
    vectors = clustered_vectors(6000)
    index = build_vector_index(vectors, seed=1)
    assert index is not None
    assert sorted(index.members.tolist()) == list(range(6000))
    assert index.offsets[0] == 0 and index.offsets[-1] == 6000
    again = build_vector_index(vectors, seed=1)
    assert again is not None
    assert np.array_equal(index.members, again.members)
    assert np.array_equal(index.centres, again.centres)


def test_a_query_reads_whole_clusters_up_to_at_least_the_asked_count() -> None:
    vectors = clustered_vectors(6000)
    index = build_vector_index(vectors, seed=1)
    assert index is not None
    read = index.nearby(vectors[100], 1000)
    assert len(read) >= 1000
    assert (np.diff(read) > 0).all()
    clusters = {
        c
        for c in range(index.n_clusters)
        if np.isin(index.members[index.offsets[c] : index.offsets[c + 1]], read).any()
    }
    whole = np.concatenate(
        [index.members[index.offsets[c] : index.offsets[c + 1]] for c in clusters]
    )
    assert sorted(whole.tolist()) == read.tolist()


def test_the_nearest_items_found_are_mostly_the_exact_ones() -> None:
    vectors = clustered_vectors(20000, seed=4)
    index = build_vector_index(vectors, seed=0)
    assert index is not None
    rng = np.random.default_rng(9)
    recalls = []
    for item in rng.choice(np.arange(50, 20000), size=40, replace=False):
        # A user vector: the normalised mean of a few items' vectors.
        query = vectors[rng.choice(20000, size=3)].sum(axis=0) + vectors[item]
        query /= np.linalg.norm(query)
        exact = set(top_indices(vectors @ query, 200).tolist())
        pool = index.nearby(query, 1000)
        found = set(pool[top_indices(vectors[pool] @ query, 200)].tolist())
        recalls.append(len(exact & found) / len(exact))
    assert float(np.mean(recalls)) >= 0.85


def test_a_refresh_on_the_same_catalogue_reuses_the_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refreshes after every write carry the heavy signals over; the index goes with them
    instead of being clustered again, and an edited catalogue gets a new one."""
    monkeypatch.setattr(vector_index, "INDEX_MIN_ITEMS", 0)
    first = synthetic_snapshot.__wrapped__()
    index = first.vector_index()
    assert index is not None
    heavy = heavy_signals_of(first, built_at=0.0)
    again = build_snapshot(
        catalog=first.catalog,
        users=first.users,
        log=first.log,
        params=first.params,
        reference_us=first.reference_us,
        reuse=heavy,
    )
    assert again.vector_index() is index
    edited = build_catalog(
        [{"item_id": str(i), "created_at_us": 0} for i in first.catalog.item_ids[1:]]
    )
    moved = build_snapshot(
        catalog=edited,
        users=first.users,
        log=first.log,
        params=first.params,
        reference_us=first.reference_us,
        reuse=remap_heavy(heavy, edited),
    )
    rebuilt = moved.vector_index()
    assert rebuilt is not None and rebuilt is not index
    assert sorted(rebuilt.members.tolist()) == list(range(edited.size))
