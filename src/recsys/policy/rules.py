"""Merchandising rules: which apply to a request, and what they do to a candidate list.

BLOCK beats PIN beats BOOST. Targets: ITEM (item_ids and/or target_key), TAG, BRAND, CATEGORY.
A rule applies when enabled, inside its validity window, on its namespace, on its surface
(`*` = every surface) and, when it names a segment, only to requests in that segment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from recsys.data.catalog import CATEGORY_PREFIX, Catalog

Action = Literal["PIN", "BLOCK", "BOOST"]
TargetType = Literal["ITEM", "TAG", "BRAND", "CATEGORY"]
ACTIONS: tuple[str, ...] = ("BLOCK", "PIN", "BOOST")  # precedence order
TARGET_TYPES: tuple[str, ...] = ("ITEM", "TAG", "BRAND", "CATEGORY")
ANY_SURFACE = "*"

RULE_NAME_MAX = 256  # the rules table's name column


@dataclass(frozen=True)
class Rule:
    rule_id: str
    namespace: str
    surface: str
    name: str
    action: Action
    target_type: TargetType
    target_key: str | None = None
    item_ids: tuple[str, ...] = ()
    boost_value: float = 0.0
    position: int | None = None  # 1-based slot for PIN
    segment_id: str | None = None
    priority: int = 0
    enabled: bool = True
    valid_from_us: int | None = None
    valid_until_us: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Rule:
        return cls(
            rule_id=row["rule_id"],
            namespace=row["namespace"],
            surface=row["surface"],
            name=row["name"],
            action=row["action"],
            target_type=row["target_type"],
            target_key=row.get("target_key"),
            item_ids=tuple(row.get("item_ids") or ()),
            boost_value=float(row.get("boost_value") or 0.0),
            position=row.get("position"),
            segment_id=row.get("segment_id"),
            priority=int(row.get("priority") or 0),
            enabled=bool(row.get("enabled", True)),
            valid_from_us=row.get("valid_from_us"),
            valid_until_us=row.get("valid_until_us"),
        )

    def live_at(self, now_us: int) -> bool:
        if not self.enabled:
            return False
        if self.valid_from_us is not None and now_us < self.valid_from_us:
            return False
        return not (self.valid_until_us is not None and now_us >= self.valid_until_us)

    def applies(self, *, surface: str | None, segment_id: str | None, now_us: int) -> bool:
        if not self.live_at(now_us):
            return False
        if self.surface != ANY_SURFACE and self.surface != surface:
            return False
        return self.segment_id is None or self.segment_id == segment_id

    def matches(self, catalog: Catalog, items: np.ndarray) -> np.ndarray:
        """Bool mask over catalogue indices `items`: which the rule targets."""
        if len(items) == 0:
            return np.zeros(0, dtype=bool)
        if self.target_type == "ITEM":
            ids = set(self.item_ids) | ({self.target_key} if self.target_key else set())
            return np.isin(items, catalog.indices_of(sorted(ids)))
        if self.target_type == "BRAND":
            codes = catalog.brand_codes([self.target_key or ""])
            return np.isin(catalog.brand[items], codes)
        feature = (CATEGORY_PREFIX if self.target_type == "CATEGORY" else "") + (
            self.target_key or ""
        )
        codes = catalog.feature_codes([feature])
        if len(codes) == 0:
            return np.zeros(len(items), dtype=bool)
        return np.asarray(catalog.features[items][:, codes].sum(axis=1)).ravel() > 0


def applicable(
    rules: Iterable[Rule], *, surface: str | None, segment_id: str | None, now_us: int
) -> tuple[Rule, ...]:
    """The rules in force for one request, highest priority first (ties by rule_id)."""
    live = [r for r in rules if r.applies(surface=surface, segment_id=segment_id, now_us=now_us)]
    return tuple(sorted(live, key=lambda r: (-r.priority, r.rule_id)))


@dataclass(frozen=True)
class RuleEffects:
    """What the rules did to one candidate list (indices into the candidate arrays)."""

    blocked: np.ndarray  # bool per candidate
    boost: np.ndarray  # float added to the blended score, per candidate
    pins: tuple[tuple[int, int], ...]  # (catalogue index, 0-based slot), in slot order
    blocked_by_rule: dict[str, int]
    actions: dict[str, int]
    matched_rule_ids: tuple[str, ...]
    touched: dict[str, list[str]]  # action -> item ids


def rule_effects(
    rules: tuple[Rule, ...],
    catalog: Catalog,
    candidates: np.ndarray,
    *,
    pinnable: np.ndarray,
    max_pins: int,
) -> RuleEffects:
    """Evaluate the rules on the candidate items.

    `pinnable` are catalogue indices a PIN may place (available, not excluded, meeting the
    request's constraints); pins outside the candidate set are allowed only among them. A
    blocked item can be neither pinned nor boosted. Pins fill slots in priority order: a rule's
    `position` (1-based) when free, else the first free slot from the top.
    """
    blocked = np.zeros(len(candidates), dtype=bool)
    boost = np.zeros(len(candidates))
    blocked_by_rule: dict[str, int] = {}
    actions: dict[str, int] = {}
    touched: dict[str, list[str]] = {}
    matched: list[str] = []

    blocked_items: set[int] = set()
    for rule in (r for r in rules if r.action == "BLOCK"):
        mask = rule.matches(catalog, candidates) & ~blocked
        pin_mask = rule.matches(catalog, pinnable)
        blocked_items.update(int(i) for i in pinnable[pin_mask])
        if mask.any():
            blocked |= mask
            blocked_by_rule[rule.rule_id] = int(mask.sum())
            actions["BLOCK"] = actions.get("BLOCK", 0) + int(mask.sum())
            touched.setdefault("BLOCK", []).extend(
                str(catalog.item_ids[i]) for i in candidates[mask]
            )
            matched.append(rule.rule_id)
    blocked_items.update(int(i) for i in candidates[blocked])

    pins: list[tuple[int, int]] = []
    taken_slots: set[int] = set()
    pinned: set[int] = set()
    for rule in (r for r in rules if r.action == "PIN"):
        if rule.target_type == "ITEM":
            names = rule.item_ids or ((rule.target_key,) if rule.target_key else ())
            ordered = [catalog.index[i] for i in names if i in catalog.index]
        else:
            ordered = [int(i) for i in pinnable[rule.matches(catalog, pinnable)]]
        allowed = set(int(i) for i in pinnable)
        for item in ordered:
            if len(pins) >= max_pins:
                break
            if item in pinned or item in blocked_items or item not in allowed:
                continue
            slot = (rule.position - 1) if rule.position else 0
            while slot in taken_slots:
                slot += 1
            pins.append((item, slot))
            taken_slots.add(slot)
            pinned.add(item)
            actions["PIN"] = actions.get("PIN", 0) + 1
            touched.setdefault("PIN", []).append(str(catalog.item_ids[item]))
            if rule.rule_id not in matched:
                matched.append(rule.rule_id)
            if rule.target_type != "ITEM":
                break  # a TAG/BRAND/CATEGORY pin places its best match only

    for rule in (r for r in rules if r.action == "BOOST"):
        mask = rule.matches(catalog, candidates) & ~blocked
        mask &= ~np.isin(candidates, list(pinned))
        if mask.any():
            boost[mask] += rule.boost_value
            actions["BOOST"] = actions.get("BOOST", 0) + int(mask.sum())
            touched.setdefault("BOOST", []).extend(
                str(catalog.item_ids[i]) for i in candidates[mask]
            )
            matched.append(rule.rule_id)
    return RuleEffects(
        blocked=blocked,
        boost=boost,
        pins=tuple(sorted(pins, key=lambda p: p[1])),
        blocked_by_rule=blocked_by_rule,
        actions=actions,
        matched_rule_ids=tuple(matched),
        touched=touched,
    )


def override_rule(
    *,
    rule_id: str,
    namespace: str,
    surface: str,
    item_id: str,
    action: str,
    boost_value: float | None,
    expires_at_us: int | None,
    created_at_us: int,
) -> dict[str, Any]:
    """The rule row a manual override compiles to: boost -> BOOST, suppress -> BLOCK."""
    return {
        "rule_id": rule_id,
        "namespace": namespace,
        "surface": surface,
        # Rule names hold 256 characters and item ids as many: the item id is in
        # target_key in full, the name is for people.
        "name": f"manual override: {action} {item_id}"[:RULE_NAME_MAX],
        "action": "BOOST" if action == "boost" else "BLOCK",
        "target_type": "ITEM",
        "target_key": item_id,
        "item_ids": [item_id],
        "boost_value": boost_value if action == "boost" else None,
        "position": None,
        "segment_id": None,
        "priority": 1000,  # an operator's explicit override outranks standing rules
        "enabled": True,
        "valid_from_us": None,
        "valid_until_us": expires_at_us,
        "source": "manual_override",
        "created_at_us": created_at_us,
        "updated_at_us": created_at_us,
    }


__all__ = [
    "ACTIONS",
    "ANY_SURFACE",
    "TARGET_TYPES",
    "Rule",
    "RuleEffects",
    "applicable",
    "override_rule",
    "rule_effects",
]
