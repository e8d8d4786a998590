"""Behaviour events: batch append (idempotent by event_id), delete, list."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from recsys.clock import from_micros, to_micros
from recsys.service.deps import (
    BanditDep,
    MetricsDep,
    Now,
    PageTokensDep,
    State,
    StoreDep,
    TenantDep,
    WritesDep,
)
from recsys.service.flows.bandit import count_rewards, record_event_rewards, reward_claims
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import (
    DEFAULT_PAGE_SIZE,
    EVENT_TYPE_NAMES,
    MAX_PAGE_SIZE,
    EventType,
    Moment,
    NamespaceName,
    StorableText,
)
from recsys.service.schemas.ingest import (
    DeleteResult,
    EventOut,
    EventsBatch,
    EventsDelete,
    EventsPage,
    EventsResult,
)
from recsys.store import repositories as repo

if TYPE_CHECKING:
    from sqlalchemy import Connection

router = APIRouter(tags=["ingest"], responses=V1_ERRORS)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class _EventsBatchRequest(Request):
    """Parses and validates an events batch in one pass (`model_validate_json`, in Rust).

    FastAPI would `json.loads` the body and then validate the Python objects; here `json()`
    hands FastAPI an already validated `EventsBatch`, which its own validation returns as is.
    A body that fails goes back to the plain `json.loads` result, so FastAPI reports malformed
    JSON and invalid events exactly as it always has (same codes, positions, indexes).
    """

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json: Any = EventsBatch.model_validate_json(body)
            except ValidationError:
                self._json = json.loads(body)
        return self._json


class _EventsBatchRoute(APIRoute):
    """FastAPI's documented hook for a custom Request class; the OpenAPI entry is unchanged."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def one_pass_handler(request: Request) -> Response:
            return await handler(_EventsBatchRequest(request.scope, request.receive))

        return one_pass_handler


async def ingest_events(
    body: EventsBatch,
    tenant: TenantDep,
    writes: WritesDep,
    now: Now,
    metrics: MetricsDep,
    bandit: BanditDep,
    state: State,
) -> EventsResult:
    """Atomic: one invalid event rejects the batch (422 names its index and field) and nothing
    is written. An `event_id` already stored (or repeated in the batch) is skipped. An event
    whose `meta.decision_id` names a bandit decision of the namespace rewards it (once, by the
    event's type: BANDIT_EVENT_REWARDS), in the same transaction."""
    now_us = to_micros(now)
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for event in body.events:
        event_id = event.event_id
        if event_id is not None:
            if event_id in seen:
                continue
            seen.add(event_id)
        ts = event.ts
        rows.append(
            {
                "event_id": event_id,
                "user_id": event.user_id,
                "item_id": event.item_id,
                "type": event.type,
                "value": event.value,
                # = to_micros(ts) (ts is validated aware), in one C-level timedelta division.
                "ts_us": now_us if ts is None else (ts - _EPOCH) // _MICROSECOND,
                "meta": event.meta,
            }
        )
    org_id, namespace = tenant.org_id, body.namespace

    window_us = int(state.settings.bandit_reward_window_s * 1e6)
    claims = reward_claims(
        rows,
        rewards_by_type=state.settings.bandit_event_rewards,
        window_us=window_us,
        now_us=now_us,
    )
    rewarded: list[tuple[Any, float]] = []

    def append(conn: Connection) -> int:
        repo.ensure_namespace(conn, org_id=org_id, namespace=namespace, now_us=now_us)
        inserted = repo.insert_events(conn, org_id=org_id, namespace=namespace, rows=rows)
        if claims:  # (re)assigned: a group commit may run this function again
            rewarded[:] = record_event_rewards(
                conn,
                org_id=org_id,
                namespace=namespace,
                claims=claims,
                window_us=window_us,
                now_us=now_us,
            )
        return inserted

    # Answers only once the transaction holding these rows has committed.
    inserted = await writes.run(org_id, namespace, append, size=len(rows))
    metrics.ingested.labels("events").inc(inserted)
    count_rewards(bandit, namespace, rewarded)
    accepted = len(body.events)
    return EventsResult(
        namespace=body.namespace,
        accepted=accepted,
        inserted=inserted,
        duplicates=accepted - inserted,
        rewarded=len(rewarded),
    )


router.add_api_route(
    "/v1/events:batch",
    ingest_events,
    methods=["POST"],
    response_model=EventsResult,
    summary="Append behaviour events",
    route_class_override=_EventsBatchRoute,
)


@router.post("/v1/events:delete", response_model=DeleteResult, summary="Delete events")
def delete_events(body: EventsDelete, tenant: TenantDep, writes: WritesDep) -> DeleteResult:
    """Filters combine with AND; with none, every event of the namespace is deleted."""
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        count = repo.delete_events(
            conn,
            org_id=tenant.org_id,
            namespace=body.namespace,
            event_ids=body.event_ids,
            user_id=body.user_id,
            item_id=body.item_id,
            types=body.types,
            since_us=to_micros(body.since) if body.since else None,
            until_us=to_micros(body.until) if body.until else None,
        )
    return DeleteResult(deleted_count=count)


@router.get(
    "/v1/events",
    response_model=EventsPage,
    response_model_exclude_unset=True,
    summary="List events (cursor pagination, in ingestion order)",
)
def list_events(
    tenant: TenantDep,
    store: StoreDep,
    tokens: PageTokensDep,
    namespace: Annotated[NamespaceName, Query()],
    user_id: Annotated[StorableText | None, Query()] = None,
    item_id: Annotated[StorableText | None, Query()] = None,
    type: Annotated[list[EventType] | None, Query(description="Repeatable; code or name.")] = None,
    since: Annotated[Moment | None, Query(description="RFC3339; ts >= since")] = None,
    until: Annotated[Moment | None, Query(description="RFC3339; ts < until")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    page_token: Annotated[str | None, Query()] = None,
) -> EventsPage:
    after = tokens.decode("events", tenant.org_id, namespace, page_token, int)
    with store.read() as conn:
        rows = repo.list_events(
            conn,
            org_id=tenant.org_id,
            namespace=namespace,
            limit=limit + 1,
            after_id=after,
            user_id=user_id,
            item_id=item_id,
            types=type,
            since_us=to_micros(since) if since else None,
            until_us=to_micros(until) if until else None,
        )
    page = [
        EventOut(
            event_id=r["event_id"],
            user_id=r["user_id"],
            item_id=r["item_id"],
            type=r["type"],
            type_name=EVENT_TYPE_NAMES.get(r["type"], "custom"),
            value=r["value"],
            ts=from_micros(r["ts_us"]),
            meta=r["meta"],
        )
        for r in rows[:limit]
    ]
    if len(rows) > limit:
        return EventsPage(
            events=page,
            next_page_token=tokens.encode(
                "events", tenant.org_id, namespace, rows[limit - 1]["id"]
            ),
        )
    return EventsPage(events=page)
