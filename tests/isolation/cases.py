"""The isolation cases: one row per /v1 operation (a few operations have more than one), each a
check that an intruder — another org using the owner's namespace name, or the owner's org in
another namespace — can neither read the owner's data through it nor change it.

Every check gets a `Probe` (tests/isolation/world.py). `probe.read` fails on any answer that
holds the owner's mark (every owner-chosen id carries it) or, for another org, the owner's org
id; the harness (test_cases.py) fingerprints everything the owner can observe — listings,
config and history, policy, audit, and its recommendations, rerank, similar items and dry
runs — before and after the intruder, on the warm app and on a freshly started one. So a check
only states what the intruder must get back; "the owner's data and rankings did not change" is
proved for every row.

The coverage test (test_coverage.py) fails for any /v1 operation of the app's OpenAPI document
that has no row here — a new endpoint must come with its cases — and for a row whose operation
no longer exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tests.isolation.world import (
    INTRUDER_KINDS,
    IntruderKind,
    Probe,
    eventually,
    expect_error,
    iso,
    ok,
    without_decision_id,
)

Check = Callable[[Probe], None]


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # the route template, exactly as in the OpenAPI document
    run: Check  # its docstring says what the row proves beyond "the owner's world is unchanged"
    # By-id operations without a namespace in the request act for the whole org: for the
    # owner's own org they are the owner, not an intruder (see the rows that narrow this).
    intruders: tuple[IntruderKind, ...] = INTRUDER_KINDS

    @property
    def operation(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def checks(self) -> str:
        return " ".join((self.run.__doc__ or "").split())

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} ({self.run.__name__})"


# --- shared ---------------------------------------------------------------------------------


def _resumed_from_owner_cursor(probe: Probe, listing: str, key: str, own: list[str]) -> None:
    """The owner's next_page_token, presented by the intruder: 400 invalid_page_token, or a
    page of the intruder's own rows (the cursor only says where to resume, never whose rows)."""
    response = probe.read(
        "GET",
        f"/v1/{listing}",
        params={
            "namespace": probe.ns,
            "limit": 1000,
            "page_token": probe.world.page_tokens[listing],
        },
    )
    if response.status_code == 400:
        assert response.json()["code"] == "invalid_page_token", response.text
        return
    rows = ok(response)[listing]
    assert {row[key] for row in rows} <= set(own), rows


