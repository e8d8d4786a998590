"""Request and response bodies of the shipping endpoints: canaries between the incumbent
config and a tuned candidate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recsys.bandit.canary import Arm, Verdict
from recsys.service.schemas.bandit import GroupTotals, Posterior, Surface
from recsys.service.schemas.common import JsonObject, NamespaceName, ShortText, StrictModel

CanaryStatus = Literal["running", "promoted", "rolled_back", "no_decision", "stopped"]
StepKind = Literal["started", "look", "promoted", "rolled_back", "no_decision", "stopped"]
CanaryId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]


class CanaryStart(StrictModel):
    """A candidate config to serve beside the incumbent on one surface. `recsys ship` fills it
    from a tuning run that passed the gate."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "namespace": "demo",
                    "surface": "home",
                    "overrides": {"blend_alpha": 0.4, "mmr_lambda": 0.7},
                    "traffic_share": 0.2,
                    "source": {"run_dir": "analysis/results/tuning_demo_20261207", "run": 3},
                }
            ]
        },
    )

    namespace: NamespaceName
    surface: Surface
    overrides: JsonObject = Field(
        description="The candidate's knob overrides (request-level knobs; the incumbent is the "
        "namespace config in force)."
    )
    traffic_share: float = Field(
        default=0.2, gt=0, lt=1, description="Share of users (by hash) served the candidate."
    )
    min_decisions: int = Field(
        default=200, ge=1, le=1_000_000, description="Decisions per arm before any verdict."
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="Posterior probability a verdict needs."
    )
    budget_decisions: int = Field(
        default=20_000,
        ge=2,
        le=100_000_000,
        description="Decisions (both arms) after which the canary stops undecided.",
    )
    look_every: int = Field(
        default=100, ge=1, le=1_000_000, description="The rule looks every this many decisions."
    )
    min_coverage_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Live guardrail: distinct items the candidate shows, as a share of the "
        "control's over as many lists.",
    )
    source: JsonObject = Field(
        default_factory=dict,
        description="Where the candidate came from (run folder, run id, test-window figures); "
        "kept with the canary and linked from a promoted config version's notes.",
    )
    author: ShortText | None = None


class ArmOut(BaseModel):
    arm: Arm
    policy_id: str = Field(description="The arm's policy id in bandit decisions and statistics.")
    decisions: int
    rewards: int
    reward_sum: float
    mean: float | None = Field(description="null before the arm's first decision.")
    posterior: Posterior


class StepOut(BaseModel):
    kind: StepKind
    at: datetime
    verdict: Verdict | None = None
    p_candidate_better: float | None = None
    reason: str | None = None
    evidence: dict[str, Any]


class RuleOut(BaseModel):
    min_decisions: int
    confidence: float
    budget_decisions: int
    look_every: int
    min_coverage_ratio: float


class CanaryOut(BaseModel):
    canary_id: str
    namespace: str
    surface: str
    status: CanaryStatus
    overrides: dict[str, Any]
    incumbent_version: int = Field(description="The config version the control serves.")
    traffic_share: float
    rule: RuleOut
    source: dict[str, Any]
    author: str | None = None
    created_at: datetime
    ended_at: datetime | None = None
    arms: list[ArmOut]
    holdout: GroupTotals = Field(description="Users held out by the bandit experiment, if any.")
    p_candidate_better: float
    verdict: Verdict = Field(
        description="Running: what the rule would say now. Ended: the verdict it ended with "
        "(stopped canaries report no_decision)."
    )
    reason: str
    decisions_left: int = Field(description="Decisions left in the budget.")
    seconds_left: float | None = Field(
        default=None,
        description="Estimated from the decision rate so far (running canaries with decisions).",
    )
    promoted_version: int | None = None
    steps: list[StepOut] | None = Field(
        default=None, description="The audit trail (in the single-canary view)."
    )


class CanaryList(BaseModel):
    namespace: str
    canaries: list[CanaryOut]


class CanaryStop(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [{"reason": "seasonal traffic; retry next week"}]},
    )

    reason: ShortText | None = None
    author: ShortText | None = None


__all__ = [
    "ArmOut",
    "CanaryId",
    "CanaryList",
    "CanaryOut",
    "CanaryStart",
    "CanaryStatus",
    "CanaryStop",
    "RuleOut",
    "StepKind",
    "StepOut",
]
