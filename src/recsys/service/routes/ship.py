"""Shipping: start a canary between the incumbent config and a tuned candidate, watch it, stop
it. Thin: the steps live in service/flows/ship.py; serving on the canary's surface happens in
/v1/recommendations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from recsys.clock import to_micros
from recsys.service.deps import BanditDep, Now, StoreDep, TenantDep
from recsys.service.errors import ApiError
from recsys.service.flows import ship as ship_flow
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import ErrorBody, NamespaceName
from recsys.service.schemas.ship import (
    CanaryId,
    CanaryList,
    CanaryOut,
    CanaryStart,
    CanaryStatus,
    CanaryStop,
)
from recsys.store import canaries as canary_store

router = APIRouter(tags=["ship"], responses=V1_ERRORS)

Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "Unknown canary (in this org)"}}


@router.post(
    "/v1/ship/canaries",
    response_model=CanaryOut,
    status_code=201,
    responses={
        409: {"model": ErrorBody, "description": "A canary already runs on the surface"},
    },
    summary="Start a canary: serve a candidate config to a share of a surface's users",
)
def start_canary(
    body: CanaryStart, tenant: TenantDep, store: StoreDep, bandit: BanditDep, now: Now
) -> CanaryOut:
    """The incumbent (the namespace config in force) is the control. Every `look_every`
    decisions the rule looks: promote (a new config version), roll back, or no decision once
    the budget is spent."""
    now_us = to_micros(now)
    row = ship_flow.start(bandit, store, body, org_id=tenant.org_id, now_us=now_us)
    with store.read() as conn:
        return ship_flow.view(conn, row, now_us=now_us, with_steps=True)


@router.get(
    "/v1/ship/canaries",
    response_model=CanaryList,
    summary="A namespace's canaries, newest first",
)
def list_canaries(
    tenant: TenantDep,
    store: StoreDep,
    now: Now,
    namespace: Annotated[NamespaceName, Query()],
    status: Annotated[CanaryStatus | None, Query()] = None,
) -> CanaryList:
    now_us = to_micros(now)
    with store.read() as conn:
        rows = canary_store.list_canaries(
            conn, org_id=tenant.org_id, namespace=namespace, status=status
        )
        return CanaryList(
            namespace=namespace,
            canaries=[ship_flow.view(conn, r, now_us=now_us, with_steps=False) for r in rows],
        )


@router.get(
    "/v1/ship/canaries/{canary_id}",
    response_model=CanaryOut,
    responses=NOT_FOUND,
    summary="One canary: arms, posteriors, the rule's verdict so far, budget left, its trail",
)
def get_canary(
    tenant: TenantDep, store: StoreDep, now: Now, canary_id: Annotated[CanaryId, Path()]
) -> CanaryOut:
    with store.read() as conn:
        row = canary_store.get_canary(conn, org_id=tenant.org_id, canary_id=canary_id)
        if row is None:
            raise ApiError(404, "canary_not_found", f"no canary {canary_id!r}")
        return ship_flow.view(conn, row, now_us=to_micros(now), with_steps=True)


@router.post(
    "/v1/ship/canaries/{canary_id}/stop",
    response_model=CanaryOut,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "The canary already ended"},
    },
    summary="Stop a running canary; the incumbent stays",
)
def stop_canary(
    body: CanaryStop,
    tenant: TenantDep,
    store: StoreDep,
    bandit: BanditDep,
    now: Now,
    canary_id: Annotated[CanaryId, Path()],
) -> CanaryOut:
    now_us = to_micros(now)
    row = ship_flow.stop(
        bandit,
        store,
        org_id=tenant.org_id,
        canary_id=canary_id,
        reason=body.reason,
        author=body.author,
        now_us=now_us,
    )
    with store.read() as conn:
        return ship_flow.view(conn, row, now_us=now_us, with_steps=True)
