"""Engine construction for the two supported stores: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger("recsys.store")

SQLITE_BEGIN_OPTION = "recsys_sqlite_begin"
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000
SQLITE_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def _json_text(value: Any) -> str:
    """JSON columns' text, the same on both stores. orjson rather than the standard library:
    the audit writer stores a JSON document per recommendation, and encoding them was most of
    its time under load. Reads keep the standard library's decoder: orjson turns integers
    beyond 64 bits into floats, and the hot readers (the snapshot loaders) bypass SQLAlchemy's
    JSON processing anyway."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        # What orjson refuses and the standard library writes (integers beyond 64 bits).
        return json.dumps(value)


class StoreConfigError(ValueError):
    """The database URL names a store we do not support."""


def make_engine(database_url: str) -> Engine:
    """Build an engine; SQLite gets WAL, foreign keys and write transactions that lock up front."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(database_url)
    if backend == "postgresql":
        if url.get_driver_name() not in {"psycopg", ""}:
            raise StoreConfigError("use postgresql+psycopg:// (psycopg 3) for PostgreSQL")
        if url.get_driver_name() == "":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(
            url, pool_size=10, max_overflow=20, pool_pre_ping=True, json_serializer=_json_text
        )
    raise StoreConfigError(f"unsupported database backend {backend!r}: use sqlite or postgresql")


def _sqlite_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=8,
        json_serializer=_json_text,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only an OS crash may lose the last commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoint every ~40 MiB of WAL instead of ~4 MiB: the commit that lands a checkpoint
        # copies (and fsyncs) pages written by many transactions at once, each page only once.
        # (A SqliteWriteLane's connection checkpoints in the background instead.)
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        # ... and the WAL file shrinks back to this size once a checkpoint has emptied it.
        cursor.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_SIZE_LIMIT}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers ask for IMMEDIATE: the write lock is taken at BEGIN, so a read-then-write
        # transaction can never fail half way with SQLITE_BUSY; writers queue on busy_timeout.
        # Readers stay DEFERRED and, under WAL, never wait for a writer.
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


# --- the SQLite write lane ------------------------------------------------------------------

# WAL frames (pages) the background checkpointer lets accumulate before it finishes a checkpoint
# while holding the writer lock file, so that the next write can start the WAL over.
SQLITE_WAL_RESTART_FRAMES = 16_384  # 64 MiB of 4 KiB pages
SQLITE_CHECKPOINT_INTERVAL_S = 0.25
# The lane's page cache (an upper bound: pages are allocated as they are first used). Random
# event ids touch a different leaf page of the unique index per row; SQLite's default 2 MiB
# cache would re-read most of them from the OS on every batch.
SQLITE_LANE_CACHE_KIB = 131_072


class SqliteWriteLane:
    """One thread's write path into a SQLite file, built for many small transactions.

    - A dedicated connection with a large page cache (`SQLITE_LANE_CACHE_KIB`), which stays
      warm as long as no other connection writes.
    - An exclusive `flock` on `<database>-writer.lock` around each transaction: writers of
      several processes (uvicorn workers) queue in the kernel, which wakes the next at once,
      instead of in SQLite's busy handler, which polls with sleeps of up to 100 ms.
    - No checkpoint inside COMMIT (`wal_autocheckpoint=0` on this connection): a background
      thread copies the WAL into the database (`PASSIVE`, concurrently with writers, so that
      nobody waits for its copying and fsyncs), and only when the WAL has grown past
      `SQLITE_WAL_RESTART_FRAMES` finishes one under the lock file so the WAL can restart.

    Durability is unchanged: a transaction is committed to the WAL when `transaction()` exits,
    before its caller can acknowledge anything (synchronous=NORMAL: safe against a process
    crash; only an OS crash may lose the last commits, as before).
    """

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not _is_file(database):
            raise StoreConfigError("a SQLite write lane needs a SQLite database file")
        assert database is not None
        self._lock_path = f"{database}-writer.lock"
        self._lock_fd = _open_lock(self._lock_path)
        self._conn = engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        # On the driver connection, outside SQLAlchemy's transaction (it is in autocommit).
        driver = self._conn.connection.driver_connection
        assert driver is not None
        self._driver: Any = driver
        driver.execute("PRAGMA wal_autocheckpoint=0")
        driver.execute(f"PRAGMA cache_size=-{SQLITE_LANE_CACHE_KIB}")
        self._checkpointer = _Checkpointer(engine, self._lock_path)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception), holding the lock file."""
        with _flocked(self._lock_fd), self._conn.begin():
            yield self._conn
        self._checkpointer.poke()

    def close(self) -> None:
        self._checkpointer.stop()
        # The connection goes back to the pool: give it back the pool's settings.
        self._driver.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        self._driver.execute("PRAGMA cache_size=-2000")  # SQLite's default
        self._conn.close()
        os.close(self._lock_fd)


class _Checkpointer:
    def __init__(self, engine: Engine, lock_path: str) -> None:
        self._engine = engine
        # Its own open file description: flock excludes it from this process's writer too.
        self._lock_fd = _open_lock(lock_path)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="recsys-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        os.close(self._lock_fd)

    def _loop(self) -> None:
        with self._engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            while True:
                self._wake.wait()
                # Let commits accumulate: each checkpoint copies a page once, however many
                # transactions wrote it since the last one.
                if self._stopping.wait(SQLITE_CHECKPOINT_INTERVAL_S):
                    return
                self._wake.clear()
                try:
                    frames, done = self._checkpoint(driver)
                    if frames > SQLITE_WAL_RESTART_FRAMES:
                        # Catch up with what came in meanwhile without blocking anyone (each
                        # pass is shorter than the last), then finish under the lock file, so
                        # that the next write starts the WAL over from its beginning.
                        for _ in range(3):
                            frames, backfilled = self._checkpoint(driver)
                            if frames - done <= 1024:
                                break
                            done = backfilled
                        with _flocked(self._lock_fd):
                            self._checkpoint(driver)
                except Exception:  # the next commit pokes again; autocheckpoint is off
                    log.exception("WAL checkpoint failed")

    @staticmethod
    def _checkpoint(driver: Any) -> tuple[int, int]:
        """A PASSIVE checkpoint: (frames in the WAL, frames now copied to the database)."""
        row = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return (int(row[1]), int(row[2])) if row else (0, 0)


def _is_file(database: str | None) -> bool:
    return bool(database) and database != ":memory:" and not str(database).startswith("file:")


def _open_lock(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextmanager
def _flocked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def sqlite_file_database(engine: Engine) -> bool:
    """Whether `engine` is SQLite on a database file (what a `SqliteWriteLane` needs)."""
    return engine.dialect.name == "sqlite" and _is_file(engine.url.database)


__all__ = [
    "SQLITE_BEGIN_OPTION",
    "SqliteWriteLane",
    "StoreConfigError",
    "make_engine",
    "sqlite_file_database",
]
