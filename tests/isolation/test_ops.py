"""What every tenant shares: /metrics (one registry for all orgs, served without X-Org-ID or an
API key) and the config presets. Neither may carry one tenant's identifiers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FakeClock
from tests.isolation.world import (
    NAMESPACE,
    Tenant,
    call,
    eventually,
    expect_error,
    new_org,
    ok,
    seed_decoy,
    seed_world,
)

# Every label /metrics may carry. `namespace`, `surface` and the bandit's `policy` are names the
# tenant chooses, shared by every org that uses them (there is no org label, so two orgs' "shop"
# add up in one series); `rule_id` is an opaque per-org UUID, exposed on purpose for the
# BLOCK-rule counter (docs/rules_runbook.md, "watch it") — it names no org and opens nothing
# (other orgs get 404). Data ids (items, users, events, decisions) and org ids never appear.
ALLOWED_LABELS = {
    "method",
    "route",
    "status",
    "kind",
    "namespace",
    "surface",
    "policy",
    "algorithm",
    "action",
    "rule_id",
    "reason",
    "bucket",
    "le",
}


def test_metrics_carry_no_tenant_identifiers(
    make_client: Callable[..., TestClient], clock: FakeClock, org: str
) -> None:
    client = make_client()
    world = seed_world(client, Tenant(org, NAMESPACE), clock())
    other = Tenant(new_org(), NAMESPACE)
    seed_decoy(client, other, clock())
    block = {
        "namespace": NAMESPACE,
        "name": "b",
        "action": "BLOCK",
        "target_type": "ITEM",
        "item_ids": ["zz-decoy-i1"],
    }
    other_rule = ok(call(client, other, "POST", "/v1/admin/rules", body=block), 201)["rule_id"]
    # The rule reaches the other org's rankings through the background refresh.
    eventually(
        lambda: ok(
            call(client, other, "POST", "/v1/recommendations", body={"namespace": NAMESPACE})
        ),
        lambda answer: "zz-decoy-i1" not in {i["item_id"] for i in answer["items"]},
        "the other org's BLOCK rule in its rankings",
    )
    # Paths holding the owner's ids: a matched route (labelled by its template) and an unmatched
    # one (labelled "unmatched"), neither with the id itself.
    similar = f"/v1/items/{world.item_ids[0]}/similar"
    ok(call(client, world.owner, "GET", similar, params={"namespace": NAMESPACE}))
    expect_error(
        call(client, other, "GET", similar, params={"namespace": NAMESPACE}), 404, "item_not_found"
    )
    expect_error(call(client, other, "GET", f"/v1/nowhere/{world.item_ids[0]}"), 404, "not_found")

    text = client.get("/metrics").text
    for secret in (
        world.owner.org,
        other.org,
        *world.item_ids,
        *world.user_ids,
        *world.event_ids,
        *world.decision_ids,
        *world.bandit_decision_ids,
        world.segment_id,
        world.profile_id,
        *world.brands,
        *world.tags,
    ):
        assert secret not in text, f"/metrics holds {secret!r}"
    routes = {*client.get("/openapi.json").json()["paths"], "unmatched"}
    # The owner's mark may only come in through the bandit's `policy` label (policy ids are
    # tenant-chosen names, like namespaces).
    policies = set(world.policy_ids)
    rule_ids: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
            if "route" in sample.labels:
                assert sample.labels["route"] in routes, sample
            if "rule_id" in sample.labels:
                rule_ids.add(sample.labels["rule_id"])
            for name, value in sample.labels.items():
                assert world.mark not in value or (name == "policy" and value in policies), sample
    # The only rule ids are those of BLOCK rules that removed candidates: the owner's tag rule
    # and its suppress override's rule, the other org's item rule.
    assert rule_ids == {world.rule_ids["block"], world.override_rule_id, other_rule}


def test_presets_are_the_same_for_every_tenant(
    make_client: Callable[..., TestClient], clock: FakeClock, org: str
) -> None:
    """Why presets are exempt from the case table: they come from code, not from any tenant."""
    client = make_client()
    world = seed_world(client, Tenant(org, NAMESPACE), clock())
    path = "/v1/admin/recommendation/presets"
    owners = ok(call(client, world.owner, "GET", path))
    strangers = ok(call(client, Tenant(new_org(), NAMESPACE), "GET", path))
    assert owners == strangers
    assert world.mark not in str(strangers)
