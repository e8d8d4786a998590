"""Deployment-wide secrets kept in the store, so every worker and every restart agrees on them."""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, delete, select

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


_PAGE_KEY = "page_tokens"  # key id 0; key n is "page_tokens.n"


def _page_key_id(name: str) -> int | None:
    if name == _PAGE_KEY:
        return 0
    prefix, _, number = name.partition(".")
    return int(number) if prefix == _PAGE_KEY and number.isdigit() else None


def page_token_keys(conn: Connection) -> dict[int, bytes]:
    """The page-token key ring {key id: key}; the first caller on a new store creates key 0."""
    ring = _page_keys(conn)
    if not ring:
        ring = {0: service_secret(conn, name=_PAGE_KEY)}
    return ring


def _page_keys(conn: Connection) -> dict[int, bytes]:
    rows = conn.execute(
        select(service_secrets.c.name, service_secrets.c.value).where(
            service_secrets.c.name.startswith(_PAGE_KEY)
        )
    ).all()
    ids = ((_page_key_id(name), value) for name, value in rows)
    return {kid: bytes.fromhex(value) for kid, value in ids if kid is not None}


def rotate_page_token_key(conn: Connection) -> int:
    """Add a new newest key (it seals from now on; older keys still open) and return its id."""
    kid = max(page_token_keys(conn)) + 1
    service_secret(conn, name=f"{_PAGE_KEY}.{kid}")
    return kid


def retire_page_token_key(conn: Connection, kid: int) -> None:
    """Drop key `kid`: tokens it sealed stop opening. The newest key cannot be retired."""
    ring = page_token_keys(conn)
    if kid not in ring:
        raise KeyError(kid)
    if kid == max(ring):
        raise ValueError("the newest key seals every new token; rotate before retiring it")
    name = _PAGE_KEY if kid == 0 else f"{_PAGE_KEY}.{kid}"
    conn.execute(delete(service_secrets).where(service_secrets.c.name == name))


__all__ = ["page_token_keys", "retire_page_token_key", "rotate_page_token_key", "service_secret"]
