"""Tenancy at the store level: the same ids under org A/ns X, org A/ns Y and org B/ns X are
three unrelated records that never see, list, overwrite or delete each other."""

from __future__ import annotations

import uuid

import pytest

from recsys.store import Store
from recsys.store import repositories as repo

from .helpers import T0, all_events, all_items, all_users, event_row, item_row, user_row

Scope = tuple[str, str]

ITEM_IDS = ["shared-1", "shared-2"]
USER_IDS = ["alice", "bob"]
EVENT_IDS = ["ev-1", "ev-2", "ev-3"]


@pytest.fixture
def scopes(org: str) -> list[Scope]:
    return [(org, "x"), (org, "y"), (str(uuid.uuid4()), "x")]


def label(scope: Scope) -> str:
    return f"{scope[0]}/{scope[1]}"


def fill(store: Store, scope: Scope, dim: int) -> None:
    """Same ids everywhere; every stored value names the scope it was written under."""
    org, ns = scope
    with store.write() as conn:
        assert repo.claim_embedding_dim(conn, org_id=org, namespace=ns, dim=dim, now_us=T0) == dim
        repo.upsert_items(
            conn,
            org_id=org,
            namespace=ns,
            rows=[item_row(i, title=label(scope), embedding=[0.0] * dim) for i in ITEM_IDS],
            replace_created_at=False,
        )
        repo.upsert_users(
            conn,
            org_id=org,
            namespace=ns,
            rows=[user_row(u, {"segment": "vip", "scope": label(scope)}) for u in USER_IDS],
        )
        inserted = repo.insert_events(
            conn,
            org_id=org,
            namespace=ns,
            rows=[event_row(e, meta={"scope": label(scope)}) for e in EVENT_IDS],
        )
        assert inserted == len(EVENT_IDS)  # another scope's identical event_ids are no duplicate


def assert_intact(store: Store, scope: Scope, dim: int) -> None:
    org, ns = scope
    items = all_items(store, org, ns)
    assert [(r["item_id"], r["title"]) for r in items] == [(i, label(scope)) for i in ITEM_IDS]
    users = all_users(store, org, ns)
    assert [(r["user_id"], r["traits"]["scope"]) for r in users] == [
        (u, label(scope)) for u in USER_IDS
    ]
    events = all_events(store, org, ns)
    assert [(r["event_id"], r["meta"]["scope"]) for r in events] == [
        (e, label(scope)) for e in EVENT_IDS
    ]
    assert all((r["org_id"], r["namespace"]) == scope for r in [*items, *users, *events])
    with store.read() as conn:
        assert repo.get_embedding_dim(conn, org_id=org, namespace=ns) == dim
        assert repo.existing_event_ids(conn, org_id=org, namespace=ns, event_ids=EVENT_IDS) == set(
            EVENT_IDS
        )
        assert [
            r["user_id"]
            for r in repo.list_users(conn, org_id=org, namespace=ns, limit=10, segment="vip")
        ] == USER_IDS


def test_scopes_are_filled_and_read_independently(store: Store, scopes: list[Scope]) -> None:
    for n, scope in enumerate(scopes):
        fill(store, scope, dim=n + 2)
    for n, scope in enumerate(scopes):
        assert_intact(store, scope, dim=n + 2)


def test_overwrites_stay_in_their_scope(store: Store, scopes: list[Scope]) -> None:
    for n, scope in enumerate(scopes):
        fill(store, scope, dim=n + 2)
    org, ns = target = scopes[0]
    with store.write() as conn:
        repo.upsert_items(
            conn,
            org_id=org,
            namespace=ns,
            rows=[item_row(i, title="changed") for i in ITEM_IDS],
            replace_created_at=True,
        )
        repo.upsert_users(
            conn, org_id=org, namespace=ns, rows=[user_row(u, {"changed": True}) for u in USER_IDS]
        )
        assert (
            repo.insert_events(
                conn, org_id=org, namespace=ns, rows=[event_row(e) for e in EVENT_IDS]
            )
            == 0
        )
    assert {r["title"] for r in all_items(store, *target)} == {"changed"}
    assert {str(r["traits"]) for r in all_users(store, *target)} == {"{'changed': True}"}
    for n, scope in enumerate(scopes[1:], start=1):
        assert_intact(store, scope, dim=n + 2)


@pytest.mark.parametrize("victim", [0, 1, 2])
def test_deletes_stay_in_their_scope(store: Store, scopes: list[Scope], victim: int) -> None:
    for n, scope in enumerate(scopes):
        fill(store, scope, dim=n + 2)
    org, ns = scopes[victim]
    with store.write() as conn:
        assert repo.delete_events(conn, org_id=org, namespace=ns, event_ids=["ev-1"]) == 1
        assert repo.delete_events(conn, org_id=org, namespace=ns) == 2
        assert repo.delete_users(conn, org_id=org, namespace=ns, user_ids=["alice"]) == 1
        assert repo.delete_users(conn, org_id=org, namespace=ns) == 1
        assert repo.delete_items(conn, org_id=org, namespace=ns, item_ids=["shared-1"]) == 1
        assert repo.delete_items(conn, org_id=org, namespace=ns) == 1
    assert all_items(store, org, ns) == []
    assert all_users(store, org, ns) == []
    assert all_events(store, org, ns) == []
    with store.read() as conn:
        # Emptying this catalogue freed only this namespace's embedding dimension.
        assert repo.get_embedding_dim(conn, org_id=org, namespace=ns) is None
    for n, scope in enumerate(scopes):
        if n != victim:
            assert_intact(store, scope, dim=n + 2)
