"""Diversify: greedy MMR over relevance (the score scaled to [0, 1]) with brand/category caps.
Its order is the final order: the rows come out reordered and cut to k minus the pins, each with
its `mmr_penalty`. In rerank nothing is cut: items the caps pushed back follow, in MMR order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsys.ranking.candidates import CandidateSet, best_positions
from recsys.ranking.diversify import mmr_order
from recsys.ranking.stage import RankContext
from recsys.ranking.stages.blend import normalised

# Candidates kept (best first, before diversification) for the decision audit.
AUDIT_CANDIDATES = 50


@dataclass(frozen=True, eq=False)
class Shortlist:
    items: np.ndarray  # catalogue indices
    scores: np.ndarray


@dataclass(frozen=True, eq=False)
class DiversifyTrace:
    mmr_lambda: float
    similarity: str  # "item_vectors" or "features"
    cap_skips: int
    # The best scored candidates before diversification, best first, for the decision audit;
    # not part of the rendered trace.
    shortlist: Shortlist = field(
        default_factory=lambda: Shortlist(np.empty(0, np.int64), np.empty(0))
    )

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": "diversity",
            "mmr_lambda": self.mmr_lambda,
            "similarity": self.similarity,
            "cap_skips": self.cap_skips,
        }


class Diversify:
    name = "diversify"

    def __call__(
        self, context: RankContext, candidates: CandidateSet
    ) -> tuple[CandidateSet, DiversifyTrace]:
        request, catalog, knobs = context.request, context.snapshot.catalog, context.request.knobs
        items, score = candidates.items, candidates["score"]
        rerank = request.mode == "rerank"
        diversified = mmr_order(
            relevance=normalised(score),
            items=items,
            k=len(items) if rerank else max(0, request.k - len(candidates.pins)),
            mmr_lambda=context.knobs.mmr_lambda,
            vectors=context.snapshot.item_vectors,
            features=catalog.features,
            brand=catalog.brand,
            category=catalog.category,
            brand_cap=knobs["brand_cap"],
            category_cap=knobs["category_cap"],
        )
        order, penalty = diversified.order, diversified.penalty
        if rerank:
            order = np.concatenate([order, diversified.deferred])
            penalty = np.concatenate([penalty, np.zeros(len(diversified.deferred))])
        best = best_positions(score, AUDIT_CANDIDATES, items)
        trace = DiversifyTrace(
            mmr_lambda=context.knobs.mmr_lambda,
            similarity=diversified.similarity,
            cap_skips=diversified.cap_skips,
            shortlist=Shortlist(items[best], score[best]),
        )
        return candidates.keep(order).with_columns(mmr_penalty=penalty), trace


__all__ = ["AUDIT_CANDIDATES", "Diversify", "DiversifyTrace", "Shortlist"]
