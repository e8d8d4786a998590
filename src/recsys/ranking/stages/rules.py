"""Rules: BLOCK removes candidates, BOOST adds to their score, PIN reserves slots (the pinned
items leave the scored rows and travel as the candidate set's pins)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsys.policy.rules import RuleEffects, rule_effects
from recsys.ranking.candidates import CandidateSet, Pin
from recsys.ranking.filters import constraint_masks
from recsys.ranking.stage import RankContext


@dataclass(frozen=True)
class RulesTrace:
    actions: dict[str, int] = field(default_factory=dict)
    matched_rule_ids: tuple[str, ...] = ()
    blocked_by_rule: dict[str, int] = field(default_factory=dict)
    touched: dict[str, list[str]] = field(default_factory=dict)  # action -> item ids

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": "rules",
            "actions": self.actions,
            "matched_rule_ids": list(self.matched_rule_ids),
            "blocked_by_rule": dict(self.blocked_by_rule),
            "touched": {action: list(ids) for action, ids in self.touched.items()},
        }


class Rules:
    name = "rules"

    def __call__(
        self, context: RankContext, candidates: CandidateSet
    ) -> tuple[CandidateSet, RulesTrace]:
        effects = self.effects(context, candidates.items)
        if effects is None:
            return candidates, RulesTrace()
        pinned = np.asarray([item for item, _ in effects.pins], dtype=np.int64)
        boosted = candidates.with_columns(score=candidates["score"] + effects.boost)
        kept = boosted.keep(~effects.blocked & ~np.isin(candidates.items, pinned))
        trace = RulesTrace(
            actions=effects.actions,
            matched_rule_ids=effects.matched_rule_ids,
            blocked_by_rule=effects.blocked_by_rule,
            touched=effects.touched,
        )
        return kept.with_pins(tuple(Pin(item, slot) for item, slot in effects.pins)), trace

    @staticmethod
    def effects(context: RankContext, items: np.ndarray) -> RuleEffects | None:
        request, catalog = context.request, context.snapshot.catalog
        if not request.rules or not request.knobs["rules_enable"]:
            return None
        pinnable = items
        if request.mode == "recommend":
            # An ITEM pin may bring in an item that no source proposed, but only one that the
            # request's own filters and the user's exclusions would have let through.
            named = catalog.indices_of(
                i
                for r in request.rules
                if r.action == "PIN"
                for i in (*r.item_ids, r.target_key or "")
            )
            extra = np.setdiff1d(named, items)
            if len(extra):
                drop = (
                    ~catalog.available[extra]
                    | np.isin(extra, catalog.indices_of(request.exclude_item_ids))
                    | np.isin(extra, context.user.excluded_items)  # e.g. what was just bought
                )
                for mask in constraint_masks(catalog, extra, request.constraints).values():
                    drop |= mask
                pinnable = np.union1d(items, extra[~drop])
        return rule_effects(
            request.rules,
            catalog,
            items,
            pinnable=pinnable,
            max_pins=request.knobs["rules_max_pin_slots"],
        )


__all__ = ["Rules", "RulesTrace"]
