"""A catalogue edit is read as the rows it wrote, not the whole catalogue; the catalogue served
is the same as one read whole, also after items are added and deleted."""

from __future__ import annotations

from typing import Any

import pytest

from recsys.config.knobs import defaults
from recsys.service import snapshots as snapshots_module
from recsys.service.snapshots import SnapshotRegistry
from recsys.store import Store
from recsys.store import repositories as repo
from recsys.store.loading import count_items, load_items
from tests.ranking.shop import NOW
from tests.service.test_artifact_sharing import NS, fill
from tests.store.helpers import item_row


def registry(store: Store) -> SnapshotRegistry:
    return SnapshotRegistry(store, base_knobs=defaults(), now_us=lambda: NOW)


def refresh(registry: SnapshotRegistry, org: str) -> None:
    state = registry._state(org, NS)
    with state.lock:
        registry._refresh(state, force_heavy=False)


def catalogue(registry: SnapshotRegistry, org: str) -> dict[str, Any]:
    catalog = registry.current(org, NS).snapshot.catalog
    return {
        "ids": [str(i) for i in catalog.item_ids],
        "price": [None if price != price else price for price in catalog.price.tolist()],
        "available": catalog.available.tolist(),
    }


def test_rows_carry_the_version_of_their_write(store: Store, org: str) -> None:
    fill(store, org)
    with store.read() as conn:
        first = max(row["catalog_version"] for row in load_items(conn, org_id=org, namespace=NS))
    with store.write() as conn:
        repo.upsert_items(
            conn,
            org_id=org,
            namespace=NS,
            rows=[{**item_row("i01"), "price": 9.5}, item_row("brand-new")],
            replace_created_at=False,
        )
    with store.read() as conn:
        newer = load_items(conn, org_id=org, namespace=NS, after_version=first)
        assert sorted(row["item_id"] for row in newer) == ["brand-new", "i01"]
        assert count_items(conn, org_id=org, namespace=NS) == len(
            load_items(conn, org_id=org, namespace=NS)
        )


def test_an_edit_reads_only_its_rows_and_serves_what_a_whole_read_serves(
    store: Store, org: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, org)
    incremental = registry(store)
    incremental.current(org, NS)
    read: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        rows = load_items(*args, **kwargs)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(snapshots_module, "load_items", counted)
    with store.write() as conn:
        repo.upsert_items(
            conn,
            org_id=org,
            namespace=NS,
            rows=[{**item_row("i02"), "price": 1.25, "available": False}],
            replace_created_at=False,
        )
    refresh(incremental, org)
    assert read == [1]  # the edited row, not the catalogue
    assert catalogue(incremental, org) == catalogue(registry(store), org)

    with store.write() as conn:  # a deletion leaves nothing to read: the whole catalogue is
        repo.delete_items(conn, org_id=org, namespace=NS, item_ids=["i03"])
        repo.upsert_items(
            conn, org_id=org, namespace=NS, rows=[item_row("zz-new")], replace_created_at=False
        )
    refresh(incremental, org)
    served = catalogue(incremental, org)
    assert "i03" not in served["ids"] and "zz-new" in served["ids"]
    assert served == catalogue(registry(store), org)
