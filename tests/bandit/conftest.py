"""Bandit test fixtures: apps with a seeded bandit over the test's store (both backends)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from recsys.config.settings import Settings
from recsys.service import create_app
from recsys.store import Store
from tests.conftest import FakeClock


def sequential_ids(org: str) -> Callable[[], str]:
    """Decision ids 0, 1, 2... behind the org's own prefix: deterministic and unique per test
    (PostgreSQL tests share one database)."""
    prefix = org.replace("-", "")[:16]
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter):016x}"


@pytest.fixture
def make_bandit_client(store: Store, clock: FakeClock) -> Iterator[Callable[..., TestClient]]:
    """`build(seed=7, ids=None, **settings)`: a client whose bandit draws from `seed`."""
    clients: list[TestClient] = []

    def build(
        *, seed: int | None = 7, ids: Callable[[], str] | None = None, **settings: object
    ) -> TestClient:
        app = create_app(
            Settings(database_url="unused://", **settings),  # type: ignore[arg-type]
            store=store,
            clock=clock,
            bandit_seed=seed,
            bandit_ids=ids,
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def bandit_client(make_bandit_client: Callable[..., TestClient]) -> TestClient:
    return make_bandit_client()
