"""Catalogue ingestion: upsert, delete, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from recsys.clock import from_micros, to_micros
from recsys.service.deps import MetricsDep, Now, PageTokensDep, StoreDep, TenantDep, WritesDep
from recsys.service.errors import ApiError
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    NamespaceName,
    StorableText,
)
from recsys.service.schemas.ingest import (
    DeleteResult,
    ItemIn,
    ItemOut,
    ItemsDelete,
    ItemsPage,
    ItemsUpsert,
    UpsertResult,
)
from recsys.store import repositories as repo

router = APIRouter(tags=["ingest"], responses=V1_ERRORS)


def _check_embeddings(items: list[ItemIn], namespace_dim: int | None) -> int | None:
    """Return the batch's embedding dimension; 422 naming the first item that disagrees."""
    expected = namespace_dim
    for index, item in enumerate(items):
        if item.embedding is None:
            continue
        if expected is None:
            expected = len(item.embedding)
        elif len(item.embedding) != expected:
            raise ApiError(
                422,
                "embedding_dimension_mismatch",
                f"items[{index}].embedding has {len(item.embedding)} dimensions; "
                f"this namespace uses {expected}",
                {
                    "errors": [
                        {
                            "loc": f"items[{index}].embedding",
                            "index": index,
                            "field": "embedding",
                            "message": f"expected {expected} dimensions",
                        }
                    ],
                    "expected_dim": expected,
                },
            )
    return expected


def _item_row(item: ItemIn, now_us: int) -> dict[str, object]:
    return {
        "item_id": item.item_id,
        "available": item.available,
        "price": item.price,
        "brand": item.brand,
        "category": item.category,
        "category_path": item.category_path,
        "tags": item.tags,
        "props": item.props,
        "embedding": item.embedding,
        "title": item.title,
        "description": item.description,
        "created_at_us": to_micros(item.created_at) if item.created_at else now_us,
        "updated_at_us": now_us,
    }


@router.post("/v1/items:upsert", response_model=UpsertResult, summary="Insert or replace items")
async def upsert_items(
    body: ItemsUpsert,
    tenant: TenantDep,
    writes: WritesDep,
    now: Now,
    metrics: MetricsDep,
) -> UpsertResult:
    """Atomic: one invalid item rejects the batch. Re-sending replaces, never duplicates."""
    # Last occurrence of an id wins, as if the items had been sent one by one.
    latest = {item.item_id: item for item in body.items}
    batch = list(latest.values())
    now_us = to_micros(now)
    org, ns = tenant.org_id, body.namespace

    def write() -> None:
        # In the threadpool (one hop; see routes/config.py).
        with writes.transaction(tenant.org_id, ns) as conn:
            repo.ensure_namespace(conn, org_id=org, namespace=ns, now_us=now_us)
            namespace_dim = repo.get_embedding_dim(conn, org_id=org, namespace=ns)
            # Checked against the full batch in request order so the error names the caller's index.
            batch_dim = _check_embeddings(body.items, namespace_dim)
            if namespace_dim is None and batch_dim is not None:
                claimed = repo.claim_embedding_dim(
                    conn, org_id=org, namespace=ns, dim=batch_dim, now_us=now_us
                )
                _check_embeddings(body.items, claimed)
            explicit = [_item_row(i, now_us) for i in batch if i.created_at is not None]
            implicit = [_item_row(i, now_us) for i in batch if i.created_at is None]
            repo.upsert_items(
                conn, org_id=org, namespace=ns, rows=explicit, replace_created_at=True
            )
            repo.upsert_items(
                conn, org_id=org, namespace=ns, rows=implicit, replace_created_at=False
            )

    await run_in_threadpool(write)
    metrics.ingested.labels("items").inc(len(batch))
    return UpsertResult(namespace=ns, upserted=len(batch))


@router.post("/v1/items:delete", response_model=DeleteResult, summary="Delete items")
def delete_items(body: ItemsDelete, tenant: TenantDep, writes: WritesDep) -> DeleteResult:
    """Without `item_ids`, deletes the whole catalogue of the namespace."""
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        count = repo.delete_items(
            conn, org_id=tenant.org_id, namespace=body.namespace, item_ids=body.item_ids
        )
    return DeleteResult(deleted_count=count)


@router.get(
    "/v1/items",
    response_model=ItemsPage,
    response_model_exclude_unset=True,
    summary="List items (cursor pagination, ordered by item_id)",
)
def list_items(
    tenant: TenantDep,
    store: StoreDep,
    tokens: PageTokensDep,
    namespace: Annotated[NamespaceName, Query()],
    item_id: Annotated[
        list[StorableText] | None, Query(description="Repeat to ask for several.")
    ] = None,
    category: Annotated[StorableText | None, Query()] = None,
    brand: Annotated[StorableText | None, Query()] = None,
    available: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    page_token: Annotated[str | None, Query()] = None,
) -> ItemsPage:
    after = tokens.decode("items", tenant.org_id, namespace, page_token, str)
    with store.read() as conn:
        rows = repo.list_items(
            conn,
            org_id=tenant.org_id,
            namespace=namespace,
            limit=limit + 1,
            after=after,
            item_ids=item_id,
            category=category,
            brand=brand,
            available=available,
        )
    page = [
        ItemOut(
            item_id=r["item_id"],
            available=r["available"],
            price=r["price"],
            brand=r["brand"],
            category=r["category"],
            category_path=r["category_path"],
            tags=r["tags"],
            props=r["props"],
            embedding=r["embedding"],
            title=r["title"],
            description=r["description"],
            created_at=from_micros(r["created_at_us"]),
            updated_at=from_micros(r["updated_at_us"]),
        )
        for r in rows[:limit]
    ]
    if len(rows) > limit:
        return ItemsPage(
            items=page,
            next_page_token=tokens.encode("items", tenant.org_id, namespace, page[-1].item_id),
        )
    return ItemsPage(items=page)
