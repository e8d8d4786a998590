"""A namespace's policy as one immutable value: its config version and knobs, event types,
segments, segment profiles and rules. Loaded by the snapshot registry next to the signals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recsys.config.knobs import KnobScope, KnobValues, parse_overrides
from recsys.policy.rules import Rule
from recsys.policy.segments import Segment, SegmentRule
from recsys.signals.event_types import DEFAULT_WEIGHTS, TYPE_NAMES, EventTypeTable
from recsys.signals.snapshot import SignalParams


@dataclass(frozen=True)
class NamespacePolicy:
    config_version: int = 0
    config: Mapping[str, Any] = field(default_factory=dict)  # explicitly set knobs, parsed
    config_meta: Mapping[str, Any] = field(default_factory=dict)
    event_types: EventTypeTable = field(default_factory=EventTypeTable)
    segments: tuple[Segment, ...] = ()
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # parsed knobs
    rules: tuple[Rule, ...] = ()

    def knobs(self, base: KnobValues) -> KnobValues:
        """Environment defaults with the namespace config on top."""
        return base.with_overrides(self.config)

    def signal_params(self, base: KnobValues) -> SignalParams:
        knobs = self.knobs(base)
        return SignalParams(
            event_types=self.event_types,
            popularity_halflife_days=knobs["popularity_halflife_days"],
            covis_window_days=knobs["covis_window_days"],
            item_model_l2=knobs["item_model_l2"],
            item_model_max_items=knobs["item_model_max_items"],
            user_factors_dim=knobs["user_factors_dim"],
            user_factors_l2=knobs["user_factors_l2"],
            user_factors_alpha=knobs["user_factors_alpha"],
        )


def event_type_table(rows: Sequence[Mapping[str, Any]]) -> EventTypeTable:
    weights = list(DEFAULT_WEIGHTS)
    halflife: list[float | None] = [None] * len(TYPE_NAMES)
    active = [True] * len(TYPE_NAMES)
    for row in rows:
        code = int(row["type"])
        weights[code] = float(row["weight"])
        halflife[code] = row.get("halflife_days")
        active[code] = bool(row["active"])
    return EventTypeTable(tuple(weights), tuple(halflife), tuple(active))


def policy_from_rows(
    *,
    config: Mapping[str, Any] | None,
    event_types: Sequence[Mapping[str, Any]],
    segments: Sequence[Mapping[str, Any]],
    profiles: Sequence[Mapping[str, Any]],
    rules: Sequence[Mapping[str, Any]],
) -> NamespacePolicy:
    """Stored rows -> policy. Stored values were validated on the way in; a knob that a newer
    catalogue no longer accepts is dropped rather than taking the namespace down."""
    return NamespacePolicy(
        config_version=int(config["version"]) if config else 0,
        config=_valid_knobs(config["config"] if config else {}, scope="namespace"),
        config_meta=(
            {
                "updated_at_us": config["created_at_us"],
                "updated_by": config.get("author"),
                "notes": config.get("notes"),
                "rollback_of": config.get("rollback_of"),
            }
            if config
            else {}
        ),
        event_types=event_type_table(event_types),
        segments=tuple(
            Segment(
                segment_id=row["segment_id"],
                name=row["name"],
                priority=int(row["priority"]),
                active=bool(row["active"]),
                profile_id=row.get("profile_id"),
                rules=tuple(
                    SegmentRule(rule=r["rule"], enabled=bool(r.get("enabled", True)))
                    for r in row["rules"] or ()
                ),
            )
            for row in segments
        ),
        # A profile applies per request: only request-level knobs (one stored before the
        # namespace-level ones were refused there is skipped, like any invalid value).
        profiles={
            row["profile_id"]: _valid_knobs(row["knobs"], scope="request") for row in profiles
        },
        rules=tuple(Rule.from_row(row) for row in rules),
    )


def _valid_knobs(raw: Mapping[str, Any], *, scope: KnobScope) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out.update(parse_overrides({key: value}, scope=scope))
        except ValueError:
            continue
    return out


__all__ = ["NamespacePolicy", "event_type_table", "policy_from_rows"]
