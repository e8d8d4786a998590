"""SQLite group commit (`Writes.run`) and its write lane: atomic per job, answered only after
the commit, ids in commit order, WAL kept bounded, several writers on one file."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from recsys.config.settings import Settings
from recsys.service import create_app
from recsys.service import writes as writes_module
from recsys.service.writes import Writes
from recsys.store import Store
from recsys.store import engine as engine_module
from recsys.store import repositories as repo
from recsys.store.engine import SqliteWriteLane

NS = "groups"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'groups.db'}", migrate=True)
    yield store
    store.close()


def event(event_id: str | None, **overrides: Any) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "user_id": "u",
        "item_id": "i",
        "type": 0,
        "value": 1.0,
        "ts_us": 1,
        "meta": {"k": event_id},
    }
    return row | overrides


def stored(store: Store, org: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        return repo.list_events(conn, org_id=org, namespace=NS, limit=100_000)


def append(org: str, rows: list[dict[str, Any]]) -> Any:
    def work(conn: Connection) -> int:
        repo.ensure_namespace(conn, org_id=org, namespace=NS, now_us=0)
        return repo.insert_events(conn, org_id=org, namespace=NS, rows=rows)

    return work


def test_concurrent_jobs_share_transactions_and_each_gets_its_own_count(
    sqlite_store: Store,
) -> None:
    org = str(uuid.uuid4())
    committed: list[tuple[str, str]] = []
    writes = Writes(sqlite_store, lambda o, n: committed.append((o, n)))
    batches = [[event(f"e{b}-{i}") for i in range(50)] for b in range(30)]
    # Every batch repeats one shared id: exactly one of them stores it, whichever goes first.
    for rows in batches:
        rows.append(event("shared"))

    async def main() -> list[int]:
        return await asyncio.gather(
            *(writes.run(org, NS, append(org, rows), size=len(rows)) for rows in batches)
        )

    try:
        counts = asyncio.run(main())
    finally:
        writes.close()
    assert sorted(counts) == [50] * 29 + [51]
    rows = stored(sqlite_store, org)
    assert len(rows) == 30 * 50 + 1
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Jobs commit in the order they were queued, each batch's rows in batch order.
    unshared = [r["event_id"] for r in rows if r["event_id"] != "shared"]
    assert unshared == [e["event_id"] for b in batches for e in b if e["event_id"] != "shared"]
    assert committed and set(committed) == {(org, NS)}
    with sqlite_store.read() as conn:
        version = conn.execute(
            text("SELECT events_version FROM namespaces WHERE org_id = :o"), {"o": org}
        ).scalar_one()
    assert version == 30  # one bump per batch that inserted something


def test_a_failing_job_fails_alone_and_leaves_nothing(sqlite_store: Store) -> None:
    org = str(uuid.uuid4())
    writes = Writes(sqlite_store, lambda o, n: None)
    good = [[event(f"g{b}-{i}") for i in range(20)] for b in range(6)]
    bad = [event("b1"), event("b2", user_id=None)]  # NOT NULL violation on the second row

    async def main() -> list[Any]:
        jobs = [writes.run(org, NS, append(org, rows)) for rows in good[:3]]
        jobs.append(writes.run(org, NS, append(org, bad)))
        jobs += [writes.run(org, NS, append(org, rows)) for rows in good[3:]]
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        writes.close()
    assert results[:3] == [20, 20, 20] and results[4:] == [20, 20, 20]
    assert isinstance(results[3], Exception) and "NOT NULL" in str(results[3])
    ids = [r["event_id"] for r in stored(sqlite_store, org)]
    assert ids == [e["event_id"] for rows in good for e in rows]  # no b1


def test_the_caller_hears_back_only_after_commit(sqlite_store: Store, tmp_path: Path) -> None:
    """What a job wrote is visible to another connection when its await returns."""
    org = str(uuid.uuid4())
    writes = Writes(sqlite_store, lambda o, n: None)
    other = Store.from_url(f"sqlite:///{tmp_path / 'groups.db'}", migrate=False)

    async def main() -> list[int]:
        seen = []
        for k in range(5):
            await writes.run(org, NS, append(org, [event(f"e{k}")]))
            with other.read() as conn:
                seen.append(len(repo.list_events(conn, org_id=org, namespace=NS, limit=100)))
        return seen

    try:
        assert asyncio.run(main()) == [1, 2, 3, 4, 5]
    finally:
        writes.close()
        other.close()


def test_close_commits_what_is_queued_and_refuses_more(sqlite_store: Store) -> None:
    org = str(uuid.uuid4())
    writes = Writes(sqlite_store, lambda o, n: None)

    async def main() -> None:
        pending = [
            asyncio.ensure_future(writes.run(org, NS, append(org, [event(f"e{k}")])))
            for k in range(10)
        ]
        await asyncio.sleep(0)  # all ten are queued
        await asyncio.get_running_loop().run_in_executor(None, writes.close)
        assert await asyncio.gather(*pending) == [1] * 10
        with pytest.raises(RuntimeError):
            await writes.run(org, NS, append(org, [event("late")]))

    asyncio.run(main())
    assert len(stored(sqlite_store, org)) == 10


def test_writers_on_one_file_take_turns_and_the_wal_restarts(
    sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two lanes (as two worker processes would have) on one database take turns and lose
    nothing. (How small the checkpointer keeps the WAL depends on timing: not asserted.)"""
    monkeypatch.setattr(engine_module, "SQLITE_WAL_RESTART_FRAMES", 64)
    monkeypatch.setattr(engine_module, "SQLITE_CHECKPOINT_INTERVAL_S", 0.01)
    org = str(uuid.uuid4())
    lanes = [SqliteWriteLane(sqlite_store.engine) for _ in range(2)]
    assert (tmp_path / "groups.db-writer.lock").exists()

    def write(n: int) -> None:
        for b in range(40):
            rows = [event(f"l{n}-{b}-{i}", user_id=f"u{i}") for i in range(100)]
            with lanes[n].transaction() as conn:
                repo.insert_events(conn, org_id=org, namespace=NS, rows=rows)

    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(write, range(2)))
    finally:
        for lane in lanes:
            lane.close()
    assert len(stored(sqlite_store, org)) == 2 * 40 * 100


