"""Metrics against hand-computed answers, at exactly the cutoff their name states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsys.offline.metrics import (
    bootstrap_mean,
    catalog_coverage,
    cross_segment_overlap,
    exposure_gini,
    intra_list_similarity,
    long_tail_mask,
    long_tail_share,
    novelty,
    paired_difference,
    per_user_ranking_metrics,
)


def test_ndcg_mrr_recall_by_hand() -> None:
    lists = [[5, 1, 7, 9], [2, 3, 4, 8], [0, 0, 0, 0]]
    relevant = [{1, 9}, {8}, set()]
    m = per_user_ranking_metrics(lists, relevant, k=3)
    # User 0: hit at rank 2 only (9 is at rank 4, beyond @3). Ideal: two hits at ranks 1-2.
    dcg = 1 / math.log2(3)
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@3"][0] == pytest.approx(dcg / idcg)
    assert m["mrr@3"][0] == pytest.approx(0.5)
    assert m["recall@3"][0] == pytest.approx(0.5)
    # User 1: the hit is at rank 4, outside the cutoff: every metric @3 is zero.
    assert m["ndcg@3"][1] == 0 and m["mrr@3"][1] == 0 and m["recall@3"][1] == 0
    # ...and counts at @4.
    m4 = per_user_ranking_metrics(lists, relevant, k=4)
    assert m4["mrr@4"][1] == pytest.approx(0.25)
    assert m4["ndcg@4"][1] == pytest.approx(1 / math.log2(5))
    assert m["ndcg@3"][2] == 0  # nothing relevant: 0, not NaN


def test_short_lists_and_perfect_lists() -> None:
    m = per_user_ranking_metrics([[4]], [{4}], k=10)
    assert m["ndcg@10"][0] == pytest.approx(1.0) and m["precision@10"][0] == pytest.approx(0.1)


def test_coverage_tail_novelty_similarity() -> None:
    lists = [[0, 1], [0, 2]]
    assert catalog_coverage(lists, 6, k=2) == pytest.approx(0.5)
    assert catalog_coverage(lists, 6, k=1) == pytest.approx(1 / 6)
    popularity = np.array([10.0, 5, 1, 1, 0, 0])
    tail = long_tail_mask(popularity, 0.2)  # head = ceil(1.2) = 2 items: 0 and 1
    assert list(tail) == [False, False, True, True, True, True]
    assert long_tail_share(lists, tail, k=2) == pytest.approx(0.25)
    expected = np.mean(
        [-math.log2(10 / 17), -math.log2(5 / 17), -math.log2(10 / 17), -math.log2(1 / 17)]
    )
    assert novelty(lists, popularity, k=2) == pytest.approx(expected)
    vectors = np.array([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0], [0, 1.0], [0, 1.0]])
    assert intra_list_similarity([[0, 1], [0, 2]], vectors, k=2) == pytest.approx(0.5)


def test_bootstrap_interval_brackets_the_mean_and_is_seeded() -> None:
    values = np.random.default_rng(0).random(500)
    a = bootstrap_mean(values, seed=1)
    b = bootstrap_mean(values, seed=1)
    assert a == b
    assert a.low < a.mean < a.high
    assert a.high - a.low < 0.1


def test_paired_difference_cancels_what_users_share() -> None:
    """Two systems whose per-user figures move together (some users are easy for both): the
    paired interval of the difference is far narrower than the two means' intervals, and it
    excludes 0 when one system is consistently ahead by a little."""
    rng = np.random.default_rng(0)
    easiness = rng.random(300)
    a = easiness + 0.02 + rng.normal(0, 0.01, 300)
    b = easiness
    pair = paired_difference(a, b, seed=3)
    assert pair.mean == pytest.approx(float(np.mean(a - b)))
    assert 0 < pair.low < pair.mean < pair.high
    assert pair == paired_difference(a, b, seed=3)  # seeded
    alone_a, alone_b = bootstrap_mean(a, seed=3), bootstrap_mean(b, seed=3)
    assert alone_a.low < alone_b.high  # unpaired, the intervals overlap
    assert (pair.high - pair.low) < 0.2 * (alone_a.high - alone_a.low)
    same = paired_difference(b, b)
    assert (same.low, same.mean, same.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same users"):
        paired_difference(a, b[:10])


def test_exposure_gini_and_cross_segment_overlap() -> None:
    same = [[0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 1, 2]]
    apart = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert exposure_gini(apart, 12, k=3) == pytest.approx(0.0)
    assert exposure_gini(same, 12, k=3) == pytest.approx(0.75)  # 3 of 12 items take every slot
    segments = ["a", "a", "b", "b"]
    assert cross_segment_overlap(same, segments, k=3) == pytest.approx(1.0)
    assert cross_segment_overlap(apart, segments, k=3) == pytest.approx(0.0)
    half = [[0, 1], [0, 1], [0, 5], [0, 5]]
    # Pairs across segments share 1 of 2 items; pairs within a segment are not counted.
    assert cross_segment_overlap(half, segments, k=2) == pytest.approx(0.5)
    assert math.isnan(cross_segment_overlap(same, ["a"] * 4, k=3))
