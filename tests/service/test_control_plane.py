"""The control plane over HTTP, on both stores, against the tiny shop: namespace config (versions,
history, rollback, presets, MMR presets), event types, segments and profiles, merchandising
rules and their dry run, manual overrides, decision audit and the policy metrics.

Policy writes reach rankings through the background refresh, so every "it changed" check polls
with a deadline (the 2 s promise) instead of sleeping. A "nothing else changed" check is made only
after a later write to the same namespace has been seen: the policy is reloaded as a whole, so
once the later write shows, so would the earlier one."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from recsys.config.knobs import KNOBS_BY_KEY
from recsys.signals.event_types import DEFAULT_WEIGHTS, TYPE_NAMES
from tests.service.conftest import SHOP_NS, load_shop

NS = SHOP_NS
T = TypeVar("T")


# --- helpers ----------------------------------------------------------------------------------


def recommend(client: TestClient, headers: dict, namespace: str = NS, **body: Any) -> dict:
    """With `explain_level` numeric unless the test says otherwise: the trace these tests read
    comes only with an explanation."""
    body = {"namespace": namespace, "explain_level": "numeric", **body}
    r = client.post("/v1/recommendations", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def ids(response: dict) -> list[str]:
    return [i["item_id"] for i in response["items"]]


def category_of(item_id: str) -> str:
    return f"c{item_id[1]}"  # shop items i00..i59: ten per category c0..c5


def most_per_category(item_ids: list[str]) -> int:
    return max(Counter(category_of(i) for i in item_ids).values())


def eventually(probe: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """Poll `probe` until `done`; the control plane promises changes within 2 s."""
    deadline = time.monotonic() + 2.0
    while True:
        value = probe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"not within 2 s: {what}"
        time.sleep(0.02)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def post(client: TestClient, path: str, headers: dict, body: dict, status: int = 200) -> Any:
    return ok(client.post(path, json=body, headers=headers), status)


def error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body: dict = response.json()
    assert body["code"] == code, body
    return body


def set_config(client: TestClient, headers: dict, config: dict, **extra: Any) -> dict:
    body = {"namespace": extra.pop("namespace", NS), "config": config, **extra}
    result: dict = post(client, "/v1/admin/recommendation/config", headers, body)
    return result


def create_rule(client: TestClient, headers: dict, **fields: Any) -> dict:
    body = {"namespace": NS, "name": "test rule", **fields}
    rule: dict = post(client, "/v1/admin/rules", headers, body, status=201)
    return rule


def upsert_segment(client: TestClient, headers: dict, **segment: Any) -> None:
    post(client, "/v1/segments:upsert", headers, {"namespace": NS, "segment": segment})


def upsert_profiles(client: TestClient, headers: dict, *profiles: dict) -> None:
    post(client, "/v1/segment-profiles:upsert", headers, {"namespace": NS, "profiles": profiles})


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of /metrics (0 when the labelled series does not exist yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


# --- 1. config --------------------------------------------------------------------------------


def test_fresh_namespace_config_is_version_0_with_every_effective_knob(
    client: TestClient, headers: dict
) -> None:
    body = ok(
        client.get("/v1/admin/recommendation/config", params={"namespace": NS}, headers=headers)
    )
    assert body["version"] == 0 and body["explicit"] == {}
    assert body["metadata"]["updated_at"] is None
    assert set(body["config"]) == set(KNOBS_BY_KEY)
    for key, knob in KNOBS_BY_KEY.items():
        default = list(knob.default) if isinstance(knob.default, tuple) else knob.default
        assert body["config"][key] == default, key


def test_config_reaches_rankings_within_two_seconds_and_nowhere_else(
    shop: TestClient, headers: dict, clock: Any
) -> None:
    other_org = {"X-Org-ID": str(uuid.uuid4())}
    load_shop(shop, headers, clock, namespace="shop2")
    load_shop(shop, other_org, clock)
    before = {
        (tag, ns): recommend(shop, h, namespace=ns, user_id="u04", k=10)
        for tag, h, ns in (("a", headers, NS), ("a", headers, "shop2"), ("b", other_org, NS))
    }
    base = ids(before["a", NS])
    assert all(b["config_version"] == 0 for b in before.values())
    assert most_per_category(base) > 2  # so that a cap of 2 must change the list

    out = set_config(
        shop, headers, {"category_cap": 2, "mmr_lambda": 0.9}, author="ann", notes="cap it"
    )
    assert out["version"] == 1 and out["explicit"] == {"category_cap": 2, "mmr_lambda": 0.9}
    assert (
        out["config"]["category_cap"] == 2
        and out["config"]["blend_alpha"] == KNOBS_BY_KEY["blend_alpha"].default
    )
    got = ok(shop.get("/v1/admin/recommendation/config", params={"namespace": NS}, headers=headers))
    assert got["version"] == 1 and got["config"]["mmr_lambda"] == 0.9
    assert got["metadata"]["updated_by"] == "ann" and got["metadata"]["notes"] == "cap it"
    assert got["metadata"]["updated_at"] is not None

    after = eventually(
        lambda: recommend(shop, headers, user_id="u04", k=10),
        lambda b: b["config_version"] == 1,
        "responses carry config_version 1",
    )
    assert ids(after) != base and most_per_category(ids(after)) <= 2
    assert after["trace"]["extras"]["effective_knobs"]["mmr_lambda"] == 0.9

    # Another namespace of the same org and the same namespace of another org: untouched.
    for tag, h, ns in (("a", headers, "shop2"), ("b", other_org, NS)):
        body = recommend(shop, h, namespace=ns, user_id="u04", k=10)
        assert body["config_version"] == 0 and ids(body) == ids(before[tag, ns])
        cfg = ok(shop.get("/v1/admin/recommendation/config", params={"namespace": ns}, headers=h))
        assert cfg["version"] == 0 and cfg["config"]["category_cap"] == 0


def test_invalid_config_is_422_naming_every_field_and_changes_nothing(
    client: TestClient, headers: dict
) -> None:
    set_config(client, headers, {"brand_cap": 1})
    r = client.post(
        "/v1/admin/recommendation/config",
        json={
            "namespace": NS,
            "config": {"no_such_knob": 1, "mmr_lambda": 1.5, "category_cap": 3},
        },
        headers=headers,
    )
    body = error(r, 422, "invalid_config")
    errors = body["details"]["errors"]
    assert {e["field"] for e in errors} == {"no_such_knob", "mmr_lambda"}
    assert {e["loc"] for e in errors} == {"config.no_such_knob", "config.mmr_lambda"}
    got = ok(
        client.get("/v1/admin/recommendation/config", params={"namespace": NS}, headers=headers)
    )
    assert got["version"] == 1 and got["explicit"] == {"brand_cap": 1}
    history = ok(
        client.get(
            "/v1/admin/recommendation/config/history", params={"namespace": NS}, headers=headers
        )
    )
    assert [v["version"] for v in history["versions"]] == [1]


def test_config_history_and_rollback(shop: TestClient, headers: dict) -> None:
    set_config(shop, headers, {"category_cap": 2}, author="ann", notes="first")
    set_config(shop, headers, {"mmr_lambda": 0.3}, author="bob", notes="second")
    history = ok(
        shop.get(
            "/v1/admin/recommendation/config/history", params={"namespace": NS}, headers=headers
        )
    )["versions"]
    assert [v["version"] for v in history] == [2, 1]
    assert [v["metadata"]["updated_by"] for v in history] == ["bob", "ann"]
    assert [v["metadata"]["notes"] for v in history] == ["second", "first"]
    assert history[1]["config"] == {"category_cap": 2}

    rolled = post(
        shop,
        "/v1/admin/recommendation/config/rollback",
        headers,
        {"namespace": NS, "version": 1, "author": "cat"},
    )
    assert rolled["version"] == 3 and rolled["explicit"] == {"category_cap": 2}
    assert rolled["metadata"]["rollback_of"] == 1 and rolled["metadata"]["updated_by"] == "cat"
    assert rolled["config"]["mmr_lambda"] == 0.7  # version 2's change is gone
    history = ok(
        shop.get(
            "/v1/admin/recommendation/config/history", params={"namespace": NS}, headers=headers
        )
    )["versions"]
    assert [v["version"] for v in history] == [3, 2, 1]
    assert history[0]["config"] == history[2]["config"]

    r = shop.post(
        "/v1/admin/recommendation/config/rollback",
        json={"namespace": NS, "version": 99},
        headers=headers,
    )
    error(r, 404, "config_version_not_found")
    got = ok(shop.get("/v1/admin/recommendation/config", params={"namespace": NS}, headers=headers))
    assert got["version"] == 3

    body = eventually(
        lambda: recommend(shop, headers, user_id="u04", k=10),
        lambda b: b["config_version"] == 3,
        "the rollback is served",
    )
    assert most_per_category(ids(body)) <= 2
    assert body["trace"]["extras"]["effective_knobs"]["mmr_lambda"] == 0.7


def test_presets_are_listed_and_valid_configs(client: TestClient, headers: dict) -> None:
    presets = ok(client.get("/v1/admin/recommendation/presets", headers=headers))["presets"]
    names = [p["name"] for p in presets]
    assert {"balanced", "discovery", "conversion", "personal", "surface_defaults"} <= set(names)
    assert all(p["description"] for p in presets)
    for preset in presets:  # each one is accepted as a namespace config as it stands
        assert set_config(client, headers, preset["config"])["explicit"] == preset["config"]


def test_mmr_presets_from_the_namespace_config_apply_per_surface(
    shop: TestClient, headers: dict
) -> None:
    set_config(shop, headers, {"mmr_presets": {"pdp": 1.0}})
    on_pdp = eventually(
        lambda: recommend(shop, headers, user_id="u04", k=10, surface="pdp"),
        lambda b: b["config_version"] == 1,
        "config version 1 served",
    )
    knobs = on_pdp["trace"]["extras"]["effective_knobs"]
    assert knobs["mmr_lambda_from"] == "mmr_presets.pdp" and knobs["mmr_lambda"] == 1.0
    on_home = recommend(shop, headers, user_id="u04", k=10, surface="home")
    assert on_home["trace"]["extras"]["effective_knobs"]["mmr_lambda_from"] == "mmr_lambda"
    # The preset really ranks: pdp equals home with MMR lambda 1.0 asked for explicitly.
    explicit = recommend(
        shop, headers, user_id="u04", k=10, surface="home", overrides={"mmr_lambda": 1.0}
    )
    assert ids(on_pdp) == ids(explicit) != ids(on_home)


# --- 2. event types ---------------------------------------------------------------------------


def event_types(client: TestClient, headers: dict) -> list[dict]:
    types: list[dict] = ok(
        client.get("/v1/event-types", params={"namespace": NS}, headers=headers)
    )["types"]
    return types


def test_event_types_defaults_and_validation(client: TestClient, headers: dict) -> None:
    defaults = [
        {
            "type": n,
            "name": TYPE_NAMES[n],
            "weight": DEFAULT_WEIGHTS[n],
            "halflife_days": None,
            "active": True,
            "stored": False,
        }
        for n in range(5)
    ]
    assert event_types(client, headers) == defaults
    assert (defaults[0]["weight"], defaults[3]["weight"]) == (0.1, 1.0)
    for bad, loc in (
        ({"type": 3, "weight": 0}, "types[0].weight"),
        ({"type": 3, "weight": 1, "halflife_days": 0}, "types[0].halflife_days"),
        ({"type": 9, "weight": 1}, "types[0].type"),
        ({"type": "refund", "weight": 1}, "types[0].type"),
    ):
        r = client.post(
            "/v1/event-types:upsert",
            json={"namespace": NS, "types": [{"type": 1, "weight": 0.5}, bad]},
            headers=headers,
        )
        body = error(r, 422, "validation_error")
        assert body["details"]["errors"][0]["loc"] == loc.replace("[0]", "[1]")
    assert event_types(client, headers) == defaults  # rejected writes changed nothing

    out = post(
        client,
        "/v1/event-types:upsert",
        headers,
        {
            "namespace": NS,
            "types": [{"type": "click", "weight": 0.5, "halflife_days": 7, "active": False}],
        },
    )
    click = {"type": 1, "name": "click", "weight": 0.5, "halflife_days": 7.0, "active": False}
    assert out["types"][1] == click | {"stored": True}
    assert event_types(client, headers)[1] == click | {"stored": True}
    assert event_types(client, headers)[3] == defaults[3]


def test_event_type_changes_reach_cold_start_rankings(shop: TestClient, headers: dict) -> None:
    base = ids(recommend(shop, headers, user_id="never-seen", k=10))
    assert base[0] == "i42" and "i31" in base  # bought by many: popularity is purchases

    post(
        shop,
        "/v1/event-types:upsert",
        headers,
        {"namespace": NS, "types": [{"type": "purchase", "weight": 1.0, "active": False}]},
    )
    without = ids(
        eventually(
            lambda: recommend(shop, headers, user_id="never-seen", k=10),
            # i31 only ever had purchases. (Heavy signals follow in the background, so an
            # intermediate list may show first: wait for the settled one, within 2 s.)
            lambda b: "i42" not in ids(b)[:3] and "i31" not in ids(b),
            "deactivating purchases changes a cold user's list",
        )
    )
    assert without != base

    post(
        shop,
        "/v1/event-types:upsert",
        headers,
        {
            "namespace": NS,
            "types": [{"type": 3, "weight": 1.0, "active": True}, {"type": 0, "weight": 5.0}],
        },
    )
    reweighted = ids(
        eventually(
            lambda: recommend(shop, headers, user_id="never-seen", k=10),
            # Purchases count again, views now count for much more.
            lambda b: ids(b) not in (base, without) and ids(b)[0] == "i42",
            "new weights change a cold user's list",
        )
    )
    assert reweighted not in (base, without)


# --- 3. segments and profiles -----------------------------------------------------------------

FANS_2 = {"eq": ["user.traits.segment", "fans_2"]}


def test_segment_profile_overrides_the_namespace_config_for_its_users(
    shop: TestClient, headers: dict
) -> None:
    set_config(shop, headers, {"category_cap": 3})
    u03 = eventually(
        lambda: recommend(shop, headers, user_id="u03", k=10),
        lambda b: b["config_version"] == 1,
        "config served",
    )
    u02_before = recommend(shop, headers, user_id="u02", k=10)
    assert most_per_category(ids(u02_before)) == 3

    upsert_profiles(shop, headers, {"profile_id": "p2", "category_cap": 1})
    upsert_segment(shop, headers, segment_id="s2", profile_id="p2", rules=[{"rule": FANS_2}])
    assert ok(shop.get("/v1/segment-profiles", params={"namespace": NS}, headers=headers))[
        "profiles"
    ] == [{"profile_id": "p2", "category_cap": 1}]
    segments = ok(shop.get("/v1/segments", params={"namespace": NS}, headers=headers))["segments"]
    assert [s["segment_id"] for s in segments] == ["s2"] and segments[0]["profile_id"] == "p2"

    u02 = eventually(
        lambda: recommend(shop, headers, user_id="u02", k=10),
        lambda b: b.get("profile_id") == "p2",
        "the fans_2 user gets profile p2",
    )
    assert u02["segment_id"] == "s2" and u02["config_version"] == 1
    assert most_per_category(ids(u02)) == 1
    other = recommend(shop, headers, user_id="u03", k=10)
    assert other["segment_id"] == "fans_3" and "profile_id" not in other
    assert ids(other) == ids(u03)
    # The request's own override still beats the profile.
    mine = recommend(shop, headers, user_id="u02", k=10, overrides={"category_cap": 2})
    assert mine["profile_id"] == "p2" and most_per_category(ids(mine)) == 2

    deleted = post(shop, "/v1/segments:delete", headers, {"namespace": NS, "segment_ids": ["s2"]})
    assert deleted["count"] == 1
    gone = eventually(
        lambda: recommend(shop, headers, user_id="u02", k=10),
        lambda b: "profile_id" not in b,
        "the deleted segment stops applying",
    )
    assert gone["segment_id"] == "fans_2" and ids(gone) == ids(u02_before)
    assert ok(shop.get("/v1/segments", params={"namespace": NS}, headers=headers))["segments"] == []
    deleted = post(
        shop, "/v1/segment-profiles:delete", headers, {"namespace": NS, "profile_ids": ["p2"]}
    )
    assert deleted["count"] == 1


def test_invalid_segments_and_profiles_are_422_and_store_nothing(
    client: TestClient, headers: dict
) -> None:
    for rule, loc in (
        ({"eq": ["traits.segment", "fans_2"]}, "segment.rules[1].rule.eq[0]"),
        ({"equals": ["user.traits.segment", "x"]}, "segment.rules[1].rule"),
        ({"all": []}, "segment.rules[1].rule.all"),
        ({"in": ["ctx.surface", "pdp"]}, "segment.rules[1].rule.in[1]"),
    ):
        r = client.post(
            "/v1/segments:upsert",
            json={
                "namespace": NS,
                "segment": {"segment_id": "bad", "rules": [{"rule": FANS_2}, {"rule": rule}]},
            },
            headers=headers,
        )
        body = error(r, 422, "invalid_segment_rule")
        assert body["details"]["errors"][0]["loc"] == loc, body
    assert ok(client.get("/v1/segments", params={"namespace": NS}, headers=headers)) == {
        "namespace": NS,
        "segments": [],
    }
    r = client.post(
        "/v1/segment-profiles:upsert",
        json={
            "namespace": NS,
            "profiles": [{"profile_id": "ok", "brand_cap": 1}, {"profile_id": "p", "mmr": 1}],
        },
        headers=headers,
    )
    body = error(r, 422, "invalid_config")
    assert body["details"]["errors"][0]["loc"] == "profiles[1].mmr"
    profiles = ok(client.get("/v1/segment-profiles", params={"namespace": NS}, headers=headers))
    assert profiles["profiles"] == []


def test_segment_dry_run_and_priorities(shop: TestClient, headers: dict) -> None:
    upsert_profiles(
        shop,
        headers,
        {"profile_id": "narrow", "category_cap": 1},
        {"profile_id": "wide", "category_cap": 2},
    )
    upsert_segment(
        shop, headers, segment_id="a_low", priority=1, profile_id="narrow", rules=[{"rule": FANS_2}]
    )
    upsert_segment(
        shop,
        headers,
        segment_id="b_high",
        priority=5,
        profile_id="wide",
        rules=[{"rule": {"in": ["user.traits.segment", ["fans_2", "fans_3"]]}}],
    )
    dry = post(shop, "/v1/segments:dry-run", headers, {"namespace": NS, "user_id": "u02"})
    assert dry == {
        "matched": ["b_high", "a_low"],
        "segment_id": "b_high",
        "profile_id": "wide",
        "profile": {"category_cap": 2},
    }
    dry = post(
        shop, "/v1/segments:dry-run", headers, {"namespace": NS, "traits": {"segment": "fans_4"}}
    )
    assert dry == {"matched": [], "segment_id": None, "profile_id": None, "profile": None}

    u02 = eventually(
        lambda: recommend(shop, headers, user_id="u02", k=10),
        lambda b: b["segment_id"] == "b_high",
        "the higher-priority segment wins",
    )
    assert u02["profile_id"] == "wide" and most_per_category(ids(u02)) == 2

    upsert_segment(
        shop,
        headers,
        segment_id="a_low",
        priority=10,
        profile_id="narrow",
        rules=[{"rule": FANS_2}],
    )
    u02 = eventually(
        lambda: recommend(shop, headers, user_id="u02", k=10),
        lambda b: b["segment_id"] == "a_low",
        "raising a segment's priority makes it win",
    )
    assert u02["profile_id"] == "narrow" and most_per_category(ids(u02)) == 1
    assert recommend(shop, headers, user_id="u03", k=10)["segment_id"] == "b_high"


def test_segments_can_match_on_the_request_context(shop: TestClient, headers: dict) -> None:
    upsert_profiles(shop, headers, {"profile_id": "focused", "category_cap": 1})
    upsert_segment(
        shop,
        headers,
        segment_id="on_pdp",
        priority=10,
        profile_id="focused",
        rules=[{"rule": {"eq": ["ctx.surface", "pdp"]}}],
    )
    upsert_segment(
        shop,
        headers,
        segment_id="xmas",
        priority=20,
        rules=[{"rule": {"all": [{"eq": ["ctx.campaign", "xmas"]}, {"gte": ["request.k", 5]}]}}],
    )
    on_pdp = eventually(
        lambda: recommend(shop, headers, user_id="u02", k=10, context={"surface": "pdp"}),
        lambda b: b["segment_id"] == "on_pdp",
        "a ctx.surface segment matches",
    )
    assert on_pdp["profile_id"] == "focused" and most_per_category(ids(on_pdp)) == 1
    # `surface` at the top level is the same surface as `context.surface`.
    top_level = recommend(shop, headers, user_id="u02", k=10, surface="pdp")
    assert top_level["segment_id"] == "on_pdp" and ids(top_level) == ids(on_pdp)
    assert recommend(shop, headers, user_id="u02", k=10, surface="home")["segment_id"] == "fans_2"
    assert recommend(shop, headers, user_id="u02", k=10)["segment_id"] == "fans_2"
    xmas = {"campaign": "xmas", "surface": "pdp"}
    assert recommend(shop, headers, user_id="u02", k=10, context=xmas)["segment_id"] == "xmas"
    assert recommend(shop, headers, user_id="u02", k=3, context=xmas)["segment_id"] == "on_pdp"
    dry = post(
        shop,
        "/v1/segments:dry-run",
        headers,
        {"namespace": NS, "user_id": "u02", "request": {"surface": "pdp", "k": 10}},
    )
    assert dry["matched"] == ["on_pdp"] and dry["profile_id"] == "focused"


# --- 4. rules ---------------------------------------------------------------------------------


def test_pin_block_and_boost(shop: TestClient, headers: dict) -> None:
    base = ids(recommend(shop, headers, user_id="u02", k=10))
    lifted = base[7]  # low in the list: a boost has room to lift it
    assert "i55" not in base
    in_c2 = [i for i in base if category_of(i) == "c2"]
    assert len(in_c2) >= 3

    create_rule(shop, headers, action="PIN", target_type="ITEM", item_ids=["i55"], position=2)
    pinned = eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: "i55" in got,
        "a PIN rule applies",
    )
    assert pinned[1] == "i55" and [pinned[0], *pinned[2:]] == base[:9]

    block = create_rule(shop, headers, action="BLOCK", target_type="CATEGORY", target_key="c2")
    body = eventually(
        lambda: recommend(shop, headers, user_id="u02", k=10),
        lambda b: not any(category_of(i) == "c2" for i in ids(b)),
        "a BLOCK CATEGORY rule removes the category",
    )
    assert len(body["items"]) == 10 and ids(body)[1] == "i55"
    assert body["trace"]["extras"]["policy"]["rule_actions"]["BLOCK"] >= len(in_c2)
    assert ok(shop.delete(f"/v1/admin/rules/{block['rule_id']}", headers=headers), 204) is None

    create_rule(
        shop, headers, action="BOOST", target_type="ITEM", item_ids=[lifted], boost_value=1.0
    )
    boosted = eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: lifted in got and got.index(lifted) < base.index(lifted) - 3,
        "a BOOST rule lifts the item",
    )
    assert boosted[1] == "i55"  # the pin keeps its slot
    assert set(in_c2) & set(boosted)  # the deleted BLOCK no longer applies

    # The kill switch, per request and per namespace.
    off = recommend(shop, headers, user_id="u02", k=10, overrides={"rules_enable": False})
    assert ids(off) == base and off["trace"]["extras"]["policy"]["rule_actions"] == {}
    set_config(shop, headers, {"rules_enable": False})
    eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: got == base,
        "RULES_ENABLE=false in the namespace config turns every rule off",
    )


def test_block_beats_pin_and_pins_are_capped(shop: TestClient, headers: dict) -> None:
    base = ids(recommend(shop, headers, user_id="u02", k=10))
    create_rule(
        shop, headers, action="PIN", target_type="ITEM", item_ids=["i55"], position=1, priority=5
    )
    create_rule(shop, headers, action="PIN", target_type="ITEM", item_ids=["i44"], position=3)
    create_rule(
        shop, headers, action="BOOST", target_type="ITEM", item_ids=["i55"], boost_value=5.0
    )
    got = eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: got[:1] == ["i55"] and got[2:3] == ["i44"],
        "two pins at their slots",
    )
    assert len(got) == 10 and [i for i in got if i not in ("i55", "i44")] == base[:8]
    capped = ids(
        recommend(shop, headers, user_id="u02", k=10, overrides={"rules_max_pin_slots": 1})
    )
    assert capped[0] == "i55" and "i44" not in capped  # the higher-priority pin keeps its slot

    create_rule(shop, headers, action="BLOCK", target_type="ITEM", item_ids=["i55"])
    got = eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: "i55" not in got,
        "BLOCK beats PIN (and BOOST) on the same item",
    )
    assert got[2] == "i44" and got[:2] == base[:2]


def test_rules_are_scoped_by_surface_segment_and_time(
    shop: TestClient, headers: dict, clock: Any
) -> None:
    def top(user: str, **body: Any) -> list[str]:
        return ids(recommend(shop, headers, user_id=user, k=20, **body))

    assert {"i20", "i07", "i42", "i22", "i25", "i38"} <= set(top("u02", surface="pdp"))
    assert {"i42", "i38"} <= set(top("u03", surface="pdp"))

    def block(item: str, **scope: Any) -> None:
        create_rule(shop, headers, action="BLOCK", target_type="ITEM", item_ids=[item], **scope)

    # Written first, so that by the time the later rules show these are loaded too.
    block("i22", valid_until=iso(clock.now - timedelta(hours=1)))
    block("i25", valid_from=iso(clock.now + timedelta(hours=1)))
    upsert_segment(shop, headers, segment_id="vip", rules=[{"rule": FANS_2}])
    block("i20", surface="pdp")
    block("i07", surface="*")
    block("i42", segment_id="vip")  # a control-plane segment (u02 is in it)
    block("i38", segment_id="fans_3")  # no segment matches u03: its segment trait, as reported

    u02 = eventually(
        lambda: top("u02", surface="pdp"),
        lambda got: not {"i20", "i07", "i42"} & set(got),
        "surface, `*` and segment-scoped rules apply",
    )
    assert {"i22", "i25", "i38"} <= set(u02)  # expired, not yet valid, another segment's
    home = top("u02", surface="home")
    assert "i20" in home and not {"i07", "i42"} & set(home)
    assert "i07" not in top("u02")  # no surface at all: only `*` rules
    u03 = top("u03", surface="pdp")
    assert "i42" in u03 and not {"i07", "i38"} & set(u03)
    assert recommend(shop, headers, user_id="u03", k=5)["segment_id"] == "fans_3"

    clock.advance(hours=2)  # the rule's window opens: the request's clock decides
    assert "i25" not in top("u02", surface="pdp")


def test_rule_crud_and_tenancy(client: TestClient, headers: dict) -> None:
    other_org = {"X-Org-ID": str(uuid.uuid4())}
    rule = create_rule(
        client,
        headers,
        action="BOOST",
        target_type="TAG",
        target_key="sale",
        boost_value=0.2,
        surface="home",
    )
    rule_id = rule["rule_id"]
    assert rule["source"] == "api" and rule["enabled"] is True
    assert ok(client.get(f"/v1/admin/rules/{rule_id}", headers=headers)) == rule
    create_rule(client, headers, action="BLOCK", target_type="BRAND", target_key="b1")
    listed = ok(client.get("/v1/admin/rules", params={"action": "BOOST"}, headers=headers))
    assert [r["rule_id"] for r in listed["rules"]] == [rule_id]
    assert len(ok(client.get("/v1/admin/rules", headers=headers))["rules"]) == 2

    replacement = {
        "namespace": NS,
        "name": "renamed",
        "action": "BOOST",
        "target_type": "TAG",
        "target_key": "sale",
        "boost_value": 0.4,
    }
    put = ok(client.put(f"/v1/admin/rules/{rule_id}", json=replacement, headers=headers))
    assert put["name"] == "renamed" and put["boost_value"] == 0.4 and put["surface"] == "*"
    assert put["created_at"] == rule["created_at"]
    assert ok(client.get(f"/v1/admin/rules/{rule_id}", headers=headers)) == put

    # Another org can neither see, change nor delete it.
    error(client.get(f"/v1/admin/rules/{rule_id}", headers=other_org), 404, "rule_not_found")
    error(
        client.put(
            f"/v1/admin/rules/{rule_id}", json=replacement | {"name": "x"}, headers=other_org
        ),
        404,
        "rule_not_found",
    )
    error(client.delete(f"/v1/admin/rules/{rule_id}", headers=other_org), 404, "rule_not_found")
    assert ok(client.get("/v1/admin/rules", headers=other_org))["rules"] == []
    assert ok(client.get(f"/v1/admin/rules/{rule_id}", headers=headers))["name"] == "renamed"

    assert ok(client.delete(f"/v1/admin/rules/{rule_id}", headers=headers), 204) is None
    error(client.get(f"/v1/admin/rules/{rule_id}", headers=headers), 404, "rule_not_found")
    error(client.delete(f"/v1/admin/rules/{rule_id}", headers=headers), 404, "rule_not_found")

    for bad in (
        {"action": "BOOST", "target_type": "ITEM", "item_ids": ["i01"]},  # no boost_value
        {"action": "BLOCK", "target_type": "TAG"},  # no target_key
        {"action": "BLOCK", "target_type": "ITEM", "item_ids": ["i01"], "position": 2},
        {"action": "PIN", "target_type": "ITEM", "item_ids": ["i01"], "position": 0},
        {"action": "HIDE", "target_type": "ITEM", "item_ids": ["i01"]},
    ):
        r = client.post(
            "/v1/admin/rules", json={"namespace": NS, "name": "x", **bad}, headers=headers
        )
        assert r.status_code == 422, (bad, r.text)
    assert len(ok(client.get("/v1/admin/rules", headers=headers))["rules"]) == 1


def test_rerank_never_gains_ids_from_rules(shop: TestClient, headers: dict) -> None:
    create_rule(
        shop, headers, action="PIN", target_type="ITEM", item_ids=["i55"], position=1, priority=9
    )
    create_rule(shop, headers, action="PIN", target_type="ITEM", item_ids=["i21"], position=1)
    create_rule(
        shop, headers, action="BOOST", target_type="ITEM", item_ids=["i56"], boost_value=9.0
    )
    eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: got[:2] == ["i55", "i21"],
        "the pins are served",
    )
    given = ["i20", "i22", "i24", "i21"]
    r = shop.post(
        "/v1/rerank",
        json={"namespace": NS, "user_id": "u02", "items": [{"item_id": i} for i in given]},
        headers=headers,
    )
    out = ids(ok(r))
    assert sorted(out) == sorted(given)  # i55 (pinned) and i56 (boosted) never join
    assert out[0] == "i21"  # a pin on one of the caller's own items still applies


def test_rule_dry_run_returns_before_and_after_and_stores_nothing(
    shop: TestClient, headers: dict
) -> None:
    base = ids(recommend(shop, headers, user_id="u02", k=10))
    in_c2 = [i for i in base if category_of(i) == "c2"]
    proposed = {"namespace": NS, "name": "no c2", "action": "BLOCK", "target_type": "CATEGORY"}
    dry = post(
        shop,
        "/v1/admin/rules/dry-run",
        headers,
        {
            "namespace": NS,
            "rule": proposed | {"target_key": "c2"},
            "request": {"user_id": "u02", "k": 10},
        },
    )
    assert dry["before"] == base
    assert len(dry["after"]) == 10 and not any(category_of(i) == "c2" for i in dry["after"])
    assert set(in_c2) <= set(dry["touched"]["BLOCK"])
    assert dry["removed"] == in_c2 and dry["added"] == [i for i in dry["after"] if i not in base]
    r = shop.post(
        "/v1/admin/rules/dry-run",
        json={"namespace": "elsewhere", "rule": proposed | {"target_key": "c2"}},
        headers=headers,
    )
    assert r.status_code == 422
    assert ok(shop.get("/v1/admin/rules", headers=headers))["rules"] == []

    # A real rule written afterwards shows; the proposed one never does.
    create_rule(shop, headers, action="PIN", target_type="ITEM", item_ids=["i55"], position=1)
    got = eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: got[:1] == ["i55"],
        "a real rule applies",
    )
    assert set(in_c2) & set(got)


def test_policy_metrics(shop: TestClient, headers: dict) -> None:
    block = create_rule(shop, headers, action="BLOCK", target_type="CATEGORY", target_key="c2")
    create_rule(shop, headers, action="PIN", target_type="ITEM", item_ids=["i55"], position=1)
    body = eventually(
        lambda: recommend(shop, headers, user_id="u02", k=10, surface="home"),
        lambda b: ids(b)[:1] == ["i55"],
        "the rules are served",
    )
    assert not any(category_of(i) == "c2" for i in ids(body))
    labels = {"namespace": NS, "surface": "home"}
    blocked_name = "policy_rule_blocked_items_total"
    first = shop.get("/metrics").text
    blocked = metric(first, blocked_name, rule_id=block["rule_id"], **labels)
    assert blocked >= 1
    assert metric(first, "policy_rule_actions_total", action="BLOCK", **labels) >= blocked
    assert metric(first, "policy_rule_exposure_total", action="PIN", **labels) >= 1

    again = recommend(shop, headers, user_id="u02", k=10, surface="home")
    stage = next(s for s in again["trace"]["stages"] if s["stage"] == "rules")
    per_request = stage["blocked_by_rule"][block["rule_id"]]
    assert per_request >= 1
    second = shop.get("/metrics").text
    assert metric(second, blocked_name, rule_id=block["rule_id"], **labels) == (
        blocked + per_request
    )
    assert metric(second, "policy_response_items_total", **labels) == (
        metric(first, "policy_response_items_total", **labels) + 10
    )
    assert metric(second, "policy_coverage_bucket_total", bucket="all", **labels) == (
        metric(first, "policy_coverage_bucket_total", bucket="all", **labels) + 10
    )
    assert "policy_coverage_bucket_total" in second and 'bucket="long_tail"' in second
    assert metric(second, "policy_constraint_leak_total", **labels) == 0


# --- 5. manual overrides ----------------------------------------------------------------------


def overrides(client: TestClient, headers: dict, **query: str) -> list[dict]:
    listed: list[dict] = ok(
        client.get("/v1/admin/manual_overrides", params={"namespace": NS, **query}, headers=headers)
    )["overrides"]
    return listed


def test_manual_overrides_suppress_boost_and_cancel(shop: TestClient, headers: dict) -> None:
    base = ids(recommend(shop, headers, user_id="u02", k=10))
    first, lifted = base[0], base[7]

    suppress = post(
        shop,
        "/v1/admin/manual_overrides",
        headers,
        {"namespace": NS, "item_id": first, "action": "suppress", "created_by": "ops"},
        status=201,
    )
    assert suppress["status"] == "active" and suppress["expires_at"] is None
    rule = ok(shop.get(f"/v1/admin/rules/{suppress['rule_id']}", headers=headers))
    assert rule["action"] == "BLOCK" and rule["item_ids"] == [first]
    assert rule["source"] == "manual_override"
    suppressed = eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: first not in got,
        "a suppressed item is gone",
    )

    boost = post(
        shop,
        "/v1/admin/manual_overrides",
        headers,
        {"namespace": NS, "item_id": lifted, "action": "boost", "boost_value": 1.0},
        status=201,
    )
    assert ok(shop.get(f"/v1/admin/rules/{boost['rule_id']}", headers=headers))["action"] == "BOOST"
    eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: got[:1] == [lifted],
        "a boosted item is lifted",
    )

    cancelled = post(shop, f"/v1/admin/manual_overrides/{boost['override_id']}/cancel", headers, {})
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    again = post(shop, f"/v1/admin/manual_overrides/{boost['override_id']}/cancel", headers, {})
    assert again["cancelled_at"] == cancelled["cancelled_at"]  # idempotent
    got = eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: got[:1] != [lifted],
        "a cancelled boost stops",
    )
    assert got == suppressed  # back to the list with only the suppression in force

    assert [o["override_id"] for o in overrides(shop, headers, status="active")] == [
        suppress["override_id"]
    ]
    assert [o["override_id"] for o in overrides(shop, headers, status="cancelled")] == [
        boost["override_id"]
    ]
    assert len(overrides(shop, headers)) == 2

    other_org = {"X-Org-ID": str(uuid.uuid4())}
    for who in (headers, other_org):
        r = shop.post(f"/v1/admin/manual_overrides/{uuid.uuid4()}/cancel", headers=who)
        error(r, 404, "override_not_found")
    r = shop.post(f"/v1/admin/manual_overrides/{suppress['override_id']}/cancel", headers=other_org)
    error(r, 404, "override_not_found")
    assert overrides(shop, other_org) == []
    assert overrides(shop, headers, status="active")[0]["status"] == "active"

    for bad in (
        {"item_id": "i01", "action": "boost"},  # boost needs a value
        {"item_id": "i01", "action": "hide"},
        {"item_id": "i01", "action": "suppress", "expires_at": "2020-01-01T00:00:00Z"},
    ):
        r = shop.post("/v1/admin/manual_overrides", json={"namespace": NS, **bad}, headers=headers)
        assert r.status_code == 422, (bad, r.text)
    assert len(overrides(shop, headers)) == 2


def test_manual_override_stops_at_expiry(shop: TestClient, headers: dict, clock: Any) -> None:
    expires = clock.now + timedelta(hours=1)
    created = post(
        shop,
        "/v1/admin/manual_overrides",
        headers,
        {"namespace": NS, "item_id": "i20", "action": "suppress", "expires_at": iso(expires)},
        status=201,
    )
    assert created["status"] == "active"
    assert datetime.fromisoformat(created["expires_at"]) == expires
    eventually(
        lambda: ids(recommend(shop, headers, user_id="u02", k=10)),
        lambda got: "i20" not in got,
        "the override applies before it expires",
    )
    clock.advance(minutes=59)
    assert "i20" not in ids(recommend(shop, headers, user_id="u02", k=10))
    assert [o["status"] for o in overrides(shop, headers)] == ["active"]

    clock.advance(minutes=2)
    assert "i20" in ids(recommend(shop, headers, user_id="u02", k=10))
    assert [o["override_id"] for o in overrides(shop, headers, status="expired")] == [
        created["override_id"]
    ]
    assert overrides(shop, headers, status="active") == []


# --- 6. decision audit ------------------------------------------------------------------------


def test_decision_audit(shop: TestClient, headers: dict, clock: Any) -> None:
    rule = create_rule(
        shop, headers, action="BLOCK", target_type="ITEM", item_ids=["i07"], surface="home"
    )
    body = eventually(
        lambda: recommend(shop, headers, user_id="u02", k=5, surface="home"),
        lambda b: b["trace"]["extras"]["policy"]["rule_actions"].get("BLOCK") == 1,
        "the rule is served",
    )
    decision_id = body["decision_id"]
    quiet = recommend(shop, headers, user_id="u03", k=5, surface="pdp")

    record = ok(shop.get(f"/v1/audit/decisions/{decision_id}", headers=headers))
    assert record["decision_id"] == decision_id and record["namespace"] == NS
    assert record["surface"] == "home" and record["segment_id"] == "fans_2"
    assert record["config_version"] == 0 and record["rule_ids"] == [rule["rule_id"]]
    detail = record["record"]
    assert detail["request"]["k"] == 5 and detail["request"]["surface"] == "home"
    assert detail["effective_config"]["mmr_lambda"] == 0.7
    assert set(detail["effective_config"]) == set(KNOBS_BY_KEY)
    candidates = {c["item_id"] for c in detail["candidates"]}
    assert len(candidates) > 5 and "i07" not in candidates  # blocked before the audit cut
    assert [(i["item_id"], i["rank"]) for i in detail["items"]] == [
        (i["item_id"], i["rank"]) for i in body["items"]
    ]
    assert detail["rules_matched"] == [rule["rule_id"]]
    assert set(detail["timings_ms"]) >= {"total"} and detail["timings_ms"]["total"] >= 0
    # The user id itself is never stored, only its hash.
    assert record["user_hash"] and len(record["user_hash"]) == 64
    assert "u02" not in json.dumps(record)

    # Another org cannot read it; unknown ids are 404 too.
    other_org = {"X-Org-ID": str(uuid.uuid4())}
    error(
        shop.get(f"/v1/audit/decisions/{decision_id}", headers=other_org), 404, "decision_not_found"
    )
    error(shop.get(f"/v1/audit/decisions/{'0' * 32}", headers=headers), 404, "decision_not_found")

    def found(response: Any) -> list[str]:
        return [d["decision_id"] for d in ok(response)["decisions"]]

    def listing(**query: str) -> list[str]:
        return found(shop.get("/v1/audit/decisions", params=query, headers=headers))

    def search(**query: str) -> list[str]:
        return found(shop.post("/v1/audit/search", json=query, headers=headers))

    mine, theirs = listing(user_id="u02"), listing(user_id="u03")
    assert decision_id in mine and quiet["decision_id"] not in mine
    assert quiet["decision_id"] in theirs and decision_id not in theirs
    window = {
        "since": iso(clock.now - timedelta(minutes=1)),
        "until": iso(clock.now + timedelta(minutes=1)),
    }
    assert decision_id in listing(**window) and decision_id in search(**window)
    assert listing(until=iso(clock.now - timedelta(minutes=1))) == []
    assert search(since=iso(clock.now + timedelta(minutes=1))) == []
    by_rule = search(rule_id=rule["rule_id"])
    assert decision_id in by_rule and quiet["decision_id"] not in by_rule
    assert search(rule_id=rule["rule_id"], surface="pdp") == []
    assert search(surface="home", user_id="u02", namespace=NS)[0] == decision_id
    assert quiet["decision_id"] in search(surface="pdp")
    assert found(shop.get("/v1/audit/decisions", headers=other_org)) == []
    for query in ("user_id=", "rule_id=", "limit=0", "since=yesterday"):
        r = shop.get(f"/v1/audit/decisions?{query}", headers=headers)
        assert r.status_code == 422, (query, r.text)


def test_audit_sampling_off_records_nothing(
    make_client: Callable[..., TestClient], headers: dict, clock: Any
) -> None:
    client = load_shop(make_client(audit_sample=0.0), headers, clock)
    body = recommend(client, headers, user_id="u02", k=5)
    assert len(body["decision_id"]) == 32
    error(
        client.get(f"/v1/audit/decisions/{body['decision_id']}", headers=headers),
        404,
        "decision_not_found",
    )
    assert ok(client.get("/v1/audit/decisions", headers=headers))["decisions"] == []
