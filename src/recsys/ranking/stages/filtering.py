"""What the filtering stages share: a filter marks rows to drop per reason; the stage drops
them through the candidate set and keeps, per reason, the items it removed. Rerank only
reorders, so filters never drop a caller's id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsys.ranking.candidates import CandidateSet
from recsys.ranking.stage import RankContext


@dataclass(frozen=True, eq=False)
class DropTrace:
    """Rows dropped per reason (a row counts under the first reason that dropped it), and which
    items those were (catalogue indices; for observers and debugging, not rendered)."""

    stage: str
    dropped: dict[str, int]
    removed: Mapping[str, np.ndarray] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "dropped": self.dropped}


class FilterStage:
    """A stage that drops rows: subclasses name themselves and say which rows each reason
    drops (True = drop)."""

    name: str
    trace_name: str

    def masks(self, context: RankContext, candidates: CandidateSet) -> Mapping[str, np.ndarray]:
        raise NotImplementedError

    def __call__(
        self, context: RankContext, candidates: CandidateSet
    ) -> tuple[CandidateSet, DropTrace]:
        if context.request.mode == "rerank":
            return candidates, DropTrace(self.trace_name, {})
        drop = np.zeros(len(candidates), dtype=bool)
        removed: dict[str, np.ndarray] = {}
        for reason, mask in self.masks(context, candidates).items():
            removed[reason] = candidates.items[mask & ~drop]
            drop |= mask
        dropped = {reason: len(items) for reason, items in removed.items()}
        kept = candidates.keep(~drop) if drop.any() else candidates
        return kept, DropTrace(self.trace_name, dropped, removed)


__all__ = ["DropTrace", "FilterStage"]
