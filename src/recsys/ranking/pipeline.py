"""The pipeline: an ordered list of named stages folded over one candidate set, then assembled
into the response. The stage list is declared here and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence

from recsys.ranking.assemble import assemble
from recsys.ranking.candidates import empty_candidates
from recsys.ranking.request import RankRequest, RankResult
from recsys.ranking.stage import Stage, StageObserver, StageTrace, build_context, run_directly
from recsys.ranking.stages.blend import Blend
from recsys.ranking.stages.constrain import Constrain
from recsys.ranking.stages.diversify import Diversify
from recsys.ranking.stages.exclude import Exclude
from recsys.ranking.stages.personalise import Personalise
from recsys.ranking.stages.propose import Propose
from recsys.ranking.stages.rules import Rules
from recsys.signals.snapshot import Snapshot

# Bumped whenever the ranking model changes shape; reported by /version and every response.
MODEL_VERSION = "blend-v1"

STAGES: tuple[Stage, ...] = (
    Propose(),
    Exclude(),
    Constrain(),
    Blend(),
    Personalise(),
    Rules(),
    Diversify(),
)

EMPTY_NAMESPACE = "namespace has no items yet: push a catalogue with /v1/items:upsert"


class Pipeline:
    """Stateless; `run` is a pure function of (snapshot, request)."""

    def __init__(self, stages: Sequence[Stage] = STAGES) -> None:
        self.stages = tuple(stages)

    def run(
        self, snapshot: Snapshot, request: RankRequest, *, observer: StageObserver | None = None
    ) -> RankResult:
        """Build the request's context, fold the stages over the candidate set, assemble. An
        `observer` wraps every step (context, each stage, assemble), e.g. to time it."""
        if snapshot.is_empty:
            empty = {"stages": [], "extras": {"policy": {"candidates": 0}}}
            return RankResult(items=(), trace=empty, warnings=(EMPTY_NAMESPACE,))
        observe = observer or run_directly
        context = observe("context", build_context, snapshot, request)
        candidates = empty_candidates()
        traces: list[StageTrace] = []
        for stage in self.stages:
            candidates, trace = observe(stage.name, stage, context, candidates)
            traces.append(trace)
        return observe("assemble", assemble, context, candidates, traces)


def build_pipeline(stages: Sequence[Stage] = STAGES) -> Pipeline:
    """The ranking pipeline; `stages` replaces the stage list (tests swap in a broken stage to
    prove that a test can fail)."""
    return Pipeline(stages)


__all__ = ["EMPTY_NAMESPACE", "MODEL_VERSION", "STAGES", "Pipeline", "build_pipeline"]
