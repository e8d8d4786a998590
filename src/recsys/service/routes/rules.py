"""Merchandising rules (PIN / BLOCK / BOOST), their dry run, and manual overrides."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from recsys.clock import from_micros, to_micros
from recsys.policy.rules import override_rule
from recsys.service.deps import Now, State, StoreDep, TenantDep, WritesDep
from recsys.service.errors import ApiError
from recsys.service.flows.control import dry_run, override_status, rule_row
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import (
    MAX_SURFACE_LENGTH,
    STORABLE_TEXT_PATTERN,
    ErrorBody,
    NamespaceName,
)
from recsys.service.schemas.control import (
    OverrideIn,
    OverrideOut,
    OverridesResponse,
    RuleDryRun,
    RuleDryRunResponse,
    RuleIn,
    RuleOut,
    RulesResponse,
)
from recsys.store import control

router = APIRouter(tags=["rules"], responses=V1_ERRORS)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown id"}
}
RuleId = Annotated[str, Path(min_length=1, max_length=64, pattern=STORABLE_TEXT_PATTERN)]
SurfaceFilter = Annotated[
    str | None, Query(max_length=MAX_SURFACE_LENGTH, pattern=STORABLE_TEXT_PATTERN)
]


def _out(row: dict[str, Any]) -> RuleOut:
    return RuleOut(
        **{
            k: row[k]
            for k in (
                "rule_id",
                "namespace",
                "surface",
                "name",
                "action",
                "target_type",
                "target_key",
                "boost_value",
                "position",
                "segment_id",
                "priority",
                "enabled",
                "source",
            )
        },
        item_ids=list(row["item_ids"] or []),
        valid_from=from_micros(row["valid_from_us"]) if row["valid_from_us"] is not None else None,
        valid_until=from_micros(row["valid_until_us"])
        if row["valid_until_us"] is not None
        else None,
        created_at=from_micros(row["created_at_us"]),
        updated_at=from_micros(row["updated_at_us"]),
    )


@router.post("/v1/admin/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, tenant: TenantDep, writes: WritesDep, now: Now) -> RuleOut:
    row = rule_row(body, str(uuid.uuid4()), to_micros(now))
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        control.insert_rule(conn, org_id=tenant.org_id, row=row)
    return _out(row)


@router.get("/v1/admin/rules", response_model=RulesResponse)
def list_rules(
    tenant: TenantDep,
    store: StoreDep,
    namespace: Annotated[NamespaceName | None, Query()] = None,
    surface: SurfaceFilter = None,
    action: Annotated[str | None, Query(pattern="^(PIN|BLOCK|BOOST)$")] = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> RulesResponse:
    with store.read() as conn:
        rows = control.list_rules(
            conn,
            org_id=tenant.org_id,
            namespace=namespace,
            surface=surface,
            action=action,
            enabled=enabled,
        )
    return RulesResponse(rules=[_out(r) for r in rows])


@router.get("/v1/admin/rules/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
def get_rule(rule_id: RuleId, tenant: TenantDep, store: StoreDep) -> RuleOut:
    with store.read() as conn:
        row = control.get_rule(conn, org_id=tenant.org_id, rule_id=rule_id)
    if row is None:
        raise ApiError(404, "rule_not_found", f"no rule {rule_id!r}")
    return _out(row)


@router.put("/v1/admin/rules/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
def replace_rule(
    rule_id: RuleId, body: RuleIn, tenant: TenantDep, store: StoreDep, writes: WritesDep, now: Now
) -> RuleOut:
    with store.read() as conn:
        current = control.get_rule(conn, org_id=tenant.org_id, rule_id=rule_id)
    if current is None:
        raise ApiError(404, "rule_not_found", f"no rule {rule_id!r}")
    row = rule_row(body, rule_id, to_micros(now), created_at_us=current["created_at_us"])
    row["source"] = current["source"]
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        if not control.replace_rule(conn, org_id=tenant.org_id, rule_id=rule_id, row=row):
            raise ApiError(404, "rule_not_found", f"no rule {rule_id!r}")
    if current["namespace"] != body.namespace:
        writes.on_commit(tenant.org_id, current["namespace"])
    return _out(row)


@router.delete("/v1/admin/rules/{rule_id}", status_code=204, responses=NOT_FOUND)
def delete_rule(rule_id: RuleId, tenant: TenantDep, store: StoreDep, writes: WritesDep) -> Response:
    with store.read() as conn:
        current = control.get_rule(conn, org_id=tenant.org_id, rule_id=rule_id)
    if current is None:
        raise ApiError(404, "rule_not_found", f"no rule {rule_id!r}")
    with writes.transaction(tenant.org_id, current["namespace"]) as conn:
        control.delete_rule(conn, org_id=tenant.org_id, rule_id=rule_id)
    return Response(status_code=204)


@router.post("/v1/admin/rules/dry-run", response_model=RuleDryRunResponse)
def dry_run_rule(body: RuleDryRun, tenant: TenantDep, state: State, now: Now) -> RuleDryRunResponse:
    """The list for a sample request without and with the proposed rule; nothing is stored."""
    return dry_run(state, tenant.org_id, body, now)


# --- manual overrides -------------------------------------------------------------------------


def _override_out(row: dict[str, Any], now_us: int) -> OverrideOut:
    return OverrideOut(
        override_id=row["override_id"],
        rule_id=row["rule_id"],
        namespace=row["namespace"],
        surface=row["surface"],
        item_id=row["item_id"],
        action=row["action"],
        boost_value=row["boost_value"],
        expires_at=from_micros(row["expires_at_us"]) if row["expires_at_us"] is not None else None,
        notes=row["notes"],
        created_by=row["created_by"],
        created_at=from_micros(row["created_at_us"]),
        cancelled_at=from_micros(row["cancelled_at_us"])
        if row["cancelled_at_us"] is not None
        else None,
        status=override_status(row, now_us),  # type: ignore[arg-type]
    )


@router.post("/v1/admin/manual_overrides", response_model=OverrideOut, status_code=201)
def create_override(
    body: OverrideIn, tenant: TenantDep, writes: WritesDep, now: Now
) -> OverrideOut:
    """Boost or suppress one item until `expires_at`; compiles to a BOOST or BLOCK rule."""
    now_us = to_micros(now)
    expires_us = to_micros(body.expires_at) if body.expires_at else None
    if expires_us is not None and expires_us <= now_us:
        raise ApiError(
            422,
            "validation_error",
            "expires_at must be in the future",
            {"errors": [{"loc": "expires_at", "message": "must be in the future"}]},
        )
    rule_id, override_id = str(uuid.uuid4()), str(uuid.uuid4())
    row = {
        "override_id": override_id,
        "namespace": body.namespace,
        "surface": body.surface,
        "item_id": body.item_id,
        "action": body.action,
        "boost_value": body.boost_value,
        "expires_at_us": expires_us,
        "notes": body.notes,
        "created_by": body.created_by,
        "created_at_us": now_us,
        "cancelled_at_us": None,
        "rule_id": rule_id,
    }
    rule = override_rule(
        rule_id=rule_id,
        namespace=body.namespace,
        surface=body.surface,
        item_id=body.item_id,
        action=body.action,
        boost_value=body.boost_value,
        expires_at_us=expires_us,
        created_at_us=now_us,
    )
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        control.insert_rule(conn, org_id=tenant.org_id, row=rule)
        control.insert_override(conn, org_id=tenant.org_id, row=row)
    return _override_out(row, now_us)


@router.get("/v1/admin/manual_overrides", response_model=OverridesResponse)
def list_overrides(
    tenant: TenantDep,
    store: StoreDep,
    now: Now,
    namespace: Annotated[NamespaceName | None, Query()] = None,
    surface: SurfaceFilter = None,
    status: Annotated[str | None, Query(pattern="^(active|cancelled|expired)$")] = None,
) -> OverridesResponse:
    now_us = to_micros(now)
    with store.read() as conn:
        rows = control.list_overrides(
            conn, org_id=tenant.org_id, namespace=namespace, surface=surface
        )
    out = [_override_out(r, now_us) for r in rows]
    return OverridesResponse(overrides=[o for o in out if status is None or o.status == status])


@router.post(
    "/v1/admin/manual_overrides/{override_id}/cancel",
    response_model=OverrideOut,
    responses=NOT_FOUND,
)
def cancel_override(
    override_id: RuleId, tenant: TenantDep, store: StoreDep, writes: WritesDep, now: Now
) -> OverrideOut:
    """Stop an override now (idempotent); its rule is disabled."""
    with store.read() as conn:
        current = control.get_override(conn, org_id=tenant.org_id, override_id=override_id)
    if current is None:
        raise ApiError(404, "override_not_found", f"no manual override {override_id!r}")
    with writes.transaction(tenant.org_id, current["namespace"]) as conn:
        row = control.cancel_override(
            conn, org_id=tenant.org_id, override_id=override_id, now_us=to_micros(now)
        )
    assert row is not None
    return _override_out(row, to_micros(now))
