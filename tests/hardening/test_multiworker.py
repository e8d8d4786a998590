"""Changes made through one worker reach every worker of `recsys serve --workers 3` within 2 s.

Each worker keeps its own snapshot of a namespace (signals and policy) and polls the
namespace's change counters every 0.5 s (`service/snapshots.py`). A config change, a BLOCK rule,
new events and a new catalogue item, each acknowledged by one worker, must show in the
recommendations of every worker within `PROPAGATION_BOUND_S` of the acknowledgement: the product's
promise (docs/operations.md), not a tuning knob of this test.

Which worker answered is the `X-Recsys-Worker` response header (an opaque id per worker
process). Pollers open a new TCP connection per request, so the kernel hands the connections to
all the workers; a change counts as propagated once every one of the workers, all seen warm
with the old state before the change, has answered with the new one. The time is measured from
the change's acknowledgement to the receipt of the last worker's first new answer (an upper
bound of the real lag).
"""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from recsys.client import SIGNALS_BUILDING
from recsys.testing.server import ServerProcess, running_server

WORKERS = 3
PROPAGATION_BOUND_S = 2.0
POLLERS = 6
# Each poller pauses this long between requests: enough answers from every worker to time a
# change to a few tens of ms, without the pollers starving the workers' refresh threads of CPU.
POLL_PAUSE_S = 0.01
WARMUP_TIMEOUT_S = 90.0
# Keep watching this long after a change before giving up, so that a late worker is reported
# with its real lag rather than as a timeout.
OBSERVE_TIMEOUT_S = 15.0
ITEMS = 30
K = 5

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


# --- the header, in process -------------------------------------------------------------------


def test_worker_header_names_the_app_instance(make_client: Callable[..., TestClient]) -> None:
    one, other = make_client(), make_client()
    ids = {one.get("/health").headers["x-recsys-worker"] for _ in range(3)}
    assert len(ids) == 1  # stable for the life of the process
    (worker,) = ids
    assert len(worker) == 16 and int(worker, 16) >= 0  # opaque: random hex, not a pid
    assert one.get("/no-such-route").headers["x-recsys-worker"] == worker  # errors too
    assert other.get("/health").headers["x-recsys-worker"] != worker


# --- polling ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What one answer showed, and when and from which worker."""

    worker: str
    sent: float
    received: float
    items: tuple[str, ...]
    config_version: int


