"""Every row of the case table, on SQLite and PostgreSQL: the owner seeds its world, each
intruder runs the row's check, and everything the owner can observe is the same afterwards —
on the app that served the intruder, and on a fresh app that rebuilds from the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.isolation.cases import CASES, Case
from tests.isolation.world import (
    NAMESPACE,
    Probe,
    Tenant,
    assert_same_world,
    fingerprint,
    intruder_for,
    seed_world,
)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_intruders_neither_see_nor_change_the_owners_data(
    case: Case, make_client: Callable[..., TestClient], clock: FakeClock, org: str
) -> None:
    client = make_client()
    world = seed_world(client, Tenant(org, NAMESPACE), clock())
    before = fingerprint(client, world)
    for kind in case.intruders:
        intruder = intruder_for(kind, world)
        case.run(Probe(client, world, intruder, clock()))
        assert_same_world(before, fingerprint(client, world), f"after the {kind} intruder")
    assert_same_world(before, fingerprint(make_client(), world), "seen from a fresh app")
