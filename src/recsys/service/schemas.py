"""Request and response bodies (separate from the tables). Limits here are the documented ones."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MAX_ITEMS_PER_BATCH = 1000
MAX_USERS_PER_BATCH = 1000
MAX_EVENTS_PER_BATCH = 5000
MAX_IDS_PER_DELETE = 5000
MAX_TAGS_PER_ITEM = 64
MAX_EMBEDDING_DIM = 2048
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

NAMESPACE_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
# Text both stores keep as sent. PostgreSQL refuses U+0000 in text and JSON columns (that was a
# 500 there, and silently stored on SQLite), so it is refused up front, on both backends alike.
STORABLE_TEXT_PATTERN = r"^[^\x00]*$"
# Surfaces are stored in 64-character columns (rules, manual overrides, decision audit).
MAX_SURFACE_LENGTH = 64

NamespaceName = Annotated[
    str,
    StringConstraints(pattern=NAMESPACE_PATTERN),
    Field(description="Namespace inside the org: 1-64 of A-Z a-z 0-9 _ . -", examples=["demo"]),
]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=STORABLE_TEXT_PATTERN)
]
ShortText = Annotated[str, StringConstraints(max_length=256, pattern=STORABLE_TEXT_PATTERN)]
# Any length: filters in query strings, where a value longer than any stored one matches nothing.
StorableText = Annotated[str, StringConstraints(pattern=STORABLE_TEXT_PATTERN)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=STORABLE_TEXT_PATTERN)]
Surface = Annotated[
    str, StringConstraints(max_length=MAX_SURFACE_LENGTH, pattern=STORABLE_TEXT_PATTERN)
]

_UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
_DOUBLE_LIMIT = 2**1024  # float(n) overflows from here on


def storable_json(value: Any) -> Any:
    """Refuse free-form JSON that a JSON column cannot hold the same way on both stores.

    U+0000 or an unpaired surrogate in a key or a string: PostgreSQL's JSONB refuses them (a
    500), SQLite stores them and every later answer that returns them fails to encode (a 500).
    Numbers must be finite doubles: `NaN`/`Infinity` are not JSON, and an integer too large for
    a double overflows wherever the service computes with it (knob values, segment rules).
    Walks iteratively, so nesting depth cannot exhaust the stack; type checks are exact (`type
    is`) because this runs for every event's `meta` and JSON only yields these exact types.
    """
    search = _UNSTORABLE_CHARACTERS.search
    pending = [value]
    while pending:
        node = pending.pop()
        if type(node) is dict:
            for key in node:
                if search(key):
                    raise ValueError("keys may not contain U+0000 or unpaired surrogates")
            children: Iterable[Any] = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is str:
                if search(child):
                    raise ValueError("text may not contain U+0000 or unpaired surrogates")
            elif kind is float:
                if not math.isfinite(child):
                    raise ValueError("numbers must be finite")
            elif kind is int:
                if not -_DOUBLE_LIMIT < child < _DOUBLE_LIMIT:
                    raise ValueError("numbers must fit a double")
            elif kind is dict or kind is list:
                pending.append(child)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]


def _in_utc_calendar(moment: datetime) -> datetime:
    """Times are stored as UTC microseconds and read back as datetimes: a time whose UTC form
    falls outside years 1-9999 (e.g. 9999-12-31T23:00:00-02:00) was stored, then every listing
    that returned it failed with a 500."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("must fall within years 0001-9999 once converted to UTC") from None
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_in_utc_calendar)]

# The ranking keeps event values and embeddings as float32 and sums and squares them: larger
# values overflowed to inf and came back as `null` scores (NaN). Caller scores are shifted and
# normalised in float64, which overflowed past about 1e308.
MAX_EVENT_VALUE = 1e9
MAX_EMBEDDING_COMPONENT = 1e9
MAX_CALLER_SCORE = 1e12

# Event types are stored as small integers; names are accepted on the way in.
EVENT_TYPE_NAMES: dict[int, str] = {0: "view", 1: "click", 2: "add", 3: "purchase", 4: "custom"}
_EVENT_TYPE_ALIASES: dict[str, int] = {
    **{name: code for code, name in EVENT_TYPE_NAMES.items()},
    "add_to_cart": 2,
    "add-to-cart": 2,
    "cart": 2,
    "buy": 3,
}


def parse_event_type(value: Any) -> int:
    """Map 0-4 or a type name (view, click, add, purchase, custom) to its code."""
    if isinstance(value, bool):
        raise ValueError("event type must be 0-4 or a name")
    if isinstance(value, int):
        if value in EVENT_TYPE_NAMES:
            return value
        raise ValueError(f"unknown event type {value}: use 0-4 or {sorted(_EVENT_TYPE_ALIASES)}")
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _EVENT_TYPE_ALIASES:
            return _EVENT_TYPE_ALIASES[key]
        if key.isdigit():
            return parse_event_type(int(key))
        raise ValueError(f"unknown event type {value!r}: use 0-4 or {sorted(_EVENT_TYPE_ALIASES)}")
    raise ValueError("event type must be 0-4 or a name")


EventType = Annotated[
    int,
    BeforeValidator(parse_event_type),
    Field(description="0 view, 1 click, 2 add, 3 purchase, 4 custom (names accepted too)"),
]


