"""Decision audit: sampled records written off the request path, in batches, by one thread;
flushed on graceful shutdown and before audit reads (so a decision is readable right away).
The same thread purges records older than the retention period."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from recsys.service.logs import log_failure
from recsys.store import Store
from recsys.store.control import insert_decisions, purge_decisions

log = logging.getLogger("recsys.audit")

DAY_US = 86_400_000_000
PURGE_INTERVAL_S = 3600.0  # retention is in days: an hourly sweep is plenty


def user_hash(org_id: str, user_id: str | None) -> str | None:
    """Audit records never hold the user id itself; searches hash the id the same way."""
    if not user_id:
        return None
    return hashlib.sha256(f"{org_id}\0{user_id}".encode()).hexdigest()


class DecisionRecorder:
    def __init__(
        self,
        store: Store,
        *,
        sample: float,
        flush_interval_s: float = 0.5,
        batch_size: int = 200,
        retention_days: float = 0.0,
        now_us: Callable[[], int] | None = None,
        purge_interval_s: float = PURGE_INTERVAL_S,
    ) -> None:
        self.store = store
        self.sample = sample
        self.retention_days = retention_days
        self.now_us = now_us or (lambda: time.time_ns() // 1000)
        self.purge_interval_s = purge_interval_s
        self._next_purge = 0.0  # monotonic seconds: the first sweep runs at start
        self.flush_interval_s = flush_interval_s
        self.batch_size = batch_size
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sampled(self, decision_id: str) -> bool:
        """Deterministic sampling: the decision id (random hex) decides, not a global RNG."""
        if self.sample >= 1.0:
            return True
        if self.sample <= 0.0:
            return False
        return int(decision_id[:8], 16) / 0xFFFFFFFF < self.sample

    def record(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(row)
            full = len(self._pending) >= self.batch_size
        if full:
            self._wake.set()

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                with self.store.write() as conn:
                    insert_decisions(conn, rows=rows)
            except Exception:
                # One bad record must not take the batch down with it: write them one by one.
                log.exception("could not write %d audit records; retrying one by one", len(rows))
                for row in rows:
                    try:
                        with self.store.write() as conn:
                            insert_decisions(conn, rows=[row])
                    except Exception:
                        log.exception("audit record %s dropped", row.get("decision_id"))

    def purge(self) -> int:
        """Delete records older than the retention period (none when it is 0)."""
        if self.retention_days <= 0:
            return 0
        before = self.now_us() - int(self.retention_days * DAY_US)
        with self.store.write() as conn:
            deleted = purge_decisions(conn, before_us=before)
        if deleted:
            log.info("purged %d audit records older than %g days", deleted, self.retention_days)
        return deleted

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self.flush()
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + self.purge_interval_s
                try:
                    self.purge()
                except Exception:
                    log_failure(log, "audit retention purge failed")


__all__ = ["DecisionRecorder", "user_hash"]
