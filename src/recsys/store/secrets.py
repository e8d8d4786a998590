"""Deployment-wide secrets kept in the store, so every worker and every restart agrees on them."""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, select

from recsys.store.repositories import dialect_insert
from recsys.store.schema import service_secrets


def service_secret(conn: Connection, *, name: str) -> bytes:
    """The secret called `name`, created (32 random bytes) by whichever process asks first."""
    stmt = dialect_insert(conn, service_secrets).values(name=name, value=secrets.token_hex(32))
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    value = conn.execute(
        select(service_secrets.c.value).where(service_secrets.c.name == name)
    ).scalar_one()
    return bytes.fromhex(value)


__all__ = ["service_secret"]
