"""Request and response bodies of the control plane: config, event types, segments, profiles,
rules, manual overrides, decision audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from recsys.service.schemas.common import (
    STORABLE_TEXT_PATTERN,
    EventType,
    Identifier,
    JsonObject,
    Moment,
    NamespaceName,
    ShortText,
    StrictModel,
    Surface,
    storable_json,
)

Notes = Annotated[str, StringConstraints(max_length=2000, pattern=STORABLE_TEXT_PATTERN)]
# Configs can only be rolled back to versions that exist, and versions are 32-bit on PostgreSQL;
# a larger number was a 500 on SQLite (it cannot bind integers past 64 bits).
MAX_CONFIG_VERSION = 2_147_483_647

# --- config -----------------------------------------------------------------------------------


class ConfigMetadata(BaseModel):
    updated_at: datetime | None
    updated_by: str | None
    notes: str | None
    rollback_of: int | None = None


class ConfigResponse(BaseModel):
    namespace: str
    config: dict[str, Any] = Field(description="Every knob's effective value for the namespace.")
    explicit: dict[str, Any] = Field(description="The knobs this version sets explicitly.")
    version: int = Field(description="0 = nothing stored yet: environment defaults.")
    metadata: ConfigMetadata


class ConfigUpdate(StrictModel):
    namespace: NamespaceName
    config: JsonObject = Field(
        description="Knob values by override key. Omitted knobs take their defaults."
    )
    author: ShortText | None = None
    notes: Notes | None = None


class ConfigVersion(BaseModel):
    version: int
    config: dict[str, Any]
    metadata: ConfigMetadata


class ConfigHistory(BaseModel):
    namespace: str
    versions: list[ConfigVersion]


class ConfigRollback(StrictModel):
    namespace: NamespaceName
    version: int = Field(ge=1, le=MAX_CONFIG_VERSION)
    author: ShortText | None = None


class Preset(BaseModel):
    name: str
    description: str
    config: dict[str, Any]


class PresetsResponse(BaseModel):
    presets: list[Preset]


# --- event types ------------------------------------------------------------------------------


class EventTypeIn(StrictModel):
    type: EventType
    # Stored in a 64-character column: longer names were a 500 on PostgreSQL.
    name: Annotated[str, StringConstraints(max_length=64, pattern=STORABLE_TEXT_PATTERN)] | None = (
        None
    )
    weight: float = Field(gt=0, le=1000)
    halflife_days: float | None = Field(
        default=None, gt=0, le=3650, description="null: decay with POPULARITY_HALFLIFE_DAYS"
    )
    active: bool = True


class EventTypesUpsert(StrictModel):
    namespace: NamespaceName
    types: list[EventTypeIn] = Field(min_length=1, max_length=5)


class EventTypeOut(BaseModel):
    type: int
    name: str
    weight: float
    halflife_days: float | None
    active: bool
    stored: bool = Field(description="false: the built-in default")


class EventTypesResponse(BaseModel):
    namespace: str
    types: list[EventTypeOut]


# --- segments and profiles --------------------------------------------------------------------


class SegmentRuleIn(StrictModel):
    rule: JsonObject
    enabled: bool = True


class SegmentIn(StrictModel):
    segment_id: Identifier
    name: ShortText = ""
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    active: bool = True
    profile_id: Identifier | None = None
    rules: list[SegmentRuleIn] = Field(default_factory=list, max_length=50)


class SegmentUpsert(StrictModel):
    namespace: NamespaceName
    segment: SegmentIn


class SegmentsDelete(StrictModel):
    namespace: NamespaceName
    segment_ids: list[Identifier] = Field(min_length=1, max_length=1000)


class SegmentsResponse(BaseModel):
    namespace: str
    segments: list[SegmentIn]


class SegmentDryRun(StrictModel):
    namespace: NamespaceName
    user_id: Identifier | None = Field(default=None, description="Traits are read from the store.")
    traits: JsonObject | None = Field(default=None, description="Instead of user_id.")
    context: JsonObject = Field(default_factory=dict)
    request: JsonObject = Field(default_factory=dict)
    now: Moment | None = None


class SegmentDryRunResponse(BaseModel):
    matched: list[str]
    segment_id: str | None
    profile_id: str | None
    profile: dict[str, Any] | None


class ProfileIn(BaseModel):
    """`profile_id` plus knob values by override key."""

    model_config = {"extra": "allow"}
    profile_id: Identifier

    @model_validator(mode="after")
    def _storable_knobs(self) -> ProfileIn:
        # The knob values are free-form here (validated as knobs by the route); they are stored
        # as JSON and parsed as numbers, so they follow the rules of every free-form object.
        storable_json(self.model_extra or {})
        return self


class ProfilesUpsert(StrictModel):
    namespace: NamespaceName
    profiles: list[ProfileIn] = Field(min_length=1, max_length=100)


class ProfilesDelete(StrictModel):
    namespace: NamespaceName
    profile_ids: list[Identifier] = Field(min_length=1, max_length=1000)


class ProfilesResponse(BaseModel):
    namespace: str
    profiles: list[dict[str, Any]]


class CountResponse(BaseModel):
    namespace: str
    count: int


# --- rules ------------------------------------------------------------------------------------

RuleAction = Literal["PIN", "BLOCK", "BOOST"]
RuleTarget = Literal["ITEM", "TAG", "BRAND", "CATEGORY"]


class RuleIn(StrictModel):
    namespace: NamespaceName
    surface: Surface = Field(default="*", description="`*` = every surface")
    name: ShortText
    action: RuleAction
    target_type: RuleTarget
    target_key: ShortText | None = None
    item_ids: list[Identifier] = Field(default_factory=list, max_length=200)
    boost_value: float | None = Field(default=None, ge=-1000, le=1000)
    position: int | None = Field(default=None, ge=1, le=200)
    segment_id: Identifier | None = None
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    enabled: bool = True
    valid_from: Moment | None = None
    valid_until: Moment | None = None

    @model_validator(mode="after")
    def _coherent(self) -> RuleIn:
        if self.target_type == "ITEM":
            if not self.item_ids and not self.target_key:
                raise ValueError("an ITEM rule needs item_ids or target_key")
        elif not self.target_key:
            raise ValueError(f"a {self.target_type} rule needs target_key")
        if self.action == "BOOST" and self.boost_value is None:
            raise ValueError("a BOOST rule needs boost_value")
        if self.action != "PIN" and self.position is not None:
            raise ValueError("position only applies to PIN rules")
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise ValueError("valid_from must be before valid_until")
        return self


class RuleOut(BaseModel):
    rule_id: str
    namespace: str
    surface: str
    name: str
    action: str
    target_type: str
    target_key: str | None
    item_ids: list[str]
    boost_value: float | None
    position: int | None
    segment_id: str | None
    priority: int
    enabled: bool
    valid_from: datetime | None
    valid_until: datetime | None
    source: str
    created_at: datetime
    updated_at: datetime


class RulesResponse(BaseModel):
    rules: list[RuleOut]


class DryRunRequestIn(StrictModel):
    user_id: Identifier | None = None
    surface: Surface | None = None
    k: int = Field(default=20, ge=1, le=200)


class RuleDryRun(StrictModel):
    namespace: NamespaceName
    rule: RuleIn
    request: DryRunRequestIn = Field(default_factory=DryRunRequestIn)


class RuleDryRunResponse(BaseModel):
    before: list[str]
    after: list[str]
    touched: dict[str, list[str]]
    added: list[str]
    removed: list[str]


class OverrideIn(StrictModel):
    namespace: NamespaceName
    surface: Surface = "*"
    item_id: Identifier
    action: Literal["boost", "suppress"]
    boost_value: float | None = Field(default=None, ge=-1000, le=1000)
    expires_at: Moment | None = None
    notes: Notes | None = None
    created_by: ShortText | None = None

    @model_validator(mode="after")
    def _boost_needs_value(self) -> OverrideIn:
        if self.action == "boost" and self.boost_value is None:
            raise ValueError("a boost override needs boost_value")
        return self


class OverrideOut(BaseModel):
    override_id: str
    rule_id: str
    namespace: str
    surface: str
    item_id: str
    action: str
    boost_value: float | None
    expires_at: datetime | None
    notes: str | None
    created_by: str | None
    created_at: datetime
    cancelled_at: datetime | None
    status: Literal["active", "cancelled", "expired"]


class OverridesResponse(BaseModel):
    overrides: list[OverrideOut]


# --- audit ------------------------------------------------------------------------------------


class DecisionSummary(BaseModel):
    decision_id: str
    namespace: str
    created_at: datetime
    surface: str | None
    segment_id: str | None
    config_version: int
    rule_ids: list[str]
    item_ids: list[str]


class DecisionsResponse(BaseModel):
    decisions: list[DecisionSummary]


class DecisionRecord(BaseModel):
    decision_id: str
    namespace: str
    created_at: datetime
    user_hash: str | None
    surface: str | None
    segment_id: str | None
    config_version: int
    rule_ids: list[str]
    record: dict[str, Any]


class AuditDelete(StrictModel):
    namespace: NamespaceName
    user_id: Identifier | None = Field(
        default=None, description="Only this user's records (hashed before matching)."
    )
    until: Moment | None = Field(default=None, description="Only records created before this.")


class AuditSearch(StrictModel):
    namespace: NamespaceName | None = None
    since: Moment | None = None
    until: Moment | None = None
    user_id: Identifier | None = Field(default=None, description="Hashed before searching.")
    surface: ShortText | None = None
    rule_id: Identifier | None = None
    limit: int = Field(default=100, ge=1, le=1000)
