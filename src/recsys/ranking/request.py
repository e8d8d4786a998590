"""What a ranking request says, and what the pipeline answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from recsys.config.knobs import KnobValues, defaults
from recsys.policy.rules import Rule

ExplainLevel = Literal["none", "tags", "numeric", "full"]
Mode = Literal["recommend", "rerank"]


@dataclass(frozen=True)
class Constraints:
    include_tags_any: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    created_after_us: int | None = None

    @property
    def active(self) -> bool:
        return bool(
            self.include_tags_any
            or self.exclude_tags
            or self.brands
            or self.categories
            or self.price_min is not None
            or self.price_max is not None
            or self.created_after_us is not None
        )


@dataclass(frozen=True)
class RankRequest:
    """One ranking question. `now_us` is explicit: the pipeline never reads a clock."""

    now_us: int
    k: int = 20
    user_id: str | None = None
    knobs: KnobValues = field(default_factory=defaults)
    # Knob keys set by this request's own overrides: they beat per-surface presets.
    explicit_knobs: frozenset[str] = frozenset()
    surface: str | None = None
    segment: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    exclude_item_ids: tuple[str, ...] = ()
    include_reasons: bool = False
    explain_level: ExplainLevel = "none"
    mode: Mode = "recommend"
    # Rerank: the caller's items, in the caller's order, and optional base scores.
    candidate_item_ids: tuple[str, ...] = ()
    candidate_scores: tuple[float | None, ...] = ()
    # Merchandising rules in force for this request (already filtered by surface, segment, time).
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class RankedItem:
    item_id: str
    score: float
    rank: int
    reasons: tuple[str, ...] | None = None
    explain: dict[str, Any] | None = None


@dataclass(frozen=True)
class RankResult:
    items: tuple[RankedItem, ...]
    trace: dict[str, Any]
    warnings: tuple[str, ...] = ()
    # The best candidates before diversification (item_id, score), for the decision audit.
    candidates: tuple[tuple[str, float], ...] = ()


__all__ = ["Constraints", "ExplainLevel", "RankRequest", "RankResult", "RankedItem"]
