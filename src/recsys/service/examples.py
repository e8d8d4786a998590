"""One example request body per operation, shown in /docs and /redoc and in the OpenAPI
document. Kept in one place and checked by a test against the request models (every example
validates) and against the app (every operation with a body has one), so they cannot rot."""

from __future__ import annotations

from typing import Any

NS = "demo"

_ITEM = {
    "item_id": "sku-123",
    "title": "Trail running shoe",
    "brand": "acme",
    "category": "shoes",
    "category_path": ["sport", "running", "shoes"],
    "tags": ["running", "outdoor"],
    "price": 89.0,
    "available": True,
    "created_at": "2026-11-01T09:00:00Z",
    "props": {"margin": 0.32},
}
_EVENT = {
    "event_id": "evt-0001",
    "user_id": "user-42",
    "item_id": "sku-123",
    "type": 1,
    "value": 1.0,
    "ts": "2026-12-01T10:15:00Z",
    "meta": {"surface": "home", "decision_id": "0b6f1f3c9d2a4e8b"},
}
_RULE = {
    "namespace": NS,
    "name": "Block out-of-season tag",
    "action": "BLOCK",
    "target_type": "TAG",
    "target_key": "winter",
    "surface": "home",
    "priority": 10,
    "enabled": True,
}

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "upsert_items": {"namespace": NS, "items": [_ITEM]},
    "delete_items": {"namespace": NS, "item_ids": ["sku-123"]},
    "upsert_users": {
        "namespace": NS,
        "users": [{"user_id": "user-42", "traits": {"segment": "power_users", "country": "DE"}}],
    },
    "delete_users": {"namespace": NS, "user_ids": ["user-42"]},
    "ingest_events": {"namespace": NS, "events": [_EVENT]},
    "delete_events": {"namespace": NS, "user_id": "user-42", "until": "2026-12-01T00:00:00Z"},
    "recommendations": {
        "namespace": NS,
        "user_id": "user-42",
        "k": 10,
        "surface": "home",
        "constraints": {"exclude_tags": ["winter"], "price_between": [10, 150]},
        "overrides": {"mmr_lambda": 0.6},
        "include_reasons": True,
    },
    "rerank": {
        "namespace": NS,
        "user_id": "user-42",
        "items": [{"item_id": "sku-123", "score": 0.8}, {"item_id": "sku-456"}],
        "include_reasons": True,
    },
    "set_config": {
        "namespace": NS,
        "config": {"blend_alpha": 0.3, "mmr_lambda": 0.65, "profile_boost": 0.6},
    },
    "rollback_config": {"namespace": NS, "version": 3, "author": "ops@example.com"},
    "upsert_event_types": {
        "namespace": NS,
        "types": [
            {"type": 0, "name": "view", "weight": 1.0},
            {"type": 3, "name": "purchase", "weight": 4.0, "halflife_days": 30},
        ],
    },
    "upsert_segment": {
        "namespace": NS,
        "segment": {
            "segment_id": "vip",
            "name": "VIP shoppers",
            "priority": 10,
            "profile_id": "vip-profile",
            "rules": [{"rule": {"eq": ["user.traits.segment", "vip"]}, "enabled": True}],
        },
    },
    "delete_segments": {"namespace": NS, "segment_ids": ["vip"]},
    "dry_run_segments": {"namespace": NS, "traits": {"segment": "vip"}, "context": {}},
    "upsert_profiles": {
        "namespace": NS,
        "profiles": [{"profile_id": "vip-profile", "profile_boost": 0.9, "mmr_lambda": 0.8}],
    },
    "delete_profiles": {"namespace": NS, "profile_ids": ["vip-profile"]},
    "create_rule": _RULE,
    "replace_rule": {**_RULE, "enabled": False},
    "dry_run_rule": {
        "namespace": NS,
        "rule": {
            **_RULE,
            "action": "PIN",
            "target_type": "ITEM",
            "target_key": None,
            "item_ids": ["sku-123"],
            "position": 1,
        },
        "request": {"user_id": "user-42", "k": 10, "surface": "home"},
    },
    "create_override": {
        "namespace": NS,
        "item_id": "sku-123",
        "action": "suppress",
        "surface": "home",
        "expires_at": "2026-12-31T23:59:59Z",
        "notes": "recall",
    },
    "search_decisions": {"namespace": NS, "user_id": "user-42", "limit": 20},
    "delete_decisions": {"namespace": NS, "user_id": "user-42"},
    "upsert_policies": {
        "namespace": NS,
        "policies": [
            {"policy_id": "baseline", "control": True},
            {"policy_id": "diverse", "config": {"mmr_lambda": 0.4}},
        ],
    },
    "decide": {
        "namespace": NS,
        "surface": "home",
        "user_id": "user-42",
        "context": {"device": "mobile"},
    },
    "reward": {"namespace": NS, "decision_id": "0b6f1f3c9d2a4e8b", "reward": 1.0},
    "bandit_recommendations": {
        "namespace": NS,
        "surface": "home",
        "user_id": "user-42",
        "k": 10,
        "context": {"device": "mobile"},
    },
    "start_canary": {
        "namespace": NS,
        "surface": "home",
        "overrides": {"blend_alpha": 0.4, "mmr_lambda": 0.7},
        "traffic_share": 0.2,
        "source": {"run_dir": "analysis/results/tuning_runs/demo_20261207T151042Z", "run": 3},
    },
    "stop_canary": {"reason": "seasonal traffic; retry next week", "author": "ops@example.com"},
}

__all__ = ["REQUEST_EXAMPLES"]
