"""Two tenants with full worlds side by side — another org under the same namespace name, or the
same org in another namespace — and each in turn aims everything it can write at the other's
identifiers: its own copies of the other's items, users and event ids, thousands of purchases
of the other's weakest items, extreme config and event-type weights, a segment and profile
under the other's ids matching everybody, BLOCK/PIN/BOOST rules and overrides on the other's
catalogue, rollbacks to the other's version numbers, and deletes by the other's ids. The target's
whole observable world — its recommendations, rerank, similar items and dry runs included — is
the same afterwards, on the warm app and on a fresh one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.isolation.world import (
    INTRUDER_KINDS,
    NAMESPACE,
    OTHER_NAMESPACE,
    IntruderKind,
    Tenant,
    World,
    assert_same_world,
    call,
    eventually,
    fingerprint,
    iso,
    new_org,
    ok,
    seed_world,
)

HEAVY_EVENTS = 3000


def barrage(client: TestClient, attacker: World, target: World, now: datetime) -> int:
    """Everything `attacker` can write, aimed at `target`'s ids, in the attacker's namespace;
    returns the attacker's last config version (written last of all)."""
    ns = attacker.owner.namespace

    def post(path: str, body: dict[str, Any], status: int = 200) -> Any:
        request = call(client, attacker.owner, "POST", path, body={"namespace": ns, **body})
        return ok(request, status)

    # Deletes by the target's ids first (they exist only in the target's namespace).
    for path, body, counted in (
        ("/v1/items:delete", {"item_ids": target.item_ids}, "deleted_count"),
        ("/v1/users:delete", {"user_ids": target.user_ids}, "deleted_count"),
        ("/v1/events:delete", {"event_ids": target.event_ids}, "deleted_count"),
        ("/v1/events:delete", {"user_id": target.vip_user}, "deleted_count"),
        ("/v1/segments:delete", {"segment_ids": [target.segment_id]}, "count"),
        ("/v1/segment-profiles:delete", {"profile_ids": [target.profile_id]}, "count"),
    ):
        assert post(path, body)[counted] == 0, (path, body)
    # The target's catalogue and users, as the attacker's own, with everything changed.
    items = [
        {"item_id": i, "tags": target.tags, "brand": target.brands[0], "embedding": [1.0] * 4}
        for i in target.item_ids
    ]
    post("/v1/items:upsert", {"items": items})
    users = [{"user_id": u, "traits": {"segment": "vip"}} for u in target.user_ids]
    post("/v1/users:upsert", {"users": users})
    # Thousands of purchases of the target's weakest items by the target's users, the first of
    # them under the target's event ids.
    weakest = target.item_ids[-6:]
    ts = iso(now - timedelta(hours=2))
    events = [
        {
            "event_id": target.event_ids[n] if n < len(target.event_ids) else f"flood-{n}",
            "user_id": target.user_ids[n % len(target.user_ids)],
            "item_id": weakest[n % len(weakest)],
            "type": 3,
            "ts": ts,
        }
        for n in range(HEAVY_EVENTS)
    ]
    assert post("/v1/events:batch", {"events": events})["inserted"] == HEAVY_EVENTS
    types = [{"type": 3, "weight": 1000}, {"type": 0, "weight": 1, "active": False}]
    post("/v1/event-types:upsert", {"types": types})
    # The target's version numbers: the attacker's own versions, or 404 — never the target's.
    for guessed in target.config_versions:
        rollback = "/v1/admin/recommendation/config/rollback"
        to = {"namespace": ns, "version": guessed}
        response = call(client, attacker.owner, "POST", rollback, body=to)
        assert response.status_code in (200, 404), response.text
    profile = {"profile_id": target.profile_id, "profile_boost": 10, "mmr_lambda": 0}
    post("/v1/segment-profiles:upsert", {"profiles": [profile]})
    segment = {
        "segment_id": target.segment_id,
        "priority": 1000,
        "profile_id": target.profile_id,
        "rules": [{"rule": {"exists": "user.traits.segment"}}],
    }
    post("/v1/segments:upsert", {"segment": segment})
    rule = {"name": "aimed", "priority": 1000}
    for aimed in (
        {"action": "BLOCK", "target_type": "ITEM", "item_ids": target.item_ids[:8]},
        {"action": "BLOCK", "target_type": "TAG", "target_key": target.tags[0]},
        {"action": "PIN", "target_type": "ITEM", "item_ids": [weakest[0]], "position": 1},
        {"action": "BOOST", "target_type": "BRAND", "target_key": target.brands[1],
         "boost_value": 1000},
    ):  # fmt: skip
        post("/v1/admin/rules", {**rule, **aimed}, 201)
    for item_id in target.item_ids[8:12]:
        post("/v1/admin/manual_overrides", {"item_id": item_id, "action": "suppress"}, 201)
    boost = {"item_id": weakest[1], "action": "boost", "boost_value": 1000}
    post("/v1/admin/manual_overrides", boost, 201)
    config = {"blend_alpha": 10, "mmr_lambda": 0, "brand_cap": 1}
    version: int = post("/v1/admin/recommendation/config", {"config": config})["version"]
    return version


def settled(client: TestClient, tenant: Tenant, version: int) -> None:
    """Wait until the tenant's rankings use config `version`. Its snapshot reloads policy and
    data together, so by then every earlier write of the tenant shows too, and the background
    refresh has passed over every loaded namespace since."""
    body = {"namespace": tenant.namespace}
    eventually(
        lambda: ok(call(client, tenant, "POST", "/v1/recommendations", body=body)),
        lambda answer: answer["config_version"] == version,
        f"config version {version} in the rankings",
    )


@pytest.mark.parametrize("kind", INTRUDER_KINDS)
def test_heavy_writes_aimed_at_a_tenant_change_nothing_of_it(
    kind: IntruderKind, make_client: Callable[..., TestClient], clock: FakeClock, org: str
) -> None:
    client = make_client()
    now = clock()
    a = seed_world(client, Tenant(org, NAMESPACE), now)
    b_tenant = Tenant(new_org(), NAMESPACE) if kind == "other_org" else Tenant(org, OTHER_NAMESPACE)
    b = seed_world(client, b_tenant, now)
    # Each in turn: the other org's (or namespace's) writes hit the owner, then the reverse.
    for attacker, target in ((b, a), (a, b)):
        before = fingerprint(client, target)
        attackers_before = fingerprint(client, attacker)
        settled(client, attacker.owner, barrage(client, attacker, target, now))
        # The barrage did move the attacker's own rankings (it was not a no-op) ...
        attackers_after = fingerprint(client, attacker)
        for part in ("recommendations", "rerank", "similar"):
            assert attackers_after[part] != attackers_before[part], part
        # ... and nothing of the target's.
        assert_same_world(before, fingerprint(client, target), f"after {kind} heavy writes")
        assert_same_world(before, fingerprint(make_client(), target), "seen from a fresh app")
