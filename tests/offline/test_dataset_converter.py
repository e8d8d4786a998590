"""One dataset converter: the same data as in-memory API records and as import files gives the
same NamespaceData, field by field, by the rules of DatasetBuilder."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.clock import to_micros
from recsys.imports.errors import ImportFormatError
from recsys.imports.offline import load_namespace_data
from recsys.offline.dataset import (
    ITEM_DEFAULTS,
    MissingTime,
    NamespaceData,
    namespace_data_from_records,
)
from recsys.service.schemas.ingest import ItemIn

ITEMS: list[dict[str, Any]] = [
    {"item_id": "b", "brand": "old", "tags": ["x"], "created_at": "2026-01-02T00:00:00Z"},
    {"item_id": "a", "price": 5, "category": "c"},  # no created_at: dated by its first event
    {"item_id": "b", "brand": "new", "tags": ["y", "z"], "created_at": "2026-01-03T00:00:00Z"},
    {"item_id": "lonely", "available": False},  # no created_at and no event: 0
]
USERS: list[dict[str, Any]] = [
    {"user_id": "u2", "traits": {"segment": "s1"}},
    {"user_id": "u1"},
    {"user_id": "u2", "traits": {"segment": "s2"}},
]
EVENTS: list[dict[str, Any]] = [
    {"event_id": "e1", "user_id": "u1", "item_id": "a", "type": 0, "ts": "2026-01-05T00:00:00Z"},
    {"event_id": "e2", "user_id": "u2", "item_id": "b", "type": 3, "value": 2.5,
     "ts": "2026-01-04T00:00:00Z"},
    {"event_id": "e1", "user_id": "u9", "item_id": "b", "type": 1, "ts": "2026-01-06T00:00:00Z"},
    {"user_id": "u1", "item_id": "a", "type": 1, "ts": "2026-01-01T00:00:00Z"},
    {"user_id": "u1", "item_id": "a", "type": 1, "ts": "2026-01-01T00:00:00Z"},
    {"event_id": "e3", "user_id": "u3", "item_id": "ghost", "type": 2,
     "ts": "2026-01-07T00:00:00Z"},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def from_files(tmp_path: Path, events: list[dict[str, Any]]) -> NamespaceData:
    return load_namespace_data(
        items=write_jsonl(tmp_path / "items.jsonl", ITEMS),
        users=write_jsonl(tmp_path / "users.jsonl", USERS),
        events=write_jsonl(tmp_path / "events.jsonl", events),
    )


def us(text: str) -> int:
    return to_micros(datetime.fromisoformat(text.replace("Z", "+00:00")))


def test_records_and_files_give_the_same_dataset(tmp_path: Path) -> None:
    memory = namespace_data_from_records(items=ITEMS, users=USERS, events=EVENTS)
    files = from_files(tmp_path, EVENTS)
    assert memory.items == files.items
    assert memory.users == files.users
    for field in ("user", "item", "type", "value", "ts_us"):
        np.testing.assert_array_equal(getattr(memory.events, field), getattr(files.events, field))
    assert memory.events.users.ids == files.events.users.ids
    assert memory.events.items.ids == files.events.items.ids


def test_the_rules() -> None:
    data = namespace_data_from_records(items=ITEMS, users=USERS, events=EVENTS)
    # Repeated ids: first position, last row's fields.
    assert [row["item_id"] for row in data.items] == ["b", "a", "lonely"]
    assert data.items[0]["brand"] == "new" and data.items[0]["tags"] == ["y", "z"]
    assert data.items[0]["created_at_us"] == us("2026-01-03T00:00:00Z")
    assert data.users == [
        {"user_id": "u2", "traits": {"segment": "s2"}},
        {"user_id": "u1", "traits": {}},
    ]
    # Missing created_at: the item's first event, else 0.
    assert data.items[1]["created_at_us"] == us("2026-01-01T00:00:00Z")
    assert data.items[2]["created_at_us"] == 0
    # A repeated event id is skipped; events without an id are all kept, in order.
    log = data.events
    assert len(log) == 5
    assert [log.users.ids[u] for u in log.user] == ["u1", "u2", "u1", "u1", "u3"]
    assert log.value.tolist() == [1.0, 2.5, 1.0, 1.0, 1.0]


def test_missing_item_fields_take_the_apis_defaults() -> None:
    defaults = ItemIn(item_id="x").model_dump()
    assert {
        k: v for k, v in defaults.items() if k not in ("item_id", "created_at")
    } == ITEM_DEFAULTS
    data = namespace_data_from_records(items=ITEMS, users=USERS, events=EVENTS)
    assert all(set(ITEM_DEFAULTS) <= set(row) for row in data.items)
    assert data.items[1]["tags"] == [] and data.items[2]["available"] is False


def test_without_item_rows_every_event_item_is_an_available_item() -> None:
    data = namespace_data_from_records(items=[], users=[], events=EVENTS)
    assert [(r["item_id"], r["available"]) for r in data.items] == [
        ("a", True),
        ("b", True),
        ("ghost", True),
    ]
    assert data.items[2]["created_at_us"] == us("2026-01-07T00:00:00Z")


def test_an_event_without_ts_is_refused_both_ways(tmp_path: Path) -> None:
    timeless = [*EVENTS, {"user_id": "u1", "item_id": "a", "type": 0}]
    with pytest.raises(MissingTime):
        namespace_data_from_records(items=ITEMS, users=USERS, events=timeless)
    with pytest.raises(ImportFormatError, match="ts"):
        from_files(tmp_path, timeless)
