"""Events: idempotent append, insertion order, cursor pagination, filters on list and delete."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from recsys.store import Store
from recsys.store import repositories as repo

from .helpers import T0, all_events, event_row

NS = "events"
Row = dict[str, Any]


def insert(store: Store, org: str, rows: list[Row], namespace: str = NS) -> int:
    with store.write() as conn:
        return repo.insert_events(conn, org_id=org, namespace=namespace, rows=rows)


def event_ids(rows: list[Row]) -> list[str | None]:
    return [r["event_id"] for r in rows]


def test_insert_returns_rows_added_and_skips_known_event_ids(store: Store, org: str) -> None:
    assert insert(store, org, []) == 0
    assert insert(store, org, [event_row("e1"), event_row("e2")]) == 2
    assert insert(store, org, [event_row("e1"), event_row("e2")]) == 0
    assert insert(store, org, [event_row("e2"), event_row("e3"), event_row("e1")]) == 1
    # A repeat inside one batch is stored once, the first occurrence wins.
    assert insert(store, org, [event_row("e4", value=1.0), event_row("e4", value=2.0)]) == 1
    stored = all_events(store, org, NS)
    assert event_ids(stored) == ["e1", "e2", "e3", "e4"]
    assert stored[-1]["value"] == 1.0


def test_replayed_event_does_not_overwrite_the_stored_one(store: Store, org: str) -> None:
    insert(store, org, [event_row("e1", user_id="first", meta={"v": 1})])
    insert(store, org, [event_row("e1", user_id="second", meta={"v": 2})])
    (row,) = all_events(store, org, NS)
    assert (row["user_id"], row["meta"]) == ("first", {"v": 1})


def test_events_without_event_id_are_always_inserted(store: Store, org: str) -> None:
    batch = [event_row(None), event_row(None), event_row("e1")]
    assert insert(store, org, batch) == 3
    assert insert(store, org, batch) == 2
    assert event_ids(all_events(store, org, NS)) == [None, None, "e1", None, None]


def test_existing_event_ids(store: Store, org: str) -> None:
    insert(store, org, [event_row("a"), event_row("b"), event_row(None)])
    with store.read() as conn:
        found = repo.existing_event_ids(
            conn, org_id=org, namespace=NS, event_ids=iter(["b", "c", "a"])
        )
        assert found == {"a", "b"}
        assert repo.existing_event_ids(conn, org_id=org, namespace=NS, event_ids=[]) == set()


def test_columns_round_trip(store: Store, org: str) -> None:
    row = event_row(
        "e",
        user_id="ü/ser 1",
        item_id="item:42",
        type=7,
        value=-0.125,
        ts_us=4_102_444_800_000_000,  # year 2100: needs 64 bits
        meta={"page": "home", "pos": [1, 2], "ok": True, "none": None, "ключ": "😀"},
    )
    insert(store, org, [row])
    (stored,) = all_events(store, org, NS)
    assert {k: stored[k] for k in row} == row
    assert (stored["org_id"], stored["namespace"]) == (org, NS)


def test_list_order_is_insertion_order(store: Store, org: str) -> None:
    # event_ids, users and timestamps deliberately out of order: only insertion counts.
    first = [event_row(f"e{i:02d}", ts_us=T0 - i, user_id=f"u{i % 3}") for i in (9, 3, 7, 1)]
    second = [event_row(None, ts_us=T0 + 100), event_row("e00", ts_us=T0 - 1000)]
    third = [event_row(f"e{i:02d}") for i in (8, 2)]
    for batch in (first, second, third):
        insert(store, org, batch)
    stored = all_events(store, org, NS)
    assert event_ids(stored) == event_ids(first + second + third)
    ids = [r["id"] for r in stored]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_large_batches_count_exactly(store: Store, org: str) -> None:
    """Batches larger than one driver round-trip (SQLite insertmanyvalues pages, PG arrays)."""
    rows = [event_row(f"e{i}", user_id=f"u{i % 17}") for i in range(2500)]
    rows += [event_row(None) for _ in range(300)]
    assert insert(store, org, rows) == 2800
    assert insert(store, org, rows) == 300
    more = [event_row(f"e{i}") for i in range(2000, 4000)]
    assert insert(store, org, more) == 1500
    assert len(all_events(store, org, NS)) == 2800 + 300 + 1500


@pytest.mark.parametrize("page", [1, 7, 25, 26, 1000])
def test_after_id_walks_every_row_exactly_once(store: Store, org: str, page: int) -> None:
    rows = [event_row(f"e{i}" if i % 4 else None, user_id=f"u{i % 2}") for i in range(25)]
    insert(store, org, rows[:10])
    insert(store, org, rows[10:])
    walked: list[Row] = []
    pages = 0
    after: int | None = None
    with store.read() as conn:
        while True:
            batch = repo.list_events(conn, org_id=org, namespace=NS, limit=page, after_id=after)
            pages += 1
            assert len(batch) <= page
            walked += batch
            if len(batch) < page:
                break
            after = batch[-1]["id"]
    assert event_ids(walked) == event_ids(rows)
    assert len({r["id"] for r in walked}) == 25
    assert pages == 25 // page + 1


def test_after_id_pagination_composes_with_filters(store: Store, org: str) -> None:
    insert(store, org, [event_row(f"e{i}", user_id=f"u{i % 3}") for i in range(30)])
    walked: list[Row] = []
    after: int | None = None
    with store.read() as conn:
        while batch := repo.list_events(
            conn, org_id=org, namespace=NS, limit=4, after_id=after, user_id="u1"
        ):
            walked += batch
            after = batch[-1]["id"]
    assert event_ids(walked) == [f"e{i}" for i in range(30) if i % 3 == 1]


def test_ids_are_never_reused_after_deleting_the_newest(store: Store, org: str) -> None:
    """A reader holding `after_id` = the newest id must still see events added later, even if
    the newest events were deleted in between (SQLite reused max(id) + 1 without AUTOINCREMENT)."""
    insert(store, org, [event_row("a"), event_row("b"), event_row("c")])
    cursor = all_events(store, org, NS)[-1]["id"]
    with store.write() as conn:
        assert repo.delete_events(conn, org_id=org, namespace=NS, event_ids=["b", "c"]) == 2
    insert(store, org, [event_row("d")])
    with store.read() as conn:
        newer = repo.list_events(conn, org_id=org, namespace=NS, limit=10, after_id=cursor)
    assert event_ids(newer) == ["d"]

    with store.write() as conn:
        assert repo.delete_events(conn, org_id=org, namespace=NS) == 2
    insert(store, org, [event_row("e")])
    (only,) = all_events(store, org, NS)
    assert only["id"] > newer[0]["id"]


# --- filters ----------------------------------------------------------------------------------

GRID: list[Row] = [
    event_row(
        f"e{n}",
        user_id=user,
        item_id=item,
        type=kind,
        ts_us=T0 + ts,
    )
    for n, (user, item, kind, ts) in enumerate(
        itertools.product(["u1", "u2"], ["i1", "i2"], [1, 2, 3], [0, 10, 20, 30])
    )
]

FILTERS: list[dict[str, Any]] = [
    {},
    {"user_id": "u1"},
    {"user_id": "nobody"},
    {"item_id": "i2"},
    {"types": [2]},
    {"types": [1, 3]},
    {"since_us": T0 + 10},
    {"until_us": T0 + 20},
    {"since_us": T0 + 10, "until_us": T0 + 20},
    {"since_us": T0 + 20, "until_us": T0 + 20},
    {"since_us": T0 + 11, "until_us": T0 + 30},
    {"user_id": "u2", "item_id": "i1", "types": [1, 2], "since_us": T0 + 10, "until_us": T0 + 30},
]


def matches(row: Row, f: dict[str, Any]) -> bool:
    """The documented semantics, as a Python oracle: since is inclusive, until exclusive."""
    return (
        ("user_id" not in f or row["user_id"] == f["user_id"])
        and ("item_id" not in f or row["item_id"] == f["item_id"])
        and ("types" not in f or row["type"] in f["types"])
        and ("since_us" not in f or row["ts_us"] >= f["since_us"])
        and ("until_us" not in f or row["ts_us"] < f["until_us"])
    )


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
def test_list_filters(store: Store, org: str, filters: dict[str, Any]) -> None:
    insert(store, org, GRID)
    with store.read() as conn:
        rows = repo.list_events(conn, org_id=org, namespace=NS, limit=1000, **filters)
    expected = [r["event_id"] for r in GRID if matches(r, filters)]
    assert event_ids(rows) == expected


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
def test_delete_filters(store: Store, org: str, filters: dict[str, Any]) -> None:
    insert(store, org, GRID)
    with store.write() as conn:
        deleted = repo.delete_events(conn, org_id=org, namespace=NS, **filters)
    expected_left = [r["event_id"] for r in GRID if not matches(r, filters)]
    assert deleted == len(GRID) - len(expected_left)
    assert event_ids(all_events(store, org, NS)) == expected_left


def test_delete_by_event_ids_combines_with_other_filters(store: Store, org: str) -> None:
    insert(store, org, GRID)
    target = [r["event_id"] for r in GRID[:10]]
    with store.write() as conn:
        deleted = repo.delete_events(
            conn, org_id=org, namespace=NS, event_ids=[*target, "missing"], types=[1]
        )
    gone = {r["event_id"] for r in GRID[:10] if r["type"] == 1}
    assert deleted == len(gone) > 0
    assert event_ids(all_events(store, org, NS)) == [
        r["event_id"] for r in GRID if r["event_id"] not in gone
    ]


@pytest.mark.parametrize("empty", ["event_ids", "types"])
def test_an_empty_id_or_type_list_deletes_nothing(store: Store, org: str, empty: str) -> None:
    """`[]` means "none of these", as for items and users; only None means "no filter"."""
    insert(store, org, GRID)
    nothing: dict[str, Any] = {empty: []}
    with store.write() as conn:
        assert repo.delete_events(conn, org_id=org, namespace=NS, **nothing) == 0
    assert len(all_events(store, org, NS)) == len(GRID)
