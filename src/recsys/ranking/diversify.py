"""MMR diversification with brand/category caps. The order it produces IS the final order."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.sparse as sp

from recsys.ranking.candidates import best_positions


@dataclass(frozen=True)
class Diversified:
    order: np.ndarray  # positions into the candidate arrays, in final order
    penalty: np.ndarray  # MMR penalty (1 - lambda) x max similarity, per chosen position
    cap_skips: int  # candidates passed over because a cap was full
    deferred: np.ndarray  # positions pushed behind the list by caps (rerank keeps them)
    similarity: str  # what MMR compared items with: "item_vectors" or "features"


# How far below every item with evidence an item without any sits in the MMR objective.
EVIDENCE_FREE = -4.0


def pool_size(k: int) -> int:
    """MMR looks at the most relevant 4k + 50 candidates (at least 100): items further down
    could only be picked with near-zero relevance, and skipping them keeps a request at
    O(k x pool) instead of O(k x candidates)."""
    return max(4 * k + 50, 100)


def mmr_order(
    *,
    relevance: np.ndarray,
    items: np.ndarray,
    k: int,
    mmr_lambda: float,
    vectors: np.ndarray | None,
    features: sp.csr_matrix,
    brand: np.ndarray,
    category: np.ndarray,
    brand_cap: int,
    category_cap: int,
) -> Diversified:
    """Greedy MMR over the candidates `items` (catalogue indices, one per `relevance`), looking
    at the pool of the most relevant (see `pool_size`); the whole candidate set is used only
    when caps leave the pool short of k items. `vectors`, `features`, `brand` and `category`
    are the catalogue's: only the rows MMR reads are gathered."""
    n = len(relevance)
    pool = pool_size(k)
    run = partial(
        _mmr_order,
        k=k,
        mmr_lambda=mmr_lambda,
        vectors=vectors,
        features=features,
        brand=brand,
        category=category,
        brand_cap=brand_cap,
        category_cap=category_cap,
    )
    if n > pool:
        top = np.sort(best_positions(relevance, pool, np.arange(n)))
        sub = run(relevance=relevance[top], items=items[top])
        if len(sub.order) >= min(k, n) or not (brand_cap or category_cap):
            return Diversified(
                top[sub.order], sub.penalty, sub.cap_skips, top[sub.deferred], sub.similarity
            )
    return run(relevance=relevance, items=items)


def _mmr_order(
    *,
    relevance: np.ndarray,
    items: np.ndarray,
    k: int,
    mmr_lambda: float,
    vectors: np.ndarray | None,
    features: sp.csr_matrix,
    brand: np.ndarray,
    category: np.ndarray,
    brand_cap: int,
    category_cap: int,
) -> Diversified:
    """Greedy MMR: pick argmax lambda * relevance - (1 - lambda) * max sim to picked.

    `relevance` is in [0, 1]. Similarity is the cosine of item vectors (clipped at 0) when the
    rows have any, else the Jaccard overlap of `features`. Ties go to the lower position,
    which the caller arranges to be the lower item_id. A cap of 0 means no cap.
    """
    rows = vectors[items] if vectors is not None else None
    if rows is not None and not np.any(rows):
        rows = None
    similarity_name = "item_vectors" if rows is not None else "features"
    brand, category = brand[items], category[items]
    n = len(relevance)
    k = min(k, n)
    chosen: list[int] = []
    penalties: list[float] = []
    if n == 0 or k == 0:
        empty = np.empty(0, np.int64)
        return Diversified(empty, np.empty(0), 0, empty, similarity_name)
    # Pairwise similarity of the pool, once: each pick then costs one row lookup.
    similarity = None
    if mmr_lambda < 1.0:
        similarity = _pairwise_similarity(rows, features[items] if rows is None else None)
    use_mmr = similarity is not None
    max_sim = np.zeros(n)
    # An item with no evidence at all scores 0, which beats a relevant item whose penalty makes
    # it negative: such items sit EVIDENCE_FREE lower, below every item with evidence (whose
    # objective is within [-1, 1]), so they are only picked once the others are used up. A
    # picked or deferred item sits at -inf.
    offset = np.where(relevance > 0, 0.0, EVIDENCE_FREE)
    gain = mmr_lambda * relevance if use_mmr else relevance
    brand_count: dict[int, int] = {}
    category_count: dict[int, int] = {}
    cap_skips = 0
    deferred: list[int] = []
    for _ in range(n):
        if len(chosen) >= k:
            break
        objective = gain + offset
        if similarity is not None:
            objective -= (1.0 - mmr_lambda) * max_sim
        pick = int(np.argmax(objective))  # first maximum = lowest position on ties
        offset[pick] = -np.inf
        b, c = int(brand[pick]), int(category[pick])
        if (brand_cap and b >= 0 and brand_count.get(b, 0) >= brand_cap) or (
            category_cap and c >= 0 and category_count.get(c, 0) >= category_cap
        ):
            cap_skips += 1
            deferred.append(pick)
            continue
        chosen.append(pick)
        penalties.append((1.0 - mmr_lambda) * max_sim[pick] if similarity is not None else 0.0)
        if b >= 0:
            brand_count[b] = brand_count.get(b, 0) + 1
        if c >= 0:
            category_count[c] = category_count.get(c, 0) + 1
        if similarity is not None:
            np.maximum(max_sim, similarity[pick], out=max_sim)
    return Diversified(
        order=np.asarray(chosen, dtype=np.int64),
        penalty=np.asarray(penalties),
        cap_skips=cap_skips,
        deferred=np.asarray(deferred, dtype=np.int64),
        similarity=similarity_name,
    )


def _pairwise_similarity(vectors: np.ndarray | None, features: sp.csr_matrix | None) -> np.ndarray:
    """Cosine of the item vectors clipped to [0, 1], else the Jaccard overlap of the features."""
    if vectors is not None:
        return np.clip(vectors @ vectors.T, 0.0, 1.0).astype(np.float64)
    assert features is not None
    sizes = np.asarray(features.getnnz(axis=1), dtype=np.float64)
    inter = np.asarray((features @ features.T).todense(), dtype=np.float64)
    union = sizes[:, None] + sizes[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


__all__ = ["Diversified", "mmr_order", "pool_size"]
