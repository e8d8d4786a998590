"""Streaming the event log for a snapshot build: keyset chunks in id order, the same events as
one read, only this namespace's, on both stores."""

from __future__ import annotations

import numpy as np

from recsys.signals.assemble import EventLog
from recsys.store import Store
from recsys.store import repositories as repo
from recsys.store.loading import load_events, stream_events

from .helpers import T0, event_row

NS = "stream"


def fill(store: Store, org: str, n: int, namespace: str = NS) -> None:
    rows = [
        event_row(
            f"e{i}",
            user_id=f"u{i % 7}",
            item_id=f"i{i % 11}",
            type=i % 3,
            value=float(i),
            ts_us=T0 + i,
        )
        for i in range(n)
    ]
    with store.write() as conn:
        repo.insert_events(conn, org_id=org, namespace=namespace, rows=rows)


def test_chunks_cover_the_log_in_id_order(store: Store, org: str) -> None:
    fill(store, org, 1234)
    fill(store, org, 50, namespace="other")
    with store.read() as conn:
        chunks = list(stream_events(conn, org_id=org, namespace=NS, chunk_rows=500))
        whole = load_events(conn, org_id=org, namespace=NS)
    assert [len(c) for c in chunks] == [500, 500, 234]
    ids = np.concatenate([c.id for c in chunks])
    assert (np.diff(ids) > 0).all() and np.array_equal(ids, whole.id)
    assert [u for c in chunks for u in c.user_id] == whole.user_id
    assert np.concatenate([c.value for c in chunks]).tolist() == [float(i) for i in range(1234)]
    assert whole.item_id[:3] == ["i0", "i1", "i2"]
    assert whole.type[:4].tolist() == [0, 1, 2, 0]


def test_a_stream_resumes_after_an_id_and_stops_on_a_full_last_chunk(
    store: Store, org: str
) -> None:
    fill(store, org, 1000)
    with store.read() as conn:
        first = load_events(conn, org_id=org, namespace=NS)
        after = int(first.id[399])
        rest = list(stream_events(conn, org_id=org, namespace=NS, after_id=after, chunk_rows=300))
        assert list(stream_events(conn, org_id=org, namespace="empty")) == []
    assert [len(c) for c in rest] == [300, 300]
    assert rest[0].id[0] == first.id[400]


def test_the_event_log_takes_the_chunks_as_one_append(store: Store, org: str) -> None:
    fill(store, org, 700)
    streamed, whole = EventLog(), EventLog()
    with store.read() as conn:
        added = streamed.extend(stream_events(conn, org_id=org, namespace=NS, chunk_rows=128))
        batch = load_events(conn, org_id=org, namespace=NS)
    whole.append(
        user_id=batch.user_id,
        item_id=batch.item_id,
        type=batch.type,
        value=batch.value,
        ts_us=batch.ts_us,
    )
    assert added == 700
    for column in ("user", "item", "type", "value", "ts_us"):
        assert np.array_equal(getattr(streamed, column), getattr(whole, column))
    assert streamed.users.ids == whole.users.ids and streamed.items.ids == whole.items.ids


def test_users_load_with_their_traits_decoded(store: Store, org: str) -> None:
    from recsys.store.loading import load_users

    from .helpers import user_row

    rows = [
        user_row("plain"),
        user_row("rich", traits={"segment": "vip", "age": 41, "tags": ["a", "b"], "x": None}),
    ]
    with store.write() as conn:
        repo.upsert_users(conn, org_id=org, namespace=NS, rows=rows)
    with store.read() as conn:
        loaded = sorted(load_users(conn, org_id=org, namespace=NS), key=lambda u: u["user_id"])
    assert loaded == [
        {"user_id": "plain", "traits": {}},
        {"user_id": "rich", "traits": {"segment": "vip", "age": 41, "tags": ["a", "b"], "x": None}},
    ]


def test_items_load_as_the_orm_reads_them(store: Store, org: str) -> None:
    from sqlalchemy import select

    from recsys.store.loading import load_items
    from recsys.store.schema import items

    from .helpers import item_row

    rows = [
        item_row("a"),
        item_row(
            "b", available=False, price=None, embedding=[0.5, -1.0], props={"k": [1, {"z": 2}]}
        ),
        item_row("c", category_path=[], tags=[], brand=None, title=None, description="d"),
    ]
    with store.write() as conn:
        repo.upsert_items(conn, org_id=org, namespace=NS, rows=rows, replace_created_at=True)
    with store.read() as conn:
        loaded = sorted(load_items(conn, org_id=org, namespace=NS), key=lambda r: r["item_id"])
        stmt = select(items).where(items.c.org_id == org, items.c.namespace == NS)
        expected = sorted(
            (dict(r) for r in conn.execute(stmt).mappings()), key=lambda r: r["item_id"]
        )
    assert loaded == expected
    assert loaded[1]["available"] is False and loaded[1]["embedding"] == [0.5, -1.0]
