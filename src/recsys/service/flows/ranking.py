"""Turning a ranking request body into a RankRequest (snapshot, policy, knobs, segment, rules)
and a RankResult back into JSON. Shared by the ranking routes and the rules dry-run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from recsys.clock import to_micros
from recsys.config.knobs import KnobError, parse_overrides
from recsys.policy.resolve import Resolved
from recsys.ranking import MODEL_VERSION, Constraints, RankRequest, RankResult
from recsys.ranking.builder import build_request
from recsys.service.errors import ApiError
from recsys.service.schemas.ranking import (
    ConstraintsIn,
    RecommendationsRequest,
    RecommendationsResponse,
    RerankRequest,
    ScoredItem,
)
from recsys.service.snapshots import Served
from recsys.service.state import ServiceState

_AWARE = TypeAdapter(datetime)


def parse_request_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return parse_overrides(raw, scope="request")
    except KnobError as exc:
        errors = [
            {"loc": f"overrides.{key}", "field": key, "message": message}
            for key, message in exc.errors.items()
        ]
        first = errors[0]
        raise ApiError(
            422,
            "invalid_override",
            f"{first['loc']}: {first['message']}",
            {"errors": errors},
        ) from exc


def _as_of(context: dict[str, Any]) -> int | None:
    raw = context.get("as_of")
    if raw is None:
        return None
    try:
        moment = _AWARE.validate_python(raw)
    except ValidationError as exc:
        raise ApiError(
            422,
            "validation_error",
            "context.as_of: not an RFC3339 time",
            {"errors": [{"loc": "context.as_of", "message": "not an RFC3339 time"}]},
        ) from exc
    if moment.tzinfo is None:
        raise ApiError(
            422,
            "validation_error",
            "context.as_of: a timezone is required",
            {"errors": [{"loc": "context.as_of", "message": "timezone required"}]},
        )
    return to_micros(moment)


def surface_of(surface: str | None, context: dict[str, Any]) -> str | None:
    """The request's surface: top level, else `context.surface` (None: not given)."""
    if surface:
        return surface
    value = context.get("surface")
    return str(value) if isinstance(value, str) and value else None


def constraints_of(c: ConstraintsIn) -> Constraints:
    low, high = c.price_between if c.price_between else (None, None)
    return Constraints(
        include_tags_any=tuple(c.include_tags_any),
        exclude_tags=tuple(c.exclude_tags),
        brands=tuple(c.brands),
        categories=tuple(c.categories),
        price_min=low,
        price_max=high,
        created_after_us=to_micros(c.created_after) if c.created_after else None,
    )


def _served(state: ServiceState, org_id: str, namespace: str, as_of_us: int | None) -> Served:
    if as_of_us is None:
        return state.snapshots.current(org_id, namespace)
    return state.snapshots.as_of(org_id, namespace, as_of_us)


@dataclass(frozen=True)
class Prepared:
    served: Served
    resolved: Resolved
    request: RankRequest


def prepare(
    state: ServiceState,
    org_id: str,
    body: RecommendationsRequest | RerankRequest,
    now: datetime,
    **fields: Any,
) -> Prepared:
    """JSON body -> (snapshot and policy, resolved knobs/segment/rules, RankRequest)."""
    overrides = parse_request_overrides(body.overrides)
    as_of_us = _as_of(body.context)
    now_us = as_of_us if as_of_us is not None else to_micros(now)
    served = _served(state, org_id, body.namespace, as_of_us)
    built = build_request(
        served.snapshot,
        served.policy,
        base_knobs=state.knobs,
        now_us=now_us,
        user_id=body.user_id,
        surface=surface_of(body.surface, body.context),
        context=body.context,
        overrides=overrides,
        include_reasons=body.include_reasons,
        explain_level=body.explain_level,
        **fields,
    )
    return Prepared(served, built.resolved, built.request)


def response_of(
    prepared: Prepared, result: RankResult, decision_id: str
) -> RecommendationsResponse:
    return RecommendationsResponse(
        items=[
            ScoredItem(
                item_id=item.item_id,
                score=item.score,
                rank=item.rank,
                reasons=list(item.reasons) if item.reasons is not None else None,
                explain=item.explain,
            )
            for item in result.items
        ],
        decision_id=decision_id,
        model_version=MODEL_VERSION,
        config_version=prepared.served.policy.config_version,
        segment_id=prepared.resolved.segment_id or prepared.resolved.starter_segment,
        profile_id=prepared.resolved.profile_id,
        warnings=[*_notices(prepared.served), *result.warnings],
        # The trace is about a kilobyte: sent only to callers who asked for an explanation.
        trace=result.trace if prepared.request.explain_level != "none" else None,
    )


def _notices(served: Served) -> list[str]:
    """What the caller should know about the signals themselves (e.g. still being built)."""
    return [] if served.notice is None else [served.notice]


__all__ = [
    "Prepared",
    "constraints_of",
    "parse_request_overrides",
    "prepare",
    "response_of",
    "surface_of",
]
