"""MMR diversification with brand/category caps. The order it produces IS the final order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Diversified:
    order: np.ndarray  # positions into the candidate arrays, in final order
    penalty: np.ndarray  # MMR penalty (1 - lambda) x max similarity, per chosen position
    cap_skips: int  # candidates passed over because a cap was full
    deferred: np.ndarray  # positions pushed behind the list by caps (rerank keeps them)


def pool_size(k: int) -> int:
    """MMR looks at the most relevant 4k + 50 candidates (at least 100): items further down
    could only be picked with near-zero relevance, and skipping them keeps a request at
    O(k x pool) instead of O(k x candidates)."""
    return max(4 * k + 50, 100)


def mmr_order(
    *,
    relevance: np.ndarray,
    k: int,
    mmr_lambda: float,
    vectors: np.ndarray | None,
    features: sp.csr_matrix | None,
    brand: np.ndarray,
    category: np.ndarray,
    brand_cap: int,
    category_cap: int,
) -> Diversified:
    """Greedy MMR over the candidate pool (see `pool_size`); the whole candidate set is used
    only when caps leave the pool short of k items."""
    n = len(relevance)
    pool = pool_size(k)
    if n > pool:
        top = np.sort(np.lexsort((np.arange(n), -relevance))[:pool])
        sub = _mmr_order(
            relevance=relevance[top],
            k=k,
            mmr_lambda=mmr_lambda,
            vectors=None if vectors is None else vectors[top],
            features=None if features is None else features[top],
            brand=brand[top],
            category=category[top],
            brand_cap=brand_cap,
            category_cap=category_cap,
        )
        if len(sub.order) >= min(k, n) or not (brand_cap or category_cap):
            return Diversified(top[sub.order], sub.penalty, sub.cap_skips, top[sub.deferred])
    return _mmr_order(
        relevance=relevance,
        k=k,
        mmr_lambda=mmr_lambda,
        vectors=vectors,
        features=features,
        brand=brand,
        category=category,
        brand_cap=brand_cap,
        category_cap=category_cap,
    )


def _mmr_order(
    *,
    relevance: np.ndarray,
    k: int,
    mmr_lambda: float,
    vectors: np.ndarray | None,
    features: sp.csr_matrix | None,
    brand: np.ndarray,
    category: np.ndarray,
    brand_cap: int,
    category_cap: int,
) -> Diversified:
    """Greedy MMR: pick argmax lambda * relevance - (1 - lambda) * max sim to picked.

    `relevance` is in [0, 1]. Similarity is the cosine of item vectors (clipped at 0) when
    `vectors` is given, else the Jaccard overlap of `features`. Ties go to the lower position,
    which the caller arranges to be the lower item_id. A cap of 0 means no cap.
    """
    n = len(relevance)
    k = min(k, n)
    chosen: list[int] = []
    penalties: list[float] = []
    if n == 0 or k == 0:
        return Diversified(np.empty(0, np.int64), np.empty(0), 0, np.empty(0, np.int64))
    use_mmr = mmr_lambda < 1.0 and (vectors is not None or features is not None)
    max_sim = np.zeros(n)
    open_ = np.ones(n, dtype=bool)
    brand_count: dict[int, int] = {}
    category_count: dict[int, int] = {}
    cap_skips = 0
    deferred: list[int] = []
    sizes = None
    if use_mmr and vectors is None and features is not None:
        sizes = np.asarray(features.getnnz(axis=1), dtype=np.float64)
    evidence = relevance > 0
    while len(chosen) < k and open_.any():
        objective = mmr_lambda * relevance - (1.0 - mmr_lambda) * max_sim if use_mmr else relevance
        # An item with no evidence at all scores 0, which beats a relevant item whose penalty
        # makes it negative: only fall back to evidence-free items once the others are used up.
        eligible = open_ & evidence if (open_ & evidence).any() else open_
        masked = np.where(eligible, objective, -np.inf)
        pick = int(np.argmax(masked))  # first maximum = lowest position on ties
        open_[pick] = False
        b, c = int(brand[pick]), int(category[pick])
        if (brand_cap and b >= 0 and brand_count.get(b, 0) >= brand_cap) or (
            category_cap and c >= 0 and category_count.get(c, 0) >= category_cap
        ):
            cap_skips += 1
            deferred.append(pick)
            continue
        chosen.append(pick)
        penalties.append((1.0 - mmr_lambda) * max_sim[pick] if use_mmr else 0.0)
        if b >= 0:
            brand_count[b] = brand_count.get(b, 0) + 1
        if c >= 0:
            category_count[c] = category_count.get(c, 0) + 1
        if use_mmr:
            if vectors is not None:
                sim = np.clip(vectors @ vectors[pick], 0.0, 1.0)
            else:
                assert features is not None and sizes is not None
                inter = np.asarray((features @ features[pick].T).todense()).ravel()
                union = sizes + sizes[pick] - inter
                sim = np.divide(inter, union, out=np.zeros(n), where=union > 0)
            np.maximum(max_sim, sim, out=max_sim)
    return Diversified(
        order=np.asarray(chosen, dtype=np.int64),
        penalty=np.asarray(penalties),
        cap_skips=cap_skips,
        deferred=np.asarray(deferred, dtype=np.int64),
    )


__all__ = ["Diversified", "mmr_order", "pool_size"]
