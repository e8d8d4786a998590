"""One tenant's world and what an intruder may do to it.

`seed_world` gives the owner (an org + namespace) data of every kind the API stores — items with
embeddings, users, events with ids, event types, two config versions, a segment and its
profile, BOOST/BLOCK/PIN rules, a manual override, audit decisions, bandit policies, decisions
and rewards, and page tokens — all over HTTP, with every owner-chosen identifier carrying a
random `mark`. An intruder's response that
contains the mark (or, for another org, the owner's org id) has leaked the owner's data.

`fingerprint` is everything the owner can observe, rankings included; a case compares it before
and after the intruder's attempts, on the warm app and on a freshly started one (which rebuilds
its snapshots from the database, so a write that leaked into the owner's rows cannot hide behind
a warm in-memory snapshot).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx2 as httpx  # what starlette's TestClient speaks (a fork of httpx)
from fastapi.testclient import TestClient

NAMESPACE = "iso"  # the owner's namespace name, which the other org reuses on purpose
OTHER_NAMESPACE = "iso-other"  # the owner org's second namespace
EMBEDDING_DIM = 4
N_ITEMS = 20
N_USERS = 10
EVENTS_PER_USER = 15

IntruderKind = Literal["other_org", "other_namespace"]
INTRUDER_KINDS: tuple[IntruderKind, ...] = ("other_org", "other_namespace")


@dataclass(frozen=True)
class Tenant:
    org: str
    namespace: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Org-ID": self.org}


def new_org() -> str:
    return str(uuid.uuid4())


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def expect_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    assert response.json()["code"] == code, response.text


def call(
    client: TestClient,
    tenant: Tenant,
    method: str,
    path: str,
    *,
    body: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> httpx.Response:
    payload = dict(body) if body is not None else None
    return client.request(method, path, json=payload, params=params, headers=tenant.headers)


def without_decision_id(answer: dict[str, Any]) -> dict[str, Any]:
    """A ranking answer minus the one field that differs between identical requests."""
    return {k: v for k, v in answer.items() if k != "decision_id"}


@dataclass
class World:
    """The owner's data, by the identifiers an intruder might guess."""

    owner: Tenant
    mark: str
    item_ids: list[str]
    user_ids: list[str]
    vip_user: str
    event_ids: list[str]
    brands: list[str]
    tags: list[str]
    segment_id: str
    profile_id: str
    config_versions: list[int]
    rule_ids: dict[str, str]  # role (boost, block, pin) -> rule_id
    override_id: str
    override_rule_id: str
    decision_ids: list[str]
    page_tokens: dict[str, str]  # listing (items, users, events) -> a token issued to the owner
    policy_ids: list[str]  # bandit policies; the last one is the control
    bandit_decision_ids: list[str]  # from decide and bandit recommendations, some rewarded
    canary_id: str = ""  # a running canary on CANARY_SURFACE
    # Volatile bookkeeping, not identifiers: how the owner's rankings are asked for.
    ranking_requests: list[dict[str, Any]] = field(default_factory=list)


def item_rows(mark: str, now: datetime, *, dim: int = EMBEDDING_DIM) -> list[dict[str, Any]]:
    rows = []
    for n in range(N_ITEMS):
        rows.append(
            {
                "item_id": f"{mark}-i{n:02d}",
                "available": n != N_ITEMS - 1,
                "price": float(n),
                "brand": f"{mark}-b{n % 3}",
                "category": f"c{n % 4}",
                "category_path": ["root", f"c{n % 4}"],
                "tags": [f"{mark}-t{n % 5}", "all"],
                "props": {"owner": mark},
                # Distinct directions per category so item-vector neighbours are well defined.
                "embedding": [1.0 if d == n % dim else 0.1 * (n % 7 + 1) for d in range(dim)],
                "title": f"{mark} title {n}",
                "created_at": iso(now - timedelta(days=40 - n)),
            }
        )
    return rows


def user_rows(mark: str) -> list[dict[str, Any]]:
    return [
        {
            "user_id": f"{mark}-u{n}",
            "traits": {"segment": "vip" if n < 3 else "casual", "tag": mark},
        }
        for n in range(N_USERS)
    ]


