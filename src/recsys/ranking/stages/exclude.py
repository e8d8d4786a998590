"""Exclude: drop what the caller excluded by id, what the user's own recent events exclude
(e.g. bought), and unavailable items."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recsys.ranking.candidates import CandidateSet
from recsys.ranking.filters import exclusion_masks
from recsys.ranking.stage import RankContext
from recsys.ranking.stages.filtering import FilterStage


class Exclude(FilterStage):
    name = "exclude"
    trace_name = "exclusions"

    def masks(self, context: RankContext, candidates: CandidateSet) -> Mapping[str, np.ndarray]:
        catalog = context.snapshot.catalog
        return exclusion_masks(
            catalog,
            candidates.items,
            explicit=catalog.indices_of(context.request.exclude_item_ids),
            by_events=context.user.excluded_items,
        )


__all__ = ["Exclude"]
