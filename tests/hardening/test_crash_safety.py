"""Crash safety of ingestion, on the real server process and both stores.

Clients send event batches to `recsys serve --workers 2` and keep a ledger of what was
acknowledged (HTTP 200 received) and what was not (in flight or refused when the server died).
At a seeded random point the whole server (uvicorn master and workers) is SIGKILLed; it is then
restarted on the same database, and the stored events must show that:

- every acknowledged batch is stored completely, exactly once;
- no batch is stored in part (each is complete or absent), and nothing else is stored;
- every batch that was not acknowledged can be sent again: it ends up stored exactly once
  (idempotency by `event_id`), and the server says how many of its events it already had;
- the restarted server answers `/health` and recommendations.

The checker (`audit_batches`) is tested on its own first, against stores that break each promise.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from recsys.store import Store
from recsys.testing.server import ServerProcess, running_server

NAMESPACE = "crash"
WORKERS = 2
CLIENTS = 4
BATCH_SIZE = 200
ITEMS = 50
KILLS = 2
# The kill comes once this many batches (a seeded random number) have been acknowledged in the
# round, plus a random fraction of a batch's time, so that it lands anywhere in a commit.
KILL_AFTER_ACKED = (150, 350)
KILL_JITTER_S = 0.05
# How many acknowledged batches to send again after each restart (each must add nothing).
RESEND_ACKED_SAMPLE = 5
# Fixed per store so that a failure can be replayed; RECSYS_CRASH_SEED explores other points.
SEEDS = {"sqlite": 7, "postgresql": 11}

# --- the checker ------------------------------------------------------------------------------


def event_id(batch_id: str, index: int) -> str:
    return f"{batch_id}:{index}"


def item_of(event: str) -> str:
    """The item an event names, derived from its id: a stored row can be checked on its own."""
    return f"i{zlib.crc32(event.encode()) % ITEMS}"


@dataclass(frozen=True)
class BatchAudit:
    stored: dict[str, int]  # batch id -> events of it stored
    problems: list[str]


def audit_batches(
    rows: Iterable[tuple[str, str]],
    *,
    sent: Collection[str],
    acked: Collection[str],
    batch_size: int = BATCH_SIZE,
) -> BatchAudit:
    """Compare the stored `(event_id, item_id)` rows with the batches that were sent.

    Problems: an acknowledged batch not stored completely; any batch stored in part; an event
    stored twice; an event that belongs to no batch sent (or outside its batch); an event
    stored with another item than the one sent.
    """
    problems: list[str] = []
    sent_ids, acked_ids = set(sent), set(acked)  # membership tests for every stored row
    copies = Counter[str]()
    per_batch = Counter[str]()
    for stored_id, item in rows:
        copies[stored_id] += 1
        batch_id, _, index = stored_id.rpartition(":")
        if batch_id not in sent_ids or not index.isdigit() or int(index) >= batch_size:
            problems.append(f"event {stored_id!r} belongs to no batch that was sent")
            continue
        per_batch[batch_id] += 1
        if item != item_of(stored_id):
            problems.append(
                f"event {stored_id!r} stored with item {item!r}, sent {item_of(stored_id)!r}"
            )
    problems += [f"event {e!r} stored {n} times" for e, n in copies.items() if n > 1]
    for batch_id in sorted(sent_ids):
        count = per_batch.get(batch_id, 0)
        if batch_id in acked_ids and count != batch_size:
            problems.append(f"acknowledged batch {batch_id}: {count} of {batch_size} events stored")
        elif 0 < count < batch_size:
            problems.append(f"batch {batch_id} stored in part: {count} of {batch_size} events")
    return BatchAudit(stored=dict(per_batch), problems=problems)


def _rows(batches: dict[str, int]) -> list[tuple[str, str]]:
    """Stored rows for the first `n` events of each batch."""
    return [(event_id(b, i), item_of(event_id(b, i))) for b, n in batches.items() for i in range(n)]


def test_audit_passes_complete_and_absent_batches() -> None:
    audit = audit_batches(_rows({"a": 4, "b": 4}), sent={"a", "b", "c"}, acked={"a"}, batch_size=4)
    assert audit.problems == []
    assert audit.stored == {"a": 4, "b": 4}  # b committed without its answer; c never did


def test_audit_catches_a_partial_batch() -> None:
    audit = audit_batches(_rows({"a": 4, "b": 3}), sent={"a", "b"}, acked={"a"}, batch_size=4)
    assert audit.problems == ["batch b stored in part: 3 of 4 events"]


def test_audit_catches_a_lost_acknowledged_batch() -> None:
    audit = audit_batches(_rows({"a": 4}), sent={"a", "b"}, acked={"a", "b"}, batch_size=4)
    assert audit.problems == ["acknowledged batch b: 0 of 4 events stored"]
    partial = audit_batches(_rows({"a": 2}), sent={"a"}, acked={"a"}, batch_size=4)
    assert partial.problems == ["acknowledged batch a: 2 of 4 events stored"]


def test_audit_catches_duplicates_strays_and_wrong_rows() -> None:
    rows = _rows({"a": 4})
    rows.append(rows[0])  # stored twice
    rows.append(("zz:0", item_of("zz:0")))  # no such batch
    rows.append(("a:9", item_of("a:9")))  # outside the batch
    rows[1] = (rows[1][0], "other")  # another item than sent
    audit = audit_batches(rows, sent={"a"}, acked={"a"}, batch_size=4)
    assert audit.problems == [
        "event 'a:1' stored with item 'other', sent " + repr(item_of("a:1")),
        "event 'zz:0' belongs to no batch that was sent",
        "event 'a:9' belongs to no batch that was sent",
        "event 'a:0' stored 2 times",
        "acknowledged batch a: 5 of 4 events stored",
    ]


# --- the clients ------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the clients sent and what the server answered; shared by the client threads."""

    sent: list[str] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    # Batches sent while the server died (or refused because it was dead): not acknowledged.
    unacked: set[str] = field(default_factory=set)
    # Of those, the ones whose connection broke (rather than was refused): sent before the kill.
    in_flight: set[str] = field(default_factory=set)
    # Anything but a 200 before the kill, or an acknowledgement that did not insert the batch.
    unexpected: list[str] = field(default_factory=list)
    workers: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acked_in(self, round_no: int) -> int:
        prefix = f"r{round_no}-"
        with self.lock:
            return sum(1 for b in self.acked if b.startswith(prefix))