def event_rows(mark: str, now: datetime) -> list[dict[str, Any]]:
    """Deterministic behaviour: each user mostly likes one category (so co-visitation and
    profiles say something), with event ids and meta that carry the mark."""
    rng = random.Random(7)
    rows: list[dict[str, Any]] = []
    for u in range(N_USERS):
        for _ in range(EVENTS_PER_USER):
            n = rng.randrange(N_ITEMS) if rng.random() < 0.3 else (u % 4) + 4 * rng.randrange(5)
            rows.append(
                {
                    "event_id": f"{mark}-e{len(rows):04d}",
                    "user_id": f"{mark}-u{u}",
                    "item_id": f"{mark}-i{n:02d}",
                    "type": rng.choice([0, 0, 0, 1, 1, 2, 3]),
                    "ts": iso(now - timedelta(hours=rng.uniform(1, 20 * 24))),
                    "meta": {"surface": "home", "note": mark},
                }
            )
    return rows


def seed_world(client: TestClient, owner: Tenant, now: datetime) -> World:
    """Everything the owner stores, written the way a client would, data before policy and
    policy before the first ranking (so the first snapshot is built from all of it at once)."""
    mark = "m" + uuid.uuid4().hex[:12]
    ns = owner.namespace

    def post(path: str, body: dict[str, Any], status: int = 200) -> Any:
        return ok(call(client, owner, "POST", path, body={"namespace": ns, **body}), status)

    items = item_rows(mark, now)
    users = user_rows(mark)
    events = event_rows(mark, now)
    post("/v1/items:upsert", {"items": items})
    post("/v1/users:upsert", {"users": users})
    post("/v1/events:batch", {"events": events})
    post("/v1/event-types:upsert", {"types": [{"type": 1, "name": f"{mark}-click", "weight": 2.5}]})
    versions = [
        post("/v1/admin/recommendation/config", body)["version"]
        for body in (
            {"config": {"mmr_lambda": 0.6}, "author": f"{mark}-author", "notes": f"{mark} v1"},
            {"config": {"mmr_lambda": 0.8, "blend_alpha": 0.3}, "author": f"{mark}-author"},
        )
    ]
    profile_id, segment_id = f"{mark}-vip-profile", f"{mark}-vip"
    post("/v1/segment-profiles:upsert", {"profiles": [{"profile_id": profile_id, "mmr_lambda": 1}]})
    segment = {
        "segment_id": segment_id,
        "name": f"{mark} VIPs",
        "priority": 10,
        "profile_id": profile_id,
        "rules": [{"rule": {"eq": ["user.traits.segment", "vip"]}}],
    }
    post("/v1/segments:upsert", {"segment": segment})
    item_ids = [i["item_id"] for i in items]
    rule_bodies: dict[str, dict[str, Any]] = {
        "boost": {
            "action": "BOOST",
            "target_type": "ITEM",
            "item_ids": [item_ids[17]],
            "boost_value": 3.0,
        },
        "block": {"action": "BLOCK", "target_type": "TAG", "target_key": f"{mark}-t1"},
        "pin": {
            "action": "PIN",
            "target_type": "ITEM",
            "item_ids": [item_ids[18]],
            "position": 2,
            "surface": "home",
        },
    }
    rule_ids = {
        role: post("/v1/admin/rules", {"name": f"{mark}-{role}", **body}, 201)["rule_id"]
        for role, body in rule_bodies.items()
    }
    override = post(
        "/v1/admin/manual_overrides",
        {"item_id": item_ids[3], "action": "suppress", "notes": mark, "created_by": mark},
        201,
    )
    user_ids = [u["user_id"] for u in users]
    world = World(
        owner=owner,
        mark=mark,
        item_ids=item_ids,
        user_ids=user_ids,
        vip_user=user_ids[0],
        event_ids=[e["event_id"] for e in events],
        brands=sorted({i["brand"] for i in items}),
        tags=sorted({t for i in items for t in i["tags"] if t != "all"}),
        segment_id=segment_id,
        profile_id=profile_id,
        config_versions=versions,
        rule_ids=rule_ids,
        override_id=override["override_id"],
        override_rule_id=override["rule_id"],
        decision_ids=[],
        page_tokens={},
        policy_ids=[f"{mark}-pop", f"{mark}-covis", f"{mark}-control"],
        bandit_decision_ids=[],
    )
    # Who is asked for: a segment member, an ordinary user, a user the owner never sent, nobody.
    world.ranking_requests = [
        {"user_id": world.vip_user, "surface": "home", "k": 10, "include_reasons": True},
        {"user_id": user_ids[5], "surface": "pdp", "k": 10, "explain_level": "full"},
        {"user_id": f"{mark}-stranger", "surface": "home", "k": 5},
        {"k": 8},
    ]
    for request in world.ranking_requests:
        answer = post("/v1/recommendations", request)
        assert answer["items"], "the owner's rankings must not be empty, or nothing is compared"
        world.decision_ids.append(answer["decision_id"])
    seed_bandit(client, world)
    seed_canary(client, world)
    for listing, limit in (("items", 3), ("users", 3), ("events", 5)):
        page = ok(
            call(client, owner, "GET", f"/v1/{listing}", params={"namespace": ns, "limit": limit})
        )
        world.page_tokens[listing] = page["next_page_token"]
    return world


