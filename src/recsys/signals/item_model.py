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
from scipy.linalg import lapack


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
    # Who touched what, once per (user, item): the CSR constructor sums repeats into one entry.
    touches = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float64), (users, items)),
        shape=(max(n_users, int(users.max()) + 1), n_items),
    )
    del users, items
    counts = np.bincount(touches.indices, minlength=n_items)
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
    matrix = touches[:, head]
    del touches
    matrix.data[:] = 1.0  # repeated interactions count once
    gram = np.ascontiguousarray((matrix.T @ matrix).toarray(), dtype=np.float64)
    del matrix
    gram[np.diag_indices_from(gram)] += l2
    precision = _spd_inverse(gram)
    # Written in place: a 3,000-item head's matrix is 72 MB a copy.
    precision /= -np.diag(precision).copy()
    np.fill_diagonal(precision, 0.0)
    return ItemModel(head=head, position=position, weights=precision.astype(np.float32))


def _spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix (XᵀX + l2·I with l2 > 0), by
    Cholesky: half the arithmetic of a general inverse, computed in `matrix`'s own memory."""
    # LAPACK works on column-major arrays; a symmetric C-ordered matrix's transpose is the same
    # matrix, column-major, without a copy.
    factor, info = lapack.dpotrf(matrix.T, lower=1, overwrite_a=1, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"item model: Gram matrix not positive definite ({info})")
    inverse, info = lapack.dpotri(factor, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"item model: inversion failed ({info})")
    # potri fills the lower triangle only; mirror it, a band of rows at a time (an index of the
    # whole upper triangle would weigh more than the matrix).
    n = len(inverse)
    for start in range(0, n, _BAND):
        stop = min(start + _BAND, n)
        inverse[start:stop, stop:] = inverse[stop:, start:stop].T
        block = inverse[start:stop, start:stop]
        upper = np.triu_indices(stop - start, k=1)
        block[upper] = block.T[upper]
    return np.asarray(inverse.T)


_BAND = 512


__all__ = ["ItemModel", "empty_item_model", "fit_item_model"]