@dataclass
class Poller:
    """Threads asking for recommendations, each request on a new connection, until stopped."""

    server: ServerProcess
    org_id: str
    namespace: str
    views: list[View] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Poller:
        self._threads = [
            threading.Thread(target=self._poll, name=f"poller-{n}", daemon=True)
            for n in range(POLLERS)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, done: Callable[[list[View]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.errors:
                pytest.fail(f"poller errors: {self.errors[:5]}\n{self.server.log()}")
            if done(list(self.views)):
                return True
            time.sleep(0.005)
        return False

    def _poll(self) -> None:
        url = urlsplit(self.server.base_url)
        body = orjson.dumps({"namespace": self.namespace, "k": K})
        headers = {
            "Content-Type": "application/json",
            "X-Org-ID": self.org_id,
            "Connection": "close",
        }
        while not self._stop.is_set():
            # A new connection each time: accept() hands it to whichever worker takes it.
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
            try:
                sent = time.monotonic()
                conn.request("POST", "/v1/recommendations", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                received = time.monotonic()
                if response.status != 200:
                    self.errors.append(f"HTTP {response.status}: {data[:300]!r}")
                    return
                answer = orjson.loads(data)
                # A worker's first answers may come before its signals are complete: they
                # do not count as its view yet.
                if not any(w.startswith(SIGNALS_BUILDING) for w in answer["warnings"]):
                    self.views.append(
                        View(
                            worker=response.getheader("x-recsys-worker") or "",
                            sent=sent,
                            received=received,
                            items=tuple(item["item_id"] for item in answer["items"]),
                            config_version=int(answer["config_version"]),
                        )
                    )
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                return
            finally:
                conn.close()
            time.sleep(POLL_PAUSE_S)


# --- the server and its namespaces ------------------------------------------------------------


@dataclass
class Cluster:
    backend: str
    server: ServerProcess
    org_id: str
    http: httpx.Client
    workers: frozenset[str] = frozenset()

    def post(self, path: str, body: dict[str, Any], status: int = 200) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp(f"multiworker-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'recsys.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    org_id = str(uuid.uuid4())
    with (
        running_server(url, workdir=workdir, workers=WORKERS) as server,
        httpx.Client(base_url=server.base_url, headers={"X-Org-ID": org_id}, timeout=60) as http,
    ):
        yield Cluster(request.param, server, org_id, http)


def events_for(item_id: str, count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{tag}-{item_id}-{n}",
            "user_id": f"u{n % 40}",
            "item_id": item_id,
            "type": "purchase" if n % 3 == 0 else "click",
        }
        for n in range(count)
    ]


def seed_namespace(cluster: Cluster, namespace: str) -> None:
    """Items i0..i29, i0 the most popular and i29 the least; events (but no item yet) for
    "late": the catalogue change makes it, the most popular of all, appear."""
    items = [
        {"item_id": f"i{n}", "category": f"c{n % 5}", "brand": f"b{n % 3}"} for n in range(ITEMS)
    ]
    cluster.post("/v1/items:upsert", {"namespace": namespace, "items": items})
    events = [e for n in range(ITEMS) for e in events_for(f"i{n}", 3 * (ITEMS - n), "seed")]
    events += events_for("late", 600, "seed")
    cluster.post("/v1/events:batch", {"namespace": namespace, "events": events})


def warm_up(cluster: Cluster, poller: Poller) -> list[View]:
    """Until every worker has answered for the namespace (each builds its snapshot then)."""

    def all_workers_answered(views: list[View]) -> bool:
        return len({v.worker for v in views}) >= WORKERS

    assert poller.wait_for(all_workers_answered, WARMUP_TIMEOUT_S), (
        f"not all {WORKERS} workers answered: {len({v.worker for v in poller.views})}"
    )
    views = list(poller.views)
    seen = frozenset(v.worker for v in views)
    assert len(seen) == WORKERS, seen  # a restarted worker would show up as a new id
    if cluster.workers:
        assert seen == cluster.workers, "the workers changed between tests"
    cluster.workers = seen
    return views


@dataclass(frozen=True)
class Propagation:
    lag_s: float  # acknowledgement -> last worker's first new answer
    per_worker_s: dict[str, float]
    answers: int


def measure(
    cluster: Cluster,
    namespace: str,
    change: Callable[[], None],
    shows: Callable[[View], bool],
) -> Propagation:
    """Warm every worker, check they all show the old state, make the change, and time how
    long until every worker shows the new one."""
    with Poller(cluster.server, cluster.org_id, namespace) as poller:
        before = warm_up(cluster, poller)
        assert not any(shows(v) for v in before), "the new state shows before the change"
        change()
        acked = time.monotonic()

        def every_worker_shows(views: list[View]) -> bool:
            return {v.worker for v in views if v.sent >= acked and shows(v)} >= cluster.workers

        finished = poller.wait_for(every_worker_shows, OBSERVE_TIMEOUT_S)
    views = list(poller.views)
    strangers = {v.worker for v in views} - cluster.workers
    assert not strangers, f"answers from unknown workers {strangers}: a worker restarted"
    first: dict[str, float] = {}
    for view in sorted(views, key=lambda v: v.received):
        if shows(view) and view.received >= acked:
            first.setdefault(view.worker, view.received - acked)
    assert finished, (
        f"after {OBSERVE_TIMEOUT_S}s only {len(first)} of {WORKERS} workers show the change: "
        f"{first}\n{cluster.server.log()}"
    )
    # Never back: once a worker has shown the change, whatever it answers later shows it too.
    for view in views:
        seen_at = first.get(view.worker)
        if seen_at is not None and view.sent > acked + seen_at:
            assert shows(view), f"worker {view.worker} went back to the old state: {view}"
    return Propagation(
        lag_s=max(first.values()),
        per_worker_s={w[:6]: round(s, 3) for w, s in first.items()},
        answers=len(views),
    )


def check_bound(
    backend: str, what: str, result: Propagation, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print(
            f"\n[multiworker {backend}] {what}: every worker after {result.lag_s:.3f}s "
            f"(per worker {result.per_worker_s}; {result.answers} answers)"
        )
    assert result.lag_s <= PROPAGATION_BOUND_S, result


# --- the changes ------------------------------------------------------------------------------


@pytest.mark.slow
def test_config_change_reaches_every_worker(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = f"config-{uuid.uuid4().hex[:8]}"
    seed_namespace(cluster, namespace)
    stored: dict[str, int] = {}

    def change() -> None:
        answer = cluster.post(
            "/v1/admin/recommendation/config",
            {"namespace": namespace, "config": {"mmr_lambda": 0.5}, "author": "multiworker"},
        )
        stored["version"] = answer["version"]

    result = measure(
        cluster, namespace, change, lambda v: v.config_version == stored.get("version")
    )
    check_bound(cluster.backend, "config version", result, capsys)


@pytest.mark.slow
def test_block_rule_reaches_every_worker(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = f"rule-{uuid.uuid4().hex[:8]}"
    seed_namespace(cluster, namespace)

    def change() -> None:
        cluster.post(
            "/v1/admin/rules",
            {
                "namespace": namespace,
                "name": "block the best seller",
                "action": "BLOCK",
                "target_type": "ITEM",
                "item_ids": ["i0"],
            },
            status=201,
        )

    # Before: i0, the most popular item, is in every answer; after: in none.
    result = measure(cluster, namespace, change, lambda v: "i0" not in v.items)
    check_bound(cluster.backend, "BLOCK rule", result, capsys)


@pytest.mark.slow
def test_new_events_reach_every_worker(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = f"events-{uuid.uuid4().hex[:8]}"
    seed_namespace(cluster, namespace)
    last = f"i{ITEMS - 1}"

    def change() -> None:
        events = events_for(last, 900, "burst")
        answer = cluster.post("/v1/events:batch", {"namespace": namespace, "events": events})
        assert answer["inserted"] == len(events)

    # The least popular item becomes the most popular one.
    result = measure(cluster, namespace, change, lambda v: last in v.items)
    check_bound(cluster.backend, "new events", result, capsys)


@pytest.mark.slow
def test_new_item_reaches_every_worker(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = f"item-{uuid.uuid4().hex[:8]}"
    seed_namespace(cluster, namespace)

    def change() -> None:
        cluster.post(
            "/v1/items:upsert",
            {"namespace": namespace, "items": [{"item_id": "late", "category": "c9"}]},
        )

    result = measure(cluster, namespace, change, lambda v: "late" in v.items)
    check_bound(cluster.backend, "new item", result, capsys)