@dataclass(frozen=True)
class Decoy:
    item_ids: list[str]
    user_ids: list[str]
    event_ids: list[str]


BANDIT_CONTEXT = {"device": "mobile"}
# The surface of the bandit recommendations a fingerprint asks for: every such call records a
# decision, so the fingerprint leaves this surface's statistics out.
FINGERPRINT_SURFACE = "fingerprint"


def seed_bandit(client: TestClient, world: World) -> None:
    """Two bandit arms and a control policy, decisions on `home` (from decide and from bandit
    recommendations), two of them rewarded."""
    owner, ns = world.owner, world.owner.namespace
    pop, covis, control = world.policy_ids
    policies = [
        {"policy_id": pop, "name": f"{world.mark} pop", "config": {"blend_alpha": 1.0}},
        {"policy_id": covis, "config": {"blend_beta": 1.0}},
        {"policy_id": control, "control": True, "active": False, "config": {"mmr_lambda": 0.5}},
    ]
    body = {"namespace": ns, "policies": policies}
    ok(call(client, owner, "POST", "/v1/bandit/policies:upsert", body=body))
    ask = {"namespace": ns, "surface": "home", "context": BANDIT_CONTEXT, "user_id": world.vip_user}
    for _ in range(3):
        decision = ok(call(client, owner, "POST", "/v1/bandit/decide", body=ask))
        world.bandit_decision_ids.append(decision["decision_id"])
    ranked = ok(call(client, owner, "POST", "/v1/bandit/recommendations", body={**ask, "k": 5}))
    assert ranked["items"]
    world.bandit_decision_ids.append(ranked["decision_id"])
    for decision_id, value in zip(world.bandit_decision_ids[:2], (1.0, 0.25), strict=True):
        rewarded = {"namespace": ns, "decision_id": decision_id, "reward": value}
        ok(call(client, owner, "POST", "/v1/bandit/reward", body=rewarded))


# The surface of the owner's running canary: the fingerprint never ranks on it (a ranking there
# records a canary decision), so the canary's statistics stay as seeded.
CANARY_SURFACE = "ship"


def seed_canary(client: TestClient, world: World) -> None:
    """A running canary with a few decisions served, one of them rewarded."""
    owner, ns = world.owner, world.owner.namespace
    body = {
        "namespace": ns,
        "surface": CANARY_SURFACE,
        "overrides": {"mmr_lambda": 0.3},
        "traffic_share": 0.5,
        "source": {"run_dir": f"{world.mark}-tuning", "run": 1},
        "author": f"{world.mark}-author",
    }
    world.canary_id = ok(call(client, owner, "POST", "/v1/ship/canaries", body=body), 201)[
        "canary_id"
    ]
    served = []
    for user_id in world.user_ids[:4]:
        ask = {"namespace": ns, "surface": CANARY_SURFACE, "user_id": user_id, "k": 5}
        ranked = ok(call(client, owner, "POST", "/v1/recommendations", body=ask))
        assert ranked["canary"]["canary_id"] == world.canary_id
        served.append(ranked)
    # Canary decisions are bandit decisions: the explicit reward endpoint takes them too.
    rewarded = {"namespace": ns, "decision_id": served[0]["decision_id"], "reward": 1.0}
    ok(call(client, owner, "POST", "/v1/bandit/reward", body=rewarded))


