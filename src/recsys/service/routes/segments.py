"""Segments (rule-matched cohorts), their profiles (knob bundles) and dry runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from recsys.clock import to_micros
from recsys.policy.segments import validate_rule
from recsys.service.deps import Now, StoreDep, TenantDep, WritesDep
from recsys.service.errors import ApiError
from recsys.service.flows.control import segment_dry_run, validated_config
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import NamespaceName
from recsys.service.schemas.control import (
    CountResponse,
    ProfilesDelete,
    ProfilesResponse,
    ProfilesUpsert,
    SegmentDryRun,
    SegmentDryRunResponse,
    SegmentIn,
    SegmentRuleIn,
    SegmentsDelete,
    SegmentsResponse,
    SegmentUpsert,
)
from recsys.store import control

router = APIRouter(tags=["segments"], responses=V1_ERRORS)


def _segment_out(row: dict[str, Any]) -> SegmentIn:
    return SegmentIn(
        segment_id=row["segment_id"],
        name=row["name"],
        priority=row["priority"],
        active=row["active"],
        profile_id=row["profile_id"],
        rules=[SegmentRuleIn(rule=r["rule"], enabled=r.get("enabled", True)) for r in row["rules"]],
    )


@router.get("/v1/segments", response_model=SegmentsResponse)
def list_segments(
    tenant: TenantDep, store: StoreDep, namespace: Annotated[NamespaceName, Query()]
) -> SegmentsResponse:
    """Highest priority first."""
    with store.read() as conn:
        rows = control.list_segments(conn, org_id=tenant.org_id, namespace=namespace)
    return SegmentsResponse(namespace=namespace, segments=[_segment_out(r) for r in rows])


@router.post("/v1/segments:upsert", response_model=SegmentsResponse)
def upsert_segment(
    body: SegmentUpsert, tenant: TenantDep, store: StoreDep, writes: WritesDep, now: Now
) -> SegmentsResponse:
    """Create or replace one segment; every rule is checked and all problems reported."""
    problems = []
    for n, rule in enumerate(body.segment.rules):
        problems += validate_rule(rule.rule, where=f"segment.rules[{n}].rule")
    if problems:
        raise ApiError(
            422,
            "invalid_segment_rule",
            problems[0],
            {"errors": [{"loc": p.split(":")[0], "message": p} for p in problems]},
        )
    row = {
        "segment_id": body.segment.segment_id,
        "name": body.segment.name or body.segment.segment_id,
        "priority": body.segment.priority,
        "active": body.segment.active,
        "profile_id": body.segment.profile_id,
        "rules": [r.model_dump() for r in body.segment.rules],
        "updated_at_us": to_micros(now),
    }
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        control.upsert_segment(conn, org_id=tenant.org_id, namespace=body.namespace, row=row)
    return list_segments(tenant, store, body.namespace)


@router.post("/v1/segments:delete", response_model=CountResponse)
def delete_segments(body: SegmentsDelete, tenant: TenantDep, writes: WritesDep) -> CountResponse:
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        count = control.delete_segments(
            conn, org_id=tenant.org_id, namespace=body.namespace, segment_ids=body.segment_ids
        )
    return CountResponse(namespace=body.namespace, count=count)


@router.post("/v1/segments:dry-run", response_model=SegmentDryRunResponse)
def dry_run_segments(
    body: SegmentDryRun, tenant: TenantDep, store: StoreDep, now: Now
) -> SegmentDryRunResponse:
    """Which segments a user (by id, or by the traits given) and context would match."""
    return segment_dry_run(store, tenant.org_id, body, now)


@router.get("/v1/segment-profiles", response_model=ProfilesResponse)
def list_profiles(
    tenant: TenantDep, store: StoreDep, namespace: Annotated[NamespaceName, Query()]
) -> ProfilesResponse:
    with store.read() as conn:
        rows = control.list_profiles(conn, org_id=tenant.org_id, namespace=namespace)
    return ProfilesResponse(
        namespace=namespace, profiles=[{"profile_id": r["profile_id"], **r["knobs"]} for r in rows]
    )


@router.post("/v1/segment-profiles:upsert", response_model=ProfilesResponse)
def upsert_profiles(
    body: ProfilesUpsert, tenant: TenantDep, store: StoreDep, writes: WritesDep, now: Now
) -> ProfilesResponse:
    """Each profile is a profile_id plus knob values (validated like overrides)."""
    rows = []
    for n, profile in enumerate(body.profiles):
        knobs = {k: v for k, v in (profile.model_extra or {}).items()}
        rows.append(
            {
                "profile_id": profile.profile_id,
                # A profile applies per request: namespace-level knobs are refused.
                "knobs": validated_config(knobs, where=f"profiles[{n}]", scope="request"),
                "updated_at_us": to_micros(now),
            }
        )
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        control.upsert_profiles(conn, org_id=tenant.org_id, namespace=body.namespace, rows=rows)
    return list_profiles(tenant, store, body.namespace)


@router.post("/v1/segment-profiles:delete", response_model=CountResponse)
def delete_profiles(body: ProfilesDelete, tenant: TenantDep, writes: WritesDep) -> CountResponse:
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        count = control.delete_profiles(
            conn, org_id=tenant.org_id, namespace=body.namespace, profile_ids=body.profile_ids
        )
    return CountResponse(namespace=body.namespace, count=count)
