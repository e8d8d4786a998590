"""The console keeps to the signed-in org and the namespace in its path, like the API: another
org signed in (using the owner's namespace name), or the owner's org looking at another
namespace, sees none of the owner's data on any console page — given the owner's own ids
(users, items, decisions, config versions) — and cannot roll the owner's config back. Secrets
are looked for everywhere on the page except what the intruder typed itself (form values, and
error messages quoting them)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.isolation.world import (
    INTRUDER_KINDS,
    NAMESPACE,
    IntruderKind,
    Tenant,
    World,
    assert_same_world,
    fingerprint,
    intruder_for,
    seed_world,
)
from tests.service.test_console import csrf_of, sign_in

ECHOES = re.compile(r'value="[^"]*"|<p class="flash error"[^>]*>.*?</p>', re.S)


def pages(namespace: str, w: World) -> list[tuple[str, dict[str, str]]]:
    found = [
        ("/console", {}),
        ("/console/runs", {}),
        (f"/console/ns/{namespace}/config", {}),
        (f"/console/ns/{namespace}/config", {"a": "1", "b": "2"}),
        (f"/console/ns/{namespace}/preview", {"user_id": w.vip_user, "k": "10"}),
        (f"/console/ns/{namespace}/preview", {"k": "10", "surface": "home"}),
        (f"/console/ns/{namespace}/preview", {"similar": w.item_ids[0]}),
        (f"/console/ns/{namespace}/bandit", {}),
        (f"/console/ns/{namespace}/rules", {}),
        (f"/console/ns/{namespace}/segments", {"user_id": w.vip_user}),
        (f"/console/ns/{namespace}/audit", {"user_id": w.vip_user}),
    ]
    found += [(f"/console/ns/{namespace}/audit", {"decision_id": d}) for d in w.decision_ids]
    return found


@pytest.mark.parametrize("kind", INTRUDER_KINDS)
def test_console_pages_show_an_intruder_nothing_of_the_owner(
    kind: IntruderKind, make_client: Callable[..., TestClient], clock: FakeClock, org: str
) -> None:
    client = make_client()
    world = seed_world(client, Tenant(org, NAMESPACE), clock())
    before = fingerprint(client, world)
    intruder = intruder_for(kind, world)
    assert sign_in(client, intruder.tenant.org) == 303
    for path, params in pages(intruder.tenant.namespace, world):
        response = client.get(path, params=params)
        assert response.status_code < 500, (path, params, response.text)
        shown = ECHOES.sub("", response.text)
        for secret in intruder.secrets:
            assert secret not in shown, (path, params, secret)
    page = client.get(f"/console/ns/{intruder.tenant.namespace}/config")
    rollback = client.post(
        f"/console/ns/{intruder.tenant.namespace}/config/rollback",
        data={"csrf": csrf_of(page.text), "version": "1", "confirm": "yes"},
    )
    assert rollback.status_code == 404
    assert_same_world(before, fingerprint(client, world), f"after the {kind} intruder")
