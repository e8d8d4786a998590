"""Engine construction for the two supported stores: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BEGIN_OPTION = "recsys_sqlite_begin"


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
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
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
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers ask for IMMEDIATE: the write lock is taken at BEGIN, so a read-then-write
        # transaction can never fail half way with SQLITE_BUSY; writers queue on busy_timeout.
        # Readers stay DEFERRED and, under WAL, never wait for a writer.
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


__all__ = ["SQLITE_BEGIN_OPTION", "StoreConfigError", "make_engine"]
