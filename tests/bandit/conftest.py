"""Bandit test fixtures: apps with a seeded bandit over the test's store (both backends)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient


def sequential_ids(org: str) -> Callable[[], str]:
    """Decision ids 0, 1, 2... behind the org's own prefix: deterministic and unique per test
    (PostgreSQL tests share one database)."""
    prefix = org.replace("-", "")[:16]
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter):016x}"


@pytest.fixture
def make_bandit_client(make_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """`build(seed=7, ids=None, **settings)`: a client whose bandit draws from `seed`."""

    def build(
        *, seed: int | None = 7, ids: Callable[[], str] | None = None, **settings: object
    ) -> TestClient:
        return make_client(app_options={"bandit_seed": seed, "bandit_ids": ids}, **settings)

    return build


@pytest.fixture
def bandit_client(make_bandit_client: Callable[..., TestClient]) -> TestClient:
    return make_bandit_client()
