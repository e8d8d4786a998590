"""The fixed requests whose full answers are recorded as golden files.

Two namespaces of one org: `shop` (the tiny oracle shop of tests/ranking/shop.py) and `synth`
(a small synthetic shop from recsys.offline.synthetic). Rules and segments are scoped so that
each case sees only the ones it names: rules by surface, segments by a context value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recsys.clock import from_micros
from tests.ranking.shop import DAY, NOW

SHOP = "shop"
SYNTH = "synth"
# The synthetic shop's size and seed, and the users and items the cases name in it (a heavy
# user, a power user, a weekend user; items from the catalogue's start and middle).
SYNTH_SIZE = {"n_items": 300, "n_users": 150, "n_events": 6000, "seed": 11}
SYNTH_USERS = ["user-00009", "user-00000", "user-00002"]
SYNTH_ITEMS = [f"item-{n:05d}" for n in range(0, 240, 20)]


def iso(us: int) -> str:
    return from_micros(us).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Case:
    name: str
    method: str  # "POST" or "GET"
    path: str
    body: dict[str, Any] = field(default_factory=dict)  # JSON body, or query for GET


def _rec(name: str, namespace: str, **body: Any) -> Case:
    body = {"namespace": namespace, "k": 10, "include_reasons": True, **body}
    return Case(name, "POST", "/v1/recommendations", body)


def _rerank(name: str, namespace: str, **body: Any) -> Case:
    body = {"namespace": namespace, "include_reasons": True, "explain_level": "full", **body}
    return Case(name, "POST", "/v1/rerank", body)


def _similar(name: str, namespace: str, item_id: str, k: int = 10) -> Case:
    return Case(name, "GET", f"/v1/items/{item_id}/similar", {"namespace": namespace, "k": k})


# Rules live on their own surfaces, so that only the cases naming that surface see them.
RULES: list[dict[str, Any]] = [
    {
        "name": "pin_i33",
        "surface": "rules",
        "action": "PIN",
        "target_type": "ITEM",
        "item_ids": ["i33"],
        "position": 1,
        "priority": 30,
    },
    {
        "name": "pin_i44",
        "surface": "rules",
        "action": "PIN",
        "target_type": "ITEM",
        "item_ids": ["i44"],
        "position": 4,
        "priority": 29,
    },
    {
        "name": "block_c0",
        "surface": "rules",
        "action": "BLOCK",
        "target_type": "CATEGORY",
        "target_key": "c0",
        "priority": 20,
    },
    {
        "name": "boost_sale",
        "surface": "rules",
        "action": "BOOST",
        "target_type": "TAG",
        "target_key": "sale",
        "boost_value": 0.5,
        "priority": 10,
    },
    {
        "name": "block_brand_b1",
        "surface": "brandless",
        "action": "BLOCK",
        "target_type": "BRAND",
        "target_key": "b1",
        "priority": 5,
    },
    {
        "name": "boost_item_i50",
        "surface": "*",
        "action": "BOOST",
        "target_type": "ITEM",
        "item_ids": ["i50"],
        "boost_value": 0.3,
        "priority": 1,
        "segment_id": "vip",
    },
]

# A control-plane segment matched by context, with a profile of its own.
SEGMENT_PROFILES: list[dict[str, Any]] = [
    {"profile_id": "explorer", "mmr_lambda": 0.4, "blend_alpha": 0.6, "brand_cap": 2},
]
SEGMENTS: list[dict[str, Any]] = [
    {
        "segment_id": "vip",
        "name": "VIP campaign",
        "priority": 10,
        "active": True,
        "profile_id": "explorer",
        "rules": [{"rule": {"eq": ["ctx.campaign", "vip"]}, "enabled": True}],
    },
]


def cases() -> list[Case]:
    as_of = iso(NOW - 20 * DAY)
    return [
        # The oracle shop: each kind of user, each explain level.
        _rec("shop_anchor_full", SHOP, user_id="anchor", explain_level="full"),
        _rec("shop_buyer_numeric", SHOP, user_id="buyer", explain_level="numeric"),
        _rec("shop_u03_tags", SHOP, user_id="u03", explain_level="tags"),
        _rec("shop_sparse_none", SHOP, user_id="sparse"),
        _rec("shop_nostalgic_full", SHOP, user_id="nostalgic", explain_level="full", k=20),
        _rec("shop_cold_unknown", SHOP, user_id="ghost", explain_level="full"),
        _rec("shop_cold_anonymous", SHOP, explain_level="numeric"),
        _rec("shop_newbie_starter", SHOP, user_id="newbie", explain_level="full"),
        _rec(
            "shop_newbie_preset",
            SHOP,
            user_id="newbie",
            explain_level="full",
            overrides={"profile_starter_presets": {"fans_3": {"c3": 5.0, "sale": 1.0}}},
        ),
        _rec(
            "shop_sparse_starter",
            SHOP,
            user_id="sparse",
            explain_level="full",
            overrides={"profile_starter_presets": {"default": {"c4": 2.0}}},
        ),
        # Constraints, exclusions, caps, surfaces and overrides.
        _rec(
            "shop_constraints",
            SHOP,
            user_id="u01",
            explain_level="full",
            k=15,
            constraints={
                "categories": ["c1", "c2"],
                "exclude_tags": ["sale"],
                "price_between": [5, 25],
                "exclude_item_ids": ["i12", "i13"],
            },
        ),
        _rec(
            "shop_tags_brands",
            SHOP,
            user_id="u02",
            constraints={"include_tags_any": ["sale", "c2-t1"], "brands": ["b0", "b2"]},
        ),
        _rec(
            "shop_created_after",
            SHOP,
            user_id="u04",
            constraints={"created_after": iso(NOW - 20 * DAY)},
        ),
        _rec(
            "shop_caps",
            SHOP,
            user_id="u05",
            explain_level="full",
            k=12,
            overrides={"brand_cap": 2, "category_cap": 3},
        ),
        _rec(
            "shop_overrides",
            SHOP,
            user_id="anchor",
            explain_level="full",
            overrides={
                "blend_alpha": 0.7,
                "blend_beta": 0.1,
                "blend_gamma": 0.1,
                "blend_delta": 0.1,
                "mmr_lambda": 0.5,
                "popularity_fanout": 30,
            },
        ),
        _rec(
            "shop_surface_preset",
            SHOP,
            user_id="u06",
            surface="home",
            explain_level="numeric",
            overrides={"mmr_presets": {"home": 0.3}},
        ),
        _rec("shop_no_exclusions", SHOP, user_id="buyer", overrides={"rule_exclude_events": False}),
        _rec("shop_as_of", SHOP, user_id="u07", explain_level="full", context={"as_of": as_of}),
        _rec("shop_as_of_cold", SHOP, user_id="anchor", context={"as_of": as_of}),
        # Rules: pins, blocks, boosts; a segment and its profile; a segment-scoped rule.
        _rec("shop_rules", SHOP, user_id="u00", surface="rules", explain_level="full"),
        _rec("shop_rules_cold", SHOP, surface="rules", k=6),
        _rec("shop_rules_brand_block", SHOP, user_id="u09", surface="brandless"),
        _rec(
            "shop_segment_vip",
            SHOP,
            user_id="u08",
            explain_level="full",
            context={"campaign": "vip"},
        ),
        _rec("shop_segment_trait", SHOP, user_id="u10", explain_level="numeric"),
        # Rerank: with and without the caller's scores, unknown ids, caps, rules, k.
        _rerank(
            "shop_rerank_plain",
            SHOP,
            user_id="u01",
            items=[{"item_id": f"i{n:02d}"} for n in (3, 14, 25, 36, 47, 58, 11, 12)],
        ),
        _rerank(
            "shop_rerank_scored",
            SHOP,
            user_id="anchor",
            items=[
                {"item_id": "i07", "score": 0.2},
                {"item_id": "i42", "score": 3.0},
                {"item_id": "nope", "score": 9.0},
                {"item_id": "i31", "score": 1.0},
                {"item_id": "i07", "score": 0.5},
                {"item_id": "i59"},
            ],
        ),
        _rerank(
            "shop_rerank_caps_rules",
            SHOP,
            user_id="u02",
            surface="rules",
            k=5,
            overrides={"brand_cap": 1},
            items=[{"item_id": f"i{n:02d}"} for n in (0, 4, 8, 20, 21, 22, 33, 40)],
        ),
        _rerank("shop_rerank_cold", SHOP, items=[{"item_id": f"i{n:02d}"} for n in (5, 7, 42, 31)]),
        # Similar items.
        _similar("shop_similar_i05", SHOP, "i05"),
        _similar("shop_similar_i42", SHOP, "i42", k=20),
        # The synthetic shop.
        _rec("synth_user_full", SYNTH, user_id=SYNTH_USERS[0], explain_level="full", k=20),
        _rec("synth_user_numeric", SYNTH, user_id=SYNTH_USERS[1], explain_level="numeric"),
        _rec(
            "synth_user_caps",
            SYNTH,
            user_id=SYNTH_USERS[2],
            k=15,
            overrides={"brand_cap": 1, "category_cap": 2},
        ),
        _rec("synth_cold", SYNTH, explain_level="full"),
        _rec("synth_as_of", SYNTH, user_id=SYNTH_USERS[0], context={"as_of": as_of}),
        _rerank(
            "synth_rerank",
            SYNTH,
            user_id=SYNTH_USERS[1],
            items=[{"item_id": item} for item in SYNTH_ITEMS[:12]],
        ),
        _similar("synth_similar", SYNTH, SYNTH_ITEMS[0]),
        _similar("synth_similar_2", SYNTH, SYNTH_ITEMS[5]),
    ]
