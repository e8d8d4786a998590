"""Data access. Every function is keyword-only, scoped by org + namespace, and never commits:
the caller's transaction decides. Rows go in and out as plain dicts keyed by column name."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Table, and_, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from recsys.store.schema import events, items, namespaces, users

Row = dict[str, Any]


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both SQLite and PostgreSQL have it)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _scope(table: Table, org_id: str, namespace: str) -> list[ColumnElement[bool]]:
    return [table.c.org_id == org_id, table.c.namespace == namespace]


def _by_key(rows: Sequence[Row], key: str) -> list[Row]:
    """Rows in key order; the sort is stable, so of two rows with one key the last still wins.

    Concurrent PostgreSQL upserts that lock the same keys in different orders deadlock
    ("deadlock detected"); taking every batch's row locks in one global order cannot.
    """
    return sorted(rows, key=lambda row: row[key])


def lock_namespace(conn: Connection, *, org_id: str, namespace: str) -> None:
    """PostgreSQL: serialise the writers of one namespace until their transaction ends.

    Every repository write takes it, so that (1) batches sharing keys in different orders cannot
    deadlock on the unique indexes, (2) event ids, drawn from the sequence before commit, become
    visible in id order and never land behind a reader's `after_id` cursor, and (3) a catalogue
    delete cannot race an upsert that claims the embedding dimension. Re-taking it in the same
    transaction is free. SQLite already has a single writer (BEGIN IMMEDIATE): nothing to do.
    """
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"ns\0{org_id}\0{namespace}".encode(), digest_size=8).digest()
    conn.execute(
        text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


def bump_versions(conn: Connection, org_id: str, namespace: str, *counters: str) -> None:
    """Advance change counters (creating the namespace row if a write comes first)."""
    stmt = dialect_insert(conn, namespaces).values(
        org_id=org_id, namespace=namespace, created_at_us=0, **dict.fromkeys(counters, 1)
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "namespace"],
            set_={c: getattr(namespaces.c, c) + 1 for c in counters},
        )
    )


# --- namespaces -------------------------------------------------------------------------------


def ensure_namespace(conn: Connection, *, org_id: str, namespace: str, now_us: int) -> None:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    stmt = dialect_insert(conn, namespaces).values(
        org_id=org_id, namespace=namespace, embedding_dim=None, created_at_us=now_us
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["org_id", "namespace"]))


def get_embedding_dim(conn: Connection, *, org_id: str, namespace: str) -> int | None:
    stmt = select(namespaces.c.embedding_dim).where(*_scope(namespaces, org_id, namespace))
    return conn.execute(stmt).scalar_one_or_none()


def claim_embedding_dim(
    conn: Connection, *, org_id: str, namespace: str, dim: int, now_us: int
) -> int:
    """Fix the namespace's embedding dimension to `dim` unless one is already set; return it.

    The conditional UPDATE makes concurrent first writers agree: PostgreSQL re-checks the WHERE
    after a competing writer commits, and SQLite serialises writers.
    """
    ensure_namespace(conn, org_id=org_id, namespace=namespace, now_us=now_us)
    conn.execute(
        update(namespaces)
        .where(*_scope(namespaces, org_id, namespace), namespaces.c.embedding_dim.is_(None))
        .values(embedding_dim=dim)
    )
    current = get_embedding_dim(conn, org_id=org_id, namespace=namespace)
    assert current is not None
    return current


# --- items ------------------------------------------------------------------------------------

_ITEM_FIELDS = (
    "available",
    "price",
    "brand",
    "category",
    "category_path",
    "tags",
    "props",
    "embedding",
    "title",
    "description",
    "updated_at_us",
)


def upsert_items(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    rows: Sequence[Row],
    replace_created_at: bool,
) -> int:
    """Insert or replace items by id. An existing item keeps its `created_at_us` unless
    `replace_created_at` (the caller stated the creation time explicitly)."""
    if not rows:
        return 0
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    # The version first: the rows carry it (see schema.items.catalog_version).
    bump_versions(conn, org_id, namespace, "catalog_version")
    version = conn.execute(
        select(namespaces.c.catalog_version).where(*_scope(namespaces, org_id, namespace))
    ).scalar_one()
    values = [
        {**row, "org_id": org_id, "namespace": namespace, "catalog_version": version}
        for row in _by_key(rows, "item_id")
    ]
    stmt = dialect_insert(conn, items)
    fields = (*_ITEM_FIELDS, "created_at_us") if replace_created_at else _ITEM_FIELDS
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "namespace", "item_id"],
            set_={name: stmt.excluded[name] for name in (*fields, "catalog_version")},
        ),
        values,
    )
    return len(values)


def delete_items(
    conn: Connection, *, org_id: str, namespace: str, item_ids: Sequence[str] | None = None
) -> int:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    conditions = _scope(items, org_id, namespace)
    if item_ids is not None:
        conditions.append(items.c.item_id.in_(item_ids))
    deleted = conn.execute(delete(items).where(*conditions)).rowcount
    remaining = conn.execute(
        select(func.count()).select_from(items).where(*_scope(items, org_id, namespace))
    ).scalar_one()
    if remaining == 0:
        # An empty catalogue may come back with a different embedding model.
        conn.execute(
            update(namespaces)
            .where(*_scope(namespaces, org_id, namespace))
            .values(embedding_dim=None)
        )
    bump_versions(conn, org_id, namespace, "catalog_version")
    return int(deleted)


def list_items(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    limit: int,
    after: str | None = None,
    item_ids: Sequence[str] | None = None,
    category: str | None = None,
    brand: str | None = None,
    available: bool | None = None,
) -> list[Row]:
    conditions = _scope(items, org_id, namespace)
    if after is not None:
        conditions.append(items.c.item_id > after)
    if item_ids is not None:
        conditions.append(items.c.item_id.in_(item_ids))
    if category is not None:
        conditions.append(items.c.category == category)
    if brand is not None:
        conditions.append(items.c.brand == brand)
    if available is not None:
        conditions.append(items.c.available == available)
    stmt = select(items).where(and_(*conditions)).order_by(items.c.item_id).limit(limit)
    return [dict(row) for row in conn.execute(stmt).mappings()]


# --- users ------------------------------------------------------------------------------------


def upsert_users(conn: Connection, *, org_id: str, namespace: str, rows: Sequence[Row]) -> int:
    if not rows:
        return 0
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    values = [{**row, "org_id": org_id, "namespace": namespace} for row in _by_key(rows, "user_id")]
    stmt = dialect_insert(conn, users)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "namespace", "user_id"],
            set_={"traits": stmt.excluded.traits, "updated_at_us": stmt.excluded.updated_at_us},
        ),
        values,
    )
    bump_versions(conn, org_id, namespace, "users_version")
    return len(values)


def delete_users(
    conn: Connection, *, org_id: str, namespace: str, user_ids: Sequence[str] | None = None
) -> int:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    conditions = _scope(users, org_id, namespace)
    if user_ids is not None:
        conditions.append(users.c.user_id.in_(user_ids))
    deleted = int(conn.execute(delete(users).where(*conditions)).rowcount)
    bump_versions(conn, org_id, namespace, "users_version")
    return deleted


def _segment_is(conn: Connection, segment: str) -> ColumnElement[bool]:
    """`traits.segment` is the JSON string `segment`. A number or boolean never matches: the
    backends disagree on their text form (SQLite reads `true` as 1, PostgreSQL as 'true')."""
    value = users.c.traits["segment"]
    if conn.dialect.name == "postgresql":
        kind = func.jsonb_typeof(value)
        text_kind = "string"
    else:
        kind = func.json_type(users.c.traits, "$.segment")
        text_kind = "text"
    return and_(kind == text_kind, value.as_string() == segment)


def list_users(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    limit: int,
    after: str | None = None,
    user_ids: Sequence[str] | None = None,
    segment: str | None = None,
) -> list[Row]:
    conditions = _scope(users, org_id, namespace)
    if after is not None:
        conditions.append(users.c.user_id > after)
    if user_ids is not None:
        conditions.append(users.c.user_id.in_(user_ids))
    if segment is not None:
        conditions.append(_segment_is(conn, segment))
    stmt = select(users).where(and_(*conditions)).order_by(users.c.user_id).limit(limit)
    return [dict(row) for row in conn.execute(stmt).mappings()]


# --- events -----------------------------------------------------------------------------------


def insert_events(conn: Connection, *, org_id: str, namespace: str, rows: Sequence[Row]) -> int:
    """Append events; a row whose `event_id` is already stored is skipped. Returns rows added."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        inserted = _insert_events_postgres(conn, org_id=org_id, namespace=namespace, rows=rows)
    else:
        inserted = _insert_events_sqlite(conn, org_id=org_id, namespace=namespace, rows=rows)
    if inserted:
        bump_versions(conn, org_id, namespace, "events_version")
    return inserted


