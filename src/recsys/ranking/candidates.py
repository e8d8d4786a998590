"""Candidate set: parallel arrays over candidate items, one named column per signal."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Bit flags recording which source proposed a candidate.
SOURCE_POPULARITY = 1
SOURCE_COVISITATION = 2
SOURCE_VECTOR = 4
SOURCE_PROFILE = 8
SOURCE_STARTER = 16
SOURCE_CALLER = 32
SOURCE_ITEM_MODEL = 64
SOURCE_NAMES = {
    SOURCE_POPULARITY: "popularity",
    SOURCE_COVISITATION: "co_visitation",
    SOURCE_VECTOR: "item_vectors",
    SOURCE_PROFILE: "profile",
    SOURCE_STARTER: "starter_profile",
    SOURCE_CALLER: "caller",
    SOURCE_ITEM_MODEL: "item_model",
}


@dataclass(frozen=True, eq=False)
class CandidateSet:
    items: np.ndarray  # int64 catalogue indices, ascending (= item_id order)
    sources: np.ndarray  # uint8 bit flags
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def keep(self, mask: np.ndarray) -> CandidateSet:
        return CandidateSet(
            items=self.items[mask],
            sources=self.sources[mask],
            columns={name: col[mask] for name, col in self.columns.items()},
        )

    def with_columns(self, **columns: np.ndarray) -> CandidateSet:
        return CandidateSet(self.items, self.sources, {**self.columns, **columns})

    def source_counts(self) -> dict[str, int]:
        return {
            name: int(np.count_nonzero(self.sources & flag))
            for flag, name in SOURCE_NAMES.items()
            if np.any(self.sources & flag)
        }


def union(proposals: list[tuple[int, np.ndarray]]) -> CandidateSet:
    """Merge (source flag, item indices) proposals into one set, recording every source."""
    if not proposals:
        return CandidateSet(np.empty(0, np.int64), np.empty(0, np.uint8))
    all_items = np.concatenate([items for _, items in proposals]).astype(np.int64)
    all_flags = np.concatenate(
        [np.full(len(items), flag, dtype=np.uint8) for flag, items in proposals]
    )
    unique, inverse = np.unique(all_items, return_inverse=True)
    sources = np.zeros(len(unique), dtype=np.uint8)
    np.bitwise_or.at(sources, inverse, all_flags)
    return CandidateSet(unique, sources)


def top_indices(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` highest positive scores (ties by index), unordered."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) <= count:
        return positive
    values = scores[positive]
    # Partition to the threshold first (linear), then a stable (-score, index) cut of the few
    # items at or above it, so equal scores are broken by item_id, never by memory layout.
    threshold = np.partition(values, len(values) - count)[len(values) - count]
    near = values >= threshold
    chosen, chosen_values = positive[near], values[near]
    order = np.lexsort((chosen, -chosen_values))[:count]
    return chosen[order]


__all__ = [
    "SOURCE_CALLER",
    "SOURCE_COVISITATION",
    "SOURCE_ITEM_MODEL",
    "SOURCE_NAMES",
    "SOURCE_POPULARITY",
    "SOURCE_PROFILE",
    "SOURCE_STARTER",
    "SOURCE_VECTOR",
    "CandidateSet",
    "top_indices",
    "union",
]
