"""Processes sharing one store and one artifact directory: one builds and publishes, the others
map its artifact and serve the same lists; events written later reach every process; a damaged
version is never served."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from recsys.config.knobs import defaults
from recsys.ranking import build_pipeline
from recsys.ranking.request import RankRequest
from recsys.service.artifacts import ArtifactShelf
from recsys.service.snapshots import SnapshotRegistry
from recsys.signals import artifact
from recsys.store import Store
from recsys.store import repositories as repo
from tests.ranking.shop import NOW, shop_events, shop_items
from tests.store.helpers import item_row, user_row

NS = "shared"


def fill(store: Store, org: str) -> None:
    users, events = shop_events()
    base = {k: v for k, v in item_row("x").items() if k != "item_id"}
    with store.write() as conn:
        repo.upsert_items(
            conn,
            org_id=org,
            namespace=NS,
            rows=[{**base, **item, "tags": item["tags"]} for item in shop_items()],
            replace_created_at=True,
        )
        repo.upsert_users(
            conn, org_id=org, namespace=NS, rows=[user_row(u["user_id"]) for u in users]
        )
        add_events(conn, org, events)


def add_events(conn: Any, org: str, events: list[dict[str, Any]]) -> None:
    rows = [{"event_id": None, "meta": {}, "value": 1.0, **e} for e in events]
    repo.insert_events(conn, org_id=org, namespace=NS, rows=rows)


def process(store: Store, root: Path) -> SnapshotRegistry:
    """One serving process's registry (no background threads: the test drives refreshes)."""
    return SnapshotRegistry(
        store, base_knobs=defaults(), now_us=lambda: NOW, shelf=ArtifactShelf(root, store)
    )


def lists(registry: SnapshotRegistry, org: str) -> list[list[str]]:
    snapshot = registry.current(org, NS).snapshot
    pipeline = build_pipeline()
    return [
        [
            item.item_id
            for item in pipeline.run(
                snapshot, RankRequest(now_us=NOW, knobs=defaults(), user_id=user_id, k=10)
            ).items
        ]
        for user_id in ("u00", "u05", "u40", None)
    ]


def test_one_process_builds_the_others_map_its_artifact(
    store: Store, org: str, tmp_path: Path
) -> None:
    fill(store, org)
    first, second = process(store, tmp_path), process(store, tmp_path)
    expected = lists(first, org)
    assert first.shelf is not None and second.shelf is not None
    assert (first.shelf.counters.published, first.shelf.counters.loaded) == (1, 0)
    assert lists(second, org) == expected
    assert (second.shelf.counters.published, second.shelf.counters.loaded) == (0, 1)
    # The second process serves the artifact's pages: nothing was rebuilt there.
    model = second.current(org, NS).snapshot.item_model(
        defaults()["item_model_l2"], defaults()["item_model_max_items"]
    )
    assert isinstance(model.weights, np.memmap)
    assert len(artifact.versions(tmp_path, org, NS)) == 1


def test_events_after_the_artifact_reach_every_process(
    store: Store, org: str, tmp_path: Path
) -> None:
    fill(store, org)
    first, second = process(store, tmp_path), process(store, tmp_path)
    first.current(org, NS)
    second.current(org, NS)
    with store.write() as conn:
        add_events(conn, org, [{"user_id": "u00", "item_id": "i42", "type": 2, "ts_us": NOW - 5}])
    for registry in (first, second):
        state = registry._state(org, NS)
        with state.lock:
            registry._refresh(state, force_heavy=False)
        snapshot = registry.current(org, NS).snapshot
        user = snapshot.users.index["u00"]
        history = snapshot.log.item[snapshot.log.user_events(user)]
        assert snapshot.catalog.index["i42"] in history.tolist()
    third = process(store, tmp_path)  # starts after the event: artifact + the newer events
    assert lists(third, org) == lists(first, org)


def test_a_damaged_version_is_removed_and_rebuilt_not_served(
    store: Store, org: str, tmp_path: Path
) -> None:
    fill(store, org)
    first = process(store, tmp_path)
    expected = lists(first, org)
    (version,) = artifact.versions(tmp_path, org, NS)
    weights = version / "model_weights.npy"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    second = process(store, tmp_path)
    assert lists(second, org) == expected  # built from the store instead
    assert second.shelf is not None
    assert second.shelf.counters.rejected == 1 and second.shelf.counters.loaded == 0
    assert second.shelf.counters.published == 1  # and a good version written in its place
    assert version not in artifact.versions(tmp_path, org, NS)


def test_an_artifact_of_another_store_is_ignored(store: Store, org: str, tmp_path: Path) -> None:
    fill(store, org)
    first = process(store, tmp_path)
    lists(first, org)
    assert first.shelf is not None
    other = process(store, tmp_path)
    assert other.shelf is not None
    other.shelf._store_id = "another-database"
    lists(other, org)
    assert other.shelf.counters.loaded == 0 and other.shelf.counters.published == 1


def test_a_starting_process_maps_the_namespaces_that_have_artifacts(
    store: Store, org: str, tmp_path: Path
) -> None:
    fill(store, org)
    lists(process(store, tmp_path), org)  # built and published by an earlier process
    starting = process(store, tmp_path)
    assert starting.shelf is not None
    assert starting.shelf.namespaces()[0] == (org, NS)
    starting.start()
    try:
        deadline = time.monotonic() + 30
        while not starting.is_warm(org, NS) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert starting.is_warm(org, NS)  # before any request asked for it
        assert starting.shelf.counters.loaded == 1 and starting.shelf.counters.published == 0
    finally:
        starting.stop()


def test_versions_no_newer_than_the_adopted_one_are_not_read(
    store: Store, org: str, tmp_path: Path
) -> None:
    fill(store, org)
    first = process(store, tmp_path)
    lists(first, org)
    (version,) = artifact.versions(tmp_path, org, NS)
    (version / "model_weights.npy").write_bytes(b"damaged")
    shelf = ArtifactShelf(tmp_path, store)
    assert shelf.newest(org, NS, lambda meta: True, newer_than=version.name) is None
    assert shelf.counters.rejected == 0 and version.exists()  # never opened, so never judged
    assert shelf.newest(org, NS, lambda meta: True) is None  # read now: damaged, removed
    assert shelf.counters.rejected == 1 and not version.exists()
