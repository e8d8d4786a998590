"""The one ranking pipeline, pure: no database, no clock, no global RNG, no web framework.

The HTTP service, the tuning harness and the offline evaluator all call
`build_pipeline().run(snapshot, request)`."""

from recsys.ranking.pipeline import MODEL_VERSION, Pipeline, build_pipeline
from recsys.ranking.request import Constraints, RankedItem, RankRequest, RankResult

__all__ = [
    "MODEL_VERSION",
    "Constraints",
    "Pipeline",
    "RankRequest",
    "RankResult",
    "RankedItem",
    "build_pipeline",
]
