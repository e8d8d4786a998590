"""Page tokens are sealed: unreadable, bound to the org, namespace and listing that issued them,
of one length whatever the row id, valid on every worker (the keys live in the store),
and their keys rotate without breaking the cursors clients hold."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.service.errors import ApiError
from recsys.service.pagination import RELOAD_S, PageTokens
from recsys.store import Store
from recsys.store.secrets import page_token_keys, retire_page_token_key, rotate_page_token_key

NS = "demo"
ORG = "6b1d1c2e-0000-4000-8000-00000000abcd"


def push_events(client: TestClient, headers: dict, n: int) -> None:
    events = [
        {"event_id": f"e{i}", "user_id": "u1", "item_id": f"i{i}", "type": "view"} for i in range(n)
    ]
    r = client.post("/v1/events:batch", json={"namespace": NS, "events": events}, headers=headers)
    assert r.status_code == 200, r.text


def first_page_token(client: TestClient, headers: dict, namespace: str = NS) -> str:
    r = client.get("/v1/events", params={"namespace": namespace, "limit": 2}, headers=headers)
    assert r.status_code == 200, r.text
    token: str = r.json()["next_page_token"]
    return token


def test_a_token_does_not_reveal_the_row_number(client: TestClient, headers: dict) -> None:
    push_events(client, headers, 5)
    token = first_page_token(client, headers)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b'"after"' not in raw  # not the readable JSON it used to be
    assert first_page_token(client, headers) == token  # the same page, the same token


def test_a_token_works_only_for_its_org_namespace_and_listing(
    client: TestClient, headers: dict
) -> None:
    push_events(client, headers, 5)
    token = first_page_token(client, headers)
    params = {"namespace": NS, "limit": 2, "page_token": token}
    assert client.get("/v1/events", params=params, headers=headers).status_code == 200
    elsewhere = [
        ("/v1/events", {**params, "namespace": "other"}, headers),
        ("/v1/events", params, {"X-Org-ID": "6b1d1c2e-0000-4000-8000-000000000001"}),
        ("/v1/items", params, headers),
        (
            "/v1/events",
            {**params, "page_token": token[:-2] + ("AA" if token[-2:] != "AA" else "BB")},
            headers,
        ),
    ]
    for path, query, who in elsewhere:
        r = client.get(path, params=query, headers=who)
        assert r.status_code == 400, (path, query, r.text)
        assert r.json()["code"] == "invalid_page_token"


def test_a_token_from_one_worker_is_valid_on_another(
    make_client: Callable[..., TestClient], headers: dict
) -> None:
    first, second = make_client(), make_client()  # two app instances over one store
    push_events(first, headers, 5)
    token = first_page_token(first, headers)
    params = {"namespace": NS, "limit": 2, "page_token": token}
    r = second.get("/v1/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    assert [e["event_id"] for e in r.json()["events"]] == ["e2", "e3"]


def test_token_length_does_not_depend_on_the_row_id() -> None:
    tokens = PageTokens(lambda: {0: bytes(range(32))})
    lengths = {
        len(tokens.encode("events", ORG, NS, row)) for row in (5, 1_234_567, 2**62, -(2**63))
    }
    assert len(lengths) == 1
    for row in (5, 1_234_567, 2**63 - 1):
        assert tokens.decode("events", ORG, NS, tokens.encode("events", ORG, NS, row), int) == row
    # item ids are the tenant's own: padded to a block, so short ones all look alike
    short = {len(tokens.encode("items", ORG, NS, item)) for item in ("a", "sku-123", "x" * 40)}
    assert len(short) == 1
    long_id = "é" * 200
    assert tokens.decode("items", ORG, NS, tokens.encode("items", ORG, NS, long_id), str) == long_id


def test_rotated_keys_keep_old_tokens_until_retired(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'keys.db'}", migrate=True)
    now = [0.0]

    def ring() -> dict[int, bytes]:
        with store.write() as conn:
            return page_token_keys(conn)

    worker = PageTokens(ring, monotonic=lambda: now[0])
    old = worker.encode("events", ORG, NS, 41)
    with store.write() as conn:
        assert rotate_page_token_key(conn) == 1
    # a worker that has not reloaded yet still seals with key 0; one that has uses key 1
    fresh = PageTokens(ring)
    new = fresh.encode("events", ORG, NS, 41)
    assert new != old
    now[0] += 1.0  # an unknown key id reloads the ring, at most once a second
    assert worker.decode("events", ORG, NS, new, int) == 41
    assert worker.encode("events", ORG, NS, 41) == new  # ... and seals with the newest since
    assert fresh.decode("events", ORG, NS, old, int) == 41  # old tokens still open
    with store.write() as conn:
        with pytest.raises(ValueError):
            retire_page_token_key(conn, 1)  # the newest seals: never retired
        retire_page_token_key(conn, 0)
    with pytest.raises(ApiError):
        PageTokens(ring).decode("events", ORG, NS, old, int)
    assert worker.decode("events", ORG, NS, old, int) == 41  # until this worker reloads ...
    now[0] += RELOAD_S
    with pytest.raises(ApiError):
        worker.decode("events", ORG, NS, old, int)
    assert PageTokens(ring).decode("events", ORG, NS, new, int) == 41
    with store.write() as conn:
        assert set(page_token_keys(conn)) == {1}  # retiring key 0 does not bring it back
    store.close()


def test_page_keys_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    runner = CliRunner(env={"RECSYS_DATABASE_URL": url})
    listed = runner.invoke(app, ["page-keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.split() == ["0", "(seals)"]
    assert runner.invoke(app, ["page-keys", "rotate"]).output.strip() == "key 1 seals new tokens"
    refused = runner.invoke(app, ["page-keys", "retire", "1"])
    assert refused.exit_code == 2
    assert "rotate before retiring" in refused.output
    assert runner.invoke(app, ["page-keys", "retire", "0"]).exit_code == 0
    assert runner.invoke(app, ["page-keys", "list"]).output.split() == ["1", "(seals)"]
    assert runner.invoke(app, ["page-keys", "retire", "7"]).exit_code == 1
