"""Item vectors learned from interactions (truncated SVD of the item x user matrix).

Used when the caller supplies no embeddings. Never hash-derived: an item nobody touched gets
a zero vector, which means "no vector evidence", not a random direction."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds


def learn_item_vectors(
    *,
    user: np.ndarray,
    item: np.ndarray,
    strength: np.ndarray,
    n_users: int,
    n_items: int,
    dim: int = 32,
    seed: int = 0,
) -> np.ndarray | None:
    """Unit-norm float32 item vectors (n_items x d), or None when there is too little data."""
    if len(item) == 0 or n_items < 3 or n_users < 2:
        return None
    matrix = sp.coo_matrix(
        (strength.astype(np.float64), (item, user)), shape=(n_items, n_users)
    ).tocsr()
    matrix.sum_duplicates()
    # Dampen heavy repeat interactions, and down-weight users who touch everything (IDF-like).
    matrix.data = np.log1p(matrix.data)
    user_activity = np.asarray((matrix > 0).sum(axis=0)).ravel()
    matrix = matrix @ sp.diags(1.0 / np.sqrt(np.maximum(user_activity, 1)))
    k = min(dim, min(matrix.shape) - 1)
    if k < 1:
        return None
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(min(matrix.shape))
    u, s, _ = svds(matrix.astype(np.float64), k=k, v0=v0, random_state=seed)
    order = np.argsort(-s)
    u = u[:, order]
    # Fix the sign of each component so results do not flip between identical builds.
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    u = u * np.where(signs == 0, 1.0, signs)
    vectors = (u * np.sqrt(s[order])).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    vectors[(norms <= 1e-9).ravel()] = 0.0
    return vectors


__all__ = ["learn_item_vectors"]
