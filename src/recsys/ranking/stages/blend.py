"""Blend: gather each signal for the candidates, normalise it to [0, 1] over this request's
candidates, and mix them with the effective weights (BLEND_ALPHA popularity or the
caller's score, BLEND_BETA co-visitation, BLEND_GAMMA item vectors, BLEND_DELTA item model,
BLEND_EPSILON user factors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.ranking.candidates import CandidateSet
from recsys.ranking.stage import RankContext

# The blended signals, in blend order; each has a `<name>_raw` and a `<name>_norm` column.
SIGNALS = ("base", "co_visitation", "item_similarity", "item_model", "user_factors")


@dataclass(frozen=True)
class BlendTrace:
    base_signal: str  # "popularity", or "caller_score" when a rerank caller sent scores

    def as_json(self) -> dict[str, Any]:
        return {"stage": "blend", "base_signal": self.base_signal}


def normalised(values: np.ndarray) -> np.ndarray:
    """Divided by the maximum (all zeros when nothing is positive)."""
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else np.zeros_like(values, dtype=np.float64)


class Blend:
    name = "blend"

    def __call__(
        self, context: RankContext, candidates: CandidateSet
    ) -> tuple[CandidateSet, BlendTrace]:
        items, signals = candidates.items, context.signals
        base_name, base = self.base_signal(context, items)
        vectors = context.snapshot.item_vectors
        if signals.user_vector is not None and vectors is not None:
            similarity = np.clip(vectors[items] @ signals.user_vector, 0.0, None)
        else:
            similarity = np.zeros(len(items))
        raw = {
            "base": base,
            "co_visitation": signals.covisitation.at(items),
            "item_similarity": similarity,
            "item_model": np.clip(signals.item_model.at(items), 0.0, None),
            "user_factors": self.user_factors(context, items),
        }
        norm = {name: normalised(values) for name, values in raw.items()}
        knobs = context.knobs
        blend = (
            knobs.alpha * norm["base"]
            + knobs.beta * norm["co_visitation"]
            + knobs.gamma * norm["item_similarity"]
            + knobs.delta * norm["item_model"]
            + knobs.epsilon * norm["user_factors"]
        )
        columns = {f"{name}_raw": values for name, values in raw.items()}
        columns.update({f"{name}_norm": values for name, values in norm.items()})
        return candidates.with_columns(**columns, blend=blend), BlendTrace(base_name)

    @staticmethod
    def user_factors(context: RankContext, items: np.ndarray) -> np.ndarray:
        """The user's predicted preference for each candidate (negative predictions count as
        no evidence, like the other signals' zeros)."""
        taste, factors = context.signals.taste, context.signals.factors
        if taste is None or factors is None:
            return np.zeros(len(items))
        return np.clip(factors.scores(taste, items).astype(np.float64), 0.0, None)

    @staticmethod
    def base_signal(context: RankContext, items: np.ndarray) -> tuple[str, np.ndarray]:
        """Popularity, or in a rerank whose caller sent scores, those scores (shifted so the
        lowest is not below 0; an item sent without a score counts as 0)."""
        request, catalog = context.request, context.snapshot.catalog
        if request.mode != "rerank" or all(s is None for s in request.candidate_scores):
            return "popularity", context.popularity.scores[items]
        given = {
            i: float(s)
            for i, s in zip(request.candidate_item_ids, request.candidate_scores, strict=False)
            if s is not None
        }
        scores = np.asarray([given.get(catalog.item_ids[i], 0.0) for i in items])
        if len(scores):
            scores = scores - min(0.0, float(scores.min()))
        return "caller_score", scores


__all__ = ["SIGNALS", "Blend", "BlendTrace", "normalised"]