def test_concurrent_http_batches_through_the_group_writer(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'http.db'}", migrate=True)
    org = str(uuid.uuid4())
    headers = {"X-Org-ID": org}
    app = create_app(Settings(database_url="unused://"), store=store)  # type: ignore[call-arg]
    barrier = threading.Barrier(8)
    try:
        with TestClient(app) as client:

            def post(n: int) -> dict[str, Any]:
                body = {
                    "namespace": NS,
                    "events": [
                        {"event_id": f"c{n}-{i}", "user_id": "u", "item_id": "i", "type": "view"}
                        for i in range(100)
                    ]
                    + [{"event_id": "same", "user_id": "u", "item_id": "i", "type": 1}],
                }
                barrier.wait(timeout=30)
                response = client.post("/v1/events:batch", json=body, headers=headers)
                assert response.status_code == 200, response.text
                result: dict[str, Any] = response.json()
                return result

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(post, range(8)))
            assert sorted(r["inserted"] for r in results) == [100] * 7 + [101]
            assert sum(r["duplicates"] for r in results) == 7
            listed = client.get(
                "/v1/events", params={"namespace": NS, "limit": 1000}, headers=headers
            ).json()["events"]
            assert len(listed) == 801
        assert app.state.recsys.writes._writer is None  # stopped with the app
    finally:
        store.close()


def test_stores_without_a_database_file_write_in_the_threadpool(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///file:{tmp_path / 'uri.db'}?uri=true", migrate=True)
    org = str(uuid.uuid4())
    writes = Writes(store, lambda o, n: None)
    try:
        inserted = asyncio.run(writes.run(org, NS, append(org, [event("a")])))
        assert inserted == 1 and writes._writer is None
    finally:
        writes.close()
        store.close()


def test_group_limits_are_positive() -> None:
    assert writes_module.MAX_GROUP_JOBS > 1 and writes_module.MAX_GROUP_SIZE >= 5000
