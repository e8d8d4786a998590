"""A learned item-to-item model: ridge regression of every item on all the others (the EASE
closed form), fitted on who interacted with what.

Co-visitation only sees pairs a few steps apart and item vectors compress the matrix to a few
dimensions; the regression uses the whole history of every user and learns, per item, which
other items predict it *given everything else* — so an item that co-occurs with everything
(a bestseller) is explained away instead of dominating. It is the strongest single signal on
dense interaction data (measured in docs/benchmarks.md), and cheap for catalogues of a few
thousand items: one inversion of an items x items matrix.

Big catalogues: the model covers the `max_items` most interacted items (the head, where the
interaction data is dense enough to regress on); the rest get no item-model evidence and rank on
the other signals."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class ItemModel:
    """Weights over the head items. `position[item]` is the item's row in `weights`, or -1."""

    head: np.ndarray  # int64 catalogue indices of the modelled items
    position: np.ndarray  # int64 per catalogue item
    weights: np.ndarray  # float32 (len(head) x len(head)), zero diagonal

    @property
    def is_empty(self) -> bool:
        return len(self.head) == 0

    def scores(self, history: np.ndarray, n_items: int) -> np.ndarray:
        """Score every catalogue item for a user who interacted with `history` (item indices;
        repeats count once): the sum of the history rows of the weight matrix."""
        out = np.zeros(n_items)
        items, values = self.head_scores(history)
        out[items] = values
        return out

    @cached_property
    def _ascending(self) -> np.ndarray:
        return np.argsort(self.head, kind="stable")

    def head_scores(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`scores` over the modelled items only: (item indices ascending, float64 scores);
        the work is bounded by the model's size, not the catalogue's."""
        if self.is_empty or len(history) == 0:
            return np.empty(0, np.int64), np.empty(0)
        rows = self.position[np.unique(history)]
        rows = rows[rows >= 0]
        if len(rows) == 0:
            return np.empty(0, np.int64), np.empty(0)
        values = self.weights[rows].sum(axis=0, dtype=np.float64)
        order = self._ascending
        return self.head[order], values[order]

    def remapped(self, new_index: np.ndarray, n_items: int) -> ItemModel:
        """The same weights on another catalogue: `new_index[old item]` is its new index, or -1
        when it is gone (its row and column are dropped)."""
        moved = new_index[self.head]
        kept = np.flatnonzero(moved >= 0)
        position = np.full(n_items, -1, dtype=np.int64)
        position[moved[kept]] = np.arange(len(kept))
        return ItemModel(
            head=moved[kept].astype(np.int64),
            position=position,
            # Nothing dropped: the same matrix (an artifact's stays mapped, not copied).
            weights=self.weights if len(kept) == len(moved) else self.weights[np.ix_(kept, kept)],
        )


def empty_item_model(n_items: int) -> ItemModel:
    return ItemModel(
        head=np.empty(0, np.int64),
        position=np.full(n_items, -1, dtype=np.int64),
        weights=np.zeros((0, 0), dtype=np.float32),
    )


def fit_item_model(
    *,
    user: np.ndarray,
    item: np.ndarray,
    strength: np.ndarray,
    n_users: int,
    n_items: int,
    l2: float,
    max_items: int,
) -> ItemModel:
    """Fit on binary interactions (an event with positive strength = 1; repeats count once).

    B = I - P / diag(P) with P = (XᵀX + l2·I)⁻¹ is the minimiser of ‖X - XB‖² + l2‖B‖² under
    diag(B) = 0: each item is predicted from the others, never from itself."""
    positive = strength > 0
    if not positive.any() or n_items < 2 or max_items < 2:
        return empty_item_model(n_items)
    users, items = user[positive], item[positive]
    counts = np.bincount(
        np.unique(users.astype(np.int64) * n_items + items) % n_items, minlength=n_items
    )
    touched = np.flatnonzero(counts > 0)
    if len(touched) < 2:
        return empty_item_model(n_items)
    if len(touched) > max_items:
        # The most interacted items, ties by catalogue index (= item_id order): deterministic.
        order = np.lexsort((touched, -counts[touched]))[:max_items]
        head = np.sort(touched[order])
    else:
        head = touched
    position = np.full(n_items, -1, dtype=np.int64)
    position[head] = np.arange(len(head))
    in_head = position[items] >= 0
    matrix = sp.csr_matrix(
        (np.ones(int(in_head.sum())), (users[in_head], position[items[in_head]])),
        shape=(max(n_users, int(users.max()) + 1), len(head)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # repeated interactions count once
    gram = (matrix.T @ matrix).toarray()
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    return ItemModel(head=head, position=position, weights=weights.astype(np.float32))


__all__ = ["ItemModel", "empty_item_model", "fit_item_model"]
