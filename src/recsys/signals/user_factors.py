"""Learned user and item factors: implicit-feedback matrix factorisation (Hu, Koren & Volinsky's
ALS), fitted by the `implicit` library on who interacted with what.

Each item gets a vector of `dim` numbers and so does each user, such that a user's vector scores
high with the items they interacted with and low with the rest — every item in the catalogue
counts as evidence, unlike co-visitation (pairs a few steps apart) or the item model (one item's
weights on the others). It is the signal that carries a taste shared by users who never touched
the same items.

Only the item factors are kept. A user's vector is folded in from their history at request time
with the exact ALS user step, so a new event counts at once without refitting and a user the fit
never saw (or whose history grew since) is placed as the fit would place them:

    minimise  sum_i c_i (p_i - x.y_i)^2 + l2 |x|^2,   p_i = 1, c_i = 1 + alpha on the history,
                                                       p_i = 0, c_i = 1 elsewhere,
    x = (YtY + alpha Y_h'Y_h + l2 I)^-1 (1 + alpha) sum_h y_h,

where YtY over every item is computed once per fit. Interactions are binary (an item the user
touched, whatever the events' strengths), as in the ALS baseline of docs/benchmarks.md."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

# Sweeps of the alternating solver; each costs about the same. Chosen with the default vector
# length on validation folds only (bench/defaults.py; figures in docs/benchmarks.md).
ITERATIONS = 16


@dataclass(frozen=True, eq=False)
class UserFactors:
    """Item factors and what folding a user in needs. `item_factors` rows of items without
    interactions are zero (the fit has no evidence for them)."""

    item_factors: np.ndarray  # float32 (n_items x dim)
    gram: np.ndarray  # float64 (dim x dim): item_factors' item_factors
    l2: float
    alpha: float

    @cached_property
    def is_empty(self) -> bool:
        """No factors, or all zero (no interactions): computed once, read per request."""
        return self.item_factors.shape[1] == 0 or not self.item_factors.any()

    def fold_in(self, history: np.ndarray) -> np.ndarray | None:
        """The user's vector from the distinct items of `history` (None: nothing to go on)."""
        if self.is_empty or len(history) == 0:
            return None
        rows = self.item_factors[np.unique(history)].astype(np.float64)
        system = self.gram + self.alpha * (rows.T @ rows)
        system[np.diag_indices_from(system)] += self.l2
        target = (1.0 + self.alpha) * rows.sum(axis=0)
        if not target.any():
            return None
        return np.linalg.solve(system, target)

    def scores(self, user: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """Predicted preference of the user for `items` (every catalogue item when None)."""
        factors = self.item_factors if items is None else self.item_factors[items]
        return factors @ user.astype(np.float32)

    def remapped(self, new_index: np.ndarray, n_items: int) -> UserFactors:
        """The same factors on another catalogue: `new_index[old item]` is its new index, or -1
        when it is gone. New items get zero rows until the next fit."""
        moved = new_index >= 0
        factors = np.zeros((n_items, self.item_factors.shape[1]), dtype=np.float32)
        factors[new_index[moved]] = self.item_factors[moved]
        return with_gram(factors, l2=self.l2, alpha=self.alpha)


def with_gram(item_factors: np.ndarray, *, l2: float, alpha: float) -> UserFactors:
    factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    wide = factors.astype(np.float64)
    return UserFactors(item_factors=factors, gram=wide.T @ wide, l2=float(l2), alpha=float(alpha))


def empty_user_factors(n_items: int) -> UserFactors:
    return with_gram(np.zeros((n_items, 0), dtype=np.float32), l2=1.0, alpha=0.0)


def fit_user_factors(
    *,
    user: np.ndarray,
    item: np.ndarray,
    n_users: int,
    n_items: int,
    dim: int,
    l2: float,
    alpha: float,
    seed: int,
    iterations: int = ITERATIONS,
) -> UserFactors:
    """Fit ALS on the distinct (user, item) pairs of the log; `dim` 0 turns the signal off.

    The CPU solver on one thread, seeded: the result does not depend on the machine's cores or
    on a GPU, and the build leaves the other core to the requests being served (the solver
    releases the GIL while it works)."""
    if dim <= 0 or n_items == 0 or len(user) == 0:
        return empty_user_factors(n_items)
    # Imported here: implicit loads compiled extensions and BLAS, which nothing else needs at
    # import time; it must come before threadpool_limits so the limit applies to its BLAS.
    import implicit.cpu.als
    from threadpoolctl import threadpool_limits

    pairs = sp.csr_matrix(
        (np.ones(len(user), dtype=np.float32), (user, item)), shape=(n_users, n_items)
    )
    pairs.sum_duplicates()
    # implicit takes each stored value as the whole confidence c = 1 + alpha (its own alpha
    # multiplies the stored values, so it is 1 here).
    pairs.data[:] = np.float32(1.0 + alpha)
    with threadpool_limits(limits=1, user_api="blas"):
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=dim,
            regularization=l2,
            alpha=1.0,
            dtype=np.float32,
            iterations=iterations,
            calculate_training_loss=False,
            num_threads=1,
            random_state=seed,
        )
        model.fit(pairs, show_progress=False)
    factors = np.asarray(model.item_factors, dtype=np.float32)
    # Items nobody touched keep their random start in implicit; they have no evidence.
    touched = np.zeros(n_items, dtype=bool)
    touched[np.unique(item)] = True
    factors[~touched] = 0.0
    return with_gram(factors, l2=l2, alpha=alpha)


__all__ = ["ITERATIONS", "UserFactors", "empty_user_factors", "fit_user_factors", "with_gram"]
