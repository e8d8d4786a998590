"""Row builders and readers shared by the storage contract suite."""

from __future__ import annotations

from typing import Any

from recsys.store import Store
from recsys.store import repositories as repo

Row = dict[str, Any]

T0 = 1_780_000_000_000_000  # 2026-05-28 in UTC microseconds


def item_row(item_id: str, **overrides: Any) -> Row:
    row: Row = {
        "item_id": item_id,
        "available": True,
        "price": 9.5,
        "brand": "acme",
        "category": "shoes",
        "category_path": ["fashion", "shoes"],
        "tags": ["new"],
        "props": {"color": "red"},
        "embedding": None,
        "title": f"title {item_id}",
        "description": None,
        "created_at_us": T0,
        "updated_at_us": T0,
    }
    row.update(overrides)
    return row


def user_row(user_id: str, traits: dict[str, Any] | None = None, **overrides: Any) -> Row:
    row: Row = {
        "user_id": user_id,
        "traits": {} if traits is None else traits,
        "created_at_us": T0,
        "updated_at_us": T0,
    }
    row.update(overrides)
    return row


def event_row(event_id: str | None, **overrides: Any) -> Row:
    row: Row = {
        "event_id": event_id,
        "user_id": "u1",
        "item_id": "i1",
        "type": 1,
        "value": 1.0,
        "ts_us": T0,
        "meta": {},
    }
    row.update(overrides)
    return row


def all_events(store: Store, org: str, namespace: str, page: int = 1000) -> list[Row]:
    """Every event of the scope, walked with the `after_id` cursor."""
    rows: list[Row] = []
    after: int | None = None
    with store.read() as conn:
        while True:
            batch = repo.list_events(
                conn, org_id=org, namespace=namespace, limit=page, after_id=after
            )
            rows += batch
            if len(batch) < page:
                return rows
            after = batch[-1]["id"]


def all_items(store: Store, org: str, namespace: str) -> list[Row]:
    with store.read() as conn:
        return repo.list_items(conn, org_id=org, namespace=namespace, limit=10_000)


def all_users(store: Store, org: str, namespace: str) -> list[Row]:
    with store.read() as conn:
        return repo.list_users(conn, org_id=org, namespace=namespace, limit=10_000)
