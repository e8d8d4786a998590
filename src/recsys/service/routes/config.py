"""Per-namespace recommendation config (versioned, history, rollback), presets, event types."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from recsys.clock import from_micros, to_micros
from recsys.policy.presets import PRESETS
from recsys.service.deps import Now, State, StoreDep, TenantDep, WritesDep
from recsys.service.flows.control import rollback_config as rollback_to
from recsys.service.flows.control import validated_config
from recsys.service.routes import V1_ERRORS
from recsys.service.schemas.common import ErrorBody, Moment, NamespaceName
from recsys.service.schemas.control import (
    ConfigHistory,
    ConfigMetadata,
    ConfigResponse,
    ConfigRollback,
    ConfigUpdate,
    ConfigVersion,
    EventTypeOut,
    EventTypesResponse,
    EventTypesUpsert,
    Preset,
    PresetsResponse,
)
from recsys.signals.event_types import DEFAULT_WEIGHTS, TYPE_NAMES
from recsys.store import control

router = APIRouter(tags=["config"], responses=V1_ERRORS)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown version"}
}


def _metadata(row: dict[str, Any] | None) -> ConfigMetadata:
    if row is None:
        return ConfigMetadata(updated_at=None, updated_by=None, notes=None)
    return ConfigMetadata(
        updated_at=from_micros(row["created_at_us"]),
        updated_by=row["author"],
        notes=row["notes"],
        rollback_of=row["rollback_of"],
    )


def _response(state: Any, namespace: str, row: dict[str, Any] | None) -> ConfigResponse:
    explicit = validated_config(row["config"]) if row else {}
    effective = state.knobs.with_overrides(explicit).as_dict()
    return ConfigResponse(
        namespace=namespace,
        config=effective,
        explicit=explicit,
        version=row["version"] if row else 0,
        metadata=_metadata(row),
    )


# The config endpoints read and write in the threadpool from an `async def`: one hop to a
# thread and back. A plain `def` endpoint takes two (FastAPI validates its response in the
# threadpool as well), and under load each hop waits behind the rankings on the event loop.


@router.get("/v1/admin/recommendation/config", response_model=ConfigResponse)
async def get_config(
    tenant: TenantDep,
    state: State,
    store: StoreDep,
    namespace: Annotated[NamespaceName, Query()],
    as_of: Annotated[
        Moment | None,
        Query(description="The version in force at this instant (RFC 3339) instead of now."),
    ] = None,
) -> ConfigResponse:
    """Every knob's effective value for the namespace, the version and who set it."""

    def read() -> dict[str, Any] | None:
        with store.read() as conn:
            at_us = to_micros(as_of) if as_of is not None else None
            return control.config_in_force(
                conn, org_id=tenant.org_id, namespace=namespace, at_us=at_us
            )

    return _response(state, namespace, await run_in_threadpool(read))


@router.post("/v1/admin/recommendation/config", response_model=ConfigResponse)
async def set_config(
    body: ConfigUpdate, tenant: TenantDep, state: State, writes: WritesDep, now: Now
) -> ConfigResponse:
    """Store a new version. Knobs left out take their defaults; rankings use it within 2 s."""
    config = validated_config(body.config)

    def write() -> dict[str, Any] | None:
        with writes.transaction(tenant.org_id, body.namespace) as conn:
            control.insert_config(
                conn,
                org_id=tenant.org_id,
                namespace=body.namespace,
                config=config,
                author=body.author,
                notes=body.notes,
                now_us=to_micros(now),
            )
            return control.current_config(conn, org_id=tenant.org_id, namespace=body.namespace)

    return _response(state, body.namespace, await run_in_threadpool(write))


@router.get("/v1/admin/recommendation/config/history", response_model=ConfigHistory)
def config_history(
    tenant: TenantDep,
    store: StoreDep,
    namespace: Annotated[NamespaceName, Query()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ConfigHistory:
    """Versions, newest first."""
    with store.read() as conn:
        rows = control.config_history(conn, org_id=tenant.org_id, namespace=namespace, limit=limit)
    return ConfigHistory(
        namespace=namespace,
        versions=[
            ConfigVersion(version=r["version"], config=r["config"], metadata=_metadata(r))
            for r in rows
        ],
    )


@router.post(
    "/v1/admin/recommendation/config/rollback", response_model=ConfigResponse, responses=NOT_FOUND
)
def rollback_config(
    body: ConfigRollback, tenant: TenantDep, state: State, writes: WritesDep, now: Now
) -> ConfigResponse:
    """Restore an earlier version's config as a new version (history is never rewritten)."""
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        row = rollback_to(
            conn,
            org_id=tenant.org_id,
            namespace=body.namespace,
            version=body.version,
            author=body.author,
            now_us=to_micros(now),
        )
    return _response(state, body.namespace, row)


@router.get("/v1/admin/recommendation/presets", response_model=PresetsResponse)
def presets(tenant: TenantDep) -> PresetsResponse:
    """Named knob bundles to start a namespace config from."""
    return PresetsResponse(presets=[Preset(name=n, description=d, config=c) for n, d, c in PRESETS])


@router.get("/v1/event-types", response_model=EventTypesResponse)
def get_event_types(
    tenant: TenantDep, store: StoreDep, namespace: Annotated[NamespaceName, Query()]
) -> EventTypesResponse:
    """The five event types with the namespace's weights (built-in defaults where unset)."""
    with store.read() as conn:
        stored = {
            r["type"]: r
            for r in control.list_event_types(conn, org_id=tenant.org_id, namespace=namespace)
        }
    types = []
    for code, name in enumerate(TYPE_NAMES):
        row = stored.get(code)
        types.append(
            EventTypeOut(
                type=code,
                name=row["name"] if row else name,
                weight=row["weight"] if row else DEFAULT_WEIGHTS[code],
                halflife_days=row["halflife_days"] if row else None,
                active=row["active"] if row else True,
                stored=row is not None,
            )
        )
    return EventTypesResponse(namespace=namespace, types=types)


@router.post("/v1/event-types:upsert", response_model=EventTypesResponse)
def upsert_event_types(
    body: EventTypesUpsert, tenant: TenantDep, store: StoreDep, writes: WritesDep, now: Now
) -> EventTypesResponse:
    """Set weight, half-life and active flag per type; popularity, profiles and
    co-visitation are rebuilt with them."""
    rows = [
        {
            "type": t.type,
            "name": t.name or TYPE_NAMES[t.type],
            "weight": t.weight,
            "halflife_days": t.halflife_days,
            "active": t.active,
            "updated_at_us": to_micros(now),
        }
        for t in {t.type: t for t in body.types}.values()
    ]
    with writes.transaction(tenant.org_id, body.namespace) as conn:
        control.upsert_event_types(conn, org_id=tenant.org_id, namespace=body.namespace, rows=rows)
    return get_event_types(tenant, store, body.namespace)