def _meta_json(meta: Any) -> str:
    """`meta` as JSON text: orjson, or the stdlib for what orjson refuses (ints over 64 bits)."""
    try:
        return orjson.dumps(meta).decode()
    except TypeError:
        return json.dumps(meta)


# SQLite: one INSERT ... SELECT FROM (VALUES ...) per batch (up to 2048 rows), so that the
# driver makes one sqlite3_step call, and releases and re-takes the GIL once, for the batch. With
# executemany it does so for every row, and a busy request thread (parsing the next batch) can
# keep each re-take waiting for the interpreter's switch interval. The row count is rounded up
# to a power of two with placeholder rows that the WHERE drops (column8 is NULL only on those):
# a dozen statement texts in all, each prepared once and kept in the connection's statement
# cache (preparing one costs ~6 us per row). The driver's rowcount is SQLite's changes(): the
# rows ON CONFLICT did not skip. VALUES rows are inserted in their order, so ids follow the batch.
_SQLITE_EVENTS_PER_STATEMENT = 2048  # 8 parameters per row: under SQLite's 32766 variables
_SQLITE_EVENT_PADDING = (None,) * 8


@functools.cache
def _sqlite_insert_events_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO events"
        " (org_id, namespace, event_id, user_id, item_id, type, value, ts_us, meta)"
        " SELECT ?, ?, column1, column2, column3, column4, column5, column6, column7"
        f" FROM (VALUES {values}) WHERE column8 IS NOT NULL"
        " ON CONFLICT (org_id, namespace, event_id) DO NOTHING"
    )


