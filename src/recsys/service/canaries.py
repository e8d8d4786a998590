"""Which canaries run: a per-process cache of a tiny table, asked by the ranking hot path."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from recsys.store import Store
from recsys.store import canaries as canary_store
from recsys.store.errors import STORE_ERRORS, store_unavailable
from recsys.store.repositories import Row

log = logging.getLogger("recsys.ship")


class CanaryBoard:
    """Running canaries by (org, namespace, surface), read from the store at most every
    `refresh_s` seconds (and at once after this process starts or ends one): the ranking hot
    path asks on every request, so it must not query. Another worker's start or end shows here
    within `refresh_s`; decisions served in between are still recorded and counted, and a look
    on an ended canary does nothing."""

    def __init__(self, refresh_s: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self._running: dict[tuple[str, str, str], Row] = {}

    def running(self, store: Store, org_id: str, namespace: str, surface: str) -> Row | None:
        now = self._monotonic()
        with self._lock:
            stale = self._loaded_at is None or now - self._loaded_at >= self._refresh_s
        if stale:
            try:
                with store.read() as conn:
                    rows = canary_store.running_canaries(conn)
            except STORE_ERRORS as exc:
                if not store_unavailable(exc):
                    raise
                # Recommendations still serve from their snapshot while the store is away:
                # keep the last known canaries and try again after `refresh_s`.
                log.warning("running canaries not refreshed: store unavailable")
                with self._lock:
                    self._loaded_at = now
            else:
                with self._lock:
                    self._running = {(r["org_id"], r["namespace"], r["surface"]): r for r in rows}
                    self._loaded_at = now
        with self._lock:
            return self._running.get((org_id, namespace, surface))

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None


__all__ = ["CanaryBoard"]
