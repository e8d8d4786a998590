"""Ranking endpoints: recommendations, rerank, similar items. Thin: translate JSON to a
RankRequest, pick the snapshot, run the one pipeline, translate back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import TypeAdapter, ValidationError

from recsys.clock import to_micros
from recsys.config.knobs import KnobError, parse_overrides
from recsys.policy.resolve import Resolved, resolve
from recsys.ranking import MODEL_VERSION, Constraints, RankRequest, RankResult
from recsys.ranking.similar import similar_items
from recsys.service.deps import Now, State, TenantDep
from recsys.service.errors import ApiError
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas import (
    MAX_K,
    ConstraintsIn,
    ErrorBody,
    NamespaceName,
    RecommendationsRequest,
    RecommendationsResponse,
    RerankRequest,
    ScoredItem,
    SimilarItem,
    SimilarItemsResponse,
)
from recsys.service.snapshots import Served
from recsys.service.state import ServiceState
from recsys.signals.snapshot import Snapshot

router = APIRouter(tags=["ranking"], responses=V1_ERRORS)
_AWARE = TypeAdapter(datetime)


def _overrides(raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return parse_overrides(raw)
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


def _surface(surface: str | None, context: dict[str, Any]) -> str | None:
    if surface:
        return surface
    value = context.get("surface")
    return str(value) if isinstance(value, str) and value else None


def _constraints(c: ConstraintsIn) -> Constraints:
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


def _traits(snapshot: Snapshot, user_id: str | None) -> dict[str, Any]:
    if not user_id:
        return {}
    index = snapshot.users.index.get(user_id)
    return dict(snapshot.users.traits[index]) if index is not None else {}


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
    overrides = _overrides(body.overrides)
    as_of_us = _as_of(body.context)
    now_us = as_of_us if as_of_us is not None else to_micros(now)
    surface = _surface(body.surface, body.context)
    served = _served(state, org_id, body.namespace, as_of_us)
    k = fields.pop("k")
    resolved = resolve(
        served.policy,
        base_knobs=state.knobs,
        traits=_traits(served.snapshot, body.user_id),
        context=body.context,
        request={"surface": surface, "k": k, "user_id": body.user_id},
        surface=surface,
        overrides=overrides,
        now_us=now_us,
    )
    request = RankRequest(
        now_us=now_us,
        k=k,
        user_id=body.user_id,
        knobs=resolved.knobs,
        explicit_knobs=resolved.explicit_knobs,
        surface=surface,
        segment=resolved.starter_segment,
        include_reasons=body.include_reasons,
        explain_level=body.explain_level,
        rules=resolved.rules,
        **fields,
    )
    return Prepared(served, resolved, request)


def _response(prepared: Prepared, result: RankResult, decision_id: str) -> RecommendationsResponse:
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
        warnings=list(result.warnings),
        trace=result.trace,
    )


@router.post(
    "/v1/recommendations",
    response_model=RecommendationsResponse,
    response_model_exclude_none=True,
    summary="Top-k recommendations for a user (or a cold-start list)",
)
def recommendations(
    body: RecommendationsRequest, tenant: TenantDep, state: State, now: Now
) -> RecommendationsResponse:
    prepared = prepare(
        state,
        tenant.org_id,
        body,
        now,
        k=body.k,
        constraints=_constraints(body.constraints),
        exclude_item_ids=tuple(body.constraints.exclude_item_ids),
    )
    result = state.pipeline.run(prepared.served.snapshot, prepared.request)
    return _response(prepared, result, state.new_id())


@router.post(
    "/v1/rerank",
    response_model=RecommendationsResponse,
    response_model_exclude_none=True,
    summary="Reorder the caller's items (never adds an id)",
)
def rerank(
    body: RerankRequest, tenant: TenantDep, state: State, now: Now
) -> RecommendationsResponse:
    prepared = prepare(
        state,
        tenant.org_id,
        body,
        now,
        k=len(body.items),
        mode="rerank",
        candidate_item_ids=tuple(i.item_id for i in body.items),
        candidate_scores=tuple(i.score for i in body.items),
    )
    result = state.pipeline.run(prepared.served.snapshot, prepared.request)
    if body.k is not None:
        result = RankResult(
            items=result.items[: body.k], trace=result.trace, warnings=result.warnings
        )
    return _response(prepared, result, state.new_id())


@router.get(
    "/v1/items/{item_id}/similar",
    response_model=SimilarItemsResponse,
    responses={404: {"model": ErrorBody, "description": "Unknown item"}},
    summary="Items similar to one item",
)
def similar(
    tenant: TenantDep,
    state: State,
    item_id: Annotated[str, Path(min_length=1, max_length=256)],
    namespace: Annotated[NamespaceName, Query()],
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 20,
) -> SimilarItemsResponse:
    served = state.snapshots.current(tenant.org_id, namespace)
    try:
        neighbours = similar_items(served.snapshot, item_id, k)
    except KeyError:
        raise ApiError(
            404, "item_not_found", f"no item {item_id!r} in namespace {namespace!r}"
        ) from None
    return SimilarItemsResponse(
        item_id=item_id,
        items=[SimilarItem(item_id=n.item_id, score=n.score, source=n.source) for n in neighbours],
    )