class StrictModel(BaseModel):
    # Unknown fields are an error (a typo must not be silently dropped); NaN/Infinity are refused.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# --- ingestion bodies -------------------------------------------------------------------------


class ItemIn(StrictModel):
    item_id: Identifier
    available: bool = True
    price: float | None = Field(default=None, ge=0)
    brand: ShortText | None = None
    category: ShortText | None = None
    category_path: list[ShortText] = Field(default_factory=list, max_length=16)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS_PER_ITEM)
    props: JsonObject = Field(default_factory=dict)
    embedding: (
        list[Annotated[float, Field(ge=-MAX_EMBEDDING_COMPONENT, le=MAX_EMBEDDING_COMPONENT)]]
        | None
    ) = Field(default=None, min_length=1, max_length=MAX_EMBEDDING_DIM)
    title: (
        Annotated[str, StringConstraints(max_length=1000, pattern=STORABLE_TEXT_PATTERN)] | None
    ) = None
    description: (
        Annotated[str, StringConstraints(max_length=20000, pattern=STORABLE_TEXT_PATTERN)] | None
    ) = None
    created_at: Moment | None = Field(
        default=None, description="RFC3339; defaults to the first upsert's time."
    )


class ItemsUpsert(StrictModel):
    namespace: NamespaceName
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_ITEMS_PER_BATCH)


class UserIn(StrictModel):
    user_id: Identifier
    traits: JsonObject = Field(
        default_factory=dict, description="Free-form traits, e.g. segment, locale."
    )


class UsersUpsert(StrictModel):
    namespace: NamespaceName
    users: list[UserIn] = Field(min_length=1, max_length=MAX_USERS_PER_BATCH)


class EventIn(StrictModel):
    event_id: Identifier | None = Field(
        default=None, description="Idempotency key: an event_id already stored is not re-added."
    )
    user_id: Identifier
    item_id: Identifier
    type: EventType
    value: float = Field(
        default=1.0, ge=0, le=MAX_EVENT_VALUE, description="Strength; multiplies the type weight."
    )
    ts: Moment | None = Field(default=None, description="RFC3339; defaults to now.")
    meta: JsonObject = Field(default_factory=dict, description="surface, session_id, ...")


class EventsBatch(StrictModel):
    namespace: NamespaceName
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class ItemsDelete(StrictModel):
    namespace: NamespaceName
    item_ids: list[Identifier] | None = Field(
        default=None, max_length=MAX_IDS_PER_DELETE, description="None deletes every item."
    )


class UsersDelete(StrictModel):
    namespace: NamespaceName
    user_ids: list[Identifier] | None = Field(
        default=None, max_length=MAX_IDS_PER_DELETE, description="None deletes every user."
    )


class EventsDelete(StrictModel):
    """No filter at all deletes every event of the namespace; filters combine with AND."""

    namespace: NamespaceName
    event_ids: list[Identifier] | None = Field(default=None, max_length=MAX_IDS_PER_DELETE)
    user_id: Identifier | None = None
    item_id: Identifier | None = None
    types: list[EventType] | None = Field(default=None, max_length=5)
    since: Moment | None = Field(default=None, description="ts >= since")
    until: Moment | None = Field(default=None, description="ts < until")


# --- responses --------------------------------------------------------------------------------


class UpsertResult(BaseModel):
    namespace: str
    upserted: int


class EventsResult(BaseModel):
    namespace: str
    accepted: int = Field(description="Events in the request.")
    inserted: int = Field(description="Events newly stored.")
    duplicates: int = Field(description="Events skipped because their event_id was stored.")


class DeleteResult(BaseModel):
    deleted_count: int


class ItemOut(BaseModel):
    item_id: str
    available: bool
    price: float | None
    brand: str | None
    category: str | None
    category_path: list[str]
    tags: list[str]
    props: dict[str, Any]
    embedding: list[float] | None
    title: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


class UserOut(BaseModel):
    user_id: str
    traits: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class EventOut(BaseModel):
    event_id: str | None
    user_id: str
    item_id: str
    type: int
    type_name: str
    value: float
    ts: datetime
    meta: dict[str, Any]


class ItemsPage(BaseModel):
    items: list[ItemOut]
    next_page_token: str | None = Field(default=None, description="Absent on the last page.")


class UsersPage(BaseModel):
    users: list[UserOut]
    next_page_token: str | None = Field(default=None, description="Absent on the last page.")


class EventsPage(BaseModel):
    events: list[EventOut]
    next_page_token: str | None = Field(default=None, description="Absent on the last page.")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]
    request_id: str


class Health(BaseModel):
    status: str
    store: str


class Version(BaseModel):
    version: str
    git_commit: str | None
    build_time: str | None
    model_version: str


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


class RecommendationsResponse(BaseModel):
    items: list[ScoredItem]
    decision_id: str
    model_version: str
    config_version: int
    segment_id: str | None = None
    profile_id: str | None = None
    warnings: list[str] = Field(default_factory=list)
    trace: dict[str, Any]


class SimilarItem(BaseModel):
    item_id: str
    score: float
    source: str = Field(description="item_vectors or co_visitation")


class SimilarItemsResponse(BaseModel):
    item_id: str
    items: list[SimilarItem]
