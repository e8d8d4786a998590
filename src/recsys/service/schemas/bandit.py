"""Request and response bodies of the bandit endpoints (separate from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictFloat, StringConstraints

from recsys.bandit import Algorithm
from recsys.bandit.holdout import TrafficGroup
from recsys.service.schemas.common import Identifier, JsonObject, NamespaceName, StrictModel
from recsys.service.schemas.ranking import RecommendationsRequest, RecommendationsResponse

MAX_POLICIES_PER_UPSERT = 100
MAX_POLICIES_PER_NAMESPACE = 100
MAX_CANDIDATES = 100
# Reported as the policy of holdout decisions when the namespace has no control policy.
DEFAULT_POLICY_ID = "_default"

PolicyId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"),
    Field(
        description="1-64 of A-Z a-z 0-9 _ . : - starting with a letter or digit.",
        examples=["pop-heavy"],
    ),
]
# No control characters: these values are stored and appear in metrics labels.
SURFACE_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"
Surface = Annotated[
    str,
    StringConstraints(pattern=SURFACE_PATTERN),
    Field(description="Where the list is shown (1-64 characters).", examples=["home"]),
]
PolicyName = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{0,256}$")]
DecisionId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$"),
    Field(description="The id a decide or bandit recommendations call returned."),
]
AlgorithmOut = Literal["thompson", "ucb1", "control"]

Reward = Annotated[
    StrictFloat,
    Field(ge=0, le=1, description="A number in [0, 1] (booleans and strings are refused)."),
]

# --- policies ---------------------------------------------------------------------------------


class PolicyIn(StrictModel):
    policy_id: PolicyId
    name: PolicyName | None = Field(default=None, description="Defaults to the policy_id.")
    active: bool = Field(default=True, description="Only active policies are bandit arms.")
    control: bool = Field(
        default=False,
        description="The holdout's policy (at most one per namespace; active or not).",
    )
    config: JsonObject = Field(
        default_factory=dict,
        description="Knob overrides by override key, validated like request overrides.",
        examples=[{"blend_alpha": 1.0, "blend_beta": 0.0}],
    )


class PoliciesUpsert(StrictModel):
    namespace: NamespaceName
    policies: list[PolicyIn] = Field(min_length=1, max_length=MAX_POLICIES_PER_UPSERT)


class PoliciesUpserted(BaseModel):
    namespace: str
    upserted: int


class PolicyOut(BaseModel):
    policy_id: str
    name: str
    active: bool
    control: bool
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PoliciesResponse(BaseModel):
    namespace: str
    policies: list[PolicyOut]


# --- decisions --------------------------------------------------------------------------------


class BanditChoiceFields(StrictModel):
    """What a bandit request adds to choose among policies."""

    candidate_policy_ids: list[PolicyId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CANDIDATES,
        description="Choose among these (the active ones); default: every active policy.",
    )
    algorithm: Algorithm | None = Field(default=None, description="Default: BANDIT_ALGO.")


class DecideRequest(BanditChoiceFields):
    namespace: NamespaceName
    surface: Surface
    context: JsonObject = Field(
        default_factory=dict,
        description="Its string, integer and boolean entries form the statistics bucket.",
    )
    user_id: Identifier | None = Field(
        default=None, description="Keeps a user in one holdout group; never stored as such."
    )


class ExperimentOut(BaseModel):
    label: str
    group: TrafficGroup
    holdout_percent: float


class BanditDecisionOut(BaseModel):
    decision_id: str
    policy_id: str
    algorithm: AlgorithmOut = Field(description='"control" for holdout traffic.')
    explore: bool = Field(description="The chosen policy is not the one with the best mean.")
    bucket_key: str


class DecisionResponse(BanditDecisionOut):
    surface: str
    group: TrafficGroup
    config: dict[str, Any] = Field(description="The chosen policy's knob overrides.")
    experiment: ExperimentOut | None = Field(
        default=None, description="Present when the holdout experiment covers the surface."
    )


class RewardRequest(StrictModel):
    namespace: NamespaceName
    decision_id: DecisionId
    reward: Reward


class RewardResponse(BaseModel):
    decision_id: str
    policy_id: str
    reward: float = Field(description="The reward recorded for the decision (the first one).")
    duplicate: bool = Field(description="True when this same reward was already recorded.")


# --- bandit recommendations -------------------------------------------------------------------


class BanditRecommendationsRequest(RecommendationsRequest, BanditChoiceFields):
    """A recommendations request; `surface` (or `context.surface`) is required here."""


class BanditOut(BanditDecisionOut):
    experiment: ExperimentOut | None = None


class BanditRecommendationsResponse(RecommendationsResponse):
    bandit: BanditOut


# --- statistics -------------------------------------------------------------------------------


class Posterior(BaseModel):
    alpha: float
    beta: float
    mean: float


class ArmStatistics(BaseModel):
    policy_id: str
    group: TrafficGroup
    decisions: int
    rewards: int = Field(description="Decisions that received a reward.")
    reward_sum: float
    mean: float = Field(description="reward_sum / decisions (an unrewarded decision counts 0).")
    posterior: Posterior = Field(description="Beta(1 + reward_sum, 1 + decisions - reward_sum).")


class BucketStatistics(BaseModel):
    surface: str
    bucket_key: str
    arms: list[ArmStatistics]


class GroupTotals(BaseModel):
    decisions: int
    rewards: int
    reward_sum: float
    mean: float | None = Field(description="null before the group's first decision.")


class StatisticsResponse(BaseModel):
    namespace: str
    surface: str | None
    totals: dict[TrafficGroup, GroupTotals]
    buckets: list[BucketStatistics]


__all__ = [
    "DEFAULT_POLICY_ID",
    "MAX_CANDIDATES",
    "MAX_POLICIES_PER_NAMESPACE",
    "MAX_POLICIES_PER_UPSERT",
    "SURFACE_PATTERN",
    "AlgorithmOut",
    "ArmStatistics",
    "BanditOut",
    "BanditRecommendationsRequest",
    "BanditRecommendationsResponse",
    "BucketStatistics",
    "DecideRequest",
    "DecisionResponse",
    "ExperimentOut",
    "GroupTotals",
    "JsonObject",
    "PoliciesResponse",
    "PoliciesUpsert",
    "PoliciesUpserted",
    "PolicyIn",
    "PolicyOut",
    "Posterior",
    "RewardRequest",
    "RewardResponse",
    "StatisticsResponse",
]
