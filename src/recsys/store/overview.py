"""What the console's overview shows per namespace of an org: its size and freshness."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, func, select

from recsys.store.repositories import Row
from recsys.store.schema import configs, events, items, namespaces, users


def _per_namespace(conn: Connection, table: Table, org_id: str, *columns: Any) -> dict[str, Any]:
    stmt = (
        select(table.c.namespace, *columns)
        .where(table.c.org_id == org_id)
        .group_by(table.c.namespace)
    )
    return {row[0]: row[1:] for row in conn.execute(stmt)}


def namespace_overview(conn: Connection, *, org_id: str) -> list[Row]:
    """One row per namespace of the org (by name): items, users, events, newest event time,
    the config version in force (0: none stored)."""
    names = conn.execute(
        select(namespaces.c.namespace)
        .where(namespaces.c.org_id == org_id)
        .order_by(namespaces.c.namespace)
    ).scalars()
    item_counts = _per_namespace(conn, items, org_id, func.count())
    user_counts = _per_namespace(conn, users, org_id, func.count())
    event_stats = _per_namespace(conn, events, org_id, func.count(), func.max(events.c.ts_us))
    versions = _per_namespace(conn, configs, org_id, func.max(configs.c.version))
    return [
        {
            "namespace": name,
            "items": int(item_counts.get(name, (0,))[0]),
            "users": int(user_counts.get(name, (0,))[0]),
            "events": int(event_stats.get(name, (0, None))[0]),
            "last_event_us": event_stats.get(name, (0, None))[1],
            "config_version": int(versions.get(name, (0,))[0] or 0),
        }
        for name in names
    ]


__all__ = ["namespace_overview"]
