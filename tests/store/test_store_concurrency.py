"""Concurrent writers on one namespace: no duplicate event, no lost count, one embedding dim."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from recsys.store import Store
from recsys.store import repositories as repo
from recsys.store.schema import events

from .helpers import T0, all_events, all_items, event_row, item_row

NS = "race"
THREADS = 4
T = TypeVar("T")


def race(work: Callable[[int], T]) -> list[T]:
    """Run `work(0..THREADS-1)` on separate threads, released together by a barrier."""
    barrier = threading.Barrier(THREADS)

    def run(n: int) -> T:
        barrier.wait(timeout=30)
        return work(n)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_overlapping_event_batches_store_each_event_id_once(store: Store, org: str) -> None:
    shared = [f"shared-{i}" for i in range(200)]

    def work(n: int) -> list[int]:
        rng = random.Random(n)
        rows = [event_row(e, user_id=f"t{n}") for e in shared]
        rows += [event_row(f"own-{n}-{i}", user_id=f"t{n}") for i in range(50)]
        rows += [event_row(None, user_id=f"t{n}") for _ in range(5)]
        rng.shuffle(rows)
        counts = []
        for start in range(0, len(rows), 37):  # many small transactions, interleaved
            with store.write() as conn:
                counts.append(
                    repo.insert_events(
                        conn, org_id=org, namespace=NS, rows=rows[start : start + 37]
                    )
                )
        return counts

    counts = race(work)

    stored = all_events(store, org, NS)
    assert sum(map(sum, counts)) == len(stored) == 200 + THREADS * (50 + 5)
    ids = [r["event_id"] for r in stored if r["event_id"] is not None]
    assert len(ids) == len(set(ids)) == 200 + THREADS * 50
    assert set(ids) >= set(shared)
    assert sum(r["event_id"] is None for r in stored) == THREADS * 5
    with store.read() as conn:
        duplicated = conn.execute(
            select(events.c.event_id)
            .where(events.c.org_id == org, events.c.namespace == NS)
            .group_by(events.c.event_id)
            .having(func.count() > 1, events.c.event_id.is_not(None))
        ).all()
    assert duplicated == []


def test_concurrent_first_claims_agree_on_one_dimension(store: Store, org: str) -> None:
    def work(n: int) -> int:
        with store.write() as conn:
            return repo.claim_embedding_dim(conn, org_id=org, namespace=NS, dim=n + 2, now_us=T0)

    claimed = race(work)
    with store.read() as conn:
        stored = repo.get_embedding_dim(conn, org_id=org, namespace=NS)
    assert stored in {n + 2 for n in range(THREADS)}
    assert claimed == [stored] * THREADS


def test_concurrent_upserts_of_the_same_items_keep_one_row_each(store: Store, org: str) -> None:
    ids = [f"item-{i}" for i in range(100)]

    def work(n: int) -> None:
        rows = [item_row(i, title=f"t{n}") for i in ids]
        random.Random(n).shuffle(rows)
        for start in range(0, len(rows), 25):
            with store.write() as conn:
                repo.upsert_items(
                    conn,
                    org_id=org,
                    namespace=NS,
                    rows=rows[start : start + 25],
                    replace_created_at=False,
                )

    race(work)
    stored = all_items(store, org, NS)
    assert [r["item_id"] for r in stored] == sorted(ids)
    assert {r["title"] for r in stored} <= {f"t{n}" for n in range(THREADS)}


def test_a_later_batch_never_commits_behind_an_earlier_one(store: Store, org: str) -> None:
    """Ids come from a sequence before commit. If a second writer could commit while the first
    is still open, a reader paging by `after_id` would pass the first writer's (lower) ids
    before they became visible and never see them. Writers of one namespace must queue."""
    first_inserted = threading.Event()
    release_first = threading.Event()
    second_done = threading.Event()

    def first() -> None:
        with store.write() as conn:
            repo.insert_events(conn, org_id=org, namespace=NS, rows=[event_row("first")])
            first_inserted.set()
            assert release_first.wait(timeout=30)

    def second() -> None:
        with store.write() as conn:
            repo.insert_events(conn, org_id=org, namespace=NS, rows=[event_row("second")])
        second_done.set()

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(first)
        assert first_inserted.wait(timeout=30)
        waiting = pool.submit(second)
        try:
            assert not second_done.wait(timeout=0.5), "second writer committed past the first"
            assert [e["event_id"] for e in all_events(store, org, NS)] == []
        finally:
            release_first.set()
        held.result(timeout=30)
        waiting.result(timeout=30)

    stored = all_events(store, org, NS)
    assert [e["event_id"] for e in stored] == ["first", "second"]
    assert stored[0]["id"] < stored[1]["id"]


def test_event_writers_of_other_namespaces_do_not_queue(store: Store, org: str) -> None:
    """On PostgreSQL the queue is per namespace (SQLite has one writer for the whole file)."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite has a single writer per database file by design")
    release = threading.Event()
    inserted = threading.Event()

    def hold() -> None:
        with store.write() as conn:
            repo.insert_events(conn, org_id=org, namespace=NS, rows=[event_row("held")])
            inserted.set()
            assert release.wait(timeout=30)

    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(hold)
        try:
            assert inserted.wait(timeout=30)
            with store.write() as conn:
                # Fails fast instead of hanging if the lock covered more than one namespace.
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                for scope in [(org, "elsewhere"), (str(uuid.uuid4()), NS)]:
                    assert (
                        repo.insert_events(
                            conn, org_id=scope[0], namespace=scope[1], rows=[event_row("held")]
                        )
                        == 1
                    )
        finally:
            release.set()
        held.result(timeout=30)
