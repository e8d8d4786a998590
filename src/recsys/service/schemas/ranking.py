"""Ranking bodies: recommendations, rerank, similar items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    model_validator,
)

from recsys.service.schemas.common import (
    MAX_CALLER_SCORE,
    MAX_SURFACE_LENGTH,
    Identifier,
    JsonObject,
    Moment,
    NamespaceName,
    ShortText,
    StrictModel,
    Surface,
    Tag,
)

# --- ranking ----------------------------------------------------------------------------------

MAX_K = 200
MAX_RERANK_ITEMS = 200
MAX_EXCLUDE_IDS = 1000
ExplainLevelIn = Literal["none", "tags", "numeric", "full"]


def _context_surface_fits(context: dict[str, Any]) -> dict[str, Any]:
    """`context.surface` stands in for `surface` and is recorded with the decision."""
    surface = context.get("surface")
    if isinstance(surface, str) and len(surface) > MAX_SURFACE_LENGTH:
        raise ValueError(f"surface: at most {MAX_SURFACE_LENGTH} characters")
    return context


RankingContext = Annotated[JsonObject, AfterValidator(_context_surface_fits)]


class ConstraintsIn(StrictModel):
    include_tags_any: list[Tag] = Field(default_factory=list, max_length=100)
    exclude_tags: list[Tag] = Field(default_factory=list, max_length=100)
    exclude_item_ids: list[Identifier] = Field(default_factory=list, max_length=MAX_EXCLUDE_IDS)
    brands: list[ShortText] = Field(default_factory=list, max_length=100)
    categories: list[ShortText] = Field(default_factory=list, max_length=100)
    price_between: list[float | None] | None = Field(
        default=None, min_length=2, max_length=2, description="[min, max], inclusive; null = open"
    )
    created_after: Moment | None = None

    @model_validator(mode="after")
    def _price_order(self) -> ConstraintsIn:
        if self.price_between is not None:
            low, high = self.price_between
            if low is not None and high is not None and low > high:
                raise ValueError("price_between: min must not exceed max")
        return self


class RecommendationsRequest(StrictModel):
    namespace: NamespaceName
    user_id: Identifier | None = Field(default=None, description="Unknown or absent: cold start.")
    k: int = Field(default=20, ge=1, le=MAX_K)
    surface: Surface | None = Field(default=None, description="Or context.surface.")
    context: RankingContext = Field(
        default_factory=dict,
        description="Free-form; `surface`, and `as_of` (RFC3339) to rank as of that instant.",
    )
    constraints: ConstraintsIn = Field(default_factory=ConstraintsIn)
    overrides: JsonObject = Field(
        default_factory=dict, description='Knob values by override key, e.g. {"mmr_lambda": 0.5}.'
    )
    include_reasons: bool = False
    explain_level: ExplainLevelIn = "none"


class RerankItemIn(StrictModel):
    item_id: Identifier
    score: float | None = Field(
        default=None,
        ge=-MAX_CALLER_SCORE,
        le=MAX_CALLER_SCORE,
        description="Caller's score: the base signal.",
    )


class RerankRequest(StrictModel):
    namespace: NamespaceName
    user_id: Identifier | None = None
    items: list[RerankItemIn] = Field(min_length=1, max_length=MAX_RERANK_ITEMS)
    k: int | None = Field(default=None, ge=1, le=MAX_RERANK_ITEMS, description="Default: all.")
    surface: Surface | None = None
    context: RankingContext = Field(default_factory=dict)
    overrides: JsonObject = Field(default_factory=dict)
    include_reasons: bool = False
    explain_level: ExplainLevelIn = "none"


class ScoredItem(BaseModel):
    item_id: str
    score: float
    rank: int
    reasons: list[str] | None = None
    explain: dict[str, Any] | None = None


class CanaryExposure(BaseModel):
    """Which arm of a running canary served the list (log it with the impression)."""

    canary_id: str
    arm: Literal["candidate", "control"]
    group: Literal["treatment", "holdout"]


class RecommendationsResponse(BaseModel):
    items: list[ScoredItem]
    decision_id: str
    model_version: str
    config_version: int
    segment_id: str | None = None
    profile_id: str | None = None
    warnings: list[str] = Field(default_factory=list)
    trace: dict[str, Any] | None = Field(
        default=None,
        description="How the list was made (stages, policy, candidate sources, effective knobs);"
        " only when the request asks for an explanation (explain_level other than none).",
    )
    canary: CanaryExposure | None = Field(
        default=None,
        description="Present when a running canary covered the request (docs/shipping.md); "
        "events naming `decision_id` reward its arm.",
    )


class SimilarItem(BaseModel):
    item_id: str
    score: float
    source: str = Field(description="item_vectors or co_visitation")


class SimilarItemsResponse(BaseModel):
    item_id: str
    items: list[SimilarItem]
