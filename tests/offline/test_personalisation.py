"""Personalisation you can see: on the playbook's seeded shop, users of different segments get
visibly different top-10s with the default configuration — not one popular list for everyone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from recsys.clock import to_micros
from recsys.config.knobs import defaults
from recsys.offline.evaluate import POPULARITY_BASELINE, LocalRanker, Reference
from recsys.offline.metrics import catalog_coverage, cross_segment_overlap
from recsys.offline.synthetic import generate

NOW = datetime(2026, 11, 1, tzinfo=UTC)
# Floors the default lists must clear (measured on this shop: docs/benchmarks.md).
MIN_COVERAGE = 0.2  # of the catalogue, over 100 users' top-10s
MAX_OVERLAP = 0.4  # mean share of top-10 items two users of different segments have in common


@cache
def seeded_shop() -> tuple[LocalRanker, Reference, dict[str, str], list[str]]:
    """What `recsys seed` pushes for the playbook (600 users, 40,000 events, 300 items)."""
    shop = generate(n_items=300, n_users=600, n_events=40000, now=NOW, seed=2025)
    data = shop.namespace_data()
    ranker = LocalRanker(data, cut_us=to_micros(NOW), base_knobs=defaults())
    users = [str(u["user_id"]) for u in shop.users][:100]
    return ranker, Reference.from_snapshot(ranker.snapshot), data.segments(), users


def top10s(overrides: Mapping[str, Any]) -> tuple[float, float]:
    """(catalogue coverage, cross-segment overlap) of 100 users' top-10s."""
    ranker, reference, segments, users = seeded_shop()
    lists = [
        [reference.item_index[i] for i in ranker.rank(user, k=10, overrides=overrides)]
        for user in users
    ]
    coverage = catalog_coverage(lists, len(reference.item_index), k=10)
    overlap = cross_segment_overlap(lists, [segments[u] for u in users], k=10)
    return coverage, overlap


def test_default_lists_differ_across_segments() -> None:
    coverage, overlap = top10s({})
    assert coverage >= MIN_COVERAGE and overlap <= MAX_OVERLAP, (coverage, overlap)


def test_one_popular_list_for_everyone_fails_the_floors() -> None:
    """The check can fail: ranking by popularity alone collapses the lists."""
    coverage, overlap = top10s(POPULARITY_BASELINE)
    assert coverage < MIN_COVERAGE and overlap > MAX_OVERLAP, (coverage, overlap)
