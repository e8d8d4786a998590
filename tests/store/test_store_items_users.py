"""Items, namespaces (embedding dimension) and users through the repositories."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from recsys.store import Store
from recsys.store import repositories as repo
from recsys.store.schema import items

from .helpers import T0, all_items, all_users, item_row, user_row

NS = "catalog"


def upsert(store: Store, org: str, rows: list[dict[str, Any]], *, replace: bool = False) -> int:
    with store.write() as conn:
        return repo.upsert_items(
            conn, org_id=org, namespace=NS, rows=rows, replace_created_at=replace
        )


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["item_id"]: r for r in rows}


def test_upsert_inserts_then_replaces_every_field(store: Store, org: str) -> None:
    assert upsert(store, org, [item_row("a"), item_row("b")]) == 2
    replacement = item_row(
        "a",
        available=False,
        price=None,
        brand=None,
        category="boots",
        category_path=["fashion"],
        tags=[],
        props={},
        embedding=[0.5, -0.25],
        title=None,
        description="now described",
        updated_at_us=T0 + 5,
    )
    assert upsert(store, org, [replacement]) == 1

    rows = by_id(all_items(store, org, NS))
    assert sorted(rows) == ["a", "b"]
    expected = {**replacement, "org_id": org, "namespace": NS}
    # Each row carries the catalogue version of the write that last set it.
    assert rows["a"].pop("catalog_version") > rows["b"]["catalog_version"] > 0
    assert rows["a"] == expected
    assert rows["b"]["title"] == "title b"


def test_created_at_is_kept_unless_replacement_is_asked_for(store: Store, org: str) -> None:
    upsert(store, org, [item_row("kept", created_at_us=T0), item_row("moved", created_at_us=T0)])

    upsert(store, org, [item_row("kept", created_at_us=T0 + 1, updated_at_us=T0 + 1)])
    upsert(
        store,
        org,
        [item_row("moved", created_at_us=T0 - 7, updated_at_us=T0 + 1)],
        replace=True,
    )

    rows = by_id(all_items(store, org, NS))
    assert (rows["kept"]["created_at_us"], rows["kept"]["updated_at_us"]) == (T0, T0 + 1)
    assert (rows["moved"]["created_at_us"], rows["moved"]["updated_at_us"]) == (T0 - 7, T0 + 1)


def test_first_insert_takes_the_given_created_at_either_way(store: Store, org: str) -> None:
    upsert(store, org, [item_row("x", created_at_us=T0 - 1)], replace=False)
    upsert(store, org, [item_row("y", created_at_us=T0 - 2)], replace=True)
    rows = by_id(all_items(store, org, NS))
    assert rows["x"]["created_at_us"] == T0 - 1
    assert rows["y"]["created_at_us"] == T0 - 2


JSON_VALUES: list[dict[str, Any]] = [
    {
        "category_path": ["Électronique", "音响", "🎧 headphones"],
        "tags": ["a", "", 'with "quotes" and \\ slashes', "x" * 300],
        "props": {
            "nested": {"list": [1, 2.5, None, True, False, "s"], "empty": {}, "none": None},
            "big": 2**53 + 1,
            "beyond 64 bits": 2**70,
            "negative": -17,
            "float": 0.1,
            "tiny": 1e-7,
            "unicode key ключ": "значение",
            "": "empty key",
        },
        "embedding": [0.1, -0.2, 1e-7, 123456.789, 0.0, -1.0, 3.4028234663852886e-38],
    },
    {"category_path": [], "tags": [], "props": {}, "embedding": []},
    {"category_path": [], "tags": [], "props": {}, "embedding": None},
]


@pytest.mark.parametrize("values", JSON_VALUES, ids=["rich", "empty", "no-embedding"])
def test_json_columns_round_trip(store: Store, org: str, values: dict[str, Any]) -> None:
    upsert(store, org, [item_row("j", **values)])
    (row,) = all_items(store, org, NS)
    for column, value in values.items():
        assert row[column] == value, column
        assert type(row[column]) is type(value), column
    assert type(row["props"].get("big", 0)) is int


def test_extreme_embedding_floats_keep_their_value(store: Store, org: str) -> None:
    """JSONB stores numbers as `numeric`, so PostgreSQL hands 1e30 back as the int
    1000000000000000000000000000000: the type may change, the float value may not."""
    embedding = [1e30, -1.5e30, 1e16, 5e-324, 1.7976931348623157e308, 2.0**-30]
    upsert(store, org, [item_row("e", embedding=embedding)])
    (row,) = all_items(store, org, NS)
    assert [float(x) for x in row["embedding"]] == embedding


def test_missing_embedding_is_sql_null(store: Store, org: str) -> None:
    """`embedding IS NULL` must mean "no embedding": None is not stored as JSON 'null'."""
    upsert(store, org, [item_row("none"), item_row("some", embedding=[1.0])])
    with store.read() as conn:
        missing = conn.execute(
            select(items.c.item_id).where(items.c.org_id == org, items.c.embedding.is_(None))
        ).all()
    assert [r[0] for r in missing] == ["none"]


def test_delete_by_ids_and_all_return_counts(store: Store, org: str) -> None:
    upsert(store, org, [item_row(i) for i in ("a", "b", "c", "d")])
    with store.write() as conn:
        assert repo.delete_items(conn, org_id=org, namespace=NS, item_ids=["a", "zz"]) == 1
        assert repo.delete_items(conn, org_id=org, namespace=NS, item_ids=["a"]) == 0
        assert repo.delete_items(conn, org_id=org, namespace=NS, item_ids=[]) == 0
    assert [r["item_id"] for r in all_items(store, org, NS)] == ["b", "c", "d"]
    with store.write() as conn:
        assert repo.delete_items(conn, org_id=org, namespace=NS) == 3
        assert repo.delete_items(conn, org_id=org, namespace=NS) == 0
    assert all_items(store, org, NS) == []


def dim(store: Store, org: str, namespace: str = NS) -> int | None:
    with store.read() as conn:
        return repo.get_embedding_dim(conn, org_id=org, namespace=namespace)


def claim(store: Store, org: str, value: int, namespace: str = NS) -> int:
    with store.write() as conn:
        return repo.claim_embedding_dim(conn, org_id=org, namespace=namespace, dim=value, now_us=T0)


def test_claim_embedding_dim_sets_once(store: Store, org: str) -> None:
    assert dim(store, org) is None  # no namespace row yet
    assert claim(store, org, 3) == 3  # creates the namespace
    assert claim(store, org, 8) == 3
    assert dim(store, org) == 3
    assert claim(store, org, 8, namespace="other") == 8


@pytest.mark.parametrize("how", ["by-ids", "all"])
def test_emptying_the_catalogue_resets_embedding_dim(store: Store, org: str, how: str) -> None:
    claim(store, org, 2)
    upsert(store, org, [item_row(i, embedding=[1.0, 2.0]) for i in ("a", "b")])
    with store.write() as conn:
        repo.delete_items(conn, org_id=org, namespace=NS, item_ids=["a"])
    assert dim(store, org) == 2  # one item left: the dimension stays

    with store.write() as conn:
        repo.delete_items(
            conn, org_id=org, namespace=NS, item_ids=["b"] if how == "by-ids" else None
        )
    assert dim(store, org) is None
    assert claim(store, org, 5) == 5  # a new embedding model may now claim it


def test_list_items_filters_and_pages_by_item_id(store: Store, org: str) -> None:
    upsert(
        store,
        org,
        [
            item_row("c", category="x", brand="p", available=True),
            item_row("a", category="x", brand="q", available=False),
            item_row("b", category="y", brand="p", available=True),
        ],
    )
    with store.read() as conn:

        def ids(limit: int = 100, **filters: Any) -> list[str]:
            rows = repo.list_items(conn, org_id=org, namespace=NS, limit=limit, **filters)
            return [r["item_id"] for r in rows]

        assert ids() == ["a", "b", "c"]
        assert ids(category="x") == ["a", "c"]
        assert ids(brand="p") == ["b", "c"]
        assert ids(available=False) == ["a"]
        assert ids(item_ids=["c", "a", "zz"]) == ["a", "c"]
        assert ids(after="a") == ["b", "c"]
        assert ids(limit=2) == ["a", "b"]


# --- users ------------------------------------------------------------------------------------


def upsert_users(store: Store, org: str, rows: list[dict[str, Any]]) -> int:
    with store.write() as conn:
        return repo.upsert_users(conn, org_id=org, namespace=NS, rows=rows)


def test_user_upsert_replaces_traits_and_keeps_created_at(store: Store, org: str) -> None:
    assert upsert_users(store, org, [user_row("u1", {"segment": "vip", "locale": "fr"})]) == 1
    upsert_users(
        store,
        org,
        [user_row("u1", {"segment": "basic"}, created_at_us=T0 + 9, updated_at_us=T0 + 9)],
    )
    (row,) = all_users(store, org, NS)
    assert row["traits"] == {"segment": "basic"}  # replaced as a whole, not merged
    assert (row["created_at_us"], row["updated_at_us"]) == (T0, T0 + 9)


def test_list_users_by_segment(store: Store, org: str) -> None:
    upsert_users(
        store,
        org,
        [
            user_row("u1", {"segment": "vip"}),
            user_row("u2", {"segment": "basic"}),
            user_row("u3", {"segment": "vip", "other": 1}),
            user_row("u4", {}),
            user_row("u5", {"nested": {"segment": "vip"}}),
            user_row("u6", {"segment": None}),
            user_row("u7", {"segment": "VIP"}),
            user_row("u8", {"segment": ["vip"]}),
            user_row("u9", {"segment": 'vip\'s "best" 🎉'}),
        ],
    )
    with store.read() as conn:

        def ids(segment: str, **kw: Any) -> list[str]:
            rows = repo.list_users(conn, org_id=org, namespace=NS, limit=100, segment=segment, **kw)
            return [r["user_id"] for r in rows]

        assert ids("vip") == ["u1", "u3"]
        assert ids("basic") == ["u2"]
        assert ids("none") == []
        assert ids('vip\'s "best" 🎉') == ["u9"]
        assert ids("vip", after="u1") == ["u3"]
        assert ids("vip", user_ids=["u3", "u2"]) == ["u3"]


@pytest.mark.parametrize("value", [3, 3.5, True, False, None])
def test_segment_matches_only_a_json_string(store: Store, org: str, value: Any) -> None:
    """A non-string segment never matches its text form: the same answer on both backends."""
    upsert_users(
        store, org, [user_row("num", {"segment": value}), user_row("str", {"segment": "3"})]
    )
    with store.read() as conn:
        for text_form in {str(value), str(value).lower(), "1", "0", "null", "3"}:
            rows = repo.list_users(conn, org_id=org, namespace=NS, limit=10, segment=text_form)
            assert [r["user_id"] for r in rows] == (["str"] if text_form == "3" else []), text_form


def test_delete_users_by_ids_and_all(store: Store, org: str) -> None:
    upsert_users(store, org, [user_row(u) for u in ("a", "b", "c")])
    with store.write() as conn:
        assert repo.delete_users(conn, org_id=org, namespace=NS, user_ids=["a", "zz"]) == 1
        assert repo.delete_users(conn, org_id=org, namespace=NS, user_ids=[]) == 0
    assert [r["user_id"] for r in all_users(store, org, NS)] == ["b", "c"]
    with store.write() as conn:
        assert repo.delete_users(conn, org_id=org, namespace=NS) == 2
    assert all_users(store, org, NS) == []


def test_row_counts_match_what_is_stored(store: Store, org: str) -> None:
    upsert(store, org, [item_row(str(i)) for i in range(1500)])
    with store.read() as conn:
        stored = conn.execute(
            select(func.count()).select_from(items).where(items.c.org_id == org)
        ).scalar_one()
    assert stored == 1500