def _insert_events_sqlite(
    conn: Connection, *, org_id: str, namespace: str, rows: Sequence[Row]
) -> int:
    # SQLite already has a single writer (BEGIN IMMEDIATE): no namespace lock to take.
    inserted = 0
    for start in range(0, len(rows), _SQLITE_EVENTS_PER_STATEMENT):
        chunk = rows[start : start + _SQLITE_EVENTS_PER_STATEMENT]
        size = 1 << (len(chunk) - 1).bit_length()
        params: list[Any] = [org_id, namespace]
        for r in chunk:
            params += (
                r["event_id"],
                r["user_id"],
                r["item_id"],
                r["type"],
                r["value"],
                r["ts_us"],
                _meta_json(r["meta"]),
                1,
            )
        params += _SQLITE_EVENT_PADDING * (size - len(chunk))
        result = conn.exec_driver_sql(_sqlite_insert_events_sql(size), tuple(params))
        inserted += int(result.rowcount)
    return inserted


# The whole batch travels as one JSON array (orjson-encoded, sent as one text parameter) that
# PostgreSQL unpacks with json_to_recordset: no per-element array quoting in the driver. The
# ordinality keeps ids in batch order; the CTE counts what ON CONFLICT did not skip.
_PG_INSERT_EVENTS = text(
    """
    WITH inserted AS (
        INSERT INTO events
            (org_id, namespace, event_id, user_id, item_id, type, value, ts_us, meta)
        SELECT :org_id, :namespace, b.e, b.u, b.i, b.t, b.v, b.ts, b.m
        FROM ROWS FROM (
            json_to_recordset(CAST(:batch AS json))
                AS (e text, u text, i text, t int, v float8, ts int8, m jsonb)
        ) WITH ORDINALITY AS b(e, u, i, t, v, ts, m, position)
        ORDER BY b.position
        ON CONFLICT (org_id, namespace, event_id) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM inserted
    """
)


