"""Bandit experiments: policies (the arms), decide / reward, bandit recommendations, statistics.

Thin: validation and the steps live in service/flows/bandit.py; ranking goes through the same
prepare -> pipeline -> observe -> response steps as /v1/recommendations, with the chosen
policy's knobs as overrides under the request's own.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from recsys.clock import from_micros, to_micros
from recsys.service.deps import BanditDep, Now, State, StoreDep, TenantDep
from recsys.service.flows import bandit as bandit_flow
from recsys.service.flows.observe import observe
from recsys.service.flows.ranking import (
    constraints_of,
    parse_request_overrides,
    prepare,
    response_of,
)
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.bandit import (
    SURFACE_PATTERN,
    BanditOut,
    BanditRecommendationsRequest,
    BanditRecommendationsResponse,
    DecideRequest,
    DecisionResponse,
    PoliciesResponse,
    PoliciesUpsert,
    PoliciesUpserted,
    PolicyOut,
    RewardRequest,
    RewardResponse,
    StatisticsResponse,
)
from recsys.service.schemas.common import ErrorBody, NamespaceName
from recsys.store import bandit as bandit_store

router = APIRouter(tags=["bandit"], responses=V1_ERRORS)

Responses = dict[int | str, dict[str, Any]]
UPSERT_ERRORS: Responses = {
    409: {"model": ErrorBody, "description": "The batch would make a second control policy"},
}
DECIDE_ERRORS: Responses = {
    409: {"model": ErrorBody, "description": "No active policy among the candidates"},
}
REWARD_ERRORS: Responses = {
    404: {"model": ErrorBody, "description": "Unknown decision (in this org and namespace)"},
    409: {"model": ErrorBody, "description": "The decision already has a different reward"},
}


def _policy_out(row: dict[str, Any]) -> PolicyOut:
    return PolicyOut(
        policy_id=row["policy_id"],
        name=row["name"],
        active=row["active"],
        control=row["control"],
        config=row["config"],
        created_at=from_micros(row["created_at_us"]),
        updated_at=from_micros(row["updated_at_us"]),
    )


@router.post(
    "/v1/bandit/policies:upsert",
    response_model=PoliciesUpserted,
    responses=UPSERT_ERRORS,
    summary="Create or replace bandit policies (atomic batch)",
)
def upsert_policies(
    body: PoliciesUpsert, tenant: TenantDep, store: StoreDep, now: Now
) -> PoliciesUpserted:
    """Each policy is a bundle of knob overrides, validated like request overrides."""
    rows = bandit_flow.validated_policies(body, to_micros(now))
    count = bandit_flow.store_policies(
        store, org_id=tenant.org_id, namespace=body.namespace, rows=rows
    )
    return PoliciesUpserted(namespace=body.namespace, upserted=count)


@router.get("/v1/bandit/policies", response_model=PoliciesResponse, summary="Bandit policies")
def list_policies(
    tenant: TenantDep, store: StoreDep, namespace: Annotated[NamespaceName, Query()]
) -> PoliciesResponse:
    with store.read() as conn:
        rows = bandit_store.list_policies(conn, org_id=tenant.org_id, namespace=namespace)
    return PoliciesResponse(
        namespace=namespace,
        policies=[_policy_out(r) for r in sorted(rows, key=lambda r: r["policy_id"])],
    )


@router.post(
    "/v1/bandit/decide",
    response_model=DecisionResponse,
    response_model_exclude_none=True,
    responses=DECIDE_ERRORS,
    summary="Choose a policy for one request (Thompson sampling or UCB1)",
)
def decide(
    body: DecideRequest, tenant: TenantDep, store: StoreDep, bandit: BanditDep, now: Now
) -> DecisionResponse:
    decision = bandit_flow.decide(
        bandit,
        store,
        org_id=tenant.org_id,
        namespace=body.namespace,
        surface=body.surface,
        context=body.context,
        user_id=body.user_id,
        candidate_policy_ids=body.candidate_policy_ids,
        algorithm=body.algorithm,
    )
    bandit_flow.record(
        bandit,
        store,
        decision,
        org_id=tenant.org_id,
        namespace=body.namespace,
        now_us=to_micros(now),
    )
    return DecisionResponse(
        decision_id=decision.decision_id,
        policy_id=decision.policy_id,
        algorithm=decision.algorithm,
        explore=decision.explore,
        bucket_key=decision.bucket_key,
        surface=decision.surface,
        group=decision.group,
        config=decision.config,
        experiment=decision.experiment,
    )


@router.post(
    "/v1/bandit/reward",
    response_model=RewardResponse,
    responses=REWARD_ERRORS,
    summary="Record a decision's reward in [0, 1] (the first one counts)",
)
def reward(
    body: RewardRequest, tenant: TenantDep, store: StoreDep, bandit: BanditDep, now: Now
) -> RewardResponse:
    outcome = bandit_flow.reward(
        bandit,
        store,
        org_id=tenant.org_id,
        namespace=body.namespace,
        decision_id=body.decision_id,
        value=body.reward,
        now_us=to_micros(now),
    )
    return RewardResponse(
        decision_id=body.decision_id,
        policy_id=outcome.decision["policy_id"],
        reward=outcome.reward,
        duplicate=outcome.duplicate,
    )


@router.post(
    "/v1/bandit/recommendations",
    response_model=BanditRecommendationsResponse,
    response_model_exclude_none=True,
    responses=DECIDE_ERRORS,
    summary="Recommendations ranked with a bandit-chosen policy",
)
def bandit_recommendations(
    body: BanditRecommendationsRequest,
    tenant: TenantDep,
    state: State,
    bandit: BanditDep,
    now: Now,
) -> BanditRecommendationsResponse:
    """Precedence: namespace config -> segment profile -> policy config -> request overrides.
    The response's `decision_id` is the bandit decision to reward (and the audit record)."""
    started = time.perf_counter()
    surface = bandit_flow.bandit_surface(body.surface, body.context)
    parse_request_overrides(body.overrides)  # a bad override is refused before any decision
    decision = bandit_flow.decide(
        bandit,
        state.store,
        org_id=tenant.org_id,
        namespace=body.namespace,
        surface=surface,
        context=body.context,
        user_id=body.user_id,
        candidate_policy_ids=body.candidate_policy_ids,
        algorithm=body.algorithm,
    )
    ranking_body = body.model_copy(
        update={"surface": surface, "overrides": {**decision.config, **body.overrides}}
    )
    prepared = prepare(
        state,
        tenant.org_id,
        ranking_body,
        now,
        k=body.k,
        constraints=constraints_of(body.constraints),
        exclude_item_ids=tuple(body.constraints.exclude_item_ids),
    )
    ranked_at = time.perf_counter()
    result = state.pipeline.run(prepared.served.snapshot, prepared.request)
    bandit_flow.record(
        bandit,
        state.store,
        decision,
        org_id=tenant.org_id,
        namespace=body.namespace,
        now_us=to_micros(now),
        items=[item.item_id for item in result.items],
    )
    observe(
        state,
        org_id=tenant.org_id,
        namespace=body.namespace,
        prepared=prepared,
        result=result,
        decision_id=decision.decision_id,
        body=ranking_body,
        started=started,
        ranked_at=ranked_at,
    )
    response = response_of(prepared, result, decision.decision_id)
    return BanditRecommendationsResponse(
        **dict(response),
        bandit=BanditOut(
            decision_id=decision.decision_id,
            policy_id=decision.policy_id,
            algorithm=decision.algorithm,
            explore=decision.explore,
            bucket_key=decision.bucket_key,
            experiment=decision.experiment,
        ),
    )


@router.get(
    "/v1/bandit/stats",
    response_model=StatisticsResponse,
    summary="Per-arm statistics by surface and context bucket, holdout vs treatment",
)
def statistics(
    tenant: TenantDep,
    store: StoreDep,
    namespace: Annotated[NamespaceName, Query()],
    surface: Annotated[str | None, Query(pattern=SURFACE_PATTERN)] = None,
) -> StatisticsResponse:
    with store.read() as conn:
        rows = bandit_store.list_statistics(
            conn, org_id=tenant.org_id, namespace=namespace, surface=surface
        )
    return bandit_flow.summarise(namespace, surface, rows)