def batch_body(batch_id: str) -> dict[str, Any]:
    events = []
    for index in range(BATCH_SIZE):
        eid = event_id(batch_id, index)
        events.append(
            {
                "event_id": eid,
                "user_id": f"u{zlib.crc32(eid.encode()) % 97}",
                "item_id": item_of(eid),
                "type": "click" if index % 4 else "purchase",
            }
        )
    return {"namespace": NAMESPACE, "events": events}


def _client(
    server: ServerProcess,
    headers: dict[str, str],
    name: str,
    ledger: Ledger,
    killing: threading.Event,
) -> None:
    # No keep-alive: each batch on a new connection, so that both workers take batches (and
    # SQLite's writers of two processes alternate through the lock file).
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60, limits=limits) as http:
        for seq in range(1_000_000):
            batch_id = f"{name}-b{seq}"
            body = batch_body(batch_id)
            with ledger.lock:
                ledger.sent.append(batch_id)
            try:
                response = http.post("/v1/events:batch", json=body)
            except httpx.TransportError as exc:
                with ledger.lock:
                    ledger.unacked.add(batch_id)
                    if not isinstance(exc, httpx.ConnectError):
                        ledger.in_flight.add(batch_id)
                    if not killing.is_set():
                        ledger.unexpected.append(f"{batch_id}: {exc!r} before the kill")
                return  # the server is gone (or broken): this client's round is over
            with ledger.lock:
                if response.status_code != 200:
                    ledger.unacked.add(batch_id)
                    ledger.unexpected.append(f"{batch_id}: HTTP {response.status_code}")
                    return
                ledger.acked.add(batch_id)
                ledger.workers[response.headers["x-recsys-worker"]] += 1
                if response.json()["inserted"] != BATCH_SIZE:
                    ledger.unexpected.append(f"{batch_id}: first send answered {response.text}")
            # No stop on `killing`: sending on until the connection fails keeps batches in
            # flight at the very moment of the kill.


def send_until_killed(
    server: ServerProcess,
    headers: dict[str, str],
    ledger: Ledger,
    round_no: int,
    rng: random.Random,
) -> dict[str, Any]:
    """Run the clients until the seeded kill point, SIGKILL the server, collect the clients."""
    threshold = rng.randint(*KILL_AFTER_ACKED)
    jitter = rng.uniform(0, KILL_JITTER_S)
    killing = threading.Event()
    threads = [
        threading.Thread(
            target=_client,
            args=(server, headers, f"r{round_no}-c{n}", ledger, killing),
            name=f"crash-client-{n}",
        )
        for n in range(CLIENTS)
    ]
    started = time.monotonic()
    workers_before = Counter(ledger.workers)
    for thread in threads:
        thread.start()
    deadline = started + 120
    while ledger.acked_in(round_no) < threshold:
        if time.monotonic() > deadline or not any(t.is_alive() for t in threads):
            killing.set()
            server.kill_hard()
            for thread in threads:
                thread.join(timeout=60)
            pytest.fail(
                f"round {round_no}: {ledger.acked_in(round_no)} of {threshold} batches "
                f"acknowledged; unexpected: {ledger.unexpected[:5]}\n{server.log()}"
            )
        time.sleep(0.002)
    time.sleep(jitter)
    killing.set()
    killed = server.kill_hard()
    ingest_s = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a client never returned after the kill"
    # The master, every worker (and multiprocessing's helper) were in the group, and none is
    # left (kill_hard waited for that): nothing answers on the port any more.
    assert len(killed) >= WORKERS + 1, killed
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/health", timeout=5)
    return {
        "threshold": threshold,
        "acked": ledger.acked_in(round_no),
        "ingest_s": round(ingest_s, 2),
        "killed_pids": len(killed),
        "in_flight": sum(1 for b in ledger.in_flight if b.startswith(f"r{round_no}-")),
        "workers_acking": len(ledger.workers - workers_before),
    }