def _insert_events_postgres(
    conn: Connection, *, org_id: str, namespace: str, rows: Sequence[Row]
) -> int:
    batch = [
        {
            "e": r["event_id"],
            "u": r["user_id"],
            "i": r["item_id"],
            "t": r["type"],
            "v": r["value"],
            "ts": r["ts_us"],
            "m": r["meta"],
        }
        for r in rows
    ]
    try:
        payload = orjson.dumps(batch).decode()
    except TypeError:  # what orjson refuses (ints over 64 bits) the stdlib writes
        payload = json.dumps(batch)
    # Everything is built before the lock: the serialised section is the statement itself.
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    params = {"org_id": org_id, "namespace": namespace, "batch": payload}
    return int(conn.execute(_PG_INSERT_EVENTS, params).scalar_one())


def existing_event_ids(
    conn: Connection, *, org_id: str, namespace: str, event_ids: Iterable[str]
) -> set[str]:
    ids = list(event_ids)
    if not ids:
        return set()
    stmt = select(events.c.event_id).where(
        *_scope(events, org_id, namespace), events.c.event_id.in_(ids)
    )
    return {row[0] for row in conn.execute(stmt)}


def _event_conditions(
    org_id: str,
    namespace: str,
    *,
    event_ids: Sequence[str] | None,
    user_id: str | None,
    item_id: str | None,
    types: Sequence[int] | None,
    since_us: int | None,
    until_us: int | None,
) -> list[ColumnElement[bool]]:
    # None means "no filter"; an empty list matches nothing (as for items and users), so a
    # delete with `event_ids=[]` can never widen into deleting the whole namespace.
    conditions = _scope(events, org_id, namespace)
    if event_ids is not None:
        conditions.append(events.c.event_id.in_(event_ids))
    if user_id is not None:
        conditions.append(events.c.user_id == user_id)
    if item_id is not None:
        conditions.append(events.c.item_id == item_id)
    if types is not None:
        conditions.append(events.c.type.in_(types))
    if since_us is not None:
        conditions.append(events.c.ts_us >= since_us)
    if until_us is not None:
        conditions.append(events.c.ts_us < until_us)
    return conditions


def delete_events(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    event_ids: Sequence[str] | None = None,
    user_id: str | None = None,
    item_id: str | None = None,
    types: Sequence[int] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> int:
    lock_namespace(conn, org_id=org_id, namespace=namespace)
    conditions = _event_conditions(
        org_id,
        namespace,
        event_ids=event_ids,
        user_id=user_id,
        item_id=item_id,
        types=types,
        since_us=since_us,
        until_us=until_us,
    )
    deleted = int(conn.execute(delete(events).where(*conditions)).rowcount)
    if deleted:
        bump_versions(conn, org_id, namespace, "events_version", "reset_version")
    return deleted


def list_events(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    limit: int,
    after_id: int | None = None,
    user_id: str | None = None,
    item_id: str | None = None,
    types: Sequence[int] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> list[Row]:
    conditions = _event_conditions(
        org_id,
        namespace,
        event_ids=None,
        user_id=user_id,
        item_id=item_id,
        types=types,
        since_us=since_us,
        until_us=until_us,
    )
    if after_id is not None:
        conditions.append(events.c.id > after_id)
    stmt = select(events).where(and_(*conditions)).order_by(events.c.id).limit(limit)
    return [dict(row) for row in conn.execute(stmt).mappings()]


__all__ = [
    "claim_embedding_dim",
    "delete_events",
    "delete_items",
    "delete_users",
    "ensure_namespace",
    "existing_event_ids",
    "get_embedding_dim",
    "insert_events",
    "list_events",
    "list_items",
    "list_users",
    "lock_namespace",
    "upsert_items",
    "upsert_users",
]
