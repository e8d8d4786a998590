"""Write transactions that tell the snapshot registry once they have committed.

`transaction()` is one request's own transaction. `run()` is for hot, small writes (event
batches): on SQLite one writer thread per process runs them, and whatever has queued while it
was committing goes into its next transaction together (group commit), one unit of work after
the other, each all-or-nothing. The caller's await returns only after that transaction has
committed, so an acknowledged write is as durable as one committed by `transaction()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from recsys.store import Store
from recsys.store.engine import SqliteWriteLane, sqlite_file_database

T = TypeVar("T")

log = logging.getLogger("recsys.service")

# A group stops taking queued work at this many jobs, or this much total `size` (rows): the
# first caller's wait stays bounded.
MAX_GROUP_JOBS = 64
MAX_GROUP_SIZE = 20_000


class Writes:
    def __init__(
        self,
        store: Store,
        on_commit: Callable[[str, str], None],
        on_events: Callable[[str, str], None] | None = None,
    ) -> None:
        """`on_commit` hears of every committed transaction, `on_events` (default: the same) of
        the hot writes of `run()` instead: listeners may take those more lazily."""
        self.store = store
        self.on_commit = on_commit
        self.on_events = on_events or on_commit
        self._writer: _GroupWriter | None = None
        self._writer_lock = threading.Lock()
        self._closed = False

    @contextmanager
    def transaction(self, org_id: str, namespace: str) -> Iterator[Connection]:
        """One atomic write to a namespace; listeners hear of it only after the commit."""
        with self.store.write() as conn:
            yield conn
        self.on_commit(org_id, namespace)

    async def run(
        self, org_id: str, namespace: str, work: Callable[[Connection], T], *, size: int = 1
    ) -> T:
        """`work(conn)` in a write transaction; returns its result once that has committed.

        All or nothing for `work`: if it raises, none of its statements is kept and the
        exception comes out here. On SQLite it may share its transaction with other callers'
        work (it must only touch its own namespace's rows, and tolerate running again after
        another job of the group failed). `size` (e.g. rows written) bounds how much work one
        group takes. Elsewhere than on a SQLite file (PostgreSQL) it is `transaction()` in the
        threadpool: there, writers of different namespaces commit in parallel.
        """
        if not sqlite_file_database(self.store.engine):
            return await run_in_threadpool(self._run_alone, org_id, namespace, work)
        job: _Job[T] = _Job(org_id, namespace, work, max(size, 1), asyncio.get_running_loop())
        self._group_writer().submit(job)
        return await job.future

    def close(self) -> None:
        """Finish the queued work and stop the writer thread (idempotent)."""
        with self._writer_lock:
            self._closed = True
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()

    def _run_alone(self, org_id: str, namespace: str, work: Callable[[Connection], T]) -> T:
        with self.store.write() as conn:
            result = work(conn)
        self.on_events(org_id, namespace)
        return result

    def _group_writer(self) -> _GroupWriter:
        writer = self._writer
        if writer is None:
            with self._writer_lock:
                if self._closed:
                    raise RuntimeError("writes are closed")
                if self._writer is None:
                    self._writer = _GroupWriter(self.store, self.on_events)
                writer = self._writer
        return writer


@dataclass(eq=False)
class _Job(Generic[T]):
    org_id: str
    namespace: str
    work: Callable[[Connection], T]
    size: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T] = field(init=False)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()

    def succeed(self, result: Any) -> None:
        self._resolve(_set_result, result)

    def fail(self, exc: BaseException) -> None:
        self._resolve(_set_exception, exc)

    def _resolve(self, setter: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            self.loop.call_soon_threadsafe(setter, self.future, value)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class _JobFailed(Exception):
    """Aborts a group's transaction because one job raised; the others go again without it."""


_STOP = object()


class _GroupWriter:
    """One thread, one SQLite write transaction at a time, each holding every job queued."""

    def __init__(self, store: Store, on_commit: Callable[[str, str], None]) -> None:
        self.store = store
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._state_lock = threading.Lock()
        self._stopped = False
        self._lane = SqliteWriteLane(store.engine)
        self._thread = threading.Thread(target=self._loop, name="recsys-writer", daemon=True)
        self._thread.start()

    def submit(self, job: _Job[Any]) -> None:
        with self._state_lock:
            if not self._stopped:
                self._queue.put(job)
                return
        job.fail(RuntimeError("writes are closed"))

    def stop(self) -> None:
        """Let the thread commit what is queued, then end it."""
        with self._state_lock:
            if self._stopped:
                return
            self._stopped = True
            self._queue.put(_STOP)
        self._thread.join()
        self._lane.close()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            size = first.size
            while len(group) < MAX_GROUP_JOBS and size < MAX_GROUP_SIZE:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                group.append(job)
                size += job.size
            try:
                self._commit(group)
            except BaseException as exc:  # never let the thread die with callers waiting
                log.exception("group commit failed")
                for job in group:
                    job.fail(exc)

    def _commit(self, group: list[_Job[Any]]) -> None:
        while group:
            results: list[Any] = []
            failed: tuple[int, BaseException] | None = None
            try:
                with self._lane.transaction() as conn:
                    for index, job in enumerate(group):
                        try:
                            results.append(job.work(conn))
                        except BaseException as exc:
                            failed = (index, exc)
                            raise _JobFailed from exc
            except _JobFailed:
                # All of it rolled back: the job that raised fails, the others run again.
                assert failed is not None
                index, error = failed
                group.pop(index).fail(error)
                continue
            # The transaction has committed (an error in BEGIN or COMMIT propagates: nothing of
            # the group was kept, and _loop fails every job).
            for key in dict.fromkeys((job.org_id, job.namespace) for job in group):
                try:
                    self.on_commit(*key)
                except Exception:  # a listener must not fail writes that have committed
                    log.exception("on_commit listener failed")
            for job, result in zip(group, results, strict=True):
                job.succeed(result)
            return


__all__ = ["MAX_GROUP_JOBS", "Writes"]