# --- the checks after a restart ---------------------------------------------------------------


def stored_rows(database_url: str, org_id: str) -> list[tuple[str, str]]:
    """Read straight from the database, not through the server under test."""
    store = Store.from_url(database_url, migrate=False)
    try:
        with store.read() as conn:
            result = conn.execute(
                text("SELECT event_id, item_id FROM events WHERE org_id = :o AND namespace = :n"),
                {"o": org_id, "n": NAMESPACE},
            )
            return [(str(r[0]), str(r[1])) for r in result]
    finally:
        store.close()


def check_store(database_url: str, org_id: str, ledger: Ledger) -> BatchAudit:
    audit = audit_batches(stored_rows(database_url, org_id), sent=ledger.sent, acked=ledger.acked)
    assert audit.problems == [], audit.problems[:20]
    return audit


def resend(
    server: ServerProcess,
    headers: dict[str, str],
    ledger: Ledger,
    audit: BatchAudit,
    rng: random.Random,
) -> dict[str, int]:
    """Send every unacknowledged batch again (and a few acknowledged ones): each answer must
    count as duplicates exactly the events that were already stored."""
    again = sorted(ledger.unacked)
    sample = rng.sample(sorted(ledger.acked), min(RESEND_ACKED_SAMPLE, len(ledger.acked)))
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as http:
        for batch_id in again + sample:
            response = http.post("/v1/events:batch", json=batch_body(batch_id))
            assert response.status_code == 200, response.text
            already = audit.stored.get(batch_id, 0)
            answer = response.json()
            assert (answer["inserted"], answer["duplicates"]) == (BATCH_SIZE - already, already), (
                batch_id,
                answer,
            )
    committed_unacked = sum(1 for b in again if audit.stored.get(b, 0))
    ledger.acked.update(again)
    ledger.unacked.clear()
    return {"resent": len(again), "committed_unacknowledged": committed_unacked}


def check_serving(server: ServerProcess, headers: dict[str, str]) -> None:
    assert httpx.get(f"{server.base_url}/health", timeout=30).status_code == 200
    response = httpx.post(
        f"{server.base_url}/v1/recommendations",
        json={"namespace": NAMESPACE, "k": 10},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    items = [item["item_id"] for item in response.json()["items"]]
    assert len(items) == 10 and set(items) <= {f"i{n}" for n in range(ITEMS)}, items


# --- the test ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_acknowledged_batches_survive_sigkill(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    seed = int(os.environ.get("RECSYS_CRASH_SEED", SEEDS[backend]))
    rng = random.Random(seed)
    org_id = str(uuid.uuid4())
    headers = {"X-Org-ID": org_id}
    ledger = Ledger()
    report: list[dict[str, Any]] = []
    started = time.monotonic()
    for round_no in range(KILLS + 1):
        with running_server(database_url, workdir=tmp_path, workers=WORKERS) as server:
            if round_no == 0:
                items = [{"item_id": f"i{n}", "category": f"c{n % 5}"} for n in range(ITEMS)]
                r = httpx.post(
                    f"{server.base_url}/v1/items:upsert",
                    json={"namespace": NAMESPACE, "items": items},
                    headers=headers,
                    timeout=60,
                )
                assert r.status_code == 200, r.text
            else:
                # What the crash left, then the resends, then all of it again.
                audit = check_store(database_url, org_id, ledger)
                report[-1] |= resend(server, headers, ledger, audit, rng)
                check_store(database_url, org_id, ledger)
                check_serving(server, headers)
            if round_no < KILLS:
                report.append(send_until_killed(server, headers, ledger, round_no, rng))
    assert ledger.unexpected == [], ledger.unexpected[:10]
    final = check_store(database_url, org_id, ledger)
    assert set(final.stored) == set(ledger.sent)  # every batch is now stored, exactly once
    assert sum(final.stored.values()) == len(ledger.sent) * BATCH_SIZE
    # Not vacuous: the kills caught batches in flight, and both workers acknowledged batches.
    assert sum(r["in_flight"] for r in report) >= 1, report
    assert all(r["workers_acking"] == WORKERS for r in report), report
    with capsys.disabled():
        print(
            f"\n[crash-safety {backend} seed={seed}] {time.monotonic() - started:.1f}s, "
            f"{len(ledger.sent)} batches stored once each; rounds: {report}"
        )