def seed_decoy(client: TestClient, tenant: Tenant, now: datetime) -> Decoy:
    """A small catalogue of the intruder's own (no mark in it), so that its listings and rankings
    are not trivially empty. Its ids sort after the owner's (`z` > `m`), so a listing resumed
    from the owner's cursor would still have rows of the intruder's to show."""
    decoy = Decoy(
        item_ids=[f"zz-decoy-i{n}" for n in range(6)],
        user_ids=[f"zz-decoy-u{n}" for n in range(3)],
        event_ids=[f"zz-decoy-e{n}" for n in range(18)],
    )
    items = [
        {"item_id": i, "tags": [f"decoy-t{n % 2}"], "embedding": [float(n), 1.0]}
        for n, i in enumerate(decoy.item_ids)
    ]
    events = [
        {
            "event_id": e,
            "user_id": decoy.user_ids[n % 3],
            "item_id": decoy.item_ids[n % 6],
            "type": n % 4,
            "ts": iso(now - timedelta(hours=n + 1)),
        }
        for n, e in enumerate(decoy.event_ids)
    ]
    for path, body in (
        ("/v1/items:upsert", {"items": items}),
        ("/v1/users:upsert", {"users": [{"user_id": u} for u in decoy.user_ids]}),
        ("/v1/events:batch", {"events": events}),
    ):
        ok(call(client, tenant, "POST", path, body={"namespace": tenant.namespace, **body}))
    # Writes reach a warm snapshot through the background refresh, catalogue and events
    # possibly in different passes: wait until the last write (the events) shows, so that two
    # rankings the case compares are made from the same data.
    ask = {
        "namespace": tenant.namespace,
        "user_id": decoy.user_ids[0],
        "k": 1,
        "explain_level": "numeric",  # for the trace
    }
    eventually(
        lambda: ok(call(client, tenant, "POST", "/v1/recommendations", body=ask)),
        # Until the catalogue shows, the answer is empty and has no user block at all.
        lambda answer: answer["trace"].get("extras", {}).get("user", {}).get("event_count") == 6,
        "the decoy's events in its rankings",
    )
    return decoy


def fingerprint(client: TestClient, world: World) -> dict[str, Any]:
    """Everything the owner can read about its namespace, keyed by what it is; rankings without
    their decision ids. Audit listings are narrowed to the seeded decisions (fingerprinting ranks,
    which itself records new decisions)."""
    owner = world.owner
    ns = {"namespace": owner.namespace}

    def get(path: str, params: Mapping[str, Any] | None = None) -> Any:
        return ok(call(client, owner, "GET", path, params=params))

    def post(path: str, body: Mapping[str, Any]) -> Any:
        return ok(call(client, owner, "POST", path, body={**ns, **body}))

    seeded = set(world.decision_ids)
    out: dict[str, Any] = {
        "items": get("/v1/items", {**ns, "limit": 1000}),
        "users": get("/v1/users", {**ns, "limit": 1000}),
        "events": get("/v1/events", {**ns, "limit": 1000}),
        "config": get("/v1/admin/recommendation/config", ns),
        "config_history": get("/v1/admin/recommendation/config/history", ns),
        "event_types": get("/v1/event-types", ns),
        "segments": get("/v1/segments", ns),
        "profiles": get("/v1/segment-profiles", ns),
        "rules": get("/v1/admin/rules", ns),
        "rules_by_id": {
            r: get(f"/v1/admin/rules/{r}")
            for r in sorted([*world.rule_ids.values(), world.override_rule_id])
        },
        "overrides": get("/v1/admin/manual_overrides", ns),
        "decisions_by_id": {d: get(f"/v1/audit/decisions/{d}") for d in world.decision_ids},
        "decisions_listed": [
            d
            for d in get("/v1/audit/decisions", {**ns, "limit": 1000})["decisions"]
            if d["decision_id"] in seeded
        ],
        "decisions_searched": [
            d
            for d in post("/v1/audit/search", {"limit": 1000})["decisions"]
            if d["decision_id"] in seeded
        ],
        "recommendations": [
            without_decision_id(post("/v1/recommendations", r)) for r in world.ranking_requests
        ],
        "rerank": without_decision_id(
            post(
                "/v1/rerank",
                {
                    "user_id": world.vip_user,
                    "items": [{"item_id": i} for i in reversed(world.item_ids)],
                    "include_reasons": True,
                },
            )
        ),
        "similar": {i: get(f"/v1/items/{i}/similar", {**ns, "k": 10}) for i in world.item_ids[:3]},
        "segment_dry_run": post("/v1/segments:dry-run", {"user_id": world.vip_user}),
        "canary": _without_estimate(get(f"/v1/ship/canaries/{world.canary_id}")),
        "canaries": [_without_estimate(c) for c in get("/v1/ship/canaries", ns)["canaries"]],
        "bandit_policies": get("/v1/bandit/policies", ns),
        "bandit_stats_home": get("/v1/bandit/stats", {**ns, "surface": "home"}),
        "bandit_buckets": [
            b for b in get("/v1/bandit/stats", ns)["buckets"] if b["surface"] != FINGERPRINT_SURFACE
        ],
        # One candidate policy: the bandit has nothing to choose, so the answer is determined.
        "bandit_recommendations": _without_bandit_decision(
            post(
                "/v1/bandit/recommendations",
                {
                    "user_id": world.vip_user,
                    "surface": FINGERPRINT_SURFACE,
                    "candidate_policy_ids": world.policy_ids[:1],
                    "k": 10,
                },
            )
        ),
        "rule_dry_run": post(
            "/v1/admin/rules/dry-run",
            {
                "rule": {
                    **ns,
                    "name": "probe",
                    "action": "BLOCK",
                    "target_type": "ITEM",
                    "item_ids": world.item_ids[:4],
                },
                "request": {"user_id": world.user_ids[4], "k": 10},
            },
        ),
    }
    return out


