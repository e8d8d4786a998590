"""Transactions: `Store.write()` is all or nothing, repositories never commit on their own,
and `Store.read()` sees one snapshot."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from recsys.store import Store
from recsys.store import repositories as repo

from .helpers import T0, Row, all_events, all_items, all_users, event_row, item_row, user_row

NS = "tx"


class Boom(Exception):
    pass


def seed(store: Store, org: str) -> None:
    with store.write() as conn:
        repo.claim_embedding_dim(conn, org_id=org, namespace=NS, dim=2, now_us=T0)
        repo.upsert_items(
            conn,
            org_id=org,
            namespace=NS,
            rows=[item_row("old", embedding=[1.0, 2.0])],
            replace_created_at=False,
        )
        repo.upsert_users(conn, org_id=org, namespace=NS, rows=[user_row("old", {"v": 1})])
        repo.insert_events(conn, org_id=org, namespace=NS, rows=[event_row("old")])


State = tuple[int | None, list[Row], list[Row], list[Row]]


def state(store: Store, org: str, namespace: str = NS) -> State:
    with store.read() as conn:
        dim = repo.get_embedding_dim(conn, org_id=org, namespace=namespace)
    return (
        dim,
        all_items(store, org, namespace),
        all_users(store, org, namespace),
        all_events(store, org, namespace),
    )


def write_everything(conn: Connection, org: str) -> None:
    """Every repository write, including ones that change or remove the seeded rows."""
    repo.ensure_namespace(conn, org_id=org, namespace="fresh", now_us=T0)
    repo.claim_embedding_dim(conn, org_id=org, namespace="fresh", dim=9, now_us=T0)
    repo.upsert_items(
        conn,
        org_id=org,
        namespace=NS,
        rows=[item_row("old", title="changed"), item_row("new")],
        replace_created_at=True,
    )
    repo.upsert_items(
        conn, org_id=org, namespace="fresh", rows=[item_row("new")], replace_created_at=False
    )
    repo.upsert_users(conn, org_id=org, namespace=NS, rows=[user_row("old", {"v": 2})])
    repo.upsert_users(conn, org_id=org, namespace=NS, rows=[user_row("new")])
    assert (
        repo.insert_events(conn, org_id=org, namespace=NS, rows=[event_row("new"), event_row(None)])
        == 2
    )
    assert repo.delete_events(conn, org_id=org, namespace=NS, event_ids=["old"]) == 1
    assert repo.delete_users(conn, org_id=org, namespace=NS, user_ids=["old"]) == 1
    assert repo.delete_items(conn, org_id=org, namespace=NS) == 2  # also resets the dim


def test_exception_rolls_back_the_whole_block(store: Store, org: str) -> None:
    seed(store, org)
    before = state(store, org)
    fresh_before = state(store, org, "fresh")

    with pytest.raises(Boom), store.write() as conn:
        write_everything(conn, org)
        raise Boom

    assert state(store, org) == before
    assert state(store, org, "fresh") == fresh_before == (None, [], [], [])


def test_repositories_do_not_commit_inside_a_block(store: Store, org: str) -> None:
    """While the block runs, another connection sees none of its writes: nothing was committed
    half way (a commit inside a repository function would show up here)."""
    seed(store, org)
    before = state(store, org)
    with pytest.raises(Boom), store.write() as conn:
        write_everything(conn, org)
        assert state(store, org) == before
        assert state(store, org, "fresh") == (None, [], [], [])
        raise Boom
    assert state(store, org) == before


def test_a_block_that_ends_normally_commits(store: Store, org: str) -> None:
    seed(store, org)
    with store.write() as conn:
        write_everything(conn, org)
    dim, items, users, events = state(store, org)
    assert dim is None
    assert items == []
    assert [u["user_id"] for u in users] == ["new"]
    assert [e["event_id"] for e in events] == ["new", None]
    assert state(store, org, "fresh")[0] == 9


def test_failed_statement_rolls_back_earlier_statements(store: Store, org: str) -> None:
    """A database error (NOT NULL violation) mid-block also undoes what came before it."""
    with pytest.raises(IntegrityError), store.write() as conn:
        repo.upsert_users(conn, org_id=org, namespace=NS, rows=[user_row("kept-out")])
        repo.insert_events(conn, org_id=org, namespace=NS, rows=[event_row("x", user_id=None)])
    assert all_users(store, org, NS) == []
    assert all_events(store, org, NS) == []


def test_read_sees_one_snapshot(store: Store, org: str) -> None:
    with store.write() as conn:
        repo.insert_events(conn, org_id=org, namespace=NS, rows=[event_row("a")])
    with store.read() as reader:
        first = repo.list_events(reader, org_id=org, namespace=NS, limit=10)
        with store.write() as conn:
            repo.insert_events(conn, org_id=org, namespace=NS, rows=[event_row("b")])
            repo.delete_events(conn, org_id=org, namespace=NS, event_ids=["a"])
        again = repo.list_events(reader, org_id=org, namespace=NS, limit=10)
    assert again == first
    assert [e["event_id"] for e in all_events(store, org, NS)] == ["b"]
