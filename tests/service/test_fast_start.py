"""Fast start: with `first_wait_s`, a namespace's first requests never wait for its whole build.
They are answered from what exists so far (the catalogue, then popularity and histories) with
a warning, and complete lists follow once the heavy signals are built; clients that need
complete lists (the toolkit) wait for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.client import SIGNALS_BUILDING, RecsysClient
from recsys.config.knobs import defaults
from recsys.config.settings import Settings, SettingsError
from recsys.ranking import build_pipeline
from recsys.ranking.request import RankRequest
from recsys.service import snapshots as snapshots_module
from recsys.service.artifacts import ArtifactShelf
from recsys.service.snapshots import BUILDING_CHEAP, Served, SnapshotRegistry
from recsys.store import Store
from tests.ranking.shop import NOW
from tests.service.test_artifact_sharing import NS, fill

USERS = ("u00", "u05", "u40", None)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Holds a background first load between its cheap and its complete snapshot until set."""
    opened = threading.Event()
    real = snapshots_module.build_snapshot

    def held(**kwargs: Any) -> Any:
        assert opened.wait(60), "the test never opened the gate"
        return real(**kwargs)

    monkeypatch.setattr(snapshots_module, "build_snapshot", held)
    yield opened
    opened.set()


def lists(served: Served) -> list[list[str]]:
    pipeline = build_pipeline()
    return [
        [
            item.item_id
            for item in pipeline.run(
                served.snapshot, RankRequest(now_us=NOW, knobs=defaults(), user_id=user, k=10)
            ).items
        ]
        for user in USERS
    ]


_STARTED: list[SnapshotRegistry] = []


@pytest.fixture
def registries(store: Store) -> Iterator[None]:
    """Every registry the test makes is stopped before its store closes (this fixture needs the
    store, so it is torn down first): a background first load still running would otherwise
    hold a store connection past the test."""
    yield
    while _STARTED:
        _STARTED.pop().stop()


def registry(store: Store, **options: Any) -> SnapshotRegistry:
    made = SnapshotRegistry(store, base_knobs=defaults(), now_us=lambda: NOW, **options)
    _STARTED.append(made)
    return made


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_first_requests_get_partial_lists_then_complete_ones(
    store: Store, org: str, gate: threading.Event, registries: None
) -> None:
    fill(store, org)
    expected = lists(registry(store).current(org, NS))  # built synchronously, as before
    fast = registry(store, first_wait_s=0.0)
    first = fast.current(org, NS)
    assert first.notice is not None and first.notice.startswith(SIGNALS_BUILDING)
    assert not fast.is_warm(org, NS)
    wait_for(lambda: fast.current(org, NS).notice == BUILDING_CHEAP, "the cheap signals")
    cheap = fast.current(org, NS)
    partial = lists(cheap)
    assert all(len(ranked) == 10 for ranked in partial)
    assert partial != expected  # without co-visitation, item model and vectors
    assert cheap.snapshot.covisitation(cheap.snapshot.params.covis_window_days).nnz == 0
    gate.set()
    wait_for(lambda: fast.is_warm(org, NS), "the complete snapshot")
    complete = fast.current(org, NS)
    assert complete.notice is None
    assert lists(complete) == expected


def test_a_waiting_process_serves_cheap_signals_while_another_builds(
    store: Store, org: str, tmp_path: Path, registries: None
) -> None:
    fill(store, org)
    expected = lists(registry(store).current(org, NS))
    shelf = ArtifactShelf(tmp_path, store)
    fast = registry(store, first_wait_s=0.0, shelf=ArtifactShelf(tmp_path, store))
    with shelf.build_lock(org, NS) as held:  # "another process" is building
        assert held
        wait_for(lambda: fast.current(org, NS).notice == BUILDING_CHEAP, "the cheap signals")
        assert not fast.is_warm(org, NS)
    # The lock is free: the waiting process builds the namespace itself and publishes it.
    assert fast.shelf is not None
    counters = fast.shelf.counters
    wait_for(lambda: counters.published == 1, "the artifact it builds")
    assert fast.is_warm(org, NS)  # served before it was published
    assert lists(fast.current(org, NS)) == expected


def test_the_response_warns_and_the_client_waits_for_complete_lists(
    store: Store, org: str, gate: threading.Event, make_client: Callable[..., TestClient]
) -> None:
    fill(store, org)
    http = make_client(first_build_wait_s=0.0)
    body = {"namespace": NS, "user_id": "u05", "k": 5}
    response = http.post("/v1/recommendations", json=body, headers={"X-Org-ID": org})
    assert response.status_code == 200
    assert response.json()["warnings"][0].startswith(SIGNALS_BUILDING)
    api = RecsysClient("http://testserver", org, signals_wait_s=0.0)
    api.api._http = http  # the SDK's requests go to the in-process app
    http.headers["X-Org-ID"] = org
    with pytest.raises(RuntimeError, match="still building"):
        api.recommend(NS, user_id="u05", k=5)
    gate.set()
    api.signals_wait_s = 60.0
    complete = api.recommend(NS, user_id="u05", k=5)
    assert not any(w.startswith(SIGNALS_BUILDING) for w in complete["warnings"])
    expected = lists(registry(store).current(org, NS))[USERS.index("u05")][:5]
    assert [item["item_id"] for item in complete["items"]] == expected


def test_the_wait_is_a_setting() -> None:
    assert Settings().first_build_wait_s is None
    assert Settings.from_env({}).first_build_wait_s == 1.0
    assert Settings.from_env({"RECSYS_FIRST_BUILD_WAIT_S": "2.5"}).first_build_wait_s == 2.5
    assert Settings.from_env({"RECSYS_FIRST_BUILD_WAIT_S": "off"}).first_build_wait_s is None
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(SettingsError, match="RECSYS_FIRST_BUILD_WAIT_S"):
            Settings.from_env({"RECSYS_FIRST_BUILD_WAIT_S": bad})