def _listing(probe: Probe, listing: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(
        probe.read("GET", f"/v1/{listing}", params={"namespace": probe.ns, "limit": 1000, **params})
    )[listing]
    return rows


def _recommend(probe: Probe, **body: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok(
        probe.read("POST", "/v1/recommendations", body={"namespace": probe.ns, **body})
    )
    return answer


# --- items ----------------------------------------------------------------------------------


def list_items(probe: Probe) -> None:
    """Empty, and no filter (the owner's ids, brand, category) finds anything."""
    w = probe.world
    assert _listing(probe, "items") == []
    assert _listing(probe, "items", item_id=w.item_ids) == []
    assert _listing(probe, "items", brand=w.brands[0]) == []
    assert _listing(probe, "items", category="c0", available=True) == []


def items_page_token(probe: Probe) -> None:
    """The owner's next_page_token: 400, or a page of the intruder's own rows."""
    own = probe.decoy()
    _resumed_from_owner_cursor(probe, "items", "item_id", own.item_ids)


def upsert_items(probe: Probe) -> None:
    """The owner's item ids, upserted, are the intruder's own rows (any embedding dimension)."""
    w = probe.world
    # The owner's ids with another embedding dimension: the owner's dimension binds only the
    # owner's namespace, and these rows replace nothing of the owner's.
    rows = [{"item_id": i, "title": "intruder", "embedding": [0.5] * 7} for i in w.item_ids]
    body = {"namespace": probe.ns, "items": rows}
    assert ok(probe.send("POST", "/v1/items:upsert", body=body))["upserted"] == len(rows)
    listed = ok(probe.send("GET", "/v1/items", params={"namespace": probe.ns, "limit": 1000}))
    assert {(i["title"], len(i["embedding"])) for i in listed["items"]} == {("intruder", 7)}


def delete_items(probe: Probe) -> None:
    """Deleting by the owner's ids, or the whole namespace, deletes nothing of the owner's; the
    owner's embedding dimension stays claimed."""
    w = probe.world
    for body in ({"item_ids": w.item_ids}, {}):  # {} = "the whole catalogue of the namespace"
        answer = ok(probe.read("POST", "/v1/items:delete", body={"namespace": probe.ns, **body}))
        assert answer["deleted_count"] == 0
    # Emptying a catalogue releases its embedding dimension — the intruder's, not the owner's:
    # the owner's namespace still refuses another dimension (a rejected write changes nothing).
    wrong = {"namespace": w.owner.namespace, "items": [{"item_id": "x", "embedding": [1.0] * 7}]}
    expect_error(
        probe.as_owner("POST", "/v1/items:upsert", body=wrong), 422, "embedding_dimension_mismatch"
    )


# --- users ----------------------------------------------------------------------------------


def list_users(probe: Probe) -> None:
    """Empty, and no filter (the owner's ids, segment) finds anything."""
    w = probe.world
    assert _listing(probe, "users") == []
    assert _listing(probe, "users", user_id=w.user_ids) == []
    assert _listing(probe, "users", segment="vip") == []


def users_page_token(probe: Probe) -> None:
    """The owner's next_page_token: 400, or a page of the intruder's own rows."""
    own = probe.decoy()
    _resumed_from_owner_cursor(probe, "users", "user_id", own.user_ids)


def upsert_users(probe: Probe) -> None:
    """The owner's user ids, upserted, are the intruder's own rows."""
    w = probe.world
    rows = [{"user_id": u, "traits": {"segment": "intruder"}} for u in w.user_ids]
    body = {"namespace": probe.ns, "users": rows}
    assert ok(probe.send("POST", "/v1/users:upsert", body=body))["upserted"] == len(rows)
    listed = ok(probe.send("GET", "/v1/users", params={"namespace": probe.ns, "limit": 1000}))
    assert {u["traits"]["segment"] for u in listed["users"]} == {"intruder"}


def delete_users(probe: Probe) -> None:
    """Deleting by the owner's ids, or the whole namespace, deletes nothing of the owner's."""
    for body in ({"user_ids": probe.world.user_ids}, {}):
        answer = ok(probe.read("POST", "/v1/users:delete", body={"namespace": probe.ns, **body}))
        assert answer["deleted_count"] == 0


# --- events ---------------------------------------------------------------------------------


def list_events(probe: Probe) -> None:
    """Empty, and no filter (the owner's user, item, types, time window) finds anything."""
    w = probe.world
    assert _listing(probe, "events") == []
    assert _listing(probe, "events", user_id=w.vip_user) == []
    assert _listing(probe, "events", item_id=w.item_ids[0], type=[0, 1, 2, 3, 4]) == []
    since, until = iso(probe.now - timedelta(days=60)), iso(probe.now + timedelta(days=1))
    assert _listing(probe, "events", since=since, until=until) == []


def events_page_token(probe: Probe) -> None:
    """The owner's next_page_token: 400, or a page of the intruder's own rows."""
    # Event cursors are store row ids, shared by every tenant: the owner's cursor is just a
    # position, behind which the intruder's own (later) events still follow.
    own = probe.decoy()
    _resumed_from_owner_cursor(probe, "events", "event_id", own.event_ids)


def batch_events(probe: Probe) -> None:
    """The owner's event ids are stored as new events of the intruder's, not counted as duplicates;
    a resend is a duplicate of the intruder's own."""
    w = probe.world
    # The owner's event ids are idempotency keys of the owner's namespace only: here they are
    # new events (stored, not counted as duplicates), and a resend is then a duplicate of these.
    ts = iso(probe.now - timedelta(hours=1))
    events = [
        {"event_id": e, "user_id": "intruder-u", "item_id": w.item_ids[-2], "type": 3, "ts": ts}
        for e in w.event_ids
    ]
    body = {"namespace": probe.ns, "events": events}
    first = ok(probe.send("POST", "/v1/events:batch", body=body))
    assert (first["inserted"], first["duplicates"]) == (len(events), 0), first
    again = ok(probe.send("POST", "/v1/events:batch", body=body))
    assert (again["inserted"], again["duplicates"]) == (0, len(events)), again
    listed = ok(probe.send("GET", "/v1/events", params={"namespace": probe.ns, "limit": 1000}))
    assert [e["event_id"] for e in listed["events"]] == w.event_ids
    assert {e["user_id"] for e in listed["events"]} == {"intruder-u"}


def delete_events(probe: Probe) -> None:
    """Deleting by the owner's event ids, user, item, types, time window, or no filter deletes
    nothing."""
    w = probe.world
    since, until = iso(probe.now - timedelta(days=60)), iso(probe.now + timedelta(days=1))
    for body in (
        {"event_ids": w.event_ids},
        {"user_id": w.vip_user},
        {"item_id": w.item_ids[0]},
        {"types": [0, 1, 2, 3, 4]},
        {"since": since, "until": until},
        {},  # no filter: "every event of the namespace"
    ):
        answer = ok(probe.read("POST", "/v1/events:delete", body={"namespace": probe.ns, **body}))
        assert answer["deleted_count"] == 0, body


# --- ranking --------------------------------------------------------------------------------


def recommendations(probe: Probe) -> None:
    """Nothing from an empty namespace; with a catalogue of its own, the owner's user ranks as a
    stranger and only the intruder's items come back (as_of too)."""
    w = probe.world
    # An empty namespace: the owner's users, items and policy are nowhere to be found.
    for request in w.ranking_requests:
        assert _recommend(probe, **request)["items"] == []
    as_of = {"as_of": iso(probe.now)}
    assert _recommend(probe, user_id=w.vip_user, context=as_of)["items"] == []
    # With a catalogue of its own: the owner's VIP is a stranger here — the same answer as for
    # a user nobody ever sent (no traits, no segment, no history) — and only the intruder's
    # items come back, whatever the request names of the owner's.
    own = probe.decoy()
    for extra in ({}, {"context": as_of}):
        body = {"surface": "home", "k": 10, "explain_level": "full", **extra}
        as_owner_user = without_decision_id(_recommend(probe, user_id=w.vip_user, **body))
        as_nobody = without_decision_id(_recommend(probe, user_id="never-sent-user", **body))
        assert as_owner_user == as_nobody
        assert "segment_id" not in as_owner_user
        assert {i["item_id"] for i in as_owner_user["items"]} <= set(own.item_ids)
    constrained = _recommend(
        probe,
        user_id=w.vip_user,
        constraints={"include_tags_any": w.tags, "brands": w.brands},
        overrides={"mmr_lambda": 0.1},
    )
    assert constrained["items"] == []


def rerank(probe: Probe) -> None:
    """The owner's ids are unknown items here: score 0, `unknown_item`, last, in the caller's
    order."""
    w = probe.world
    # Rerank echoes the caller's ids, so the answer is judged by meaning, not by the mark: the
    # owner's items are unknown here (score 0, `unknown_item`, last, in the caller's order).
    own = probe.decoy()
    asked = [*w.item_ids, *own.item_ids]
    body = {
        "namespace": probe.ns,
        "user_id": w.vip_user,
        "items": [{"item_id": i} for i in asked],
        "include_reasons": True,
        "explain_level": "numeric",  # for the trace
    }
    answer = ok(probe.read("POST", "/v1/rerank", body=body))
    got = [i["item_id"] for i in answer["items"]]
    assert sorted(got) == sorted(asked)
    assert got[len(own.item_ids) :] == w.item_ids
    for item in answer["items"][len(own.item_ids) :]:
        assert item["score"] == 0 and item["reasons"] == ["unknown_item"], item
    assert "segment_id" not in answer
    assert answer["trace"]["extras"]["user"]["known"] is False


def similar(probe: Probe) -> None:
    """The owner's items are 404; the same id in the intruder's catalogue has the intruder's
    neighbours only."""
    w = probe.world
    for item_id in w.item_ids[:3]:
        response = probe.read("GET", f"/v1/items/{item_id}/similar", params={"namespace": probe.ns})
        expect_error(response, 404, "item_not_found")
    # The same id in the intruder's catalogue: neighbours from that catalogue only.
    own = probe.decoy()
    body = {"namespace": probe.ns, "items": [{"item_id": w.item_ids[0], "embedding": [1.0, 1.0]}]}
    ok(probe.send("POST", "/v1/items:upsert", body=body))
    path, params = f"/v1/items/{w.item_ids[0]}/similar", {"namespace": probe.ns}
    response = eventually(
        lambda: probe.send("GET", path, params=params),
        lambda r: r.status_code == 200,
        "the upserted item in the intruder's snapshot",
    )
    neighbours = {i["item_id"] for i in ok(response)["items"]}
    assert neighbours and neighbours <= set(own.item_ids)


# --- config ---------------------------------------------------------------------------------

CONFIG = "/v1/admin/recommendation/config"


def get_config(probe: Probe) -> None:
    """Version 0 with the environment defaults and no metadata, as for a namespace never written."""
    mine = ok(probe.read("GET", CONFIG, params={"namespace": probe.ns}))
    untouched = ok(probe.read("GET", CONFIG, params={"namespace": "never-written"}))
    assert mine["version"] == 0 and mine["explicit"] == {}
    assert mine["metadata"] == untouched["metadata"]
    assert mine["config"] == untouched["config"]  # environment defaults, not the owner's knobs


def set_config(probe: Probe) -> None:
    """An extreme config is the intruder's version 1, not the owner's next version."""
    extreme = {"blend_alpha": 10, "mmr_lambda": 0, "rules_enable": False, "brand_cap": 1}
    body = {"namespace": probe.ns, "config": extreme, "author": "intruder"}
    answer = ok(probe.read("POST", CONFIG, body=body))
    assert answer["version"] == 1  # its own first version, not the owner's third
    assert answer["explicit"] == extreme


def config_history(probe: Probe) -> None:
    """No versions."""
    history = ok(probe.read("GET", f"{CONFIG}/history", params={"namespace": probe.ns}))
    assert history["versions"] == []


def rollback_config(probe: Probe) -> None:
    """The owner's version numbers are 404; once the intruder has versions, rollback finds only
    those."""
    w = probe.world
    # The owner's version numbers mean nothing here; once the intruder has a version 1 of its
    # own, version 1 is that one and the owner's version 2 still does not exist.
    for version in (*w.config_versions, max(w.config_versions) + 1):
        body = {"namespace": probe.ns, "version": version}
        expect_error(
            probe.read("POST", f"{CONFIG}/rollback", body=body), 404, "config_version_not_found"
        )
    ok(probe.read("POST", CONFIG, body={"namespace": probe.ns, "config": {"mmr_lambda": 0.25}}))
    body = {"namespace": probe.ns, "version": 2}
    expect_error(
        probe.read("POST", f"{CONFIG}/rollback", body=body), 404, "config_version_not_found"
    )
    back = ok(probe.read("POST", f"{CONFIG}/rollback", body={"namespace": probe.ns, "version": 1}))
    assert (back["version"], back["explicit"]) == (2, {"mmr_lambda": 0.25})
    assert back["metadata"]["rollback_of"] == 1


def get_event_types(probe: Probe) -> None:
    """Built-in defaults only."""
    answer = ok(probe.read("GET", "/v1/event-types", params={"namespace": probe.ns}))
    assert [t["stored"] for t in answer["types"]] == [False] * 5


def upsert_event_types(probe: Probe) -> None:
    """Extreme weights and inactive types are stored for the intruder only."""
    types = [
        {"type": 0, "weight": 0.01, "active": False},
        {"type": 1, "weight": 1000},
        {"type": 3, "weight": 1000, "halflife_days": 0.01},
    ]
    body = {"namespace": probe.ns, "types": types}
    answer = ok(probe.read("POST", "/v1/event-types:upsert", body=body))
    stored = {t["type"]: t for t in answer["types"] if t["stored"]}
    assert set(stored) == {0, 1, 3}
    assert stored[1]["name"] == "click"  # the built-in name, not the owner's


# --- segments and profiles ------------------------------------------------------------------


def list_segments(probe: Probe) -> None:
    """No segments."""
    assert ok(probe.read("GET", "/v1/segments", params={"namespace": probe.ns}))["segments"] == []


def upsert_segment(probe: Probe) -> None:
    """The owner's segment id, matching everybody and pointing at the owner's profile id, is the
    intruder's own segment."""
    w = probe.world
    # The owner's segment id, matching everybody, pointing at the owner's profile id.
    segment = {
        "segment_id": w.segment_id,
        "priority": 1000,
        "profile_id": w.profile_id,
        "rules": [{"rule": {"exists": "user.traits.segment"}}],
    }
    body = {"namespace": probe.ns, "segment": segment}
    answer = ok(probe.send("POST", "/v1/segments:upsert", body=body))
    assert [(s["segment_id"], s["priority"]) for s in answer["segments"]] == [(w.segment_id, 1000)]


def delete_segments(probe: Probe) -> None:
    """Deleting the owner's segment id deletes nothing."""
    body = {"namespace": probe.ns, "segment_ids": [probe.world.segment_id]}
    assert ok(probe.read("POST", "/v1/segments:delete", body=body))["count"] == 0


def segment_dry_run(probe: Probe) -> None:
    """The owner's user has no traits here, and the owner's profile id resolves to nothing."""
    w = probe.world
    path = "/v1/segments:dry-run"
    nothing: dict[str, Any] = {
        "matched": [],
        "segment_id": None,
        "profile_id": None,
        "profile": None,
    }
    assert ok(probe.read("POST", path, body={"namespace": probe.ns, "user_id": w.vip_user})) == (
        nothing
    )
    # A segment of its own that would take the owner's VIPs, pointing at the owner's profile id:
    # the owner's user is unknown here (no traits to match), and the profile id resolves to
    # nothing (the owner's profile is not this namespace's).
    segment = {
        "segment_id": "intruder-vip",
        "profile_id": w.profile_id,
        "rules": [{"rule": {"eq": ["user.traits.segment", "vip"]}}],
    }
    ok(probe.send("POST", "/v1/segments:upsert", body={"namespace": probe.ns, "segment": segment}))
    by_user = {"namespace": probe.ns, "user_id": w.vip_user}
    assert ok(probe.read("POST", path, body=by_user)) == nothing
    by_traits = {"namespace": probe.ns, "traits": {"segment": "vip"}}
    answer = ok(probe.read("POST", path, body=by_traits))
    assert answer == {**nothing, "matched": ["intruder-vip"], "segment_id": "intruder-vip"}


def list_profiles(probe: Probe) -> None:
    """No profiles."""
    answer = ok(probe.read("GET", "/v1/segment-profiles", params={"namespace": probe.ns}))
    assert answer["profiles"] == []


def upsert_profiles(probe: Probe) -> None:
    """The owner's profile id with extreme knobs is the intruder's own profile."""
    w = probe.world
    profile = {"profile_id": w.profile_id, "mmr_lambda": 0, "profile_boost": 10}
    body = {"namespace": probe.ns, "profiles": [profile]}
    answer = ok(probe.send("POST", "/v1/segment-profiles:upsert", body=body))
    assert answer["profiles"] == [profile]


def delete_profiles(probe: Probe) -> None:
    """Deleting the owner's profile id deletes nothing."""
    body = {"namespace": probe.ns, "profile_ids": [probe.world.profile_id]}
    assert ok(probe.read("POST", "/v1/segment-profiles:delete", body=body))["count"] == 0


# --- rules ----------------------------------------------------------------------------------

RULES = "/v1/admin/rules"


def _every_way_to_hit(probe: Probe) -> list[dict[str, Any]]:
    """Rules aimed at the owner's catalogue by every target type and action, on every surface."""
    w = probe.world
    base = {"namespace": probe.ns, "name": "intruder", "priority": 1000}
    return [
        {**base, "action": "BLOCK", "target_type": "ITEM", "item_ids": w.item_ids},
        *({**base, "action": "BLOCK", "target_type": "TAG", "target_key": t} for t in w.tags),
        *({**base, "action": "BLOCK", "target_type": "BRAND", "target_key": b} for b in w.brands),
        {**base, "action": "BLOCK", "target_type": "CATEGORY", "target_key": "c0"},
        {
            **base,
            "action": "PIN",
            "target_type": "ITEM",
            "item_ids": [w.item_ids[-2]],
            "position": 1,
        },
        {
            **base,
            "action": "BOOST",
            "target_type": "ITEM",
            "item_ids": w.item_ids[10:],
            "boost_value": 1000,
        },
    ]


def create_rule(probe: Probe) -> None:
    """BLOCK, PIN and BOOST rules on the owner's items, tags, brands and category are the
    intruder's own."""
    for body in _every_way_to_hit(probe):
        assert ok(probe.send("POST", RULES, body=body), 201)["namespace"] == probe.ns


def list_rules(probe: Probe) -> None:
    """None of the owner's rules, org-wide (another org) or in the intruder's namespace, by any
    filter."""
    # Without a namespace the listing spans the caller's org: for another org that must hold
    # none of the owner's rules; in the owner's org it is the owner's (so only narrowed here).
    scopes: list[dict[str, Any]] = [{"namespace": probe.ns}]
    if probe.other_org:
        scopes.append({})
    for scope in scopes:
        for extra in ({}, {"action": "BLOCK"}, {"surface": "home"}, {"enabled": True}):
            assert ok(probe.read("GET", RULES, params={**scope, **extra}))["rules"] == []


def get_rule(probe: Probe) -> None:
    """The owner's rule ids, and its override's rule id, are 404."""
    w = probe.world
    for rule_id in (*w.rule_ids.values(), w.override_rule_id):
        expect_error(probe.read("GET", f"{RULES}/{rule_id}"), 404, "rule_not_found")


def _hijack(probe: Probe) -> dict[str, Any]:
    w = probe.world
    return {
        "namespace": w.owner.namespace,
        "name": "hijacked",
        "action": "BLOCK",
        "target_type": "ITEM",
        "item_ids": w.item_ids,
    }


def replace_rule(probe: Probe) -> None:
    """Another org: the owner's rule ids are 404 (even naming the owner's namespace); same org: its
    own rule, rewritten and disabled, stays its own."""
    w = probe.world
    if probe.other_org:
        # The owner's rule ids, with a body naming the owner's namespace (the same name).
        for rule_id in (*w.rule_ids.values(), w.override_rule_id):
            response = probe.read("PUT", f"{RULES}/{rule_id}", body=_hijack(probe))
            expect_error(response, 404, "rule_not_found")
        return
    # Same org: its own rule in its own namespace, aimed at the owner's items, rewritten and
    # disabled; none of it reaches the owner's namespace.
    created = ok(probe.send("POST", RULES, body=_every_way_to_hit(probe)[0]), 201)
    for change in ({"action": "BOOST", "boost_value": 1000}, {"enabled": False}):
        body = {**_every_way_to_hit(probe)[0], **change}
        assert ok(probe.send("PUT", f"{RULES}/{created['rule_id']}", body=body))["namespace"] == (
            probe.ns
        )


def delete_rule(probe: Probe) -> None:
    """Another org: the owner's rule ids are 404; same org: deleting its own rule."""
    w = probe.world
    if probe.other_org:
        for rule_id in (*w.rule_ids.values(), w.override_rule_id):
            expect_error(probe.read("DELETE", f"{RULES}/{rule_id}"), 404, "rule_not_found")
        return
    created = ok(probe.send("POST", RULES, body=_every_way_to_hit(probe)[0]), 201)
    ok(probe.send("DELETE", f"{RULES}/{created['rule_id']}"), 204)
    expect_error(probe.send("GET", f"{RULES}/{created['rule_id']}"), 404, "rule_not_found")


def rule_dry_run(probe: Probe) -> None:
    """Before and after come from the intruder's catalogue only; none of the owner's items is
    touched."""
    w = probe.world
    path = f"{RULES}/dry-run"
    rule = {
        "namespace": probe.ns,
        "name": "probe",
        "action": "BLOCK",
        "target_type": "ITEM",
        "item_ids": w.item_ids[:4],
    }
    body = {"namespace": probe.ns, "rule": rule, "request": {"user_id": w.vip_user, "k": 10}}
    empty: dict[str, Any] = {"before": [], "after": [], "touched": {}, "added": [], "removed": []}
    assert ok(probe.read("POST", path, body=body)) == empty
    own = probe.decoy()
    answer = ok(probe.read("POST", path, body=body))
    assert answer["before"] and answer["before"] == answer["after"]
    assert set(answer["before"]) <= set(own.item_ids)
    assert not any(answer["touched"].values()) and answer["added"] == answer["removed"] == []


# --- manual overrides -----------------------------------------------------------------------

OVERRIDES = "/v1/admin/manual_overrides"


def create_override(probe: Probe) -> None:
    """Suppress and boost overrides of the owner's items are the intruder's own."""
    w = probe.world
    overrides: list[dict[str, Any]] = [
        *({"item_id": i, "action": "suppress"} for i in w.item_ids[:6]),
        {"item_id": w.item_ids[-2], "action": "boost", "boost_value": 1000},
    ]
    for override in overrides:
        ok(probe.send("POST", OVERRIDES, body={"namespace": probe.ns, **override}), 201)


def list_overrides(probe: Probe) -> None:
    """None of the owner's overrides, by any filter."""
    scopes: list[dict[str, Any]] = [{"namespace": probe.ns}]
    if probe.other_org:
        scopes.append({})  # org-wide for another org: none of the owner's
    for scope in scopes:
        for extra in ({}, {"status": "active"}, {"surface": "*"}):
            assert ok(probe.read("GET", OVERRIDES, params={**scope, **extra}))["overrides"] == []


def cancel_override(probe: Probe) -> None:
    """Another org: the owner's override id (and its rule id) are 404; same org: cancelling its own
    override of the item the owner suppresses."""
    w = probe.world
    if probe.other_org:
        # The override id, and its rule id tried as an override id.
        for guess in (w.override_id, w.override_rule_id):
            response = probe.read("POST", f"{OVERRIDES}/{guess}/cancel")
            expect_error(response, 404, "override_not_found")
        return
    # Same org: an override of its own on the very item the owner suppresses, then cancelled;
    # the owner's override stays active (the harness compares the owner's listing).
    body = {"namespace": probe.ns, "item_id": w.item_ids[3], "action": "suppress"}
    mine = ok(probe.send("POST", OVERRIDES, body=body), 201)
    cancelled = ok(probe.send("POST", f"{OVERRIDES}/{mine['override_id']}/cancel"))
    assert cancelled["status"] == "cancelled"


# --- decision audit -------------------------------------------------------------------------

DECISIONS = "/v1/audit/decisions"


def _own_decision(probe: Probe) -> str:
    """The intruder ranks for the owner's VIP id in its own namespace; returns the decision."""
    probe.decoy()
    decision: str = _recommend(probe, user_id=probe.world.vip_user, surface="home")["decision_id"]
    return decision


def get_decision(probe: Probe) -> None:
    """Another org: the owner's decision ids are 404. Its own decision for the owner's user id is
    recorded in its own namespace (and, for another org, under another user hash)."""
    w = probe.world
    if probe.other_org:
        for decision_id in w.decision_ids:
            expect_error(probe.read("GET", f"{DECISIONS}/{decision_id}"), 404, "decision_not_found")
    record = ok(probe.read("GET", f"{DECISIONS}/{_own_decision(probe)}"))
    assert record["namespace"] == probe.ns
    owners = ok(probe.as_owner("GET", f"{DECISIONS}/{w.decision_ids[0]}"))
    if probe.other_org:
        # The same user id in two orgs hashes apart: audit records cannot be joined across orgs.
        assert record["user_hash"] != owners["user_hash"]


def _audit_filters(probe: Probe) -> list[dict[str, Any]]:
    w = probe.world
    scope: dict[str, Any] = {} if probe.other_org else {"namespace": probe.ns}
    return [
        {**scope, **f}
        for f in (
            {},
            {"user_id": w.vip_user},
            {"surface": "home"},
            {"rule_id": w.rule_ids["block"]},
            {"rule_id": w.override_rule_id},
            {
                "since": iso(probe.now - timedelta(days=1)),
                "until": iso(probe.now + timedelta(days=1)),
            },
        )
    ]


def _decisions_found(probe: Probe, how: str, query: dict[str, Any]) -> set[str]:
    if how == "GET":
        response = probe.read("GET", DECISIONS, params={**query, "limit": 1000})
    else:
        response = probe.read("POST", "/v1/audit/search", body={**query, "limit": 1000})
    return {d["decision_id"] for d in ok(response)["decisions"]}


def _audit_listing(probe: Probe, how: str) -> None:
    # Another org lists org-wide (no namespace); the owner's org is narrowed to its namespace.
    for query in _audit_filters(probe):
        assert _decisions_found(probe, how, query) == set(), query
    # Then with decisions of its own (`read` keeps the owner's, whose items carry the mark, out).
    mine = _own_decision(probe)
    for query in _audit_filters(probe)[:3]:  # everything, the owner's VIP id, the surface
        found = _decisions_found(probe, how, query)
        assert mine in found and not found & set(probe.world.decision_ids), query


def list_decisions(probe: Probe) -> None:
    """None of the owner's decisions by any filter (user id, rule ids, surface, time); once it has
    decisions of its own, only those."""
    _audit_listing(probe, "GET")


def search_decisions(probe: Probe) -> None:
    """As the GET listing, with the filters in a JSON body."""
    _audit_listing(probe, "POST")


def delete_decisions(probe: Probe) -> None:
    """Erasing by the owner's user id, by the owner's time range or with no filter at all
    erases only the intruder's own records: deleted_count counts exactly those."""
    w = probe.world
    path = f"{DECISIONS}:delete"
    mine = _own_decision(probe)  # recorded for the owner's VIP id, in the intruder's namespace
    by_user = ok(probe.send("POST", path, body={"namespace": probe.ns, "user_id": w.vip_user}))
    assert by_user == {"deleted_count": 1}
    assert mine not in _decisions_found(probe, "GET", {"namespace": probe.ns})
    window = {"until": iso(probe.now + timedelta(days=1))}
    own_left = _decisions_found(probe, "GET", {"namespace": probe.ns})
    erased = ok(probe.send("POST", path, body={"namespace": probe.ns, **window}))
    assert erased == {"deleted_count": len(own_left)}
    assert ok(probe.send("POST", path, body={"namespace": probe.ns}))["deleted_count"] == 0


# --- bandit ---------------------------------------------------------------------------------

BANDIT = "/v1/bandit"


def _own_policy(probe: Probe) -> str:
    body = {"namespace": probe.ns, "policies": [{"policy_id": "intruder-arm"}]}
    ok(probe.send("POST", f"{BANDIT}/policies:upsert", body=body))
    return "intruder-arm"


def list_bandit_policies(probe: Probe) -> None:
    """No policies."""
    answer = ok(probe.read("GET", f"{BANDIT}/policies", params={"namespace": probe.ns}))
    assert answer["policies"] == []


def upsert_bandit_policies(probe: Probe) -> None:
    """The owner's policy ids, with the owner's control policy id as the control, are the
    intruder's own (the owner's control policy is no conflict here)."""
    w = probe.world
    policies = [
        {"policy_id": p, "config": {"mmr_lambda": 0}, "control": p == w.policy_ids[-1]}
        for p in w.policy_ids
    ]
    body = {"namespace": probe.ns, "policies": policies}
    assert ok(probe.send("POST", f"{BANDIT}/policies:upsert", body=body))["upserted"] == 3
    listed = ok(probe.send("GET", f"{BANDIT}/policies", params={"namespace": probe.ns}))
    assert {p["policy_id"]: p["config"] for p in listed["policies"]} == {
        p: {"mmr_lambda": 0} for p in w.policy_ids
    }


def bandit_decide(probe: Probe) -> None:
    """No arms here (409); the owner's policy ids as candidates are unknown (422); with an arm
    of its own, decisions choose it."""
    w = probe.world
    ask = {"namespace": probe.ns, "surface": "home", "context": {"device": "mobile"}}
    expect_error(probe.read("POST", f"{BANDIT}/decide", body=ask), 409, "no_active_policies")
    guess = {**ask, "candidate_policy_ids": w.policy_ids}
    expect_error(probe.read("POST", f"{BANDIT}/decide", body=guess), 422, "unknown_policy")
    mine = _own_policy(probe)
    decision = ok(probe.read("POST", f"{BANDIT}/decide", body={**ask, "user_id": w.vip_user}))
    assert decision["policy_id"] == mine and decision["config"] == {}


def bandit_reward(probe: Probe) -> None:
    """The owner's bandit decision ids (rewarded or not) are 404, whatever the reward."""
    for decision_id in probe.world.bandit_decision_ids:
        for value in (0.0, 1.0):
            body = {"namespace": probe.ns, "decision_id": decision_id, "reward": value}
            response = probe.read("POST", f"{BANDIT}/reward", body=body)
            expect_error(response, 404, "decision_not_found")


def bandit_recommendations(probe: Probe) -> None:
    """No arms here (409); the owner's policy ids are unknown (422); with an arm and a catalogue
    of its own, only its items, and the owner's user ranks as a stranger."""
    w = probe.world
    path = f"{BANDIT}/recommendations"
    ask = {"namespace": probe.ns, "surface": "home", "user_id": w.vip_user, "k": 10}
    expect_error(probe.read("POST", path, body=ask), 409, "no_active_policies")
    guess = {**ask, "candidate_policy_ids": w.policy_ids}
    expect_error(probe.read("POST", path, body=guess), 422, "unknown_policy")
    mine, own = _own_policy(probe), probe.decoy()

    def ranked(user_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = ok(probe.read("POST", path, body={**ask, "user_id": user_id}))
        assert answer["bandit"]["policy_id"] == mine
        bandit = {k: v for k, v in answer["bandit"].items() if k != "decision_id"}
        return {**without_decision_id(answer), "bandit": bandit}

    as_owner_user = ranked(w.vip_user)
    assert as_owner_user == ranked("never-sent-user")
    assert "segment_id" not in as_owner_user
    assert {i["item_id"] for i in as_owner_user["items"]} <= set(own.item_ids)


def bandit_stats(probe: Probe) -> None:
    """No decisions and no buckets, for the namespace and for the owner's surface."""
    for params in ({}, {"surface": "home"}):
        query = {"namespace": probe.ns, **params}
        answer = ok(probe.read("GET", f"{BANDIT}/stats", params=query))
        assert answer["buckets"] == []
        assert {t["decisions"] for t in answer["totals"].values()} == {0}


# --- shipping -------------------------------------------------------------------------------

CANARIES = "/v1/ship/canaries"


def list_canaries(probe: Probe) -> None:
    """No canaries, whatever the status asked for."""
    for params in ({}, {"status": "running"}):
        answer = ok(probe.read("GET", CANARIES, params={"namespace": probe.ns, **params}))
        assert answer["canaries"] == []


def get_canary(probe: Probe) -> None:
    """The owner's canary id is 404."""
    response = probe.read("GET", f"{CANARIES}/{probe.world.canary_id}")
    expect_error(response, 404, "canary_not_found")


def start_canary(probe: Probe) -> None:
    """The owner's surface is free here (its running canary is no conflict), and the intruder's
    canary serves only the intruder's users and catalogue."""
    w = probe.world
    body = {"namespace": probe.ns, "surface": "ship", "overrides": {"mmr_lambda": 0.9}}
    started = ok(probe.read("POST", CANARIES, body=body), 201)
    assert started["status"] == "running" and started["incumbent_version"] == 0
    own = probe.decoy()
    ask = {"namespace": probe.ns, "surface": "ship", "user_id": w.vip_user, "k": 10}
    ranked = ok(probe.read("POST", "/v1/recommendations", body=ask))
    assert ranked["canary"]["canary_id"] == started["canary_id"]
    assert {i["item_id"] for i in ranked["items"]} <= set(own.item_ids)


def stop_canary(probe: Probe) -> None:
    """Another org: the owner's canary id is 404 (the owner's canary keeps running)."""
    response = probe.read("POST", f"{CANARIES}/{probe.world.canary_id}/stop", body={})
    expect_error(response, 404, "canary_not_found")


# --- the table ------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    Case("GET", "/v1/items", list_items),
    Case("GET", "/v1/items", items_page_token),
    Case("POST", "/v1/items:upsert", upsert_items),
    Case("POST", "/v1/items:delete", delete_items),
    Case("GET", "/v1/users", list_users),
    Case("GET", "/v1/users", users_page_token),
    Case("POST", "/v1/users:upsert", upsert_users),
    Case("POST", "/v1/users:delete", delete_users),
    Case("GET", "/v1/events", list_events),
    Case("GET", "/v1/events", events_page_token),
    Case("POST", "/v1/events:batch", batch_events),
    Case("POST", "/v1/events:delete", delete_events),
    Case("POST", "/v1/recommendations", recommendations),
    Case("POST", "/v1/rerank", rerank),
    Case("GET", "/v1/items/{item_id}/similar", similar),
    Case("GET", CONFIG, get_config),
    Case("POST", CONFIG, set_config),
    Case("GET", f"{CONFIG}/history", config_history),
    Case("POST", f"{CONFIG}/rollback", rollback_config),
    Case("GET", "/v1/event-types", get_event_types),
    Case("POST", "/v1/event-types:upsert", upsert_event_types),
    Case("GET", "/v1/segments", list_segments),
    Case("POST", "/v1/segments:upsert", upsert_segment),
    Case("POST", "/v1/segments:delete", delete_segments),
    Case("POST", "/v1/segments:dry-run", segment_dry_run),
    Case("GET", "/v1/segment-profiles", list_profiles),
    Case("POST", "/v1/segment-profiles:upsert", upsert_profiles),
    Case("POST", "/v1/segment-profiles:delete", delete_profiles),
    Case("POST", RULES, create_rule),
    Case("GET", RULES, list_rules),
    # Rule ids are org-wide handles and the path names no namespace: the owner's own org may
    # read its rules from anywhere by design, so only another org is an intruder here.
    Case("GET", f"{RULES}/{{rule_id}}", get_rule, intruders=("other_org",)),
    Case("PUT", f"{RULES}/{{rule_id}}", replace_rule),
    Case("DELETE", f"{RULES}/{{rule_id}}", delete_rule),
    Case("POST", f"{RULES}/dry-run", rule_dry_run),
    Case("POST", OVERRIDES, create_override),
    Case("GET", OVERRIDES, list_overrides),
    Case("POST", f"{OVERRIDES}/{{override_id}}/cancel", cancel_override),
    Case("GET", f"{DECISIONS}/{{decision_id}}", get_decision),
    Case("GET", DECISIONS, list_decisions),
    Case("POST", "/v1/audit/search", search_decisions),
    Case("POST", "/v1/audit/decisions:delete", delete_decisions),
    Case("GET", f"{BANDIT}/policies", list_bandit_policies),
    Case("POST", f"{BANDIT}/policies:upsert", upsert_bandit_policies),
    Case("POST", f"{BANDIT}/decide", bandit_decide),
    Case("POST", f"{BANDIT}/reward", bandit_reward),
    Case("POST", f"{BANDIT}/recommendations", bandit_recommendations),
    Case("GET", f"{BANDIT}/stats", bandit_stats),
    Case("GET", CANARIES, list_canaries),
    Case("POST", CANARIES, start_canary),
    # Canary ids are org-wide handles (like rule ids): only another org is an intruder.
    Case("GET", f"{CANARIES}/{{canary_id}}", get_canary, intruders=("other_org",)),
    Case("POST", f"{CANARIES}/{{canary_id}}/stop", stop_canary, intruders=("other_org",)),
)
