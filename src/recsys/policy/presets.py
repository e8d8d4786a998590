"""Named knob bundles a namespace can start from (GET /v1/admin/recommendation/presets)."""

from __future__ import annotations

from typing import Any

PRESETS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "balanced",
        "The defaults: popularity, co-visitation and vectors blended, mild diversity.",
        {},
    ),
    (
        "discovery",
        "More diverse lists and more of the long tail: lower MMR lambda, wider fan-out, caps.",
        {"mmr_lambda": 0.5, "popularity_fanout": 1000, "category_cap": 4, "blend_alpha": 0.2},
    ),
    (
        "conversion",
        "Lean on what sells and what is bought together; little diversification.",
        {"blend_alpha": 0.45, "blend_beta": 0.5, "blend_gamma": 0.05, "mmr_lambda": 0.9},
    ),
    (
        "personal",
        "Follow each user's own taste: strong profile boost, vector similarity weighted up.",
        {"profile_boost": 1.5, "blend_gamma": 0.35, "blend_alpha": 0.25},
    ),
    (
        "surface_defaults",
        "Per-surface diversity: broad on home, focused on product pages and email.",
        {"mmr_presets": {"home": 0.6, "pdp": 0.9, "email": 0.8, "new_user": 0.5}},
    ),
)

__all__ = ["PRESETS"]
