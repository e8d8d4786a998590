"""The pipeline folds its declared stages over one candidate set; an observer sees every step."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

import recsys.ranking
from recsys.ranking import build_pipeline
from recsys.ranking.candidates import CandidateSet
from recsys.ranking.pipeline import STAGES, Pipeline
from recsys.ranking.stage import RankContext, StageTrace
from recsys.ranking.stages.filtering import DropTrace
from tests.ranking.shop import shop_snapshot
from tests.ranking.stages.helpers import request

RANKING = Path(recsys.ranking.__file__).parent
T = TypeVar("T")


def test_stage_names_in_order() -> None:
    names = [stage.name for stage in STAGES]
    assert names == [
        "propose",
        "exclude",
        "constrain",
        "blend",
        "personalise",
        "rules",
        "diversify",
    ]


def test_an_observer_sees_every_step_and_changes_nothing() -> None:
    seen: list[str] = []

    def record(name: str, step: Callable[..., T], *args: Any) -> T:
        seen.append(name)
        return step(*args)

    req = request(user_id="anchor", explain_level="full", include_reasons=True)
    observed = build_pipeline().run(shop_snapshot(), req, observer=record)
    assert seen == ["context", *(s.name for s in STAGES), "assemble"]
    assert observed == build_pipeline().run(shop_snapshot(), req)


class DropEverything:
    """A broken stage: proves that the stage list is what runs."""

    name = "exclude"

    def __call__(
        self, context: RankContext, candidates: CandidateSet
    ) -> tuple[CandidateSet, StageTrace]:
        return candidates.keep(candidates.items < 0), DropTrace("exclusions", {"all": 1})


def test_the_stage_list_is_what_runs() -> None:
    stages = [DropEverything() if s.name == "exclude" else s for s in STAGES]
    result = build_pipeline(stages).run(shop_snapshot(), request(user_id="u01"))
    assert result.items == ()
    assert result.trace["extras"]["policy"]["exclusions"] == {"all": 1}


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


@pytest.mark.parametrize("path", sorted(RANKING.rglob("*.py")), ids=lambda p: p.name)
def test_no_function_in_ranking_is_longer_than_80_lines(path: Path) -> None:
    long = [f.name for f in _functions(path) if (f.end_lineno or 0) - f.lineno + 1 > 80]
    assert long == []


def test_run_is_a_short_fold() -> None:
    run = next(f for f in _functions(RANKING / "pipeline.py") if f.name == "run")
    assert run.end_lineno is not None and run.end_lineno - run.lineno + 1 <= 40
    assert Pipeline.run.__qualname__ == "Pipeline.run"


def test_rows_change_only_through_the_candidate_set() -> None:
    """`CandidateSet(...)` is built only by the container's own module: stages filter and
    reorder through `keep`, so no stage can leave a column out of step."""
    builders = []
    for path in RANKING.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CandidateSet":
                builders.append(path.name)
    assert set(builders) == {"candidates.py"}
