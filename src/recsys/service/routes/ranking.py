"""Ranking endpoints: recommendations, rerank, similar items. Thin: translate JSON to a
RankRequest, pick the snapshot, run the one pipeline, translate back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from recsys.clock import to_micros
from recsys.ranking import RankResult
from recsys.ranking.similar import similar_items
from recsys.service.deps import BanditDep, Now, State, TenantDep
from recsys.service.errors import ApiError
from recsys.service.flows import ship as ship_flow
from recsys.service.flows.observe import observe
from recsys.service.flows.ranking import (
    Prepared,
    constraints_of,
    prepare,
    response_of,
    surface_of,
)
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import STORABLE_TEXT_PATTERN, ErrorBody, NamespaceName
from recsys.service.schemas.ranking import (
    MAX_K,
    CanaryExposure,
    RecommendationsRequest,
    RecommendationsResponse,
    RerankRequest,
    SimilarItem,
    SimilarItemsResponse,
)
from recsys.service.state import ServiceState

router = APIRouter(tags=["ranking"], responses=V1_ERRORS)


@router.post(
    "/v1/recommendations",
    response_model=RecommendationsResponse,
    response_model_exclude_none=True,
    summary="Top-k recommendations for a user (or a cold-start list)",
)
async def recommendations(
    body: RecommendationsRequest, tenant: TenantDep, state: State, bandit: BanditDep, now: Now
) -> RecommendationsResponse:
    """On a surface with a running canary (docs/shipping.md), a signed-in user is served the
    arm their id hashes to, and the list is kept as that arm's decision."""
    started = time.perf_counter()
    canary = (
        None
        if "as_of" in body.context  # a replay of the past is no evidence about the candidate
        else ship_flow.assign(
            bandit,
            state.store,
            org_id=tenant.org_id,
            namespace=body.namespace,
            surface=surface_of(body.surface, body.context),
            user_id=body.user_id,
        )
    )
    ranked = body
    if canary is not None and canary.overrides:
        ranked = body.model_copy(update={"overrides": {**canary.overrides, **body.overrides}})

    def work() -> RecommendationsResponse:
        prepared = prepare(
            state,
            tenant.org_id,
            ranked,
            now,
            k=body.k,
            constraints=constraints_of(body.constraints),
            exclude_item_ids=tuple(body.constraints.exclude_item_ids),
        )
        exposure = (
            CanaryExposure(canary_id=canary.canary["canary_id"], arm=canary.arm, group=canary.group)
            if canary is not None
            else None
        )
        response = _rank(
            state,
            tenant.org_id,
            body.namespace,
            prepared,
            ranked,
            started,
            annotations={"canary": exposure.model_dump()} if exposure else None,
        )
        if canary is not None and body.user_id:
            response.canary = exposure
            verdict = ship_flow.record(
                bandit,
                state.store,
                canary,
                org_id=tenant.org_id,
                decision_id=response.decision_id,
                user_id=body.user_id,
                items=[item.item_id for item in response.items],
                now_us=to_micros(now),
            )
            if verdict is not None and verdict.verdict == "promote":
                # A new config version: refresh now rather than at the next poll.
                state.snapshots.notify_write(tenant.org_id, body.namespace)
        return response

    if canary is not None:
        return await run_in_threadpool(work)  # recording the decision writes to the store
    return await _run(state, tenant.org_id, body, work)


@router.post(
    "/v1/rerank",
    response_model=RecommendationsResponse,
    response_model_exclude_none=True,
    summary="Reorder the caller's items (never adds an id)",
)
async def rerank(
    body: RerankRequest, tenant: TenantDep, state: State, now: Now
) -> RecommendationsResponse:
    started = time.perf_counter()

    def work() -> RecommendationsResponse:
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
        return _rank(state, tenant.org_id, body.namespace, prepared, body, started, limit=body.k)

    return await _run(state, tenant.org_id, body, work)


async def _run(
    state: ServiceState,
    org_id: str,
    body: RecommendationsRequest | RerankRequest,
    work: Callable[[], RecommendationsResponse],
) -> RecommendationsResponse:
    """Rank inline on the event loop when the snapshot is warm: a ranking is a couple of
    milliseconds of numpy, cheaper than a hop to the threadpool and back. The first request of
    a namespace, and point-in-time requests (which may build a snapshot), run in the
    threadpool so that a build never blocks the loop."""
    if "as_of" not in body.context and state.snapshots.is_warm(org_id, body.namespace):
        return work()
    return await run_in_threadpool(work)


def _rank(
    state: ServiceState,
    org_id: str,
    namespace: str,
    prepared: Prepared,
    body: BaseModel,
    started: float,
    *,
    limit: int | None = None,
    annotations: dict[str, Any] | None = None,
) -> RecommendationsResponse:
    ranked_at = time.perf_counter()
    result = state.pipeline.run(prepared.served.snapshot, prepared.request)
    if limit is not None:
        result = RankResult(
            items=result.items[:limit],
            trace=result.trace,
            warnings=result.warnings,
            candidates=result.candidates,
        )
    decision_id = state.new_id()
    observe(
        state,
        org_id=org_id,
        namespace=namespace,
        prepared=prepared,
        result=result,
        decision_id=decision_id,
        body=body,
        started=started,
        ranked_at=ranked_at,
        annotations=annotations,
    )
    return response_of(prepared, result, decision_id)


@router.get(
    "/v1/items/{item_id}/similar",
    response_model=SimilarItemsResponse,
    responses={404: {"model": ErrorBody, "description": "Unknown item"}},
    summary="Items similar to one item",
)
def similar(
    tenant: TenantDep,
    state: State,
    item_id: Annotated[str, Path(min_length=1, max_length=256, pattern=STORABLE_TEXT_PATTERN)],
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
