"""Telling a store that is briefly out of reach from a bug: the first is worth a retry (503), the
second is ours to fix (500)."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa_exc

# SQLite raises OperationalError for a malformed statement as well as for a busy file; only
# these mean "try again".
_SQLITE_TRANSIENT = (
    "database is locked",
    "database is busy",
    "unable to open database",
    "disk i/o",
)


def _unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.TimeoutError):
        return True  # every pooled connection busy for pool_timeout seconds
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
    if isinstance(error, psycopg.OperationalError):
        # connection refused or lost, server starting up or shutting down, admin shutdown
        return True
    if isinstance(error, sqlite3.OperationalError):
        return str(error).lower().startswith(_SQLITE_TRANSIENT)
    return False


# Every exception the stores raise; the service maps them to a response itself (503 or 500) so
# that none escapes the app (an escaped one makes uvicorn close the client's connection).
STORE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    psycopg.Error,
    sqlite3.Error,
)


def store_unavailable(error: BaseException) -> bool:
    """True when `error` (or what caused it) means the database could not be reached, dropped the
    connection, or had no connection free: the same request may succeed if sent again."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if _unavailable(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


__all__ = ["STORE_ERRORS", "store_unavailable"]
