"""The candidate set: the one container every pipeline stage takes and returns.

Rows are candidate items; every per-candidate value a stage computes (raw and normalised signals,
blend, multiplier, score, MMR penalty) is a named column of the same length. Rows are only ever
dropped or reordered through `keep`, so the columns can never fall out of step with the items.
Items that the rules reserve at fixed slots (pins) travel beside the rows: they are not scored,
filtered or diversified, only placed when the list is assembled."""

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
SOURCE_USER_FACTORS = 128
SOURCE_NAMES = {
    SOURCE_POPULARITY: "popularity",
    SOURCE_COVISITATION: "co_visitation",
    SOURCE_VECTOR: "item_vectors",
    SOURCE_PROFILE: "profile",
    SOURCE_STARTER: "starter_profile",
    SOURCE_CALLER: "caller",
    SOURCE_ITEM_MODEL: "item_model",
    SOURCE_USER_FACTORS: "user_factors",
}


@dataclass(frozen=True)
class Pin:
    item: int  # catalogue index
    slot: int  # 0-based position in the final list


@dataclass(frozen=True, eq=False)
class CandidateSet:
    """Candidate rows: `items` (int64 catalogue indices; ascending = item_id order until a stage
    reorders them), `sources` (uint8 bit flags), one array per named column, and the pins."""

    items: np.ndarray
    sources: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    pins: tuple[Pin, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def keep(self, rows: np.ndarray) -> CandidateSet:
        """The only way rows leave or move: `rows` is a boolean mask, or positions in the order
        the rows should take. Every column follows; pins are untouched."""
        return CandidateSet(
            items=self.items[rows],
            sources=self.sources[rows],
            columns={name: col[rows] for name, col in self.columns.items()},
            pins=self.pins,
        )

    def with_columns(self, **columns: np.ndarray) -> CandidateSet:
        """A copy with columns added or replaced (each as long as the rows)."""
        for name, values in columns.items():
            if len(values) != len(self.items):
                raise ValueError(f"column {name!r} has {len(values)} rows, not {len(self.items)}")
        return CandidateSet(self.items, self.sources, {**self.columns, **columns}, self.pins)

    def with_pins(self, pins: tuple[Pin, ...]) -> CandidateSet:
        return CandidateSet(self.items, self.sources, self.columns, pins)

    def source_counts(self) -> dict[str, int]:
        # One pass over the rows: bit b of each row's flags, summed per bit.
        per_bit = np.unpackbits(self.sources[:, None], axis=1, bitorder="little").sum(axis=0)
        counts = {flag: int(per_bit[flag.bit_length() - 1]) for flag in SOURCE_NAMES}
        return {name: counts[flag] for flag, name in SOURCE_NAMES.items() if counts[flag]}


def empty_candidates() -> CandidateSet:
    return CandidateSet(np.empty(0, np.int64), np.empty(0, np.uint8))


def union(proposals: list[tuple[int, np.ndarray]]) -> CandidateSet:
    """Merge (source flag, item indices) proposals into one set, recording every source."""
    if not proposals:
        return empty_candidates()
    all_items = np.concatenate([items for _, items in proposals]).astype(np.int64)
    all_flags = np.concatenate(
        [np.full(len(items), flag, dtype=np.uint8) for flag, items in proposals]
    )
    unique, inverse = np.unique(all_items, return_inverse=True)
    sources = np.zeros(len(unique), dtype=np.uint8)
    np.bitwise_or.at(sources, inverse, all_flags)
    return CandidateSet(unique, sources)


def best_positions(scores: np.ndarray, count: int, tiebreak: np.ndarray) -> np.ndarray:
    """Positions of the `count` highest scores, best first, equal scores by ascending
    `tiebreak`: `np.lexsort((tiebreak, -scores))[:count]`, without sorting every row."""
    n = len(scores)
    if n > count > 0:
        # Partition to the threshold first (linear), then sort only the rows at or above it.
        threshold = np.partition(scores, n - count)[n - count]
        near = np.flatnonzero(scores >= threshold)
        return near[np.lexsort((tiebreak[near], -scores[near]))[:count]]
    return np.lexsort((tiebreak, -scores))[:count]


def top_indices(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` highest positive scores (ties by index), best first."""
    positive = np.flatnonzero(scores > 0)
    # Equal scores are broken by item_id (the index), never by memory layout.
    return positive[best_positions(scores[positive], count, positive)]


__all__ = [
    "SOURCE_CALLER",
    "SOURCE_COVISITATION",
    "SOURCE_ITEM_MODEL",
    "SOURCE_NAMES",
    "SOURCE_POPULARITY",
    "SOURCE_PROFILE",
    "SOURCE_STARTER",
    "SOURCE_USER_FACTORS",
    "SOURCE_VECTOR",
    "CandidateSet",
    "Pin",
    "best_positions",
    "empty_candidates",
    "top_indices",
    "union",
]
