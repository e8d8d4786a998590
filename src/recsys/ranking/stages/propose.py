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
    SOURCE_VECTOR,
    CandidateSet,
    top_indices,
    union,
)
from recsys.ranking.stage import RankContext

# How many neighbours each personalised source may propose (popularity has its own fan-out).
NEIGHBOUR_FANOUT = 200


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
            proposals.append(
                (SOURCE_COVISITATION, top_indices(signals.covisitation, NEIGHBOUR_FANOUT))
            )
        if signals.item_model.any():
            proposals.append((SOURCE_ITEM_MODEL, top_indices(signals.item_model, NEIGHBOUR_FANOUT)))
        if signals.user_vector is not None:
            vectors = context.snapshot.item_vectors
            assert vectors is not None
            similarity = vectors @ signals.user_vector
            proposals.append((SOURCE_VECTOR, top_indices(similarity, NEIGHBOUR_FANOUT)))
        if signals.profile.any():
            overlap = catalog.features @ signals.profile
            proposals.append((SOURCE_PROFILE, top_indices(overlap, NEIGHBOUR_FANOUT)))
        if signals.starter.any():
            # Starter items: the most popular items of the starter's categories/tags.
            overlap = catalog.features @ user.starter
            starter_scores = overlap * (context.popularity.scores + 1e-12)
            proposals.append((SOURCE_STARTER, top_indices(starter_scores, NEIGHBOUR_FANOUT)))
        return proposals


__all__ = ["NEIGHBOUR_FANOUT", "Propose", "ProposeTrace"]
