"""Annotated dependency aliases: the one place routes get tenancy, the store and the clock.

Every dependency here is `async def` although none awaits: they only read attributes or check
headers, and FastAPI runs a plain `def` dependency in the threadpool (one thread hop each, per
request). Nothing here may block.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from recsys.service.auth import retry_after_header
from recsys.service.errors import ApiError
from recsys.service.metrics import ServiceMetrics
from recsys.service.pagination import PageTokens
from recsys.service.state import BanditRuntime, ServiceState
from recsys.service.writes import Writes
from recsys.store import Store

log = logging.getLogger("recsys.service")


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.recsys
    return state


State = Annotated[ServiceState, Depends(get_state)]


async def get_store(state: State) -> Store:
    return state.store


async def get_now(state: State) -> datetime:
    return state.clock()


async def get_metrics(state: State) -> ServiceMetrics:
    return state.metrics


async def get_writes(state: State) -> Writes:
    return state.writes


async def get_page_tokens(state: State) -> PageTokens:
    return state.page_tokens


async def get_bandit(request: Request) -> BanditRuntime:
    runtime: BanditRuntime = request.app.state.bandit
    return runtime


StoreDep = Annotated[Store, Depends(get_store)]
BanditDep = Annotated[BanditRuntime, Depends(get_bandit)]
PageTokensDep = Annotated[PageTokens, Depends(get_page_tokens)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
WritesDep = Annotated[Writes, Depends(get_writes)]
Now = Annotated[datetime, Depends(get_now)]


@dataclass(frozen=True)
class Tenant:
    """The org a request acts for, after authentication and rate limiting."""

    org_id: str


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def get_tenant(
    state: State,
    x_org_id: Annotated[
        str | None, Header(alias="X-Org-ID", description="Tenant (org) UUID.")
    ] = None,
    x_api_key: Annotated[
        str | None, Header(alias="X-API-Key", description="API key, when auth is enabled.")
    ] = None,
    authorization: Annotated[
        str | None, Header(description="`Bearer <api key>`, an alternative to X-API-Key.")
    ] = None,
) -> Tenant:
    key = None
    if state.settings.auth_enabled:
        presented = x_api_key or _bearer(authorization)
        if not presented:
            raise ApiError(401, "missing_api_key", "send an API key in X-API-Key or Authorization")
        key = state.keyring.find(presented)
        if key is None:
            raise ApiError(401, "invalid_api_key", "the API key is not recognised")
    if x_org_id is None or not x_org_id.strip():
        raise ApiError(400, "missing_org_id", "the X-Org-ID header is required on /v1 endpoints")
    try:
        org_id = str(uuid.UUID(x_org_id.strip()))
    except ValueError as exc:
        raise ApiError(
            400, "invalid_org_id", "X-Org-ID must be a UUID", {"x_org_id": x_org_id[:64]}
        ) from exc
    if key is not None and not key.allows(org_id):
        raise ApiError(403, "org_not_allowed", "this API key may not act for that org")
    if state.limiter.enabled:
        bucket = f"key:{key.key_hash}" if key is not None else f"org:{org_id}"
        wait = state.limiter.acquire(bucket)
        if wait > 0:
            # the org, never the key itself
            log.info("rate limit: org %s refused, retry in %.2f s", org_id, wait)
            raise ApiError(
                429,
                "rate_limited",
                "rate limit exceeded; retry later",
                {"retry_after_seconds": round(wait, 3)},
                headers={"Retry-After": retry_after_header(wait)},
            )
    return Tenant(org_id=org_id)


TenantDep = Annotated[Tenant, Depends(get_tenant)]

__all__ = [
    "BanditDep",
    "MetricsDep",
    "Now",
    "PageTokensDep",
    "State",
    "StoreDep",
    "Tenant",
    "TenantDep",
    "WritesDep",
]
