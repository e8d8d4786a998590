"""Shared fixtures: stores on both backends, a settable clock, an app client, a fresh org."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.config.settings import Settings
from recsys.service import create_app
from recsys.store import Store
from recsys.testing.postgres import PostgresUnavailable, find_bindir, throwaway_cluster

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One throwaway cluster per test session; tests isolate themselves by org id."""
    try:
        find_bindir()
    except PostgresUnavailable as exc:
        if os.environ.get("RECSYS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"RECSYS_REQUIRE_POSTGRES=1 but {exc}")
        pytest.skip(f"{exc}; install postgresql to run the PostgreSQL suite")
    with throwaway_cluster() as url:
        store = Store.from_url(url, migrate=True)
        store.close()
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'recsys.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store.from_url(database_url, migrate=True)
    yield store
    store.close()


@pytest.fixture
def org() -> str:
    """A fresh tenant per test, so tests sharing a PostgreSQL database never see each other."""
    return str(uuid.uuid4())


@pytest.fixture
def make_client(store: Store, clock: FakeClock) -> Iterator[Callable[..., TestClient]]:
    """Build a client over the test's store; keyword arguments become Settings fields, and
    `app_options` extra create_app arguments (e.g. a bandit seed)."""
    clients: list[TestClient] = []

    def build(*, app_options: dict[str, Any] | None = None, **settings: object) -> TestClient:
        app = create_app(
            Settings(database_url="unused://", **settings),  # type: ignore[arg-type]
            store=store,
            clock=clock,
            **(app_options or {}),
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def headers(org: str) -> dict[str, str]:
    return {"X-Org-ID": org}
