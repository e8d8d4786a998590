"""Standard baseline recommenders for the offline quality benchmark.

Every model is fitted on a users x items `scipy.sparse.csr_matrix` (float; a value is an
interaction's strength, entries <= 0 are ignored) and answers `recommend(users, k=, exclude=)`
with an int64 array of item indices, best first. The list rules are shared by all models and
live in one place (`top_k`), so the benchmark compares models and not list conventions:

* excluded (user, item) pairs never appear;
* equal scores are ordered by the lower item index, so lists are deterministic;
* when fewer than k items are allowed the row is padded with -1.

Every item that is not excluded is allowed, including items a model scores zero (e.g. items an
ItemKNN user has no neighbour of); those fill the list in index order after the scored ones.
Users are rows of the training matrix; a user without training interactions gets the models'
zero-information answer (an all-zero score row for ItemKNN and EASE), there is no fallback.

Scoring runs `batch_size` users at a time with dense numpy arrays. Each user's scores depend on
that user's row only (sparse x dense products accumulate per row), so batching does not change
the lists; ALS's dense factor product is the one place where BLAS blocking could in principle
move the last bit of a score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

DEFAULT_BATCH_SIZE = 256


def binarise(train: sp.csr_matrix) -> sp.csr_matrix:
    """1.0 where the user interacted with the item (value > 0), structurally absent elsewhere."""
    x = sp.csr_matrix(train, dtype=np.float64, copy=True)
    x.sum_duplicates()  # scipy's meaning of repeated (row, col) entries: their sum
    x.data = (x.data > 0).astype(np.float64)
    x.eliminate_zeros()
    return x


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Best k column indices per row of `scores` (float, -inf = not allowed), best first.

    Ties are broken by the lower column index; rows with fewer than k allowed columns are
    padded with -1. Vectorised: one partition for the k-th best value per row, a mask that takes
    everything strictly better plus the lowest-index ties needed to make k, then a stable sort of
    those k (already in index order) by score.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    rows, n = scores.shape
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    out = np.full((rows, k), -1, dtype=np.int64)
    kk = min(k, n)
    if kk == 0 or rows == 0:
        return out
    neg = -scores
    # The kk-th best value per row; argpartition alone would pick an arbitrary subset of the
    # items tied at the boundary, so it only supplies the threshold.
    kth = np.partition(neg, kk - 1, axis=1)[:, kk - 1 : kk]
    better = neg < kth
    tied = neg == kth
    need = kk - better.sum(axis=1, keepdims=True)
    chosen = better | (tied & (np.cumsum(tied, axis=1) <= need))
    # Exactly kk columns per row, in ascending index order (row-major nonzero).
    cols = np.nonzero(chosen)[1].reshape(rows, kk)
    picked = np.take_along_axis(neg, cols, axis=1)
    order = np.argsort(picked, axis=1, kind="stable")
    cols = np.take_along_axis(cols, order, axis=1)
    # Excluded items only get in when a row has fewer than kk allowed ones: blank them.
    cols[np.take_along_axis(scores, cols, axis=1) == -np.inf] = -1
    out[:, :kk] = cols
    return out


class Baseline(ABC):
    """Fit on a users x items matrix, score a batch of users, recommend by the shared rules."""

    name: ClassVar[str]

    def __init__(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.n_users: int | None = None
        self.n_items: int | None = None

    @abstractmethod
    def fit(self, train: sp.csr_matrix) -> Self:
        """Learn from `train` (users x items); returns self."""

    @abstractmethod
    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        """Dense float64 scores (len(users) x n_items); higher is better, finite."""

    def _record_shape(self, train: sp.csr_matrix) -> sp.csr_matrix:
        if not sp.issparse(train) or train.ndim != 2:
            raise TypeError("train must be a 2-d scipy sparse matrix (users x items)")
        train = sp.csr_matrix(train)
        self.n_users, self.n_items = (int(s) for s in train.shape)
        return train

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Raw scores for `users` (one batch; no exclusion). For inspection and tests."""
        self._check_fitted()
        return self._score_rows(np.asarray(users, dtype=np.int64))

    def recommend(
        self, users: np.ndarray, *, k: int, exclude: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """Top-k item indices per user (len(users) x k, int64, best first, -1 padded).

        `exclude` has the training matrix's row space (row u = user u, e.g. `exclude=train`);
        its stored entries are the (user, item) pairs that must not be recommended, whatever
        their value.
        """
        n_users, n_items = self._check_fitted()
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if users.size and (users.min() < 0 or users.max() >= n_users):
            raise IndexError(f"user indices must be in [0, {n_users})")
        if exclude is not None:
            exclude = sp.csr_matrix(exclude)
            if exclude.shape[1] != n_items or exclude.shape[0] < n_users:
                raise ValueError(f"exclude must be (>= {n_users}) x {n_items}, got {exclude.shape}")
        out = np.empty((len(users), k), dtype=np.int64)
        for start in range(0, len(users), self.batch_size):
            batch = users[start : start + self.batch_size]
            s = np.array(self._score_rows(batch), dtype=np.float64)  # a copy we may write into
            if exclude is not None:
                # Stored entries of the excluded rows, as (row-in-batch, item) coordinates.
                rows = exclude[batch]
                s[np.repeat(np.arange(len(batch)), np.diff(rows.indptr)), rows.indices] = -np.inf
            out[start : start + len(batch)] = top_k(s, k)
        return out

    def _check_fitted(self) -> tuple[int, int]:
        if self.n_users is None or self.n_items is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train) first")
        return self.n_users, self.n_items


