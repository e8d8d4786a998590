"""Decision audit: look a decision up by id, list and search recent ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from recsys.clock import from_micros, to_micros
from recsys.service.audit import user_hash
from recsys.service.deps import State, TenantDep
from recsys.service.errors import ApiError
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import STORABLE_TEXT_PATTERN, ErrorBody, Moment, NamespaceName
from recsys.service.schemas.control import (
    AuditDelete,
    AuditSearch,
    DecisionRecord,
    DecisionsResponse,
    DecisionSummary,
)
from recsys.service.schemas.ingest import DeleteResult
from recsys.store import control

router = APIRouter(tags=["audit"], responses=V1_ERRORS)


def _summary(row: dict[str, Any]) -> DecisionSummary:
    return DecisionSummary(
        decision_id=row["decision_id"],
        namespace=row["namespace"],
        created_at=from_micros(row["created_at_us"]),
        surface=row["surface"],
        segment_id=row["segment_id"],
        config_version=row["config_version"],
        rule_ids=list(row["rule_ids"] or []),
        item_ids=[i["item_id"] for i in row["record"].get("items", [])],
    )


def _search(state: Any, org_id: str, query: AuditSearch) -> DecisionsResponse:
    state.audit.flush()  # read your own decisions
    with state.store.read() as conn:
        rows = control.search_decisions(
            conn,
            org_id=org_id,
            namespace=query.namespace,
            since_us=to_micros(query.since) if query.since else None,
            until_us=to_micros(query.until) if query.until else None,
            user_hash=user_hash(org_id, query.user_id) if query.user_id else None,
            surface=query.surface,
            rule_id=query.rule_id,
            limit=query.limit,
        )
    return DecisionsResponse(decisions=[_summary(r) for r in rows])


@router.get("/v1/audit/decisions", response_model=DecisionsResponse)
def list_decisions(
    tenant: TenantDep,
    state: State,
    namespace: Annotated[NamespaceName | None, Query()] = None,
    since: Annotated[Moment | None, Query()] = None,
    until: Annotated[Moment | None, Query()] = None,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=256, pattern=STORABLE_TEXT_PATTERN)
    ] = None,
    surface: Annotated[str | None, Query(max_length=256, pattern=STORABLE_TEXT_PATTERN)] = None,
    rule_id: Annotated[
        str | None, Query(min_length=1, max_length=256, pattern=STORABLE_TEXT_PATTERN)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DecisionsResponse:
    """Newest first."""
    query = AuditSearch(
        namespace=namespace,
        since=since,
        until=until,
        user_id=user_id,
        surface=surface,
        rule_id=rule_id,
        limit=limit,
    )
    return _search(state, tenant.org_id, query)


@router.post("/v1/audit/search", response_model=DecisionsResponse)
def search_decisions(body: AuditSearch, tenant: TenantDep, state: State) -> DecisionsResponse:
    return _search(state, tenant.org_id, body)


@router.post("/v1/audit/decisions:delete", response_model=DeleteResult)
def delete_decisions(body: AuditDelete, tenant: TenantDep, state: State) -> DeleteResult:
    """Erase audit records of a namespace: all, one user's (a data-subject request), or those
    created before `until`. Pending records are written first, so none escapes."""
    state.audit.flush()
    with state.store.write() as conn:
        deleted = control.delete_decisions(
            conn,
            org_id=tenant.org_id,
            namespace=body.namespace,
            user_hash=user_hash(tenant.org_id, body.user_id) if body.user_id else None,
            until_us=to_micros(body.until) if body.until else None,
        )
    return DeleteResult(deleted_count=deleted)


@router.get(
    "/v1/audit/decisions/{decision_id}",
    response_model=DecisionRecord,
    responses={404: {"model": ErrorBody, "description": "Unknown decision (or another org's)"}},
)
def get_decision(
    decision_id: Annotated[str, Path(min_length=1, max_length=64, pattern=STORABLE_TEXT_PATTERN)],
    tenant: TenantDep,
    state: State,
) -> DecisionRecord:
    state.audit.flush()
    with state.store.read() as conn:
        row = control.get_decision(conn, org_id=tenant.org_id, decision_id=decision_id)
    if row is None:
        raise ApiError(404, "decision_not_found", f"no decision {decision_id!r}")
    return DecisionRecord(
        decision_id=row["decision_id"],
        namespace=row["namespace"],
        created_at=from_micros(row["created_at_us"]),
        user_hash=row["user_hash"],
        surface=row["surface"],
        segment_id=row["segment_id"],
        config_version=row["config_version"],
        rule_ids=list(row["rule_ids"] or []),
        record=row["record"],
    )
