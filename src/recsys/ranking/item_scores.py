"""Scores over a few catalogue items: what a personal signal holds for one request.

A user's co-visitation row or item-model scores touch a few hundred items, never the whole
catalogue; keeping them as (item, value) pairs instead of a catalogue-length vector keeps the
request's work proportional to its candidates. Items not listed score 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.ranking.candidates import top_indices
from recsys.ranking.sparse_rows import row_entries


@dataclass(frozen=True, eq=False)
class ItemScores:
    items: np.ndarray  # int64 catalogue indices, ascending, distinct
    values: np.ndarray  # float64, one per item

    @staticmethod
    def empty() -> ItemScores:
        return ItemScores(np.empty(0, np.int64), np.empty(0))

    @staticmethod
    def summed(items: np.ndarray, values: np.ndarray) -> ItemScores:
        """Values of repeated items added up."""
        if len(items) == 0:
            return ItemScores.empty()
        unique, inverse = np.unique(items, return_inverse=True)
        totals = np.bincount(inverse, weights=values, minlength=len(unique))
        return ItemScores(unique.astype(np.int64), totals.astype(np.float64))

    @staticmethod
    def weighted_rows(matrix: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray) -> ItemScores:
        """`weights @ matrix[rows]` for a few rows, reading only their stored entries."""
        owner, positions = row_entries(matrix, rows)
        return ItemScores.summed(matrix.indices[positions], matrix.data[positions] * weights[owner])

    def __len__(self) -> int:
        return len(self.items)

    def any(self) -> bool:
        """Whether any item has a non-zero score."""
        return bool(np.any(self.values))

    def at(self, items: np.ndarray) -> np.ndarray:
        """The score of each of `items` (0 for items not listed)."""
        out = np.zeros(len(items))
        if len(self.items) == 0 or len(items) == 0:
            return out
        where = np.searchsorted(self.items, items)
        where = np.minimum(where, len(self.items) - 1)
        found = self.items[where] == items
        out[found] = self.values[where[found]]
        return out

    def top(self, count: int) -> np.ndarray:
        """The `count` items with the highest positive scores (ties: lower index), unordered —
        the same items `top_indices` picks from the catalogue-length vector."""
        return self.items[top_indices(self.values, count)]

    def dense(self, n_items: int) -> np.ndarray:
        """The catalogue-length vector (for tests and offline tools, never per request)."""
        out = np.zeros(n_items)
        out[self.items] = self.values
        return out


__all__ = ["ItemScores"]
