"""What the pipeline knows about the requesting user at `now`: history, anchors, exclusions,
tag profile and, for new or sparse users, the starter profile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from recsys.config.knobs import KnobValues
from recsys.data.catalog import CATEGORY_PREFIX
from recsys.ranking.sparse_rows import row_entries
from recsys.signals.popularity import DAY_US
from recsys.signals.snapshot import Snapshot

ANCHOR_COUNT = 10
STARTER_FALLBACK_CATEGORIES = 5


@dataclass(frozen=True, eq=False)
class UserContext:
    user_index: int  # -1: unknown to the snapshot
    event_count: int  # events at or before now
    anchors: np.ndarray  # item indices, most recent first
    anchor_weights: np.ndarray  # float64, sum 1
    history: np.ndarray  # distinct item indices with a positive-strength event, ascending
    excluded_items: np.ndarray  # item indices excluded by the user's own events
    profile: np.ndarray  # float64 per catalogue feature, sum 1 (or all zero)
    starter: np.ndarray  # float64 per catalogue feature, sum 1 (or all zero)
    starter_weight: float  # share of the starter in the blended profile, 0..1
    starter_source: str | None  # "preset:<segment>", "popular_categories" or None

    cold_threshold: int  # PROFILE_MIN_EVENTS_FOR_BOOST at the time of the request

    @property
    def is_new(self) -> bool:
        """A cold user: fewer events than PROFILE_MIN_EVENTS_FOR_BOOST (none at all included).
        Cold users rank with the NEW_USER_* knobs and an attenuated profile boost."""
        return self.event_count < self.cold_threshold


def build_user_context(
    snapshot: Snapshot,
    *,
    user_id: str | None,
    segment: str | None,
    now_us: int,
    knobs: KnobValues,
) -> UserContext:
    catalog, log = snapshot.catalog, snapshot.log
    n_features = len(catalog.feature_names)
    user_index = snapshot.users.index.get(user_id, -1) if user_id else -1
    positions = log.user_events(user_index) if user_index >= 0 else np.empty(0, np.int64)
    if len(positions):
        # Histories are time-ordered: everything after `now` is a suffix to cut off.
        cut = np.searchsorted(log.ts_us[positions], now_us, side="right")
        positions = positions[:cut]
    items = log.item[positions]
    ts = log.ts_us[positions]
    types = log.type[positions]
    strength = snapshot.strength[positions]

    anchors, anchor_weights = _anchors(items)
    history = np.unique(items[strength > 0]).astype(np.int64)
    excluded = np.empty(0, np.int64)
    if knobs["rule_exclude_events"] and len(items):
        window_start = now_us - knobs["purchased_window_days"] * DAY_US
        mask = np.isin(types, np.asarray(knobs["exclude_event_types"], dtype=np.int8))
        mask &= ts >= window_start
        excluded = np.unique(items[mask]).astype(np.int64)

    profile = np.zeros(n_features)
    if len(items) and n_features:
        age = (now_us - ts) / (knobs["profile_window_days"] * DAY_US)
        weight = strength * np.clip(1.0 - age, 0.0, None)  # linear fade to 0 at the window edge
        if weight.sum() > 0:
            owner, positions = row_entries(catalog.features, items)
            dense = np.bincount(
                catalog.features.indices[positions],
                weights=catalog.features.data[positions] * weight[owner],
                minlength=n_features,
            )
            profile = _top_n(dense, knobs["profile_top_n"])

    decay_events = knobs["profile_starter_decay_events"]
    fade = max(0.0, 1.0 - len(items) / decay_events)
    starter_weight = knobs["profile_starter_blend_weight"] * fade
    starter = np.zeros(n_features)
    starter_source = None
    if starter_weight > 0 and n_features:
        starter, starter_source = _starter_profile(
            snapshot, segment, knobs["profile_starter_presets"], knobs["popularity_halflife_days"]
        )
        if starter_source is None:
            starter_weight = 0.0
    return UserContext(
        user_index=user_index,
        event_count=len(items),
        anchors=anchors,
        anchor_weights=anchor_weights,
        history=history,
        excluded_items=excluded,
        profile=profile,
        starter=starter,
        starter_weight=starter_weight,
        starter_source=starter_source,
        cold_threshold=knobs["profile_min_events_for_boost"],
    )


def _anchors(items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most recent distinct items, newest first, weighted 1/(1 + recency rank)."""
    if len(items) == 0:
        return np.empty(0, np.int64), np.empty(0)
    newest_first = items[::-1]
    _, first = np.unique(newest_first, return_index=True)
    anchors = newest_first[np.sort(first)][:ANCHOR_COUNT].astype(np.int64)
    weights = 1.0 / (1.0 + np.arange(len(anchors)))
    return anchors, weights / weights.sum()


def _top_n(dense: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros_like(dense)
    positive = np.flatnonzero(dense > 0)
    if len(positive) > n:
        order = np.lexsort((positive, -dense[positive]))[:n]
        positive = positive[order]
    out[positive] = dense[positive]
    total = out.sum()
    return out / total if total > 0 else out


def _starter_profile(
    snapshot: Snapshot,
    segment: str | None,
    presets: Mapping[str, Mapping[str, float]],
    halflife_days: float,
) -> tuple[np.ndarray, str | None]:
    """A segment's preset mapped onto the catalogue's real features, or the catalogue's most
    popular categories when no preset applies."""
    catalog = snapshot.catalog
    starter = np.zeros(len(catalog.feature_names))
    chosen = None
    for key in (segment, "default"):
        if key and key in presets:
            chosen = key
            break
    if chosen is not None:
        lowered = {name.lower(): i for i, name in enumerate(catalog.feature_names)}
        for name, weight in presets[chosen].items():
            target = name.lower()
            for candidate in (CATEGORY_PREFIX + target, target):
                if candidate in lowered:
                    starter[lowered[candidate]] += weight
                    break
        total = starter.sum()
        if total > 0:
            return starter / total, f"preset:{chosen}"
    # No usable preset: lean towards where the catalogue's demand is.
    if catalog.size == 0 or len(catalog.category_names) == 0:
        return starter, None
    mass = snapshot.category_demand(halflife_days)
    top = [
        c
        for c in np.lexsort((np.arange(len(mass)), -mass))[:STARTER_FALLBACK_CATEGORIES]
        if mass[c] > 0
    ]
    for code in top:
        feature = catalog.feature_index.get(CATEGORY_PREFIX + catalog.category_names[code])
        if feature is not None:
            starter[feature] = mass[code]
    total = starter.sum()
    return (starter / total, "popular_categories") if total > 0 else (starter, None)


__all__ = ["UserContext", "build_user_context"]
