"""The app factory: settings in, app out. Nothing is built at import time."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from recsys import __version__
from recsys.clock import system_clock, to_micros
from recsys.config.settings import Settings
from recsys.ranking import build_pipeline
from recsys.service.audit import DecisionRecorder
from recsys.service.auth import KeyRing, RateLimiter
from recsys.service.errors import install_error_handlers
from recsys.service.metrics import ServiceMetrics
from recsys.service.middleware import RequestContextMiddleware
from recsys.service.routes import (
    audit,
    config,
    events,
    items,
    ops,
    ranking,
    rules,
    segments,
    users,
)
from recsys.service.snapshots import SnapshotRegistry
from recsys.service.state import Clock, ServiceState
from recsys.service.writes import Writes
from recsys.store import Store

DESCRIPTION = """Multi-tenant recommendation service.

Every `/v1` call names its tenant in the `X-Org-ID` header (a UUID) and a `namespace`.
Errors always have the shape `{"code", "message", "details", "request_id"}`.
"""


def _git_commit() -> str | None:
    """The commit this code was built from, when it runs from a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Clock = system_clock,
) -> FastAPI:
    """Build the service. `store` and `clock` may be passed in (tests, the offline toolkit)."""
    settings = settings or Settings.from_env()
    owns_store = store is None
    if store is None:
        store = Store.from_url(settings.database_url, migrate=settings.auto_migrate)
    metrics = ServiceMetrics.create()
    knobs = settings.knobs
    snapshots = SnapshotRegistry(store, base_knobs=knobs, now_us=lambda: to_micros(clock()))
    state = ServiceState(
        settings=settings,
        store=store,
        clock=clock,
        metrics=metrics,
        keyring=KeyRing(settings.api_keys),
        limiter=RateLimiter(
            rate_per_minute=settings.rate_limit_rpm,
            burst=settings.rate_limit_burst,
            monotonic=time.monotonic,
        ),
        git_commit=settings.git_commit or _git_commit(),
        knobs=knobs,
        snapshots=snapshots,
        writes=Writes(store, snapshots.notify_write),
        audit=DecisionRecorder(store, sample=settings.audit_sample),
        pipeline=build_pipeline(),
        new_id=lambda: uuid.uuid4().hex,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        snapshots.start()
        state.audit.start()
        try:
            yield
        finally:
            state.audit.stop()  # flushes every pending audit record
            snapshots.stop()
        if owns_store:
            state.store.close()

    app = FastAPI(
        title="RecSys",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.recsys = state
    install_error_handlers(app)
    for module in (items, users, events, ranking, config, segments, rules, audit, ops):
        app.include_router(module.router)
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes
    )
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` (one app per worker process)."""
    return create_app(Settings.from_env())


__all__ = ["create_app", "create_app_from_env"]
