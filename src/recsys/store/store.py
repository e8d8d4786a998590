"""The Store: an engine plus transaction scopes. The caller (a request) owns each transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

from recsys.store.engine import SQLITE_BEGIN_OPTION, make_engine
from recsys.store.migrate import upgrade


class Store:
    """Holds the engine; hands out connections inside one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, database_url: str, *, migrate: bool = True) -> Store:
        store = cls(make_engine(database_url))
        if migrate:
            store.migrate()
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        upgrade(self.engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One atomic write: commits when the block ends, rolls back on any exception."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent read-only view (one snapshot for every query in the block)."""
        with self.engine.connect() as conn, conn.begin():
            if self.dialect == "postgresql":
                # Pagination and multi-query reads must see one snapshot.
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["Store"]