class Popularity(Baseline):
    """Same list for everyone: items by the number of training users who interacted with them.

    Binarised: a user counts once per item however strong or repeated the interaction, the
    usual "most popular" baseline in top-n evaluation.
    """

    name = "popularity"

    def __init__(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(batch_size=batch_size)
        self.counts: np.ndarray | None = None

    def fit(self, train: sp.csr_matrix) -> Self:
        x = binarise(self._record_shape(train))
        self.counts = np.asarray(x.sum(axis=0), dtype=np.float64).reshape(-1)
        return self

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        assert self.counts is not None
        return np.broadcast_to(self.counts, (len(users), len(self.counts)))


class ItemKNN(Baseline):
    """Item-item cosine neighbourhoods on the binarised matrix.

    sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrinkage); an item is not its own neighbour.
    Each item keeps its `neighbours` most similar items (ties: lower index), and a user's score
    for j is the sum of sim(i, j) over the user's items i whose kept neighbours include j.
    Shrinkage > 0 damps similarities backed by few co-occurrences.
    """

    name = "itemknn"

    def __init__(
        self,
        *,
        neighbours: int = 100,
        shrinkage: float = 0.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(batch_size=batch_size)
        if neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {neighbours}")
        if shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
        self.neighbours = neighbours
        self.shrinkage = shrinkage
        self.x: sp.csr_matrix | None = None
        self.similarity: sp.csr_matrix | None = None

    def fit(self, train: sp.csr_matrix) -> Self:
        x = binarise(self._record_shape(train))
        n_items = x.shape[1]
        co = sp.csr_matrix(x.T @ x)  # co-occurrence counts, sparse: only pairs that co-occur
        norms = np.sqrt(co.diagonal())
        kept_rows: list[np.ndarray] = []
        kept_cols: list[np.ndarray] = []
        kept_vals: list[np.ndarray] = []
        # Dense blocks of item rows so the neighbour cut reuses top_k's tie rule.
        for start in range(0, n_items, self.batch_size):
            stop = min(start + self.batch_size, n_items)
            block = co[start:stop].toarray()
            denom = np.outer(norms[start:stop], norms) + self.shrinkage
            with np.errstate(divide="ignore", invalid="ignore"):
                sim = np.where(block > 0, block / denom, 0.0)
            sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
            sim[sim <= 0] = -np.inf  # only real neighbours are kept
            top = top_k(sim, self.neighbours)
            rows, slots = np.nonzero(top >= 0)
            cols = top[rows, slots]
            kept_rows.append(rows + start)
            kept_cols.append(cols)
            kept_vals.append(sim[rows, cols])
        self.similarity = sp.csr_matrix(
            (np.concatenate(kept_vals), (np.concatenate(kept_rows), np.concatenate(kept_cols))),
            shape=(n_items, n_items),
        )
        self.x = x
        return self

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        assert self.x is not None and self.similarity is not None
        return np.asarray((self.x[users] @ self.similarity).toarray())


class ALS(Baseline):
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky) fitted by `implicit`.

    Binarised: preference p = 1 on observed pairs, confidence c = 1 + alpha there (1 elsewhere).
    implicit's solver takes each stored value as the full confidence c (it adds (c - 1) y yᵀ),
    and its own `alpha` multiplies the stored values; so we store 1 + alpha and pass alpha=1.

    Always the CPU class (the result must not depend on whether a GPU is present), seeded,
    without training-loss computation or progress bar. OpenBLAS is held to one thread while
    implicit runs: its own threads parallelise over users and nested BLAS threads only slow it
    down (implicit warns otherwise). Scores are user_factors @ item_factorsᵀ computed here, so
    exclusion and ties follow the shared rules rather than implicit's own top-k.
    """

    name = "als"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 20.0,
        alpha: float = 1.0,
        iterations: int = 15,
        seed: int = 42,
        num_threads: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(batch_size=batch_size)
        if factors < 1 or iterations < 1:
            raise ValueError("factors and iterations must be >= 1")
        if alpha < 0 or regularization < 0:
            raise ValueError("alpha and regularization must be >= 0")
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.num_threads = num_threads  # implicit's threads; 0 = all cores
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None

    def fit(self, train: sp.csr_matrix) -> Self:
        # Imported here: implicit loads compiled extensions and BLAS, nothing of which the rest
        # of the package needs at import time. It must be imported before threadpool_limits so
        # that the BLAS libraries it loads are the ones the limit applies to.
        import implicit.cpu.als
        from threadpoolctl import threadpool_limits

        confidence = binarise(self._record_shape(train)).astype(np.float32)
        confidence.data *= np.float32(1.0 + self.alpha)
        with threadpool_limits(limits=1, user_api="blas"):
            model = implicit.cpu.als.AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0,
                dtype=np.float32,
                iterations=self.iterations,
                calculate_training_loss=False,
                num_threads=self.num_threads,
                random_state=self.seed,
            )
            # implicit >= 0.5 takes users x items (rows = users), as we hold it.
            model.fit(confidence, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float64)
        return self

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        assert self.user_factors is not None and self.item_factors is not None
        return np.asarray(self.user_factors[users] @ self.item_factors.T)


class EASE(Baseline):
    """Embarrassingly Shallow Autoencoder (Steck 2019) on the binarised matrix.

    P = (XᵀX + l2·I)⁻¹, B = I - P·diag(1/diag(P)) (so diag(B) = 0), score = X_u·B.
    The item-item inverse is dense: n_items² float64 twice over during the fit, hence
    `max_items` (20000 items ≈ 3.2 GB per matrix) is checked before anything is allocated.
    """

    name = "ease"

    def __init__(
        self,
        *,
        l2: float = 250.0,
        max_items: int = 20_000,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(batch_size=batch_size)
        if l2 <= 0:
            raise ValueError(f"l2 must be > 0, got {l2}")
        self.l2 = l2
        self.max_items = max_items
        self.x: sp.csr_matrix | None = None
        self.weights: np.ndarray | None = None

    def fit(self, train: sp.csr_matrix) -> Self:
        n_items = train.shape[1]
        if n_items > self.max_items:
            raise ValueError(
                f"EASE needs a dense {n_items} x {n_items} item matrix "
                f"(~{2 * 8 * n_items**2 / 1e9:.1f} GB while fitting); the catalogue exceeds "
                f"max_items={self.max_items}. Raise max_items if the memory is there."
            )
        x = binarise(self._record_shape(train))
        gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
        gram[np.diag_indices(n_items)] += self.l2
        # SPD: a Cholesky-based inverse is cheaper and steadier than a general LU inverse.
        weights = _spd_inverse(gram)
        del gram  # overwritten by the factorisation; drop it before the next n² step
        weights /= -np.diag(weights)[np.newaxis, :]  # in place: B_ij = -P_ij / P_jj
        weights[np.diag_indices(n_items)] = 0.0
        self.weights = weights
        self.x = x
        return self

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        assert self.x is not None and self.weights is not None
        return np.asarray(self.x[users] @ self.weights)


def _spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix (overwrites `a`; peak ~2 n² floats)."""
    from scipy.linalg import cho_factor, cho_solve

    factor = cho_factor(a, lower=True, overwrite_a=True, check_finite=False)
    identity = np.eye(a.shape[0])
    return np.asarray(cho_solve(factor, identity, overwrite_b=True, check_finite=False))


BASELINES: dict[str, type[Baseline]] = {cls.name: cls for cls in (Popularity, ItemKNN, ALS, EASE)}

# Small grids a benchmark searches on a validation split (the benchmark picks within them on
# validation figures only). They span each parameter's usual range rather than values that did
# well on some test split:
# * ItemKNN: neighbours from 20 to 400.
# * ALS: factors, alpha and regularization on log steps; regularization is not scaled by a
#   user's interaction count in implicit, so its useful range grows with the confidence
#   (1 + alpha), and the grid crosses the two. 27 fits.
# * EASE: l2 from 100 to 1000.
BASELINE_GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": [{}],
    "itemknn": [{"neighbours": n} for n in (20, 50, 100, 200, 400)],
    "als": [
        {"factors": f, "regularization": r, "alpha": a, "iterations": 15}
        for f in (32, 64, 128)
        for a in (1.0, 4.0, 16.0)
        for r in (1.0, 10.0, 100.0)
    ],
    "ease": [{"l2": l2} for l2 in (100.0, 250.0, 500.0, 1000.0)],
}


def make_baseline(name: str, params: Mapping[str, Any] | None = None) -> Baseline:
    """Construct the named baseline ("popularity", "itemknn", "als", "ease") with `params`."""
    try:
        cls = BASELINES[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown baseline {name!r}; expected one of {sorted(BASELINES)}"
        ) from None
    try:
        return cls(**dict(params or {}))
    except TypeError as exc:  # an unknown keyword: say which model rejected it
        raise ValueError(f"bad parameters for baseline {name!r}: {exc}") from None


__all__ = [
    "ALS",
    "BASELINES",
    "BASELINE_GRIDS",
    "DEFAULT_BATCH_SIZE",
    "EASE",
    "Baseline",
    "ItemKNN",
    "Popularity",
    "binarise",
    "make_baseline",
    "top_k",
]
