"""Snapshot artifacts: a published version restores the same rankings; a torn, corrupt or
foreign version is never loaded; a writer that dies leaves the previous version in place."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from recsys.config.knobs import defaults
from recsys.data.catalog import build_catalog
from recsys.ranking import build_pipeline
from recsys.ranking.request import RankRequest
from recsys.signals import artifact
from recsys.signals.artifact import ArtifactContent, ArtifactError
from recsys.signals.assemble import EventLog, assemble_snapshot
from recsys.signals.snapshot import HeavySignals, SignalParams, Snapshot, heavy_signals_of
from recsys.signals.vector_index import build_vector_index
from tests.ranking.shop import NOW, shop_events, shop_items

ORG, NS = "acme", "shop"


def built() -> tuple[EventLog, Snapshot]:
    users, events = shop_events()
    log = EventLog.from_records(events)
    snapshot = assemble_snapshot(
        catalog=build_catalog(shop_items()),
        users=users,
        events=log,
        params=SignalParams(),
        reference_us=NOW,
    )
    return log, snapshot


def content_of(log: EventLog, snapshot: Snapshot) -> ArtifactContent:
    heavy = heavy_signals_of(snapshot, built_at=0.0)
    assert snapshot.item_vectors is not None
    return ArtifactContent(
        events=log,
        item_ids=snapshot.catalog.item_ids,
        covisitation=heavy.covisitation,
        item_model=heavy.item_model,
        user_factors=heavy.user_factors,
        item_vectors=heavy.item_vectors,
        # The shop is too small to need one; build it anyway so it is written and read.
        vector_index=build_vector_index(snapshot.item_vectors, seed=0, min_items=0, cluster_size=8),
        heavy_event_count=heavy.event_count,
        meta={"last_event_id": 1234, "versions": {"catalog": 3}},
    )


def ranked(snapshot: Snapshot) -> list[list[tuple[str, float]]]:
    pipeline = build_pipeline()
    lists = []
    for user_id in (None, "u00", "u07", "u33"):
        # The user factors carry weight too, so the restored ones must be the ones written.
        knobs = defaults().with_overrides({"blend_epsilon": 0.5})
        request = RankRequest(now_us=NOW, knobs=knobs, user_id=user_id, k=10)
        result = pipeline.run(snapshot, request)
        lists.append([(item.item_id, item.score) for item in result.items])
    return lists


def restored(content: ArtifactContent) -> Snapshot:
    """What a worker does with a loaded version: the catalogue and users from the store, the
    heavy signals and the event log from the artifact."""
    users, _ = shop_events()
    catalog = build_catalog(shop_items())
    assert list(catalog.item_ids) == list(content.item_ids)
    heavy = HeavySignals(
        catalog=catalog,
        covisitation=content.covisitation,
        item_model=content.item_model,
        user_factors=content.user_factors,
        item_vectors=content.item_vectors,
        event_count=content.heavy_event_count,
        built_at=0.0,
        vector_index=content.vector_index,
    )
    return assemble_snapshot(
        catalog=catalog,
        users=users,
        events=content.events,
        params=SignalParams(),
        reference_us=NOW,
        reuse=heavy,
    )


def test_a_published_version_restores_the_same_rankings(tmp_path: Path) -> None:
    log, snapshot = built()
    content = content_of(log, snapshot)
    published = artifact.publish(tmp_path, ORG, NS, content)
    assert artifact.versions(tmp_path, ORG, NS) == [published.path]
    loaded = artifact.load(published.path)
    assert loaded.meta == {"last_event_id": 1234, "versions": {"catalog": 3}}
    assert isinstance(loaded.item_model.weights, np.memmap)  # mapped, not read into the heap
    assert not loaded.item_model.weights.flags.writeable
    assert not loaded.user_factors.item_factors.flags.writeable  # the mapping, not a copy
    np.testing.assert_array_equal(
        loaded.user_factors.item_factors, content.user_factors.item_factors
    )
    assert loaded.vector_index is not None and content.vector_index is not None
    assert np.array_equal(loaded.vector_index.members, content.vector_index.members)
    assert loaded.events.users.ids == log.users.ids
    assert ranked(restored(loaded)) == ranked(snapshot)


def test_versions_sort_in_publication_order_and_old_ones_are_collected(tmp_path: Path) -> None:
    log, snapshot = built()
    content = content_of(log, snapshot)
    paths = [artifact.publish(tmp_path, ORG, NS, content).path for _ in range(4)]
    assert artifact.versions(tmp_path, ORG, NS) == paths
    leftover = artifact.namespace_dir(tmp_path, ORG, NS) / ".tmp-0000000009-dead"
    leftover.mkdir()  # a writer killed mid-write
    assert artifact.versions(tmp_path, ORG, NS) == paths  # never listed
    removed = artifact.collect_garbage(tmp_path, ORG, NS, keep=2)
    assert sorted(removed) == sorted([*paths[:2], leftover])
    assert artifact.versions(tmp_path, ORG, NS) == paths[2:]


def test_a_failed_write_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, snapshot = built()
    content = content_of(log, snapshot)
    first = artifact.publish(tmp_path, ORG, NS, content)
    real = artifact._write_array
    calls = []

    def failing(path: Path, array: np.ndarray) -> dict:
        calls.append(path.name)
        if len(calls) == 5:
            raise OSError("disk full")
        return real(path, array)

    monkeypatch.setattr(artifact, "_write_array", failing)
    with pytest.raises(OSError):
        artifact.publish(tmp_path, ORG, NS, content)
    assert artifact.versions(tmp_path, ORG, NS) == [first.path]
    assert [p.name for p in artifact.namespace_dir(tmp_path, ORG, NS).iterdir()] == [
        first.path.name
    ]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_file_is_never_loaded(tmp_path: Path, damage: str) -> None:
    log, snapshot = built()
    path = artifact.publish(tmp_path, ORG, NS, content_of(log, snapshot)).path
    target = path / "model_weights.npy"
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[-3] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    else:
        os.remove(target)
    with pytest.raises(ArtifactError, match=r"model_weights\.npy"):
        artifact.load(path)


def test_another_format_is_refused(tmp_path: Path) -> None:
    log, snapshot = built()
    path = artifact.publish(tmp_path, ORG, NS, content_of(log, snapshot)).path
    manifest = json.loads((path / artifact.MANIFEST).read_text())
    manifest["format"] = artifact.FORMAT + 1
    (path / artifact.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="format"):
        artifact.load(path)
    (path / artifact.MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match="manifest"):
        artifact.load(path)


def test_ids_of_any_length_and_script_round_trip(tmp_path: Path) -> None:
    log, snapshot = built()
    one = np.ones(1)
    for user_id in ("ü" * 200, "客户-7", ""):
        log.append(user_id=[user_id], item_id=["i01"], type=0 * one, value=one, ts_us=NOW + 0 * one)
    path = artifact.publish(tmp_path, ORG, NS, content_of(log, snapshot)).path
    loaded = artifact.load(path)
    assert loaded.events.users.ids == log.users.ids
    assert loaded.events.users.codes["客户-7"] == log.users.codes["客户-7"]
    assert list(loaded.item_ids) == list(snapshot.catalog.item_ids)
    # Compact: the ids take their UTF-8 bytes, not the longest id's width times their count.
    assert (path / "user_ids_utf8.npy").stat().st_size < 2_000


def test_a_namespace_without_a_catalogue_round_trips(tmp_path: Path) -> None:
    # Events for items never upserted: the catalogue's id list is empty, which once made every
    # such artifact fail to load (and be rebuilt on every start).
    log, snapshot = built()
    content = dataclasses.replace(content_of(log, snapshot), item_ids=[])
    loaded = artifact.load(artifact.publish(tmp_path, ORG, NS, content).path)
    assert list(loaded.item_ids) == []
    assert loaded.events.users.ids == log.users.ids
