"""User ingestion: upsert, delete, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from recsys.clock import from_micros, to_micros
from recsys.service.deps import MetricsDep, Now, PageTokensDep, StoreDep, TenantDep, WritesDep
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    NamespaceName,
    StorableText,
)
from recsys.service.schemas.ingest import (
    DeleteResult,
    UpsertResult,
    UserOut,
    UsersDelete,
    UsersPage,
    UsersUpsert,
)
from recsys.store import repositories as repo

router = APIRouter(tags=["ingest"], responses=V1_ERRORS)


@router.post("/v1/users:upsert", response_model=UpsertResult, summary="Insert or replace users")
def upsert_users(
    body: UsersUpsert,
    tenant: TenantDep,
    writes: WritesDep,
    now: Now,
    metrics: MetricsDep,
) -> UpsertResult:
    """Atomic; traits are replaced as a whole. The last occurrence of a user_id wins."""
    latest = {user.user_id: user for user in body.users}
    now_us = to_micros(now)
    rows = [
        {"user_id": u.user_id, "traits": u.traits, "created_at_us": now_us, "updated_at_us": now_us}
        for u in latest.values()
    ]
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        repo.ensure_namespace(conn, org_id=tenant.org_id, namespace=body.namespace, now_us=now_us)
        repo.upsert_users(conn, org_id=tenant.org_id, namespace=body.namespace, rows=rows)
    metrics.ingested.labels("users").inc(len(rows))
    return UpsertResult(namespace=body.namespace, upserted=len(rows))


@router.post("/v1/users:delete", response_model=DeleteResult, summary="Delete users")
def delete_users(body: UsersDelete, tenant: TenantDep, writes: WritesDep) -> DeleteResult:
    """Without `user_ids`, deletes every user of the namespace (their events stay)."""
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        count = repo.delete_users(
            conn, org_id=tenant.org_id, namespace=body.namespace, user_ids=body.user_ids
        )
    return DeleteResult(deleted_count=count)


@router.get(
    "/v1/users",
    response_model=UsersPage,
    response_model_exclude_unset=True,
    summary="List users (cursor pagination, ordered by user_id)",
)
def list_users(
    tenant: TenantDep,
    store: StoreDep,
    tokens: PageTokensDep,
    namespace: Annotated[NamespaceName, Query()],
    user_id: Annotated[
        list[StorableText] | None, Query(description="Repeat to ask for several.")
    ] = None,
    segment: Annotated[StorableText | None, Query(description="Match traits.segment.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    page_token: Annotated[str | None, Query()] = None,
) -> UsersPage:
    after = tokens.decode("users", tenant.org_id, namespace, page_token, str)
    with store.read() as conn:
        rows = repo.list_users(
            conn,
            org_id=tenant.org_id,
            namespace=namespace,
            limit=limit + 1,
            after=after,
            user_ids=user_id,
            segment=segment,
        )
    page = [
        UserOut(
            user_id=r["user_id"],
            traits=r["traits"],
            created_at=from_micros(r["created_at_us"]),
            updated_at=from_micros(r["updated_at_us"]),
        )
        for r in rows[:limit]
    ]
    if len(rows) > limit:
        return UsersPage(
            users=page,
            next_page_token=tokens.encode("users", tenant.org_id, namespace, page[-1].user_id),
        )
    return UsersPage(users=page)