def _without_estimate(canary: dict[str, Any]) -> dict[str, Any]:
    """A canary's time-left estimate depends on when it is read."""
    return {k: v for k, v in canary.items() if k != "seconds_left"}


def _without_bandit_decision(answer: dict[str, Any]) -> dict[str, Any]:
    bandit = {k: v for k, v in answer["bandit"].items() if k != "decision_id"}
    return {**without_decision_id(answer), "bandit": bandit}


def assert_same_world(before: Mapping[str, Any], after: Mapping[str, Any], when: str) -> None:
    """Part by part, so a failure names what changed."""
    assert before.keys() == after.keys()
    for part in before:
        assert after[part] == before[part], f"the owner's {part} changed {when}"


@dataclass(frozen=True)
class Intruder:
    """Another org using the owner's namespace name, or the owner's org in another namespace.

    `secrets` must never appear in what it reads. For the same org that is the mark only (its
    own org id is no secret); for another org also the owner's org id."""

    kind: IntruderKind
    tenant: Tenant
    secrets: tuple[str, ...]


def intruder_for(kind: IntruderKind, world: World) -> Intruder:
    if kind == "other_org":
        return Intruder(
            kind, Tenant(new_org(), world.owner.namespace), (world.mark, world.owner.org)
        )
    return Intruder(kind, Tenant(world.owner.org, OTHER_NAMESPACE), (world.mark,))


@dataclass
class Probe:
    """What a case gets: the app, the owner's world, the intruder, the clock's time.

    `read` asserts that the answer holds none of the intruder's secrets, so every case checks
    for leaks on every read. `send` does not: once the intruder has written the owner's ids
    into its own namespace, its answers echo them legitimately — cases read before they write.
    """

    client: TestClient
    world: World
    intruder: Intruder
    now: datetime

    @property
    def tenant(self) -> Tenant:
        return self.intruder.tenant

    @property
    def ns(self) -> str:
        return self.intruder.tenant.namespace

    @property
    def other_org(self) -> bool:
        return self.intruder.kind == "other_org"

    def read(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Call as the intruder; the answer, less whatever the intruder itself sent (an error
        message may quote the id asked for), must hold none of its secrets."""
        response = self.send(method, path, body=body, params=params)
        text = response.text
        # Longest first, and only long strings: removing a short one ("1", "a") could cut a
        # secret in two and hide it.
        for sent in sorted(_strings(path, body, params), key=len, reverse=True):
            if len(sent) >= 8:
                text = text.replace(sent, "")
        for secret in self.intruder.secrets:
            assert secret not in text, (
                f"{self.intruder.kind} {method} {path} leaked {secret!r}: {response.text[:3000]}"
            )
        return response

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Call as the intruder, unchecked: for writes, and reads of a namespace into which the
        intruder has already written the owner's ids itself."""
        return call(self.client, self.tenant, method, path, body=body, params=params)

    def as_owner(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return call(self.client, self.world.owner, method, path, **kwargs)

    def decoy(self) -> Decoy:
        return seed_decoy(self.client, self.tenant, self.now)


def _strings(*parts: Any) -> set[str]:
    """Every string in a request: path segments, query values, JSON body leaves."""
    out: set[str] = set()
    for part in parts:
        if isinstance(part, str):
            out.update(part.split("/"))
            out.add(part)
        elif isinstance(part, Mapping):
            out |= _strings(*part.keys(), *part.values())
        elif isinstance(part, list | tuple):
            out |= _strings(*part)
    return out


def eventually(probe: Callable[[], Any], done: Callable[[Any], bool], what: str) -> Any:
    """Poll until `done` (policy and data reach rankings through a background refresh)."""
    deadline = time.monotonic() + 5.0
    while True:
        value = probe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"not within 5 s: {what}"
        time.sleep(0.02)
