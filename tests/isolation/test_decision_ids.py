"""Decision ids are the one identifier the server makes for a tenant and then shares with the
audit table, whose key is the decision id alone (not org + id). Two tenants must never lose a
record to each other's id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from recsys.config.settings import Settings
from recsys.service import create_app
from recsys.store import Store
from tests.conftest import FakeClock
from tests.isolation.world import NAMESPACE, Tenant, call, new_org, ok, seed_decoy


@pytest.fixture
def seeded_pair(store: Store, clock: FakeClock) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps over one store whose bandits draw from the same seed — two workers started
    alike, or one restarted. The seed is fresh per test: PostgreSQL tests share a database."""
    seed = uuid.uuid4().int % 2**32
    clients = []
    for _ in range(2):
        app = create_app(
            Settings(database_url="unused://"), store=store, clock=clock, bandit_seed=seed
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
    yield clients[0], clients[1]
    for client in clients:
        client.__exit__(None, None, None)


def test_the_same_bandit_decision_id_in_two_orgs_keeps_both_audit_records(
    seeded_pair: tuple[TestClient, TestClient], clock: FakeClock
) -> None:
    found = []
    for client, tenant in zip(
        seeded_pair, (Tenant(new_org(), NAMESPACE), Tenant(new_org(), NAMESPACE)), strict=True
    ):
        seed_decoy(client, tenant, clock())
        body = {"namespace": NAMESPACE, "policies": [{"policy_id": "arm"}]}
        ok(call(client, tenant, "POST", "/v1/bandit/policies:upsert", body=body))
        ask = {"namespace": NAMESPACE, "surface": "home"}
        decision_id = ok(call(client, tenant, "POST", "/v1/bandit/recommendations", body=ask))[
            "decision_id"
        ]
        record = call(client, tenant, "GET", f"/v1/audit/decisions/{decision_id}")
        found.append((decision_id, record.status_code))
    # Same seed, same first id: the premise of the test, true today.
    assert found[0][0] == found[1][0]
    assert [status for _, status in found] == [200, 200], found
