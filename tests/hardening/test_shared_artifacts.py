"""Two hosts (two `recsys serve` processes, separate working directories and ports) on one real
PostgreSQL and one shared artifact directory: one builds, both answer the same lists, a new
event reaches both within 2 s, and a damaged artifact is never served."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from recsys.client import SIGNALS_BUILDING
from recsys.signals import artifact
from recsys.testing.server import running_server

NS = "shared"
USERS = [f"u{n}" for n in range(8)]
PROPAGATION_BOUND_S = 2.0

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def seed(http: httpx.Client) -> None:
    items = [{"item_id": f"i{n:02d}", "category": f"c{n % 4}"} for n in range(40)]
    assert http.post("/v1/items:upsert", json={"namespace": NS, "items": items}).status_code < 300
    events = [
        {
            "event_id": f"seed-{u}-{n}",
            "user_id": f"u{u}",
            "item_id": f"i{(u * 7 + n * 3) % 40:02d}",
            "type": "click",
        }
        for u in range(30)
        for n in range(12)
    ]
    response = http.post("/v1/events:batch", json={"namespace": NS, "events": events})
    assert response.status_code < 300, response.text


def lists(http: httpx.Client) -> dict[str, list[str]]:
    out = {}
    for user in USERS:
        body = {"namespace": NS, "user_id": user, "k": 8}
        deadline = time.monotonic() + 120
        while True:
            response = http.post("/v1/recommendations", json=body)
            assert response.status_code == 200, response.text
            answer = response.json()
            # A host's first answers may come before its signals are complete: ask again.
            if not any(w.startswith(SIGNALS_BUILDING) for w in answer["warnings"]):
                break
            assert time.monotonic() < deadline, "signals still building after 120 s"
        out[user] = [item["item_id"] for item in answer["items"]]
    return out


def until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
    return False


def test_two_hosts_share_one_build(postgres_url: str, tmp_path: Path) -> None:
    shared = tmp_path / "artifacts"
    env = {"RECSYS_SNAPSHOT_DIR": str(shared)}
    org = str(uuid.uuid4())
    headers = {"X-Org-ID": org}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    with (
        running_server(postgres_url, workdir=tmp_path / "a", env=env) as host_a,
        running_server(postgres_url, workdir=tmp_path / "b", env=env) as host_b,
        httpx.Client(base_url=host_a.base_url, headers=headers, timeout=60) as a,
        httpx.Client(base_url=host_b.base_url, headers=headers, timeout=60) as b,
    ):
        seed(a)
        from_a = lists(a)
        # Host A built and published (its complete lists are served before the write ends).
        assert until(lambda: len(artifact.versions(shared, org, NS)) == 1, 60.0)
        built = artifact.versions(shared, org, NS)
        assert lists(b) == from_a
        assert artifact.versions(shared, org, NS) == built  # host B mapped it, built nothing

        # A damaged version is never served: a third host rejects it and builds its own.
        (version,) = artifact.versions(shared, org, NS)
        weights = version / "model_weights.npy"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0x01
        # A new file in its place: the hosts that mapped the old one keep their pages.
        damaged = weights.with_suffix(".damaged")
        damaged.write_bytes(bytes(data))
        os.replace(damaged, weights)
        with (
            running_server(postgres_url, workdir=tmp_path / "c", env=env) as host_c,
            httpx.Client(base_url=host_c.base_url, headers=headers, timeout=60) as c,
        ):
            assert lists(c) == from_a  # built from the same events: the same lists
            assert version not in artifact.versions(shared, org, NS)
            assert until(lambda: len(artifact.versions(shared, org, NS)) == 1, 60.0)

            # A purchase through host B: the item leaves u1's list on every host within 2 s.
            bought = from_a["u1"][0]
            event: dict[str, Any] = {
                "event_id": "buy-1",
                "user_id": "u1",
                "item_id": bought,
                "type": "purchase",
            }
            response = b.post("/v1/events:batch", json={"namespace": NS, "events": [event]})
            assert response.status_code < 300, response.text
            acknowledged = time.monotonic()
            for http in (a, b, c):
                assert until(lambda h=http: bought not in lists(h)["u1"], 15.0)
            assert time.monotonic() - acknowledged <= PROPAGATION_BOUND_S
