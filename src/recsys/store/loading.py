"""Bulk reads for the signal snapshot: whole catalogue, whole user table, events by id range.

Events come back as columns through the driver's own cursor: a million SQLAlchemy Row objects
would cost seconds, tuples from the C driver a fraction of that."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sqlalchemy import JSON, Connection, func, select

from recsys.store.schema import items, namespaces


@dataclass(frozen=True)
class NamespaceVersions:
    catalog: int
    users: int
    events: int
    reset: int
    policy: int


def namespace_versions(
    conn: Connection, *, org_id: str, namespace: str
) -> NamespaceVersions | None:
    row = conn.execute(
        select(
            namespaces.c.catalog_version,
            namespaces.c.users_version,
            namespaces.c.events_version,
            namespaces.c.reset_version,
            namespaces.c.policy_version,
        ).where(namespaces.c.org_id == org_id, namespaces.c.namespace == namespace)
    ).first()
    return None if row is None else NamespaceVersions(*(int(v) for v in row))


def list_namespaces(conn: Connection, *, org_id: str | None = None) -> list[tuple[str, str]]:
    """Every (org_id, namespace) the store knows, sorted; only `org_id`'s when given."""
    query = select(namespaces.c.org_id, namespaces.c.namespace).order_by(
        namespaces.c.org_id, namespaces.c.namespace
    )
    if org_id is not None:
        query = query.where(namespaces.c.org_id == org_id)
    return [(str(org), str(namespace)) for org, namespace in conn.execute(query)]


def load_items(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    after_version: int = 0,
    columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Every item row, or with `after_version` those written by a catalogue write after that
    version (their `catalog_version` is higher), through the driver's cursor (see
    `load_users`); with `columns`, only those (and `catalog_version`)."""
    names = [
        column.name
        for column in items.columns
        if columns is None or column.name in columns or column.name == "catalog_version"
    ]
    decode = {c.name for c in items.columns if isinstance(c.type, JSON) and c.name in names}
    p = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = f"SELECT {', '.join(names)} FROM items WHERE org_id = {p} AND namespace = {p}"
    params: tuple[Any, ...] = (org_id, namespace)
    if after_version:
        sql += f" AND catalog_version > {p}"
        params += (after_version,)
    rows = _fetch_all(conn, sql, params)
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        for name in decode:
            item[name] = _json(item[name])
        if "available" in item:
            item["available"] = bool(item["available"])  # 0/1 on SQLite
        out.append(item)
    return out


def count_items(conn: Connection, *, org_id: str, namespace: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(items)
            .where(items.c.org_id == org_id, items.c.namespace == namespace)
        ).scalar_one()
    )


def load_users(conn: Connection, *, org_id: str, namespace: str) -> list[dict[str, Any]]:
    """Every user with its traits, through the driver's cursor: SQLAlchemy's JSON type decodes
    row by row with the standard library, which dominated a first load at 50,000 users."""
    postgresql = conn.dialect.name == "postgresql"
    p = "%s" if postgresql else "?"
    # As text on both engines (PostgreSQL would decode every row into its own dict): users
    # mostly share their traits (a segment, a locale), and each distinct text is decoded
    # once, its object shared by every user that has it (read-only, like all snapshot data).
    # 200,000 users' traits took 100 MiB as separate dicts.
    traits_sql = "CAST(traits AS TEXT)" if postgresql else "traits"
    sql = f"SELECT user_id, {traits_sql} FROM users WHERE org_id = {p} AND namespace = {p}"
    rows = _fetch_all(conn, sql, (org_id, namespace))
    decoded: dict[Any, Any] = {}

    def traits_of(text: Any) -> Any:
        found = decoded.get(text)
        if found is None:
            found = decoded[text] = _json(text)
        return found

    return [{"user_id": user_id, "traits": traits_of(text)} for user_id, text in rows]


def _fetch_all(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows as the C driver returns them (tuples), bypassing SQLAlchemy's per-row processing."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    finally:
        cursor.close()
    return rows


def _json(value: Any) -> Any:
    """A JSON column as the driver returns it: text on SQLite, already decoded on PostgreSQL."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, eq=False)
class EventBatch:
    id: np.ndarray  # int64 store ids, ascending
    user_id: list[str]
    item_id: list[str]
    type: np.ndarray  # int8
    value: np.ndarray  # float32
    ts_us: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.id)


# Events fetched per query while streaming: the driver's row objects of one chunk are turned
# into arrays and dropped before the next chunk is read, so a build never holds the whole log
# as Python objects.
EVENT_CHUNK = 50_000


def stream_events(
    conn: Connection,
    *,
    org_id: str,
    namespace: str,
    after_id: int = 0,
    chunk_rows: int = EVENT_CHUNK,
) -> Iterator[EventBatch]:
    """Events with id > after_id, in id order, `chunk_rows` at a time (keyset pages on the
    (org_id, namespace, id) index: the same plain query on SQLite and PostgreSQL)."""
    sql = (
        "SELECT id, user_id, item_id, type, value, ts_us FROM events "
        "WHERE org_id = {p} AND namespace = {p} AND id > {p} ORDER BY id LIMIT {p}"
    )
    paramstyle = "%s" if conn.dialect.name == "postgresql" else "?"
    statement = sql.format(p=paramstyle)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        while True:
            cursor.execute(statement, (org_id, namespace, after_id, chunk_rows))
            rows = cursor.fetchall()
            if not rows:
                return
            batch = _batch(rows)
            del rows
            yield batch
            if len(batch) < chunk_rows:
                return
            after_id = int(batch.id[-1])
    finally:
        cursor.close()


def load_events(conn: Connection, *, org_id: str, namespace: str, after_id: int = 0) -> EventBatch:
    """Events with id > after_id, in id order, as one batch (small reads and tests; builds
    stream them)."""
    batches = list(stream_events(conn, org_id=org_id, namespace=namespace, after_id=after_id))
    if not batches:
        return _batch([])
    return EventBatch(
        id=np.concatenate([b.id for b in batches]),
        user_id=[u for b in batches for u in b.user_id],
        item_id=[i for b in batches for i in b.item_id],
        type=np.concatenate([b.type for b in batches]),
        value=np.concatenate([b.value for b in batches]),
        ts_us=np.concatenate([b.ts_us for b in batches]),
    )


def _batch(rows: Sequence[tuple[Any, ...]]) -> EventBatch:
    if not rows:
        return EventBatch(
            np.empty(0, np.int64),
            [],
            [],
            np.empty(0, np.int8),
            np.empty(0, np.float32),
            np.empty(0, np.int64),
        )
    ids, user_ids, item_ids, types, values, ts = zip(*rows, strict=True)
    return EventBatch(
        id=np.asarray(ids, dtype=np.int64),
        user_id=list(user_ids),
        item_id=list(item_ids),
        type=np.asarray(types, dtype=np.int8),
        value=np.asarray(values, dtype=np.float32),
        ts_us=np.asarray(ts, dtype=np.int64),
    )


__all__ = [
    "EventBatch",
    "NamespaceVersions",
    "load_events",
    "load_items",
    "load_users",
    "namespace_versions",
    "stream_events",
]
