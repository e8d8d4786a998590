"""Constrain: keep only the candidates that meet the request's constraints (tags, brands,
categories, price, creation date)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recsys.ranking.candidates import CandidateSet
from recsys.ranking.filters import constraint_masks
from recsys.ranking.stage import RankContext
from recsys.ranking.stages.filtering import FilterStage


class Constrain(FilterStage):
    name = "constrain"
    trace_name = "constraints"

    def masks(self, context: RankContext, candidates: CandidateSet) -> Mapping[str, np.ndarray]:
        return constraint_masks(
            context.snapshot.catalog, candidates.items, context.request.constraints
        )


__all__ = ["Constrain"]
