"""The candidate container: columns follow the rows through `keep`, the only way rows move."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.ranking.candidates import SOURCE_POPULARITY, SOURCE_PROFILE, CandidateSet, Pin, union


def test_union_merges_sources_and_sorts_items() -> None:
    merged = union([(SOURCE_POPULARITY, np.array([5, 1])), (SOURCE_PROFILE, np.array([1, 3]))])
    assert merged.items.tolist() == [1, 3, 5]
    assert merged.sources.tolist() == [
        SOURCE_POPULARITY | SOURCE_PROFILE,
        SOURCE_PROFILE,
        SOURCE_POPULARITY,
    ]
    assert merged.source_counts() == {"popularity": 2, "profile": 2}


def test_keep_moves_every_column_with_its_row() -> None:
    rows = CandidateSet(np.array([10, 11, 12]), np.array([1, 2, 4], dtype=np.uint8))
    rows = rows.with_columns(score=np.array([0.1, 0.2, 0.3]), blend=np.array([1.0, 2.0, 3.0]))
    rows = rows.with_pins((Pin(7, 0),))
    reordered = rows.keep(np.array([2, 0]))
    assert reordered.items.tolist() == [12, 10]
    assert reordered.sources.tolist() == [4, 1]
    assert reordered["score"].tolist() == [0.3, 0.1]
    assert reordered["blend"].tolist() == [3.0, 1.0]
    assert reordered.pins == (Pin(7, 0),)
    masked = rows.keep(np.array([True, False, True]))
    assert masked.items.tolist() == [10, 12] and masked["blend"].tolist() == [1.0, 3.0]


def test_a_column_of_the_wrong_length_is_refused() -> None:
    rows = CandidateSet(np.array([1, 2]), np.array([1, 1], dtype=np.uint8))
    with pytest.raises(ValueError, match="column 'score' has 3 rows"):
        rows.with_columns(score=np.zeros(3))
