"""The app factory: settings in, app out. Nothing is built at import time."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute

from recsys import __version__
from recsys.clock import system_clock, to_micros
from recsys.config.settings import Settings
from recsys.ranking import build_pipeline
from recsys.service import api_docs
from recsys.service.artifacts import ArtifactShelf
from recsys.service.audit import DecisionRecorder
from recsys.service.auth import KeyRing, RateLimiter
from recsys.service.console import pages as console_pages
from recsys.service.errors import install_error_handlers
from recsys.service.metrics import ServiceMetrics
from recsys.service.middleware import RequestContextMiddleware
from recsys.service.pagination import PageTokens
from recsys.service.routes import (
    audit,
    bandit,
    config,
    events,
    items,
    ops,
    ranking,
    rules,
    segments,
    ship,
    users,
)
from recsys.service.snapshots import SnapshotRegistry
from recsys.service.state import BanditRuntime, Clock, ServiceState
from recsys.service.writes import Writes
from recsys.store import Store
from recsys.store.secrets import page_token_keys

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


SWITCH_INTERVAL_S = 0.0005


def _tune_for_serving() -> None:
    """Start-up heap out of the collector's way; young collections less often; a shorter GIL
    switch interval.

    Everything built at start-up (modules, schemas, the engine) lives as long as the process:
    `gc.freeze()` moves it to the permanent generation, so the full collections that request
    garbage triggers walk only what requests allocated. A 500-event batch allocates a few
    thousand containers, several times the default gen-0 threshold of 700.
    """
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 10_000), gen1, gen2)
    # Threads that mostly wait on SQLite or sockets (the events writer releases the GIL for
    # every statement) get it back after at most this long when the request thread is busy,
    # rather than after the default 5 ms: the writer no longer stalls behind request parsing.
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Clock = system_clock,
    tune_process: bool = False,
    bandit_seed: int | None = None,
    bandit_ids: Callable[[], str] | None = None,
) -> FastAPI:
    """Build the service. `store` and `clock` may be passed in (tests, the offline toolkit).

    `bandit_seed` makes the bandit's random choices (and, unless `bandit_ids` supplies them, its
    decision ids) reproducible; without it they come from OS entropy.

    `tune_process` (the server's entry point sets it: one app per process) applies
    `_tune_for_serving` once the app has started; the process keeps those settings.
    """
    settings = settings or Settings.from_env()
    owns_store = store is None
    if store is None:
        store = Store.from_url(settings.database_url, migrate=settings.auto_migrate)
    metrics = ServiceMetrics.create()
    knobs = settings.knobs
    shelf = None
    if settings.snapshot_dir is not None:
        shelf = ArtifactShelf(Path(settings.snapshot_dir), store)
    snapshots = SnapshotRegistry(
        store,
        base_knobs=knobs,
        now_us=lambda: to_micros(clock()),
        shelf=shelf,
        first_wait_s=settings.first_build_wait_s,
    )

    def page_token_ring() -> dict[int, bytes]:
        with store.write() as conn:
            return page_token_keys(conn)

    state = ServiceState(
        page_tokens=PageTokens(page_token_ring),
        settings=settings,
        store=store,
        clock=clock,
        metrics=metrics,
        keyring=KeyRing(settings.api_keys),
        limiter=RateLimiter(
            rate_per_minute=settings.rate_limit_rpm,
            burst=settings.rate_limit_burst,
            monotonic=time.monotonic,
            max_buckets=settings.rate_limit_max_keys,
        ),
        git_commit=settings.git_commit or _git_commit(),
        knobs=knobs,
        snapshots=snapshots,
        writes=Writes(store, snapshots.notify_write, on_events=snapshots.notify_events),
        audit=DecisionRecorder(
            store,
            sample=settings.audit_sample,
            retention_days=settings.audit_retention_days,
            now_us=lambda: to_micros(clock()),
        ),
        pipeline=build_pipeline(),
        new_id=lambda: uuid.uuid4().hex,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        snapshots.start()
        state.audit.start()
        if tune_process:
            _tune_for_serving()
        try:
            yield
        finally:
            state.writes.close()  # commits every queued write first
            state.audit.stop()  # flushes every pending audit record
            snapshots.stop()
        if owns_store:
            state.store.close()

    app = FastAPI(
        title="RecSys",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # operationId = the handler's name (`recommendations`, `list_items`): the SDK's method
        # names come from the committed document.
        generate_unique_id_function=_operation_id,
        # Served by api_docs from local assets (FastAPI's own pages load them from a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.recsys = state
    app.state.bandit = BanditRuntime.create(
        settings, metrics.registry, seed=bandit_seed, new_id=bandit_ids
    )
    install_error_handlers(app)
    api_docs.install(app, settings, console=True)
    console_pages.install(app)
    routers = (items, users, events, ranking, config, segments, rules, audit, bandit, ship, ops)
    for module in routers:
        app.include_router(module.router)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        access_log=settings.access_log,
    )
    return app


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` (one app per worker process)."""
    return create_app(Settings.from_env(), tune_process=True)


__all__ = ["create_app", "create_app_from_env"]
