"""Propose: the candidate items and which sources proposed each. In rerank, the caller's
known items; otherwise the popularity fan-out plus each personal source's best neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.ranking.candidates import (
    SOURCE_CALLER,
    SOURCE_COVISITATION,
    SOURCE_ITEM_MODEL,
    SOURCE_POPULARITY,
    SOURCE_PROFILE,
    SOURCE_STARTER,
    SOURCE_USER_FACTORS,
    SOURCE_VECTOR,
    CandidateSet,
    top_indices,
    union,
)
from recsys.ranking.sparse_rows import rows_dot
from recsys.ranking.stage import RankContext

# How many neighbours each personalised source may propose (popularity has its own fan-out).
NEIGHBOUR_FANOUT = 200
# Items the vector source reads from the vector index (whole clusters, nearest first) before it
# keeps the NEIGHBOUR_FANOUT most similar: the wider, the closer to an exact search.
VECTOR_POOL = 5 * NEIGHBOUR_FANOUT


@dataclass(frozen=True)
class ProposeTrace:
    count: int
    sources: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {"stage": "candidates", "count": self.count, "sources": self.sources}


class Propose:
    name = "propose"

    def __call__(
        self, context: RankContext, candidates: CandidateSet
    ) -> tuple[CandidateSet, ProposeTrace]:
        proposed = union(self.proposals(context))
        return proposed, ProposeTrace(len(proposed), proposed.source_counts())

    @staticmethod
    def proposals(context: RankContext) -> list[tuple[int, np.ndarray]]:
        request, catalog = context.request, context.snapshot.catalog
        if request.mode == "rerank":
            return [(SOURCE_CALLER, catalog.indices_of(request.candidate_item_ids))]
        signals, user = context.signals, context.user
        proposals = [(SOURCE_POPULARITY, context.popularity.order[: context.knobs.fanout])]
        if len(user.anchors):
            proposals.append((SOURCE_COVISITATION, signals.covisitation.top(NEIGHBOUR_FANOUT)))
        if signals.item_model.any():
            proposals.append((SOURCE_ITEM_MODEL, signals.item_model.top(NEIGHBOUR_FANOUT)))
        if signals.user_vector is not None:
            proposals.append((SOURCE_VECTOR, nearest_by_vector(context, signals.user_vector)))
        if signals.taste is not None and signals.factors is not None:
            best = top_indices(signals.factors.scores(signals.taste), NEIGHBOUR_FANOUT)
            proposals.append((SOURCE_USER_FACTORS, best))
        if signals.profile.any():
            proposals.append((SOURCE_PROFILE, sharing_features(context, signals.profile)))
        if signals.starter.any():
            proposals.append(
                (SOURCE_STARTER, sharing_features(context, user.starter, by_popularity=True))
            )
        return proposals


def nearest_by_vector(context: RankContext, user_vector: np.ndarray) -> np.ndarray:
    """The items whose vectors are most similar to the user's: exactly over the catalogue when
    it is small, else over the clusters of the snapshot's vector index nearest to the user."""
    vectors = context.snapshot.item_vectors
    assert vectors is not None
    index = context.snapshot.vector_index()
    if index is None:
        return top_indices(vectors @ user_vector, NEIGHBOUR_FANOUT)
    pool = index.nearby(user_vector, VECTOR_POOL)
    return pool[top_indices(vectors[pool] @ user_vector, NEIGHBOUR_FANOUT)]


def sharing_features(
    context: RankContext, profile: np.ndarray, *, by_popularity: bool = False
) -> np.ndarray:
    """Items that share the profile's features, drawn from each feature's most popular
    NEIGHBOUR_FANOUT items. Ranked by overlap with the profile (more popular first among
    equals), or with `by_popularity` by overlap x popularity."""
    snapshot = context.snapshot
    postings = snapshot.feature_postings(context.request.knobs["popularity_halflife_days"])
    pool = np.sort(postings.popular_items(np.flatnonzero(profile), NEIGHBOUR_FANOUT))
    pool = pool[np.concatenate(([True], pool[1:] != pool[:-1]))]  # distinct, ascending
    overlap = rows_dot(snapshot.catalog.features, pool, profile)
    popularity = context.popularity.scores[pool]
    if by_popularity:
        order = np.argsort(-(overlap * (popularity + 1e-12)), kind="stable")
    else:
        # lexsort is stable: equal overlap and popularity stay in ascending item order.
        order = np.lexsort((-popularity, -overlap))
    order = order[overlap[order] > 0]
    return pool[order[:NEIGHBOUR_FANOUT]]


__all__ = ["NEIGHBOUR_FANOUT", "VECTOR_POOL", "Propose", "ProposeTrace"]
