"""Stage tests start from a real request on the oracle shop: the stages before the one under
test run for real, so each stage sees the candidate set the pipeline would hand it."""

from __future__ import annotations

from typing import Any

from recsys.config.knobs import defaults
from recsys.ranking.candidates import CandidateSet, empty_candidates
from recsys.ranking.pipeline import STAGES
from recsys.ranking.request import RankRequest
from recsys.ranking.stage import RankContext, StageTrace, build_context
from tests.ranking.shop import NOW, shop_snapshot


def request(overrides: dict[str, Any] | None = None, **fields: Any) -> RankRequest:
    overrides = overrides or {}
    return RankRequest(
        now_us=NOW,
        knobs=defaults().with_overrides(overrides),
        explicit_knobs=frozenset(overrides),
        **{"k": 10, **fields},
    )


def context(overrides: dict[str, Any] | None = None, **fields: Any) -> RankContext:
    return build_context(shop_snapshot(), request(overrides, **fields))


def before(stage: str, ctx: RankContext) -> CandidateSet:
    """The candidate set the pipeline hands to `stage` for this context."""
    candidates = empty_candidates()
    for each in STAGES:
        if each.name == stage:
            return candidates
        candidates, _ = each(ctx, candidates)
    raise KeyError(stage)


def run_until(stage: str, ctx: RankContext) -> tuple[CandidateSet, list[StageTrace]]:
    """Every stage up to and including `stage`: the set it returns and all traces so far."""
    candidates, traces = empty_candidates(), []
    for each in STAGES:
        candidates, trace = each(ctx, candidates)
        traces.append(trace)
        if each.name == stage:
            return candidates, traces
    raise KeyError(stage)


def ids(ctx: RankContext, candidates: CandidateSet) -> list[str]:
    return [str(ctx.snapshot.catalog.item_ids[i]) for i in candidates.items]
